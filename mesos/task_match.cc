#include "mesos/task_match.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "mesos/json_fields.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::json;

struct Candidate {
  const Json* task;
  std::string id;
  std::string path;  // "get_tasks.tasks[i]", for error messages
};

// Reads `object.key.value`, the shape of every Mesos id message (TaskID, AgentID, ...).
Result<std::string> RequiredIdValue(const Json& object, const char* key, std::string_view path) {
  const std::string id_path = FieldPath(path, key);
  Result<const Json*> id = RequiredObject(object, key, id_path);
  if (!id.ok()) return id.status();
  Result<const std::string*> value = RequiredString(**id, "value", FieldPath(id_path, "value"));
  if (!value.ok()) return value.status();
  return **value;
}

// Collects the TASK_RUNNING entries of get_tasks.tasks.
Result<std::vector<Candidate>> RunningTasks(const Json& response) {
  if (!response.is_object()) {
    return Status::InvalidArgument(std::string("GET_TASKS response: expected an object, got ") +
                                   response.type_name());
  }
  Result<const Json*> get_tasks = RequiredObject(response, "get_tasks", "get_tasks");
  if (!get_tasks.ok()) return get_tasks.status();
  // Empty repeated fields are omitted by the protobuf JSON mapping: no `tasks` means no tasks.
  Result<const Json*> tasks = OptionalArray(**get_tasks, "tasks", "get_tasks.tasks");
  if (!tasks.ok()) return tasks.status();

  std::vector<Candidate> running;
  if (*tasks == nullptr) return running;
  for (std::size_t i = 0; i < (*tasks)->size(); ++i) {
    const Json& task = (**tasks)[i];
    std::string path = ElementPath("get_tasks.tasks", i);
    if (!task.is_object()) {
      return Status::InvalidArgument(path + ": expected an object, got " + task.type_name());
    }
    // `tasks` may briefly list a task that already reached a terminal state.
    Result<const std::string*> state = RequiredString(task, "state", FieldPath(path, "state"));
    if (!state.ok()) return state.status();
    if (**state != "TASK_RUNNING") continue;
    Result<std::string> id = RequiredIdValue(task, "task_id", path);
    if (!id.ok()) return id.status();
    running.push_back(Candidate{&task, std::move(id).value(), std::move(path)});
  }
  return running;
}

// Returns "; task X has ended (TASK_FINISHED)" or a like sentence for the one task that is not
// running and whose id matches `selector` (exact id, else prefix, else substring). It looks in
// get_tasks.tasks, unreachable_tasks and completed_tasks, and returns "" unless exactly one task
// matches. Malformed entries are skipped, because the detail only adds to the NotFound message.
std::string NotRunningDetail(const Json& response, std::string_view selector) {
  std::vector<std::pair<std::string, std::string>> others;  // (task id, state)
  if (!response.is_object()) return "";
  auto found = response.find("get_tasks");
  if (found == response.end() || !found->is_object()) return "";
  const Json* get_tasks = &*found;
  for (const char* list : {"tasks", "unreachable_tasks", "completed_tasks"}) {
    auto it = get_tasks->find(list);
    if (it == get_tasks->end() || !it->is_array()) continue;
    for (const Json& task : *it) {
      if (!task.is_object()) continue;
      auto task_id = task.find("task_id");
      auto state = task.find("state");
      if (task_id == task.end() || !task_id->is_object() || state == task.end() ||
          !state->is_string() || *state == "TASK_RUNNING") {
        continue;
      }
      auto id = task_id->find("value");
      if (id == task_id->end() || !id->is_string()) continue;
      others.emplace_back(id->get<std::string>(), state->get<std::string>());
    }
  }

  using Rule = bool (*)(std::string_view id, std::string_view selector);
  const Rule rules[] = {
      [](std::string_view id, std::string_view s) { return id == s; },
      [](std::string_view id, std::string_view s) { return id.starts_with(s); },
      [](std::string_view id, std::string_view s) { return id.find(s) != std::string_view::npos; },
  };
  for (Rule rule : rules) {
    std::vector<const std::pair<std::string, std::string>*> matches;
    for (const auto& other : others) {
      if (rule(other.first, selector)) matches.push_back(&other);
    }
    if (matches.empty()) continue;
    if (matches.size() > 1) return "";
    const auto& [id, state] = *matches.front();
    if (state == "TASK_KILLING") return "; task " + id + " is being killed (" + state + ")";
    if (state == "TASK_STAGING" || state == "TASK_STARTING") {
      return "; task " + id + " is still starting (" + state + "); try again";
    }
    if (state == "TASK_UNREACHABLE" || state == "TASK_UNKNOWN") {
      return "; task " + id + " is not reachable (" + state + ")";
    }
    return "; task " + id + " has ended (" + state + ")";
  }
  return "";
}

Status Ambiguous(std::string_view selector, std::vector<const Candidate*> matches) {
  std::vector<std::string_view> ids;
  ids.reserve(matches.size());
  for (const Candidate* match : matches) ids.push_back(match->id);
  std::sort(ids.begin(), ids.end());

  std::string message =
      "'" + std::string(selector) + "' matches " + std::to_string(ids.size()) + " running tasks:";
  const std::size_t listed = std::min(ids.size(), kMaxListedTasks);
  for (std::size_t i = 0; i < listed; ++i) {
    message += "\n";
    message += ids[i];
  }
  if (ids.size() > listed) message += "\n... and " + std::to_string(ids.size() - listed) + " more";
  return Status::InvalidArgument(std::move(message));
}

// Returns the container id of the newest status that carries one, or nullptr when none does.
Result<const Json*> NewestContainerId(const Json& task, std::string_view task_path) {
  const std::string statuses_path = FieldPath(task_path, "statuses");
  Result<const Json*> statuses = OptionalArray(task, "statuses", statuses_path);
  if (!statuses.ok()) return statuses.status();
  if (*statuses == nullptr) return static_cast<const Json*>(nullptr);

  const Json* newest = nullptr;
  double newest_timestamp = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < (*statuses)->size(); ++i) {
    const Json& status = (**statuses)[i];
    const std::string path = ElementPath(statuses_path, i);
    if (!status.is_object()) {
      return Status::InvalidArgument(path + ": expected an object, got " + status.type_name());
    }

    double timestamp = -std::numeric_limits<double>::infinity();
    if (auto it = status.find("timestamp"); it != status.end() && !it->is_null()) {
      if (!it->is_number()) {
        return Status::InvalidArgument(path + ".timestamp: expected a number, got " +
                                       it->type_name());
      }
      timestamp = it->get<double>();
    }

    const std::string container_status_path = FieldPath(path, "container_status");
    Result<const Json*> container_status =
        OptionalObject(status, "container_status", container_status_path);
    if (!container_status.ok()) return container_status.status();
    if (*container_status == nullptr) continue;
    const std::string id_path = FieldPath(container_status_path, "container_id");
    Result<const Json*> id = OptionalObject(**container_status, "container_id", id_path);
    if (!id.ok()) return id.status();
    if (*id == nullptr) continue;
    Result<const std::string*> value = OptionalString(**id, "value", FieldPath(id_path, "value"));
    if (!value.ok()) return value.status();
    if (*value == nullptr || (*value)->empty()) continue;

    // `>=`: among equal timestamps the later status in the list is the newer one.
    if (newest == nullptr || timestamp >= newest_timestamp) {
      newest = *id;
      newest_timestamp = timestamp;
    }
  }
  return newest;
}

// Returns the value of the first label of `key` with a non-empty value, or "" when none.
Result<std::string> LabelValue(const Json& task, std::string_view task_path, const char* key) {
  const std::string labels_path = FieldPath(task_path, "labels");
  Result<const Json*> labels = OptionalObject(task, "labels", labels_path);
  if (!labels.ok()) return labels.status();
  if (*labels == nullptr) return std::string();
  const std::string list_path = FieldPath(labels_path, "labels");
  Result<const Json*> list = OptionalArray(**labels, "labels", list_path);
  if (!list.ok()) return list.status();
  if (*list == nullptr) return std::string();

  for (std::size_t i = 0; i < (*list)->size(); ++i) {
    const std::string path = ElementPath(list_path, i);
    Result<const std::string*> label_key =
        RequiredString((**list)[i], "key", FieldPath(path, "key"));
    if (!label_key.ok()) return label_key.status();
    if (**label_key != key) continue;
    Result<const std::string*> value =
        OptionalString((**list)[i], "value", FieldPath(path, "value"));
    if (!value.ok()) return value.status();
    if (*value != nullptr && !(*value)->empty()) return **value;
  }
  return std::string();
}

Result<TaskTarget> BuildTarget(const Candidate& candidate) {
  const Json& task = *candidate.task;
  const std::string& path = candidate.path;
  TaskTarget target;
  target.task_id = candidate.id;

  // Only the Mesos containerizer can host nested containers; the agent rejects a launch under a
  // Docker task with 400 "Nested containers are not supported".
  Result<const Json*> container = OptionalObject(task, "container", FieldPath(path, "container"));
  if (!container.ok()) return container.status();
  if (*container != nullptr) {
    Result<const std::string*> type =
        OptionalString(**container, "type", FieldPath(path, "container.type"));
    if (!type.ok()) return type.status();
    if (*type != nullptr && **type != "MESOS") {
      return Status::FailedPrecondition("task " + target.task_id +
                                        " runs under the Docker containerizer; exec needs the "
                                        "Mesos (UCR) containerizer");
    }
  }

  Result<const std::string*> name = RequiredString(task, "name", FieldPath(path, "name"));
  if (!name.ok()) return name.status();
  target.task_name = **name;

  Result<std::string> agent_id = RequiredIdValue(task, "agent_id", path);
  if (!agent_id.ok()) return agent_id.status();
  target.agent_id = std::move(agent_id).value();
  Result<std::string> framework_id = RequiredIdValue(task, "framework_id", path);
  if (!framework_id.ok()) return framework_id.status();
  target.framework_id = std::move(framework_id).value();

  // Statuses the agent forwards all carry the container id. Statuses the master generates itself
  // (reconciliation, TASK_LOST) may lack it, and a task that has just started may have none yet.
  Result<const Json*> container_id = NewestContainerId(task, path);
  if (!container_id.ok()) return container_id.status();
  if (*container_id == nullptr) {
    return Status::FailedPrecondition("task " + target.task_id + " is still starting; try again");
  }
  target.container_id = **container_id;

  for (const char* label : {"DCOS_SPACE", "MARATHON_APP_ID"}) {
    Result<std::string> value = LabelValue(task, path, label);
    if (!value.ok()) return value.status();
    if (!value->empty()) {
      target.app_id = std::move(value).value();
      break;
    }
  }
  if (target.app_id.empty()) target.app_id = "/" + target.task_name;
  return target;
}

}  // namespace

Result<TaskTarget> MatchTask(const nlohmann::json& get_tasks_response, std::string_view selector) {
  if (selector.empty()) {
    return Status::InvalidArgument("the task selector is empty; give a task id or part of one");
  }
  Result<std::vector<Candidate>> running = RunningTasks(get_tasks_response);
  if (!running.ok()) return running.status();

  // Exact id, then prefix, then substring. An exact id can repeat across frameworks.
  using Rule = bool (*)(std::string_view id, std::string_view selector);
  const Rule rules[] = {
      [](std::string_view id, std::string_view s) { return id == s; },
      [](std::string_view id, std::string_view s) { return id.starts_with(s); },
      [](std::string_view id, std::string_view s) { return id.find(s) != std::string_view::npos; },
  };
  for (Rule rule : rules) {
    std::vector<const Candidate*> matches;
    for (const Candidate& candidate : *running) {
      if (rule(candidate.id, selector)) matches.push_back(&candidate);
    }
    if (matches.size() == 1) return BuildTarget(*matches.front());
    if (matches.size() > 1) return Ambiguous(selector, std::move(matches));
  }
  return Status::NotFound("no running task matches '" + std::string(selector) + "'" +
                          NotRunningDetail(get_tasks_response, selector));
}

Result<std::string> AgentAddress(const nlohmann::json& get_agents_response,
                                 std::string_view agent_id) {
  if (!get_agents_response.is_object()) {
    return Status::InvalidArgument(std::string("GET_AGENTS response: expected an object, got ") +
                                   get_agents_response.type_name());
  }
  Result<const Json*> get_agents = RequiredObject(get_agents_response, "get_agents", "get_agents");
  if (!get_agents.ok()) return get_agents.status();
  // Agents in get_agents.recovered_agents have not reregistered and have no pid to reach them by.
  Result<const Json*> agents = OptionalArray(**get_agents, "agents", "get_agents.agents");
  if (!agents.ok()) return agents.status();

  const std::size_t count = *agents == nullptr ? 0 : (*agents)->size();
  for (std::size_t i = 0; i < count; ++i) {
    const Json& agent = (**agents)[i];
    const std::string path = ElementPath("get_agents.agents", i);
    if (!agent.is_object()) {
      return Status::InvalidArgument(path + ": expected an object, got " + agent.type_name());
    }
    const std::string info_path = FieldPath(path, "agent_info");
    Result<const Json*> info = RequiredObject(agent, "agent_info", info_path);
    if (!info.ok()) return info.status();
    Result<std::string> id = RequiredIdValue(**info, "id", info_path);
    if (!id.ok()) return id.status();
    if (*id != agent_id) continue;

    Result<const std::string*> pid = OptionalString(agent, "pid", FieldPath(path, "pid"));
    if (!pid.ok()) return pid.status();
    if (*pid != nullptr) {
      const std::size_t at = (*pid)->rfind('@');
      if (at != std::string::npos && at + 1 < (*pid)->size()) return (*pid)->substr(at + 1);
    }

    Result<const std::string*> hostname =
        RequiredString(**info, "hostname", FieldPath(info_path, "hostname"));
    if (!hostname.ok()) return hostname.status();
    int port = 5051;  // AgentInfo.port's default in v1/mesos.proto
    if (auto it = (*info)->find("port"); it != (*info)->end() && !it->is_null()) {
      if (!it->is_number_integer()) {
        return Status::InvalidArgument(info_path + ".port: expected an integer, got " +
                                       it->type_name());
      }
      port = it->get<int>();
    }
    const bool ipv6_literal = (*hostname)->find(':') != std::string::npos;
    std::string host = ipv6_literal ? "[" + **hostname + "]" : **hostname;
    return host + ":" + std::to_string(port);
  }
  return Status::NotFound("agent " + std::string(agent_id) + " is not registered with the master");
}

}  // namespace tb::mesos
