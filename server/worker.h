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

#include "auth/authenticator.h"
#include "auth/authorizer.h"
#include "auth/iam_client.h"
#include "auth/service_account.h"
#include "auth/token_verifier.h"
#include "common/http_client.h"
#include "mesos/master_client.h"
#include "server/config.h"
#include "server/shared_auth.h"
#include "server/ssh_handles.h"
#include "server/worker_loop.h"

namespace tb::server {

class Connection;

class Worker {
 public:
  // `config` and `shared_auth` must outlive the worker.
  Worker(int index, const Config& config, SharedAuth& shared_auth);
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
  auth::Authenticator& authenticator() { return *authenticator_; }
  // Null with authorization = "none", and with "iam" but no service account, when every
  // launch is denied because the IAM cannot be asked.
  auth::Authorizer* authorizer() { return authorizer_.get(); }
  bool authorization_required() const { return config_.authorization != "none"; }
  auth::LoginGuard& login_guard() { return *shared_auth_.guard; }
  mesos::MasterClient& masters() { return *masters_; }
  const Config& config() const { return config_; }

 private:
  void CreateAuth();
  void AfterPoll();

  const int index_;
  const Config& config_;
  SharedAuth& shared_auth_;
  // Declaration order is destruction order reversed: connections go first (they hold calls on
  // the clients), then the clients, then the loop they watch fds on.
  WorkerLoop loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<auth::IamClient> iam_;
  std::unique_ptr<auth::TokenVerifier> verifier_;
  std::unique_ptr<auth::ServiceAccount> service_account_;  // null without credentials
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<mesos::MasterClient> masters_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::thread thread_;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_WORKER_H_
