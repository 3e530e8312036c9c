#include "server/config.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "auth/login_guard.h"

namespace tb::server {
namespace {

// Reads the TOML file's tables into a Config, one key at a time, so that every error names its
// key. Keys not listed here are rejected: a typo must not silently keep a default.
class ConfigReader {
 public:
  explicit ConfigReader(const toml::table& root) : root_(root) {}

  Status Read(Config* c) {
    static const std::set<std::string> kTables = {"server", "iam", "auth", "mesos", "tls", "log"};
    for (const auto& [key, value] : root_) {
      if (!kTables.count(std::string(key.str()))) {
        return Status::InvalidArgument("unknown table [" + std::string(key.str()) + "]");
      }
    }
    Status s;
    s = Keys("server", {"listen", "host_keys", "workers", "accept_env", "login_shell",
                        "max_auth_tries", "login_grace_time_seconds", "max_output_buffer_bytes",
                        "max_input_buffer_bytes", "kex_algorithms", "ciphers", "macs",
                        "host_key_algorithms", "client_alive_interval_seconds",
                        "client_alive_count_max"});
    if (!s.ok()) return s;
    if (auto v = String("server", "listen")) {
      s = ApplyListen(*v, c);
      if (!s.ok()) return s;
    }
    if (!StringList("server", "host_keys", &c->host_keys, &s)) return s;
    if (!Int("server", "workers", 0, 256, &c->workers, &s)) return s;
    if (!StringList("server", "accept_env", &c->accept_env, &s)) return s;
    if (auto v = String("server", "login_shell")) c->login_shell = *v;
    if (!Int("server", "max_auth_tries", 1, 100, &c->max_auth_tries, &s)) return s;
    if (!Seconds("server", "login_grace_time_seconds", &c->login_grace_time, &s)) return s;
    if (root_["server"]["client_alive_interval_seconds"].value<double>() == 0.0) {
      c->client_alive_interval = std::chrono::milliseconds(0);  // 0 turns keepalives off
    } else if (!Millis("server", "client_alive_interval_seconds", &c->client_alive_interval, &s)) {
      return s;
    }
    if (!Int("server", "client_alive_count_max", 1, 1000, &c->client_alive_count_max, &s)) return s;
    if (!Size("server", "max_output_buffer_bytes", &c->max_output_buffer_bytes, &s)) return s;
    if (!Size("server", "max_input_buffer_bytes", &c->max_input_buffer_bytes, &s)) return s;
    if (!AlgorithmList("server", "kex_algorithms", &c->kex_algorithms, &s)) return s;
    if (!AlgorithmList("server", "ciphers", &c->ciphers, &s)) return s;
    if (!AlgorithmList("server", "macs", &c->macs, &s)) return s;
    if (!AlgorithmList("server", "host_key_algorithms", &c->host_key_algorithms, &s)) return s;

    s = Keys("iam", {"url", "timeout_seconds"});
    if (!s.ok()) return s;
    if (auto v = String("iam", "url")) c->iam_url = *v;
    if (!Millis("iam", "timeout_seconds", &c->iam_timeout, &s)) return s;

    s = ReadAuth(c);
    if (!s.ok()) return s;

    s = Keys("mesos", {"masters", "agent_scheme", "call_timeout_seconds",
                       "heartbeat_interval_seconds", "wait_timeout_seconds", "layout", "dcos_url",
                       "lookup_timeout_seconds", "output_silence_timeout_seconds",
                       "launch_retry_timeout_seconds"});
    if (!s.ok()) return s;
    if (!StringList("mesos", "masters", &c->masters, &s)) return s;
    if (c->masters.empty()) return Status::InvalidArgument("[mesos] masters: the list is empty");
    if (auto v = String("mesos", "agent_scheme")) {
      if (*v != "http" && *v != "https") {
        return Status::InvalidArgument("[mesos] agent_scheme: expected \"http\" or \"https\", got \"" +
                                       *v + "\"");
      }
      c->agent_scheme = *v;
    }
    if (!Millis("mesos", "call_timeout_seconds", &c->master_timeout, &s)) return s;
    if (!Millis("mesos", "heartbeat_interval_seconds", &c->heartbeat_interval, &s)) return s;
    if (!Millis("mesos", "wait_timeout_seconds", &c->wait_timeout, &s)) return s;
    if (!Millis("mesos", "lookup_timeout_seconds", &c->lookup_timeout, &s)) return s;
    if (!Millis("mesos", "output_silence_timeout_seconds", &c->output_silence_timeout, &s)) {
      return s;
    }
    if (!Millis("mesos", "launch_retry_timeout_seconds", &c->launch_retry_timeout, &s)) return s;
    s = ReadLayout(c);
    if (!s.ok()) return s;

    s = Keys("tls", {"ca_file", "verify"});
    if (!s.ok()) return s;
    if (auto v = String("tls", "ca_file")) c->ca_file = *v;
    if (auto node = root_["tls"]["verify"]) {
      if (!node.is_boolean()) return Status::InvalidArgument("[tls] verify: expected true or false");
      c->verify_tls = node.value_or(true);
    }

    s = Keys("log", {"level", "format"});
    if (!s.ok()) return s;
    if (auto v = String("log", "level")) {
      static const std::set<std::string> kLevels = {"trace", "debug", "info",
                                                    "warn",  "error", "off"};
      if (!kLevels.count(*v)) {
        return Status::InvalidArgument("[log] level: \"" + *v +
                                       "\" is not one of trace, debug, info, warn, error, off");
      }
      c->log_level = *v;
    }
    if (auto v = String("log", "format")) {
      if (*v != "text" && *v != "json") {
        return Status::InvalidArgument("[log] format: expected \"text\" or \"json\", got \"" + *v +
                                       "\"");
      }
      c->log_format = *v;
    }
    return Status::Ok();
  }

 private:
  // [auth]: logins, the bastion's service account, authorization and the brute-force limits.
  Status ReadAuth(Config* c) {
    Status s = Keys("auth", {"authorization", "service_account_secret", "service_account_uid",
                             "service_account_private_key", "authorized_keys",
                             "authorized_keys_check_interval_seconds",
                             "jwks_min_refetch_interval_seconds", "service_accounts_cache_seconds",
                             "max_startups", "free_failures", "failure_delay_seconds",
                             "max_failure_delay_seconds", "failure_window_seconds"});
    if (!s.ok()) return s;

    if (auto v = String("auth", "authorization")) {
      if (*v != "iam" && *v != "none") {
        return Status::InvalidArgument("[auth] authorization: expected \"iam\" or \"none\", got \"" +
                                       *v + "\"");
      }
      c->authorization = *v;
    }
    if (auto v = String("auth", "service_account_secret")) c->service_account_secret = *v;
    if (auto v = String("auth", "service_account_uid")) c->service_account_uid = *v;
    if (auto v = String("auth", "service_account_private_key")) {
      c->service_account_private_key = *v;
    }

    if (auto v = String("auth", "authorized_keys")) c->authorized_keys = *v;
    if (!Millis("auth", "authorized_keys_check_interval_seconds",
                &c->authorized_keys_check_interval, &s)) {
      return s;
    }
    if (!Millis("auth", "jwks_min_refetch_interval_seconds", &c->jwks_min_refetch_interval, &s)) {
      return s;
    }
    if (!Millis("auth", "service_accounts_cache_seconds", &c->service_accounts_cache, &s)) {
      return s;
    }

    if (auto v = String("auth", "max_startups")) c->max_startups = *v;
    if (!Int("auth", "free_failures", 0, 1000, &c->free_failures, &s)) return s;
    if (!Millis("auth", "failure_delay_seconds", &c->failure_delay, &s)) return s;
    if (!Millis("auth", "max_failure_delay_seconds", &c->max_failure_delay, &s)) return s;
    if (!Millis("auth", "failure_window_seconds", &c->failure_window, &s)) return s;
    return ValidateAuth(*c);
  }

  // [mesos] layout and dcos_url. With Admin Router the master API is <dcos_url>/mesos, so an
  // explicit masters list would be ignored and is rejected instead.
  Status ReadLayout(Config* c) {
    if (auto v = String("mesos", "layout")) {
      if (*v != "direct" && *v != "adminrouter") {
        return Status::InvalidArgument(
            "[mesos] layout: expected \"direct\" or \"adminrouter\", got \"" + *v + "\"");
      }
      c->layout = *v;
    }
    if (auto v = String("mesos", "dcos_url")) {
      std::string url = *v;
      while (!url.empty() && url.back() == '/') url.pop_back();
      if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
        return Status::InvalidArgument("[mesos] dcos_url: expected an http:// or https:// URL, "
                                       "got \"" + *v + "\"");
      }
      c->dcos_url = url;
    }
    if (c->layout == "adminrouter") {
      if (c->dcos_url.empty()) {
        return Status::InvalidArgument(
            "[mesos] dcos_url: required with layout = \"adminrouter\" (the cluster's Admin "
            "Router URL, such as \"https://dcos.example.com\")");
      }
      if (root_["mesos"]["masters"]) {
        return Status::InvalidArgument(
            "[mesos] masters: not used with layout = \"adminrouter\", which reaches the "
            "leading master at <dcos_url>/mesos; remove it");
      }
      c->masters = {c->dcos_url + "/mesos"};
    }
    return Status::Ok();
  }

  Status Keys(const char* table, std::set<std::string> allowed) {
    const toml::table* t = root_[table].as_table();
    if (t == nullptr) {
      if (root_.contains(table)) return Status::InvalidArgument(std::string(table) + " is not a table");
      return Status::Ok();
    }
    for (const auto& [key, value] : *t) {
      if (!allowed.count(std::string(key.str()))) {
        return Status::InvalidArgument("unknown key [" + std::string(table) + "] " +
                                       std::string(key.str()));
      }
    }
    return Status::Ok();
  }

  std::optional<std::string> String(const char* table, const char* key) {
    return root_[table][key].value<std::string>();
  }

  static std::string Name(const char* table, const char* key) {
    return "[" + std::string(table) + "] " + key;
  }

  bool StringList(const char* table, const char* key, std::vector<std::string>* out, Status* s) {
    auto node = root_[table][key];
    if (!node) return true;
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      *s = Status::InvalidArgument(Name(table, key) + ": expected a list of strings");
      return false;
    }
    std::vector<std::string> values;
    for (const auto& element : *array) {
      auto v = element.value<std::string>();
      if (!v) {
        *s = Status::InvalidArgument(Name(table, key) + ": expected a list of strings");
        return false;
      }
      values.push_back(*v);
    }
    *out = std::move(values);
    return true;
  }

  // A non-empty list of algorithm names. Whether libssh supports each name is checked when the
  // listener binds.
  bool AlgorithmList(const char* table, const char* key, std::vector<std::string>* out,
                     Status* s) {
    std::vector<std::string> names = *out;
    if (!StringList(table, key, &names, s)) return false;
    if (names.empty()) {
      *s = Status::InvalidArgument(Name(table, key) + ": the list is empty");
      return false;
    }
    for (const std::string& name : names) {
      if (name.empty() || name.find_first_of(", \t") != std::string::npos) {
        *s = Status::InvalidArgument(Name(table, key) + ": \"" + name +
                                     "\" is not an algorithm name; give one name per string");
        return false;
      }
    }
    *out = std::move(names);
    return true;
  }

  bool Int(const char* table, const char* key, int min, int max, int* out, Status* s) {
    auto node = root_[table][key];
    if (!node) return true;
    auto v = node.value<int64_t>();
    if (!v || *v < min || *v > max) {
      *s = Status::InvalidArgument(Name(table, key) + ": expected an integer from " +
                                   std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
    *out = static_cast<int>(*v);
    return true;
  }

  bool Size(const char* table, const char* key, std::size_t* out, Status* s) {
    int value = static_cast<int>(*out);
    if (!Int(table, key, 4096, 1 << 30, &value, s)) return false;
    *out = static_cast<std::size_t>(value);
    return true;
  }

  // Seconds may be fractional ("0.5"), so tests can shorten intervals.
  bool Millis(const char* table, const char* key, std::chrono::milliseconds* out, Status* s) {
    auto node = root_[table][key];
    if (!node) return true;
    auto v = node.value<double>();
    if (!v || *v <= 0 || *v > 86400) {
      *s = Status::InvalidArgument(Name(table, key) +
                                   ": expected a number of seconds above 0 and at most 86400");
      return false;
    }
    *out = std::chrono::milliseconds(static_cast<int64_t>(*v * 1000));
    return true;
  }

  bool Seconds(const char* table, const char* key, std::chrono::seconds* out, Status* s) {
    std::chrono::milliseconds ms = *out;
    if (!Millis(table, key, &ms, s)) return false;
    *out = std::chrono::duration_cast<std::chrono::seconds>(ms);
    return true;
  }

  const toml::table& root_;
};

}  // namespace

Status ValidateAuth(const Config& c) {
  Result<auth::MaxStartups> startups = auth::ParseMaxStartups(c.max_startups);
  if (!startups.ok()) return startups.status().Annotate("[auth]");
  const bool secret = !c.service_account_secret.empty();
  const bool key_pair = !c.service_account_uid.empty() || !c.service_account_private_key.empty();
  if (secret && key_pair) {
    return Status::InvalidArgument(
        "[auth] service_account_secret and service_account_uid/service_account_private_key: "
        "give one of the two");
  }
  if (key_pair && (c.service_account_uid.empty() || c.service_account_private_key.empty())) {
    return Status::InvalidArgument(
        "[auth] service_account_uid and service_account_private_key must be given together");
  }
  if (c.max_failure_delay < c.failure_delay) {
    return Status::InvalidArgument(
        "[auth] max_failure_delay_seconds must not be below failure_delay_seconds");
  }
  return Status::Ok();
}

Status ApplyListen(const std::string& host_port, Config* config) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return Status::InvalidArgument("listen address \"" + host_port +
                                   "\" is not of the form HOST:PORT (e.g. 127.0.0.1:2222)");
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(host_port.substr(colon + 1), &used);
    if (used != host_port.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("listen address \"" + host_port +
                                   "\": the port must be a number from 0 to 65535");
  }
  config->listen_address = host;
  config->listen_port = port;
  return Status::Ok();
}

Result<Config> LoadConfig(const std::string& path) {
  if (std::FILE* file = std::fopen(path.c_str(), "r")) {
    std::fclose(file);
  } else {
    return Status::InvalidArgument(path + ": cannot open the file: " + std::strerror(errno));
  }
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return Status::InvalidArgument(path + ":" + std::to_string(error.source().begin.line) + ": " +
                                   std::string(error.description()));
  }
  Config config;
  Status s = ConfigReader(parsed.table()).Read(&config);
  if (!s.ok()) return s.Annotate(path);
  return config;
}

}  // namespace tb::server
