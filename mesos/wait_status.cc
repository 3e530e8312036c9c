#include "mesos/wait_status.h"

#include <sys/wait.h>

#include <csignal>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "common/http_errors.h"
#include "mesos/json_fields.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::json;

struct SignalEntry {
  int number;
  const char* name;
  bool in_rfc4254;  // listed in RFC 4254 section 6.10
};

constexpr SignalEntry kSignals[] = {
    {SIGABRT, "ABRT", true},      {SIGALRM, "ALRM", true},    {SIGFPE, "FPE", true},
    {SIGHUP, "HUP", true},        {SIGILL, "ILL", true},      {SIGINT, "INT", true},
    {SIGKILL, "KILL", true},      {SIGPIPE, "PIPE", true},    {SIGQUIT, "QUIT", true},
    {SIGSEGV, "SEGV", true},      {SIGTERM, "TERM", true},    {SIGUSR1, "USR1", true},
    {SIGUSR2, "USR2", true},      {SIGBUS, "BUS", false},     {SIGCHLD, "CHLD", false},
    {SIGCONT, "CONT", false},     {SIGSTOP, "STOP", false},   {SIGTSTP, "TSTP", false},
    {SIGTTIN, "TTIN", false},     {SIGTTOU, "TTOU", false},   {SIGURG, "URG", false},
    {SIGXCPU, "XCPU", false},     {SIGXFSZ, "XFSZ", false},   {SIGVTALRM, "VTALRM", false},
    {SIGPROF, "PROF", false},     {SIGWINCH, "WINCH", false}, {SIGIO, "IO", false},
    {SIGSYS, "SYS", false},       {SIGTRAP, "TRAP", false},
#ifdef SIGPWR
    {SIGPWR, "PWR", false},
#endif
#ifdef SIGSTKFLT
    {SIGSTKFLT, "STKFLT", false},
#endif
};

const SignalEntry* FindSignal(int signal) {
  for (const SignalEntry& entry : kSignals) {
    if (entry.number == signal) return &entry;
  }
  return nullptr;
}

// "(reason: R, message: M)" with the parts present in `result`, or "" when neither is.
std::string DescribeNoExitStatus(const Json& result) {
  std::string details;
  for (const char* key : {"reason", "message"}) {
    auto it = result.find(key);
    if (it == result.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      continue;
    }
    details += details.empty() ? " (" : ", ";
    details += std::string(key) + ": " + FirstLine(it->get_ref<const std::string&>());
  }
  if (!details.empty()) details += ")";
  return details;
}

}  // namespace

bool IsTerminationStatus(int raw) {
  if (raw < 0 || raw > 0xffff) return false;
  return WIFEXITED(raw) || WIFSIGNALED(raw);
}

ExitOutcome DecodeWaitStatus(int raw) {
  ExitOutcome outcome;
  if (!IsTerminationStatus(raw)) {
    outcome.exit_code = 255;
  } else if (WIFEXITED(raw)) {
    outcome.exit_code = WEXITSTATUS(raw);
  } else {
    outcome.signaled = true;
    outcome.signal = WTERMSIG(raw);
    outcome.core_dumped = WCOREDUMP(raw);
  }
  return outcome;
}

Result<ExitOutcome> ParseWaitContainerResponse(std::string_view body) {
  Result<Json> response = ParseJson(body, "WAIT_CONTAINER response");
  if (!response.ok()) return response.status();
  if (!response->is_object()) {
    return Status::InvalidArgument(
        std::string("WAIT_CONTAINER response: expected an object, got ") + response->type_name());
  }

  std::string field = "wait_container";
  auto result = response->find(field);
  if (result == response->end()) {
    field = "wait_nested_container";
    result = response->find(field);
  }
  if (result == response->end() || !result->is_object()) {
    return Status::InvalidArgument(
        "WAIT_CONTAINER response: wait_container (or wait_nested_container): missing or not an "
        "object");
  }

  auto exit_status = result->find("exit_status");
  if (exit_status == result->end() || exit_status->is_null()) {
    return Status::Unavailable("the agent reported no exit status" + DescribeNoExitStatus(*result));
  }
  if (!exit_status->is_number_integer()) {
    std::string got = exit_status->is_number() ? exit_status->dump() : exit_status->type_name();
    return Status::InvalidArgument(field + ".exit_status: expected an integer, got " + got);
  }
  const std::int64_t raw = exit_status->get<std::int64_t>();
  if (raw < 0 || raw > 0xffff || !IsTerminationStatus(static_cast<int>(raw))) {
    return Status::InvalidArgument(field + ".exit_status: " + std::to_string(raw) +
                                   " is not a wait(2) status of a terminated process");
  }
  return DecodeWaitStatus(static_cast<int>(raw));
}

std::string SignalName(int signal) {
  const SignalEntry* entry = FindSignal(signal);
  return entry != nullptr ? entry->name : "";
}

std::string SshExitSignalName(int signal) {
  const SignalEntry* entry = FindSignal(signal);
  return entry != nullptr && entry->in_rfc4254 ? entry->name : "SIG@openssh.com";
}

int SignalNumber(std::string_view name) {
  for (const SignalEntry& entry : kSignals) {
    if (name == entry.name) return entry.number;
  }
  return 0;
}

}  // namespace tb::mesos
