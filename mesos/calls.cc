#include "mesos/calls.h"

#include "common/base64.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::ordered_json;

// Copies a ContainerID into insertion-ordered JSON with "value" first, then "parent"
// (recursively), then any other fields as they come.
Json OrderedContainerId(const nlohmann::json& id) {
  if (!id.is_object()) return Json(id);
  Json out = Json::object();
  if (auto value = id.find("value"); value != id.end()) out["value"] = Json(*value);
  if (auto parent = id.find("parent"); parent != id.end()) {
    out["parent"] = OrderedContainerId(*parent);
  }
  for (const auto& [key, field] : id.items()) {
    if (key != "value" && key != "parent") out[key] = Json(field);
  }
  return out;
}

std::string Dump(const Json& call) {
  // `replace` turns invalid UTF-8 into U+FFFD instead of throwing (see the NOTE in calls.h).
  return call.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string InputProcessIoCall(Json process_io) {
  return Dump(Json{{"type", "ATTACH_CONTAINER_INPUT"},
                   {"attach_container_input",
                    Json{{"type", "PROCESS_IO"}, {"process_io", std::move(process_io)}}}});
}

}  // namespace

std::string GetTasksCall() { return Dump(Json{{"type", "GET_TASKS"}}); }

std::string GetAgentsCall() { return Dump(Json{{"type", "GET_AGENTS"}}); }

std::string LaunchNestedContainerSessionCall(const nlohmann::json& container_id,
                                             const LaunchCommand& command) {
  Json command_info = Json::object();
  command_info["shell"] = command.shell;
  command_info["value"] = command.value;
  if (!command.shell) command_info["arguments"] = command.arguments;
  if (!command.environment.empty()) {
    Json variables = Json::array();
    for (const auto& [name, value] : command.environment) {
      variables.push_back(Json{{"name", name}, {"type", "VALUE"}, {"value", value}});
    }
    command_info["environment"] = Json{{"variables", std::move(variables)}};
  }

  Json container = Json{{"type", "MESOS"}};
  if (command.tty) container["tty_info"] = Json::object();

  return Dump(Json{
      {"type", "LAUNCH_NESTED_CONTAINER_SESSION"},
      {"launch_nested_container_session", Json{{"container_id", OrderedContainerId(container_id)},
                                               {"command", std::move(command_info)},
                                               {"container", std::move(container)}}}});
}

std::string AttachContainerInputCall(const nlohmann::json& container_id) {
  return Dump(
      Json{{"type", "ATTACH_CONTAINER_INPUT"},
           {"attach_container_input",
            Json{{"type", "CONTAINER_ID"}, {"container_id", OrderedContainerId(container_id)}}}});
}

std::string StdinDataRecord(std::string_view bytes) {
  return InputProcessIoCall(
      Json{{"type", "DATA"}, {"data", Json{{"type", "STDIN"}, {"data", Base64Encode(bytes)}}}});
}

std::string TtyInfoRecord(int rows, int columns) {
  Json window_size = Json{{"rows", rows}, {"columns", columns}};
  return InputProcessIoCall(Json{
      {"type", "CONTROL"},
      {"control", Json{{"type", "TTY_INFO"}, {"tty_info", Json{{"window_size", window_size}}}}}});
}

std::string HeartbeatRecord(std::chrono::nanoseconds interval) {
  Json heartbeat = Json{{"interval", Json{{"nanoseconds", interval.count()}}}};
  return InputProcessIoCall(Json{
      {"type", "CONTROL"}, {"control", Json{{"type", "HEARTBEAT"}, {"heartbeat", heartbeat}}}});
}

std::string WaitContainerCall(const nlohmann::json& container_id) {
  return Dump(Json{{"type", "WAIT_CONTAINER"},
                   {"wait_container", Json{{"container_id", OrderedContainerId(container_id)}}}});
}

std::string KillContainerCall(const nlohmann::json& container_id, int signal) {
  return Dump(Json{{"type", "KILL_CONTAINER"},
                   {"kill_container",
                    Json{{"container_id", OrderedContainerId(container_id)}, {"signal", signal}}}});
}

}  // namespace tb::mesos
