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
  // keepalive@openssh.com to the client every interval (0: never); a client silent for
  // client_alive_count_max intervals in a row is disconnected, like sshd's ClientAlive* options.
  std::chrono::milliseconds client_alive_interval{15000};
  int client_alive_count_max = 3;
  std::size_t max_output_buffer_bytes = 1 << 20;  // per session, agent → client
  std::size_t max_input_buffer_bytes = 256 << 10;  // per session, client → agent
  // SSH algorithms offered, most preferred first, with the names sshd_config uses. libssh
  // 0.10.6 appends the strict key exchange marker (kex-strict-s-v00@openssh.com, the Terrapin
  // countermeasure) to the key exchange list itself. Host key algorithms without a loaded key
  // of their type are not offered.
  std::vector<std::string> kex_algorithms = {"curve25519-sha256", "curve25519-sha256@libssh.org",
                                             "diffie-hellman-group16-sha512",
                                             "diffie-hellman-group18-sha512"};
  std::vector<std::string> ciphers = {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                                      "aes128-gcm@openssh.com", "aes256-ctr", "aes192-ctr",
                                      "aes128-ctr"};
  std::vector<std::string> macs = {"hmac-sha2-256-etm@openssh.com",
                                   "hmac-sha2-512-etm@openssh.com"};
  std::vector<std::string> host_key_algorithms = {"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"};

  // [iam]
  std::string iam_url = "http://127.0.0.1:8101";
  std::chrono::milliseconds iam_timeout{5000};

  // [auth]
  // "iam": check the user's permissions with the IAM before every launch; "none": skip the
  // check (clusters without ACLs, such as DC/OS Open Source).
  std::string authorization = "iam";
  std::string service_account_secret;       // DC/OS service-account secret file (JSON)
  std::string service_account_uid;          // with service_account_private_key, instead
  std::string service_account_private_key;  // PEM RSA private key file
  std::string authorized_keys;              // the key registry; empty for none
  std::chrono::milliseconds authorized_keys_check_interval{1000};
  std::chrono::milliseconds jwks_min_refetch_interval{60000};
  std::chrono::milliseconds service_accounts_cache{60000};
  std::string max_startups = "10:30:100";  // sshd's MaxStartups start:rate:full
  int free_failures = 3;
  std::chrono::milliseconds failure_delay{500};
  std::chrono::milliseconds max_failure_delay{10000};
  std::chrono::milliseconds failure_window{600000};

  // [mesos]
  std::vector<std::string> masters = {"http://127.0.0.1:5050"};
  std::string agent_scheme = "http";
  std::chrono::milliseconds master_timeout{10000};
  std::chrono::milliseconds heartbeat_interval{30000};
  std::chrono::milliseconds wait_timeout{30000};
  // How agents are reached: "direct" (<agent_scheme>://<address from the agent's pid>) or
  // "adminrouter" (<dcos_url>/agent/<agent id>, with the master API at <dcos_url>/mesos).
  std::string layout = "direct";
  std::string dcos_url;  // Admin Router's base URL; required with layout "adminrouter"
  std::chrono::milliseconds lookup_timeout{30000};  // one task lookup, master retries included
  // Silence (no byte, not even a heartbeat) on the agent's output stream that ends a session.
  std::chrono::milliseconds output_silence_timeout{90000};
  // How long a launch is retried while the agent returns 503 or rejects connections.
  std::chrono::milliseconds launch_retry_timeout{15000};

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

// Checks the [auth] settings together: the MaxStartups syntax and one complete service-account
// source. InvalidArgument names the keys. (authorization = "iam" without a service account is
// valid, but then every launch is denied, because the IAM cannot be asked.)
Status ValidateAuth(const Config& config);

// Parses "host:port" into the listen fields of `config`.
Status ApplyListen(const std::string& host_port, Config* config);

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_CONFIG_H_
