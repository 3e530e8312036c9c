// task-bastion: an SSH server that runs commands inside Mesos tasks.
//
//   task-bastion --config /etc/task-bastion/task-bastion.toml [--listen HOST:PORT]
//                [--ready-file PATH] [--check-config] [--version]

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <libssh/libssh.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "server/config.h"
#include "server/server.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// The %* flag of the JSON log pattern: the message as a JSON string, quotes, backslashes and
// control characters escaped, so that every line parses whatever the message contains.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& destination) override {
    std::string text(message.payload.data(), message.payload.size());
    std::string escaped = nlohmann::json(text).dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
    destination.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

void SetUpLogging(const tb::server::Config& config) {
  auto logger = spdlog::stderr_logger_mt("task-bastion");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":%*})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l [%t] %v");
  }
  spdlog::flush_on(spdlog::level::trace);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"task-bastion: SSH into running Mesos / DC/OS tasks"};
  std::string config_path;
  std::string listen;
  std::string ready_file;
  bool check_config = false;
  bool version = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML)");
  app.add_option("-l,--listen", listen, "listen address HOST:PORT, overrides [server] listen");
  app.add_option("--ready-file", ready_file,
                 "write HOST:PORT here once listening (port 0 picks a free port)");
  app.add_flag("--check-config", check_config, "validate the configuration and exit");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::printf("task-bastion %s (libssh %s)\n", kVersion, ssh_version(0));
    return 0;
  }

  tb::server::Config config;
  if (!config_path.empty()) {
    tb::Result<tb::server::Config> loaded = tb::server::LoadConfig(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "task-bastion: invalid configuration: %s\n",
                   loaded.status().message().c_str());
      return 2;
    }
    config = std::move(loaded).value();
  }
  if (!listen.empty()) {
    tb::Status s = tb::server::ApplyListen(listen, &config);
    if (!s.ok()) {
      std::fprintf(stderr, "task-bastion: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (check_config) {
    std::printf("configuration OK\n");
    return 0;
  }
  SetUpLogging(config);

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ssh_init();
  int exit_code = 0;
  {
    tb::server::Server server(config);
    tb::Status s = server.Start();
    if (!s.ok()) {
      spdlog::error("cannot start: {}", s.message());
      ssh_finalize();
      return 1;
    }
    if (!ready_file.empty()) {
      std::string temporary = ready_file + ".tmp";
      // An IPv6 address gets brackets, so HOST:PORT splits at the last colon either way.
      bool ipv6 = config.listen_address.find(':') != std::string::npos;
      std::ofstream(temporary) << (ipv6 ? "[" : "") << config.listen_address << (ipv6 ? "]" : "")
                               << ":" << server.bound_port() << "\n";
      std::rename(temporary.c_str(), ready_file.c_str());
    }
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    spdlog::info("received signal {}; stopping", signal_number);
    server.Stop();
  }
  ssh_finalize();
  return exit_code;
}
