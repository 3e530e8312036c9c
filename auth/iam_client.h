// IamClient: the DC/OS IAM (Bouncer) calls the bastion makes, under <iam>/acs/api/v1.
//
//   call                         request                                     answer used
//   Login                        POST /auth/login {"uid", "password"}        200 {"token"}
//   ServiceLogin                 POST /auth/login {"uid", "token"}           200 {"token"}
//   GetJwks                      GET  /auth/jwks                             200 key set
//   GetUser                      GET  /users/{uid}                           200 User
//   ListServiceAccounts          GET  /users?type=service                    200 {"array": [User]}
//   CheckPermission              GET  /acls/{rid}/users/{uid}/{action}       200 {"allowed": bool}
//
// Login and JWKS calls are unauthenticated; the others carry an Authorization header, the
// bastion's own service-account token. Every call has the deadline `call_timeout`.
//
// Outcomes, so that callers fail closed and still tell the user why:
//   Unauthenticated   401: wrong credentials, or the Authorization token was rejected
//   PermissionDenied  403: the token's uid may not make this call
//   NotFound          the user does not exist (GetUser; the IAM answers 400 or 404 with
//                     ERR_UNKNOWN_USER_ID)
//   DeadlineExceeded  "the cluster IAM at URL did not answer in 5 s"
//   Unavailable       unreachable, another status (5xx), invalid JSON, a body of the wrong shape
//                     or larger than the limit
// Messages name the IAM URL and never contain a password or token.
//
// Lives on one worker loop, like the HttpClient it borrows. `done` runs once on the loop
// thread, never from inside the call that started it, and may destroy the returned Operation.
// Destroying the Operation cancels the call: `done` is then never called.

#ifndef TASK_BASTION_AUTH_IAM_CLIENT_H_
#define TASK_BASTION_AUTH_IAM_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/jwks.h"
#include "common/http_client.h"
#include "common/operation.h"
#include "common/status.h"

namespace tb::auth {

struct IamClientOptions {
  std::string iam_url;  // "http://127.0.0.1:8101", no trailing path
  std::chrono::milliseconds call_timeout{5000};
};

// The fields of an IAM User object the bastion reads.
struct IamUser {
  std::string uid;
  bool is_service = false;
  std::string public_key;  // PEM; service accounts only, may be empty
};

class IamClient {
 public:
  // `http` must outlive the client and every operation it starts.
  IamClient(HttpClient& http, IamClientOptions options);

  // Logs `uid` in with `password` and returns the auth token.
  std::unique_ptr<Operation> Login(std::string uid, std::string password,
                                   std::function<void(Result<std::string>)> done);

  // Logs a service account in with a service login token (an RS256 JWT signed with its key).
  std::unique_ptr<Operation> ServiceLogin(std::string uid, std::string login_token,
                                          std::function<void(Result<std::string>)> done);

  // Fetches and parses the IAM's key set. A key set without a usable key is Unavailable.
  std::unique_ptr<Operation> GetJwks(std::function<void(Result<KeySet>)> done);

  std::unique_ptr<Operation> GetUser(std::string uid, std::string authorization,
                                     std::function<void(Result<IamUser>)> done);

  std::unique_ptr<Operation> ListServiceAccounts(
      std::string authorization, std::function<void(Result<std::vector<IamUser>>)> done);

  // Returns whether `uid` holds `action` on `rid`, as the IAM decides it.
  std::unique_ptr<Operation> CheckPermission(std::string uid, std::string rid, std::string action,
                                             std::string authorization,
                                             std::function<void(Result<bool>)> done);

  const std::string& iam_url() const { return options_.iam_url; }

 private:
  HttpClient& http_;
  IamClientOptions options_;
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_IAM_CLIENT_H_
