// Authorizer: decides before a launch whether a user may exec into a task, with the IAM's
// permission API (GET /acs/api/v1/acls/{rid}/users/{uid}/{action}).
//
// The permissions checked and what counts as holding one are listed in auth/permissions.h. For
// each permission the bastion queries every covering rid (the rid, its parent groups, the rid
// without app id) with the action and with `full`, plus `dcos:superuser full` once. All
// queries are sent at once. The IAM itself counts group grants (a user has what the user's
// groups have), so group grants need no query of their own.
//
// It fails closed. The outcome is:
//   OK                 every permission is held, or the user is a superuser;
//   PermissionDenied   "user 'bob' may not exec into task 'db.1' (app /prod/db): missing
//                      permission dcos:mesos:agent:container:app_id:/prod/db update";
//   Unavailable or DeadlineExceeded
//                      a permission had no positive answer and a question about it failed:
//                      "cannot check the permissions of user 'bob' for task 'db.1': the cluster
//                      IAM at URL did not answer in 5 s".
// Questions carry the bastion's service-account token, renewed once on a 401.
//
// Lives on one worker loop.

#ifndef TASK_BASTION_AUTH_AUTHORIZER_H_
#define TASK_BASTION_AUTH_AUTHORIZER_H_

#include <functional>
#include <memory>
#include <string>

#include "auth/iam_client.h"
#include "auth/service_account.h"
#include "common/event_loop.h"
#include "common/operation.h"
#include "common/status.h"

namespace tb::auth {

struct ExecTarget {
  std::string uid;
  std::string task_id;
  std::string app_id;  // "/dev/web"
};

class Authorizer {
 public:
  // `iam`, `loop` and `account` must outlive the authorizer and every operation it starts.
  Authorizer(IamClient& iam, EventLoop& loop, ServiceAccount& account);

  // `done` runs once, later, unless the returned Operation is destroyed first.
  std::unique_ptr<Operation> CheckExec(ExecTarget target, std::function<void(Status)> done);

 private:
  IamClient& iam_;
  EventLoop& loop_;
  ServiceAccount& account_;
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_AUTHORIZER_H_
