// IamClient: logs users in to the DC/OS IAM (POST <iam>/acs/api/v1/auth/login).
//
// Request body {"uid": ..., "password": ...}, Content-Type application/json. A 200 answer carries
// {"token": "<RS256 JWT>"}, which the bastion then sends to masters and agents as
// "Authorization: token=<jwt>". Lives on one worker loop, like the HttpClient it borrows.
// Passwords and tokens are never logged.

#ifndef TASK_BASTION_AUTH_IAM_CLIENT_H_
#define TASK_BASTION_AUTH_IAM_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/http_client.h"
#include "common/operation.h"
#include "common/status.h"

namespace tb::auth {

struct IamClientOptions {
  std::string iam_url;  // "http://127.0.0.1:8101", no trailing path
  std::chrono::milliseconds call_timeout{5000};
};

class IamClient {
 public:
  // `http` must outlive the client and every operation it starts.
  IamClient(HttpClient& http, IamClientOptions options);

  // Logs `uid` in with `password`. `done` gets the auth token, or Unauthenticated (401: wrong
  // uid or password), or Unavailable / DeadlineExceeded naming the IAM URL (down, slow, 5xx,
  // invalid JSON). Runs once on the loop thread, never from inside Login.
  std::unique_ptr<Operation> Login(std::string uid, std::string password,
                                   std::function<void(Result<std::string>)> done);

 private:
  HttpClient& http_;
  IamClientOptions options_;
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_IAM_CLIENT_H_
