// Worker: one thread, one WorkerLoop, and the connections that live on it.
//
// A connection stays on the worker that adopted it for its whole life, so nothing about it is
// shared across threads. The worker owns the per-loop clients every connection uses: one libcurl
// multi handle (HttpClient) and the IAM and master clients built on it.

#ifndef TASK_BASTION_SERVER_WORKER_H_
#define TASK_BASTION_SERVER_WORKER_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "auth/iam_client.h"
#include "common/http_client.h"
#include "mesos/master_client.h"
#include "server/config.h"
#include "server/ssh_handles.h"
#include "server/worker_loop.h"

namespace tb::server {

class Connection;

class Worker {
 public:
  // `config` must outlive the worker.
  Worker(int index, const Config& config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  // Ends every connection (their nested containers with them) and joins the thread.
  void Stop();

  // Takes over an accepted session before key exchange. Any thread.
  void Adopt(SshSession session, std::uint64_t connection_id, std::string peer);

  // For the connections on this worker; loop thread only.
  WorkerLoop& loop() { return loop_; }
  HttpClient& http() { return *http_; }
  auth::IamClient& iam() { return *iam_; }
  mesos::MasterClient& masters() { return *masters_; }
  const Config& config() const { return config_; }

 private:
  void AfterPoll();

  const int index_;
  const Config& config_;
  // Declaration order is destruction order reversed: connections go first (they hold calls on
  // the clients), then the clients, then the loop they watch fds on.
  WorkerLoop loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<auth::IamClient> iam_;
  std::unique_ptr<mesos::MasterClient> masters_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::thread thread_;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_WORKER_H_
