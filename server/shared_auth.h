// SharedAuth: the authentication state every worker shares, built from the [auth] settings.
//
// The login guard (MaxStartups and failure counters) and the key registry are thread-safe and
// used by all workers. The service-account credentials are read once; each worker logs the
// account in on its own loop. Created by the Server before the workers start and destroyed
// after they stop.

#ifndef TASK_BASTION_SERVER_SHARED_AUTH_H_
#define TASK_BASTION_SERVER_SHARED_AUTH_H_

#include <memory>
#include <optional>

#include "auth/key_registry.h"
#include "auth/login_guard.h"
#include "auth/service_account.h"
#include "common/status.h"
#include "server/config.h"

namespace tb::server {

struct SharedAuth {
  std::unique_ptr<auth::LoginGuard> guard;
  std::unique_ptr<auth::KeyRegistry> registry;  // null without [auth] authorized_keys
  std::optional<auth::ServiceAccountCredentials> service_account;
};

// Reads the key registry and the service-account credentials. InvalidArgument or NotFound,
// naming the file, when one cannot be read: the bastion then does not start.
Result<std::unique_ptr<SharedAuth>> CreateSharedAuth(const Config& config);

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_SHARED_AUTH_H_
