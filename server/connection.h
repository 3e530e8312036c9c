// Connection: one TCP client on one worker, from key exchange to disconnect.
//
// Phases:
//   kKeyExchange     ssh_handle_key_exchange() is retried after each poll until it completes.
//   kAuthentication  requests are taken from the session's message queue one at a time. A
//                    password, keyboard-interactive response or public key is checked by the
//                    worker's Authenticator asynchronously while the ssh_message is kept. The
//                    reply is sent when the check ends, a failure after the LoginGuard's delay.
//                    No libssh server callbacks are installed, because libssh would reply to every
//                    request without a callback with an immediate denial.
//   kOpen            session channels are accepted, each becoming an ExecSession; their
//                    requests are routed by channel. Other channel types, global requests and
//                    unknown channel requests get an immediate failure reply.
//   kClosed          the worker destroys the connection.
//
// Limits: at most max_auth_tries failed attempts, and login_grace_time to authenticate. A new
// connection beyond [auth] max_startups unauthenticated ones is dropped before key exchange.
// Owned by its Worker and used only on that worker's loop thread.

#ifndef TASK_BASTION_SERVER_CONNECTION_H_
#define TASK_BASTION_SERVER_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/operation.h"
#include "auth/authenticator.h"
#include "auth/login_guard.h"
#include "common/status.h"
#include "server/client_keepalive.h"
#include "server/exec_session.h"
#include "server/ssh_handles.h"

namespace tb::server {

class Worker;

class Connection {
 public:
  // `worker` must outlive the connection.
  Connection(Worker& worker, SshSession session, std::uint64_t id, std::string peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Advances the connection after a poll: key exchange, queued messages, channel I/O.
  void Process();
  bool closed() const { return phase_ == Phase::kClosed; }

 private:
  enum class Phase { kKeyExchange, kAuthentication, kOpen, kClosed };

  void ContinueKeyExchange();
  void HandleAuthRequest(SshMessage message);
  void HandleInteractive(SshMessage message);
  void HandlePublicKey(SshMessage message);
  void StartLogin(SshMessage message, std::string uid, std::string password, const char* method);
  void OnLoginResult(SshMessage message, const std::string& method, bool probe,
                     Result<auth::Identity> identity);
  void AcceptLogin(SshMessage message, const auth::Identity& identity);
  // Counts and logs a failed attempt, then sends the failure reply, after the LoginGuard's delay
  // for guessable credentials (passwords, tokens). Disconnects after max_auth_tries.
  void RejectAttempt(SshMessage message, const std::string& method, const Status& why,
                     bool guessable = true);
  void ReplyFailure(SshMessage message);
  int AuthMethods();

  void HandleOpenMessage(SshMessage message);
  void HandleChannelOpen(SshMessage message);
  void HandleChannelRequest(SshMessage message);
  ExecSession* FindSession(ssh_channel channel);

  void Close(const std::string& reason);
  bool SessionAlive();

  Worker& worker_;
  // The session is declared before everything holding its messages or channels, so those are
  // destroyed first: ssh_free() frees the session's channels and messages refer to it.
  SshSession session_;
  const std::uint64_t id_;
  const std::string peer_;
  Phase phase_ = Phase::kKeyExchange;

  std::string user_;          // the SSH user name as sent
  std::string login_uid_;     // uid from "<uid>@<task>", empty for the "<task>" form
  std::string task_selector_;
  std::string uid_;           // authenticated IAM uid
  std::string authorization_;  // "token=<jwt>"; never logged
  std::string attempt_uid_;    // the uid the current attempt claims, for the failure counters
  int failed_attempts_ = 0;
  SshMessage pending_auth_;   // the request waiting for the IAM or for a failure delay
  std::unique_ptr<Operation> login_;
  EventLoop::TimerId grace_timer_ = 0;
  std::unique_ptr<ClientKeepalive> keepalive_;  // from authentication on
  EventLoop::TimerId reply_timer_ = 0;  // a delayed failure reply
  // A place among the unauthenticated connections (MaxStartups); released on success.
  std::unique_ptr<auth::LoginGuard::Slot> startup_slot_;
  bool polled_ = false;  // the session was added to the worker's event

  int next_session_ = 1;
  std::vector<std::unique_ptr<ExecSession>> sessions_;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_CONNECTION_H_
