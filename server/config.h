// Config: every setting of the bastion, read from one TOML file (see etc/task-bastion.toml for
// each key with its default and unit). Fixed after start; workers read it without locks.

#ifndef TASK_BASTION_SERVER_CONFIG_H_
#define TASK_BASTION_SERVER_CONFIG_H_

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace tb::server {

struct Config {
  // [server]
  std::string listen_address = "127.0.0.1";
  int listen_port = 2222;
  std::vector<std::string> host_keys = {"/var/lib/task-bastion/ssh_host_ed25519_key"};
  int workers = 0;  // 0: one per core
  std::vector<std::string> accept_env = {"LANG", "LC_*"};
  std::string login_shell =
      "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi";
  int max_auth_tries = 6;
  std::chrono::seconds login_grace_time{30};
  std::size_t max_output_buffer_bytes = 1 << 20;  // per session, agent → client
  std::size_t max_input_buffer_bytes = 256 << 10;  // per session, client → agent

  // [iam]
  std::string iam_url = "http://127.0.0.1:8101";
  std::chrono::milliseconds iam_timeout{5000};

  // [mesos]
  std::vector<std::string> masters = {"http://127.0.0.1:5050"};
  std::string agent_scheme = "http";
  std::chrono::milliseconds master_timeout{10000};
  std::chrono::milliseconds heartbeat_interval{30000};
  std::chrono::milliseconds wait_timeout{30000};

  // [tls]
  std::string ca_file;
  bool verify_tls = true;

  // [log]
  std::string log_level = "info";
  std::string log_format = "text";  // "text" or "json"
};

// Reads `path`. Unknown keys, wrong types and out-of-range values are InvalidArgument naming the
// key and the value.
Result<Config> LoadConfig(const std::string& path);

// Parses "host:port" into the listen fields of `config`.
Status ApplyListen(const std::string& host_port, Config* config);

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_CONFIG_H_
