// Picks the task an exec session targets from the master's GET_TASKS response, and the address of
// its agent from the GET_AGENTS response (Mesos v1 master API, v1/master/master.proto).
//
// Both functions read the JSON the master returned and never modify it. Every message below is
// shown to the SSH user as is, so the texts are part of the interface.

#ifndef TASK_BASTION_MESOS_TASK_MATCH_H_
#define TASK_BASTION_MESOS_TASK_MATCH_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::mesos {

// The task an exec session runs in, and where to reach it.
struct TaskTarget {
  std::string task_id;
  std::string task_name;
  std::string agent_id;
  std::string framework_id;
  nlohmann::json container_id;  // the task's container id with its whole parent chain
  // The Marathon app (or DC/OS space) the task belongs to, for permission checks: the task label
  // DCOS_SPACE, else MARATHON_APP_ID, else "/" + task_name.
  std::string app_id;
  std::string agent_url;  // "http://IP:PORT"; left empty by MatchTask, set by MasterClient
};

// The maximum number of task ids listed in the message for an ambiguous selector.
inline constexpr std::size_t kMaxListedTasks = 20;

// Chooses among get_tasks.tasks whose `state` is TASK_RUNNING: the task whose id equals
// `selector`; otherwise the only one whose id starts with it; otherwise the only one whose id
// contains it. The chosen task's container id is the container_status.container_id of its newest
// status (by `timestamp`, later in the list on ties) that has one. Errors:
//   NotFound            "no running task matches 'X'", followed by "; task ID has ended
//                       (TASK_FINISHED)", "is being killed", "is still starting; try again" or
//                       "is not reachable" when one task that is not running matches instead
//   InvalidArgument     "'X' matches N running tasks:" and the ids, sorted, one per line; at most
//                       kMaxListedTasks, then "... and K more". Also for an empty selector.
//   FailedPrecondition  "task ID runs under the Docker containerizer; exec needs the Mesos (UCR)
//                       containerizer", when `container.type` is present and not MESOS.
//   FailedPrecondition  "task ID is still starting; try again", when no status has a container id.
//   InvalidArgument     a field this function reads has the wrong JSON type, or a required field
//                       (get_tasks, a task's state, task_id.value, name, agent_id.value,
//                       framework_id.value) is missing; the message names the field path.
Result<TaskTarget> MatchTask(const nlohmann::json& get_tasks_response, std::string_view selector);

// Returns "IP:PORT" for `agent_id` from get_agents.agents: the part of the agent's `pid`
// ("slave(1)@IP:PORT") after the '@', or else agent_info.hostname and agent_info.port (default
// 5051). Errors: NotFound "agent ID is not registered with the master"; InvalidArgument naming the
// field path for a malformed response.
Result<std::string> AgentAddress(const nlohmann::json& get_agents_response,
                                 std::string_view agent_id);

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_TASK_MATCH_H_
