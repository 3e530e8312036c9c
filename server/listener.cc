#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

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

// Algorithm names a host key of this type signs with, as in sshd_config's HostKeyAlgorithms.
std::vector<std::string> HostKeyAlgorithmsOf(const std::string& path) {
  ssh_key raw = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
    return {};
  }
  SshKey key(raw);
  enum ssh_keytypes_e type = ssh_key_type(key.get());
  if (type == SSH_KEYTYPE_RSA) return {"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"};
  const char* name = ssh_key_type_to_char(type);
  if (name == nullptr) return {};
  return {name};
}

std::string Join(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) {
    if (!joined.empty()) joined += ",";
    joined += name;
  }
  return joined;
}

// Sets one algorithm list on the bind. libssh silently drops names it does not support, so each
// name is tried alone on a scratch bind first, and an unsupported one is an error naming it.
Status SetAlgorithmList(ssh_bind bind, std::initializer_list<ssh_bind_options_e> options,
                        const char* key, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    SshBind scratch(ssh_bind_new());
    if (!scratch) return Status::Internal("ssh_bind_new failed");
    if (ssh_bind_options_set(scratch.get(), *options.begin(), name.c_str()) != SSH_OK) {
      return Status::InvalidArgument(std::string("[server] ") + key + ": \"" + name +
                                     "\" is not supported by libssh " + ssh_version(0));
    }
  }
  std::string list = Join(names);
  for (ssh_bind_options_e option : options) {
    if (ssh_bind_options_set(bind, option, list.c_str()) != SSH_OK) {
      return Status::InvalidArgument(std::string("[server] ") + key + ": " + ssh_get_error(bind));
    }
  }
  return Status::Ok();
}

}  // namespace

Status Listener::SetAlgorithms() {
  Status s = SetAlgorithmList(bind_.get(), {SSH_BIND_OPTIONS_KEY_EXCHANGE}, "kex_algorithms",
                              config_.kex_algorithms);
  if (!s.ok()) return s;
  s = SetAlgorithmList(bind_.get(), {SSH_BIND_OPTIONS_CIPHERS_C_S, SSH_BIND_OPTIONS_CIPHERS_S_C},
                       "ciphers", config_.ciphers);
  if (!s.ok()) return s;
  s = SetAlgorithmList(bind_.get(), {SSH_BIND_OPTIONS_HMAC_C_S, SSH_BIND_OPTIONS_HMAC_S_C}, "macs",
                       config_.macs);
  if (!s.ok()) return s;
  s = SetAlgorithmList(bind_.get(), {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS}, "host_key_algorithms",
                       config_.host_key_algorithms);
  if (!s.ok()) return s;

  // libssh offers only the host key algorithms that a loaded key can sign with, so a list that
  // matches no key would fail every key exchange.
  std::vector<std::string> available;
  for (const std::string& path : config_.host_keys) {
    for (std::string& name : HostKeyAlgorithmsOf(path)) available.push_back(std::move(name));
  }
  for (const std::string& name : config_.host_key_algorithms) {
    if (std::find(available.begin(), available.end(), name) != available.end()) {
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(
      "[server] host_key_algorithms: none of " + Join(config_.host_key_algorithms) +
      " can be used with the host keys, which sign with " + Join(available));
}

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
  Status algorithms = SetAlgorithms();
  if (!algorithms.ok()) return algorithms;
  // libssh sends "SSH-2.0-task-bastion", without its own version. ssh-audit 2.5 compares
  // versions as strings, so it takes libssh 0.10.6 for older than 0.7.3 and lists CVE-2016-0739
  // against the default banner "SSH-2.0-libssh_0.10.6".
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_BANNER, "task-bastion");
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
