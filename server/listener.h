// Listener: binds the SSH port and accepts TCP clients on its own thread.
//
// It owns the ssh_bind (host keys, algorithms) and nothing per connection: each accepted
// ssh_session is handed, before key exchange, to the `on_accept` callback, which gives it to a
// worker. The accept thread blocks only in poll() on the listening socket and a stop pipe.

#ifndef TASK_BASTION_SERVER_LISTENER_H_
#define TASK_BASTION_SERVER_LISTENER_H_

#include <functional>
#include <string>
#include <thread>

#include "common/status.h"
#include "server/config.h"
#include "server/ssh_handles.h"

namespace tb::server {

class Listener {
 public:
  // Called on the accept thread with the new session and the peer's "address:port".
  using AcceptCallback = std::function<void(SshSession session, std::string peer)>;

  explicit Listener(const Config& config);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Loads the host keys and binds. On success `bound_port()` is the port in use (useful with
  // port 0).
  Status Bind();
  int bound_port() const { return bound_port_; }

  // Starts the accept thread. REQUIRES: Bind() succeeded.
  void Start(AcceptCallback on_accept);
  // Stops accepting and joins the accept thread; idempotent.
  void Stop();

 private:
  // Sets the configured key exchange, cipher, MAC and host key algorithms on the bind.
  Status SetAlgorithms();
  void AcceptLoop();

  const Config& config_;
  SshBind bind_;
  int bound_port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  AcceptCallback on_accept_;
  std::thread thread_;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_LISTENER_H_
