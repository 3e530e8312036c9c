#include "server/shared_auth.h"

#include <spdlog/spdlog.h>

#include "auth/clock.h"

namespace tb::server {

Result<std::unique_ptr<SharedAuth>> CreateSharedAuth(const Config& config) {
  Status s = ValidateAuth(config);
  if (!s.ok()) return s;
  auto shared = std::make_unique<SharedAuth>();

  auth::LoginGuardOptions guard_options;
  guard_options.max_startups = *auth::ParseMaxStartups(config.max_startups);
  guard_options.free_failures = config.free_failures;
  guard_options.initial_delay = config.failure_delay;
  guard_options.max_delay = config.max_failure_delay;
  guard_options.forget_after = config.failure_window;
  shared->guard = std::make_unique<auth::LoginGuard>(guard_options, auth::SystemClock());

  if (!config.authorized_keys.empty()) {
    shared->registry = std::make_unique<auth::KeyRegistry>(
        config.authorized_keys, auth::SystemClock(), config.authorized_keys_check_interval);
    s = shared->registry->Load();
    if (!s.ok()) return s;
  }

  if (!config.service_account_secret.empty()) {
    Result<auth::ServiceAccountCredentials> credentials =
        auth::LoadServiceAccountSecret(config.service_account_secret);
    if (!credentials.ok()) return credentials.status();
    shared->service_account = std::move(credentials).value();
  } else if (!config.service_account_uid.empty()) {
    Result<auth::ServiceAccountCredentials> credentials = auth::LoadServiceAccountKey(
        config.service_account_uid, config.service_account_private_key);
    if (!credentials.ok()) return credentials.status();
    shared->service_account = std::move(credentials).value();
  }

  if (config.authorization == "none") {
    spdlog::warn("authorization = \"none\": the bastion does not check permissions, so the "
                 "cluster alone decides with each user's token, and public-key logins are not "
                 "offered");
  } else if (shared->service_account) {
    spdlog::info("service account '{}' from {}", shared->service_account->uid,
                 shared->service_account->source);
  } else {
    spdlog::error("authorization = \"iam\" needs the bastion's service account to query the "
                  "IAM, and none is configured: every launch will be denied and public-key "
                  "logins are not offered. Set [auth] service_account_secret, or "
                  "authorization = \"none\"");
  }
  return shared;
}

}  // namespace tb::server
