// Server: the listener and the worker pool, started and stopped together.
//
// Accepted connections are spread over the workers round robin; each stays on its worker.

#ifndef TASK_BASTION_SERVER_SERVER_H_
#define TASK_BASTION_SERVER_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "server/config.h"
#include "server/listener.h"
#include "server/shared_auth.h"
#include "server/worker.h"

namespace tb::server {

class Server {
 public:
  // `config` must outlive the server.
  explicit Server(const Config& config);
  ~Server();

  // Binds the port and starts the workers and the accept thread.
  Status Start();
  int bound_port() const { return listener_.bound_port(); }
  // Stops accepting, then ends every connection and its sessions.
  void Stop();

 private:
  const Config& config_;
  std::unique_ptr<SharedAuth> shared_auth_;  // outlives the workers that use it
  std::vector<std::unique_ptr<Worker>> workers_;
  Listener listener_;  // declared after workers_: stopped and destroyed before them
  std::atomic<std::uint64_t> next_connection_id_{1};
  std::atomic<std::size_t> next_worker_{0};
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_SERVER_H_
