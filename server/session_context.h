// SessionContext: who and what one SSH session channel is about, fixed once the user has
// authenticated. Carried into log lines in a fixed order: conn, session, uid, task.

#ifndef TASK_BASTION_SERVER_SESSION_CONTEXT_H_
#define TASK_BASTION_SERVER_SESSION_CONTEXT_H_

#include <string>

namespace tb::server {

struct SessionContext {
  std::string id;             // "<conn>.<n>"
  std::string peer;           // client "address:port"
  std::string uid;            // IAM user
  std::string task_selector;  // from the SSH user name
  std::string authorization;  // "token=<jwt>" for cluster calls; never logged
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_SESSION_CONTEXT_H_
