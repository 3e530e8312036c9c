// JSON bodies of the Mesos v1 operator calls the bastion sends, one function per call or record.
//
// Every function returns compact JSON text (no spaces or newlines), the way Mesos's JSON mapping
// expects it: proto field names in snake_case, enums as their names ("DATA", "STDIN"), `bytes`
// fields as standard base64 with padding. Fields appear in the order of the Mesos documentation
// ("type" first, a container id's "value" before its "parent"), which JSON does not require but
// keeps request logs readable.
//
// Container ids are passed as the JSON objects the master returned (see mesos/container_id.h)
// and are copied verbatim, whole chain included.
//
// The *Record functions return the JSON of one record of the ATTACH_CONTAINER_INPUT request
// body; frame it with EncodeRecord (mesos/recordio.h) before sending.
//
// NOTE: JSON strings carry UTF-8 only, and so do the proto `string` fields Mesos maps them to.
// Invalid UTF-8 in a command, argument or environment variable is replaced with U+FFFD rather
// than sent as is.

#ifndef TASK_BASTION_MESOS_CALLS_H_
#define TASK_BASTION_MESOS_CALLS_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tb::mesos {

// Master calls: {"type":"GET_TASKS"}, {"type":"GET_AGENTS"}.
std::string GetTasksCall();
std::string GetAgentsCall();

// The process a nested container session runs (CommandInfo in v1/mesos.proto).
struct LaunchCommand {
  // true: the agent runs /bin/sh -c `value` and ignores `arguments`.
  // false: the agent runs execvp(`value`, `arguments`); `arguments` is the full argv including
  // argv[0].
  bool shell = true;
  std::string value;
  std::vector<std::string> arguments;
  // Added to the environment the session inherits from the task's container.
  std::vector<std::pair<std::string, std::string>> environment;
  // Allocates a pseudo-terminal (container.tty_info); stdout and stderr then arrive merged as
  // STDOUT. Its size is set afterwards with TtyInfoRecord.
  bool tty = false;
};

// LAUNCH_NESTED_CONTAINER_SESSION for a new session container `container_id` (which must have
// a parent). Sends `arguments` only when !shell and `environment` only when it is not empty;
// `container` is {"type":"MESOS"}, plus "tty_info":{} with a tty.
std::string LaunchNestedContainerSessionCall(const nlohmann::json& container_id,
                                             const LaunchCommand& command);

// The first record of the input stream: ATTACH_CONTAINER_INPUT of type CONTAINER_ID.
std::string AttachContainerInputCall(const nlohmann::json& container_id);

// Later input records. Each is a whole agent Call of type ATTACH_CONTAINER_INPUT/PROCESS_IO:
//   StdinDataRecord  DATA/STDIN with `bytes`. Empty bytes mean EOF on a session without a tty.
//                    With a tty, EOF is the single byte 0x04, which the pty turns into EOF.
//   TtyInfoRecord    CONTROL/TTY_INFO with window_size {rows, columns}, for tty sessions only.
//   HeartbeatRecord  CONTROL/HEARTBEAT with interval.nanoseconds. The agent ignores it, but it
//                    keeps proxies and NATs from closing an idle input connection.
std::string StdinDataRecord(std::string_view bytes);
std::string TtyInfoRecord(int rows, int columns);
std::string HeartbeatRecord(std::chrono::nanoseconds interval);

// WAIT_CONTAINER for `container_id`. The agent responds once the container has terminated (see
// mesos/wait_status.h).
std::string WaitContainerCall(const nlohmann::json& container_id);

// KILL_CONTAINER with `signal` (a Linux signal number).
std::string KillContainerCall(const nlohmann::json& container_id, int signal);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_CALLS_H_
