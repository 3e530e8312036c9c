// The result of a session's process, from the agent's WAIT_CONTAINER response:
//   {"type":"WAIT_CONTAINER","wait_container":{"exit_status":768}}
// `exit_status` is the raw wait(2) status the agent's launcher collected (Linux encoding: exit
// code in bits 8-15; terminating signal in bits 0-6 and the core-dump flag in bit 7). The
// deprecated WAIT_NESTED_CONTAINER returns the same fields under `wait_nested_container`.
// Both calls may omit `exit_status`, for example when the container was destroyed before its
// process started; `reason` and `message` then say why.

#ifndef TASK_BASTION_MESOS_WAIT_STATUS_H_
#define TASK_BASTION_MESOS_WAIT_STATUS_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::mesos {

// The end of a process: exit-status or exit-signal in SSH terms (RFC 4254 section 6.10).
struct ExitOutcome {
  bool signaled = false;     // true: killed by `signal`; false: exited with `exit_code`
  int exit_code = 0;         // 0-255, when !signaled
  int signal = 0;            // Linux signal number, when signaled
  bool core_dumped = false;  // when signaled
};

// Returns true when `raw` is a wait(2) status of a terminated process (exited or killed by a
// signal) within the 16 bits wait(2) uses.
bool IsTerminationStatus(int raw);

// Decodes a raw wait(2) status with WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG/WCOREDUMP:
// 768 is exit code 3, 15 is SIGTERM, 139 is SIGSEGV with a core dump. A value that is not a
// termination status (see IsTerminationStatus) decodes as exit code 255, never as success.
ExitOutcome DecodeWaitStatus(int raw);

// Parses the body of a WAIT_CONTAINER or WAIT_NESTED_CONTAINER response. Errors:
//   Unavailable      no exit_status: "the agent reported no exit status (reason: X, message: Y)",
//                    with the parts the agent sent.
//   InvalidArgument  invalid JSON, neither wait_container nor wait_nested_container, or an
//                    exit_status that is not an integer termination status; names the field.
Result<ExitOutcome> ParseWaitContainerResponse(std::string_view body);

// Returns the name of a Linux signal without "SIG": the RFC 4254 section 6.10 names ("ABRT",
// "ALRM", "FPE", "HUP", "ILL", "INT", "KILL", "PIPE", "QUIT", "SEGV", "TERM", "USR1", "USR2")
// and the other standard Linux names ("BUS", "CHLD", "WINCH", ...). Unknown numbers give "".
std::string SignalName(int signal);

// Returns the signal name for an SSH exit-signal request the way OpenSSH's sshd chooses it
// (session.c, sig2name): an RFC 4254 name, or "SIG@openssh.com" for any other signal.
std::string SshExitSignalName(int signal);

// Returns the Linux signal number for a name as SignalName spells it ("TERM" is 15), or 0 when
// the name is unknown. For the signal numbers of SSH "signal" requests.
int SignalNumber(std::string_view name);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_WAIT_STATUS_H_
