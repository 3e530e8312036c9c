#include "mesos/process_io.h"

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "mesos/json_fields.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::json;

Result<ProcessIoRecord> ParseData(const Json& record) {
  Result<const Json*> data = RequiredObject(record, "data", "process_io.data");
  if (!data.ok()) return data.status();

  Result<const std::string*> stream = RequiredString(**data, "type", "process_io.data.type");
  if (!stream.ok()) return stream.status();
  ProcessIoRecord out;
  if (**stream == "STDOUT") {
    out.kind = ProcessIoRecord::Kind::kStdout;
  } else if (**stream == "STDERR") {
    out.kind = ProcessIoRecord::Kind::kStderr;
  } else {
    return Status::InvalidArgument("process_io.data.type: unexpected stream '" + **stream +
                                   "' in output; expected STDOUT or STDERR");
  }

  Result<const std::string*> text = OptionalString(**data, "data", "process_io.data.data");
  if (!text.ok()) return text.status();
  if (*text != nullptr) {
    Result<std::string> bytes = Base64Decode(**text);
    if (!bytes.ok()) return bytes.status().Annotate("process_io.data.data");
    out.data = std::move(bytes).value();
  }
  return out;
}

ProcessIoRecord ParseControl(const Json& record) {
  ProcessIoRecord out;
  out.kind = ProcessIoRecord::Kind::kOtherControl;
  // A malformed CONTROL record is ignored like any other control record: nothing depends on it.
  auto control = record.find("control");
  if (control != record.end() && control->is_object()) {
    auto type = control->find("type");
    if (type != control->end() && type->is_string() && *type == "HEARTBEAT") {
      out.kind = ProcessIoRecord::Kind::kHeartbeat;
    }
  }
  return out;
}

}  // namespace

Result<ProcessIoRecord> ParseProcessIo(std::string_view json) {
  Result<Json> record = ParseJson(json, "process_io");
  if (!record.ok()) return record.status();
  if (!record->is_object()) {
    return Status::InvalidArgument(std::string("process_io: expected an object, got ") +
                                   record->type_name());
  }

  Result<const std::string*> type = RequiredString(*record, "type", "process_io.type");
  if (!type.ok()) return type.status();
  if (**type == "DATA") return ParseData(*record);
  if (**type == "CONTROL") return ParseControl(*record);
  return ProcessIoRecord{ProcessIoRecord::Kind::kOtherControl, ""};
}

}  // namespace tb::mesos
