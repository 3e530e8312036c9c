#include "server/client_keepalive.h"

namespace tb::server {

ClientKeepalive::ClientKeepalive(EventLoop& loop, ssh_session session,
                                 std::chrono::milliseconds interval, int max_missed,
                                 std::function<void(int missed)> on_dead)
    : loop_(loop),
      session_(session),
      interval_(interval),
      max_missed_(max_missed),
      on_dead_(std::move(on_dead)) {
  if (interval_.count() <= 0) return;
  ssh_set_counters(session_, nullptr, &received_);
  timer_ = loop_.StartTimer(interval_, [this] { OnTick(); });
}

ClientKeepalive::~ClientKeepalive() {
  if (timer_ != 0) loop_.CancelTimer(timer_);
  if (interval_.count() > 0) ssh_set_counters(session_, nullptr, nullptr);
}

void ClientKeepalive::OnTick() {
  timer_ = 0;
  if (received_.in_packets == packets_at_last_tick_) {
    ++missed_;
  } else {
    missed_ = 0;
  }
  packets_at_last_tick_ = received_.in_packets;
  if (missed_ >= max_missed_) {
    on_dead_(missed_);  // the owner closes the connection, which destroys this object
    return;
  }
  // While an earlier request is still unanswered libssh sends no new one; the missed count
  // then grows until the client replies or is declared dead.
  ssh_send_keepalive(session_);
  timer_ = loop_.StartTimer(interval_, [this] { OnTick(); });
}

}  // namespace tb::server
