// MasterClient: finds a running task through the Mesos master's v1 operator API.
//
// Calls (all POST <master>/api/v1, JSON both ways, Authorization as given):
//   GET_TASKS   the task list; the selector is matched as mesos/task_match.h describes.
//   GET_AGENTS  the address of the task's agent, from the agent's `pid` (slave(1)@IP:PORT). Not
//               sent when agents are reached through Admin Router, which resolves agent ids
//               itself.
//
// Masters and leaders. The configured masters are tried in order. A non-leading master responds
// with 307 and a scheme-less Location; the client follows it, keeping its own scheme, at most
// kMaxRedirects hops. A master that refuses the connection, times out, answers 503 ("No leader
// elected", "Master has not finished recovery") or any other status but 200, 401 and 403, or
// whose redirects loop, counts as failed for this round, and the next master is tried. When every
// master failed, the client waits (first_retry_delay, doubling up to max_retry_delay) and starts
// another round. The whole lookup, retries included, ends within lookup_timeout; then the error
// names each master tried and its last failure. Each HTTP call has its own deadline,
// `call_timeout`, cut to the time the lookup has left.
//
// Lives on one worker loop, like the HttpClient it borrows.

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
  // Master base URLs without the "/api/v1" path: "http://10.0.0.1:5050", or
  // "https://dcos.example.com/mesos" for the master API through Admin Router.
  std::vector<std::string> master_urls;
  std::chrono::milliseconds call_timeout{10000};
  std::chrono::milliseconds lookup_timeout{30000};
  std::chrono::milliseconds first_retry_delay{250};
  std::chrono::milliseconds max_retry_delay{4000};

  // Direct agent access: TaskTarget::agent_url is "<agent_scheme>://<IP:PORT from GET_AGENTS>".
  // The master does not publish the agents' scheme, so it is configured.
  std::string agent_scheme = "http";
  // When not empty, agents are reached through Admin Router: agent_url is
  // "<admin_router_url>/agent/<agent id>" and GET_AGENTS is skipped.
  std::string admin_router_url;

  // The clock that bounds the lookup; tests replace it.
  std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
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
  // container id yet), Unauthenticated/PermissionDenied (401/403), Unavailable (no master
  // responded within lookup_timeout, or a response that is not valid JSON).
  std::unique_ptr<Operation> FindTask(std::string selector, std::string authorization,
                                      std::function<void(Result<TaskTarget>)> done);

 private:
  HttpClient& http_;
  MasterClientOptions options_;
};

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_MASTER_CLIENT_H_
