// ProcessIO records of a session's output stream (v1/agent/agent.proto, ProcessIO):
//   {"type":"DATA","data":{"type":"STDOUT","data":"<base64>"}}
//   {"type":"DATA","data":{"type":"STDERR","data":"<base64>"}}
//   {"type":"CONTROL","control":{"type":"HEARTBEAT","heartbeat":{"interval":{"nanoseconds":N}}}}
// Each is one RecordIO record of the LAUNCH_NESTED_CONTAINER_SESSION response. With a tty the
// agent tags all output STDOUT.

#ifndef TASK_BASTION_MESOS_PROCESS_IO_H_
#define TASK_BASTION_MESOS_PROCESS_IO_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::mesos {

struct ProcessIoRecord {
  enum class Kind {
    kStdout,
    kStderr,
    kHeartbeat,
    kOtherControl,  // any other CONTROL record, or a record type this code does not know
  };
  Kind kind = Kind::kOtherControl;
  std::string data;  // decoded output bytes for kStdout and kStderr; empty otherwise
};

// Parses one record's JSON text. Records of an unknown top-level type are returned as
// kOtherControl, to be ignored as the Mesos CLIs ignore every record but DATA. A missing `data`
// in a DATA record is empty output, because the proto field is optional. Returns InvalidArgument
// naming the field path for invalid JSON, a missing or non-string `type`, a DATA record whose
// stream type is not STDOUT or STDERR, and invalid base64 ("process_io.data.data: invalid
// base64: ...").
Result<ProcessIoRecord> ParseProcessIo(std::string_view json);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_PROCESS_IO_H_
