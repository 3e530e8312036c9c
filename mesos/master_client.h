// MasterClient: finds a running task through the Mesos master's v1 operator API.
//
// Calls (all POST <master>/api/v1, JSON both ways, Authorization as given):
//   GET_TASKS   the task list; the selector is matched as mesos/task_match.h describes.
//   GET_AGENTS  the address of the task's agent, from the agent's `pid` (slave(1)@IP:PORT).
// Each call has a deadline (`call_timeout`). A non-leading master answers 307 with a
// scheme-less Location; the client follows it, keeping its own scheme, at most kMaxRedirects
// times. Lives on one worker loop, like the HttpClient it borrows.

#ifndef TASK_BASTION_MESOS_MASTER_CLIENT_H_
#define TASK_BASTION_MESOS_MASTER_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "common/operation.h"
#include "common/status.h"
#include "mesos/task_match.h"

namespace tb::mesos {

struct MasterClientOptions {
  std::vector<std::string> master_urls;  // "http://127.0.0.1:5050", no trailing path
  std::chrono::milliseconds call_timeout{10000};
  std::string agent_scheme = "http";     // the master does not publish the agents' scheme
};

class MasterClient {
 public:
  static constexpr int kMaxRedirects = 3;

  // `http` must outlive the client and every operation it starts.
  MasterClient(HttpClient& http, MasterClientOptions options);

  // Looks up the running task matching `selector` and fills TaskTarget::agent_url.
  // `authorization` is the whole Authorization header value ("token=..."), empty for none.
  // `done` runs once on the loop thread, never from inside FindTask. Errors: NotFound (no match),
  // InvalidArgument (ambiguous, lists the matches), FailedPrecondition (Docker task, no
  // container id yet), Unauthenticated/PermissionDenied (401/403), Unavailable (masters down).
  std::unique_ptr<Operation> FindTask(std::string selector, std::string authorization,
                                      std::function<void(Result<TaskTarget>)> done);

 private:
  HttpClient& http_;
  MasterClientOptions options_;
};

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_MASTER_CLIENT_H_
