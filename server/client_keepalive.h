// ClientKeepalive: ends connections whose SSH client stopped replying, like sshd's
// ClientAliveInterval and ClientAliveCountMax.
//
// Every `interval` it sends the global request keepalive@openssh.com with want-reply set
// (ssh_send_keepalive); clients reply to it, usually with REQUEST_FAILURE. A client from which no
// packet at all arrived during `max_missed` intervals in a row is declared dead and `on_dead`
// runs, so the connection and its nested containers end instead of waiting for TCP to give up.
// Lives on the connection's worker loop; destroying it cancels the timer.

#ifndef TASK_BASTION_SERVER_CLIENT_KEEPALIVE_H_
#define TASK_BASTION_SERVER_CLIENT_KEEPALIVE_H_

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/event_loop.h"
#include "server/ssh_handles.h"

namespace tb::server {

class ClientKeepalive {
 public:
  // `session` and `loop` must outlive the object. Does nothing when `interval` is zero.
  ClientKeepalive(EventLoop& loop, ssh_session session, std::chrono::milliseconds interval,
                  int max_missed, std::function<void(int missed)> on_dead);
  ~ClientKeepalive();
  ClientKeepalive(const ClientKeepalive&) = delete;
  ClientKeepalive& operator=(const ClientKeepalive&) = delete;

 private:
  void OnTick();

  EventLoop& loop_;
  ssh_session session_;
  const std::chrono::milliseconds interval_;
  const int max_missed_;
  std::function<void(int)> on_dead_;
  // libssh adds the packets it receives on the session to this counter.
  ssh_counter_struct received_{};
  std::uint64_t packets_at_last_tick_ = 0;
  int missed_ = 0;
  EventLoop::TimerId timer_ = 0;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_CLIENT_KEEPALIVE_H_
