#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "server/host_key.h"

namespace tb::server {
namespace {

std::string PeerAddress(ssh_session session) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getpeername(ssh_get_fd(session), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return "unknown";
  }
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (address.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

}  // namespace

Listener::Listener(const Config& config) : config_(config) {}

Listener::~Listener() { Stop(); }

Status Listener::Bind() {
  bind_.reset(ssh_bind_new());
  if (!bind_) return Status::Internal("ssh_bind_new failed");

  bool process_config = false;  // ignore /etc/ssh/libssh_server_config: our config is the truth
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config);
  for (const std::string& path : config_.host_keys) {
    Status s = EnsureHostKey(path);
    if (!s.ok()) return s;
    if (ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_HOSTKEY, path.c_str()) != SSH_OK) {
      return Status::InvalidArgument("host key " + path + ": " + ssh_get_error(bind_.get()));
    }
  }
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_BINDADDR, config_.listen_address.c_str());
  int port = config_.listen_port;
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_BINDPORT, &port);

  if (ssh_bind_listen(bind_.get()) != SSH_OK) {
    return Status::Unavailable("cannot listen on " + config_.listen_address + ":" +
                               std::to_string(config_.listen_port) + ": " +
                               ssh_get_error(bind_.get()));
  }
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(ssh_bind_get_fd(bind_.get()), reinterpret_cast<sockaddr*>(&address), &length) ==
      0) {
    bound_port_ = address.ss_family == AF_INET
                      ? ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port)
                      : ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return Status::Ok();
}

void Listener::Start(AcceptCallback on_accept) {
  on_accept_ = std::move(on_accept);
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    spdlog::error("listener: pipe2 failed; the listener cannot be stopped cleanly");
  }
  thread_ = std::thread([this] { AcceptLoop(); });
}

void Listener::Stop() {
  if (!thread_.joinable()) return;
  char byte = 0;
  ssize_t ignored = write(stop_pipe_[1], &byte, 1);
  (void)ignored;
  thread_.join();
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  bind_.reset();
}

void Listener::AcceptLoop() {
  spdlog::info("listening on {}:{}", config_.listen_address, bound_port_);
  pollfd fds[2] = {{ssh_bind_get_fd(bind_.get()), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
  while (true) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("listener: poll failed: {}", strerror(errno));
      return;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;

    SshSession session(ssh_new());
    if (!session) {
      spdlog::error("listener: ssh_new failed");
      continue;
    }
    if (ssh_bind_accept(bind_.get(), session.get()) != SSH_OK) {
      spdlog::warn("listener: accept failed: {}", ssh_get_error(bind_.get()));
      continue;
    }
    std::string peer = PeerAddress(session.get());
    on_accept_(std::move(session), std::move(peer));
  }
  spdlog::info("listener stopped");
}

}  // namespace tb::server
