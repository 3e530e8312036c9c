#include "mesos/task_match.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tb::mesos {
namespace {

using Json = nlohmann::json;

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

// A running task as GET_TASKS lists it, with one status that carries a two-level container id.
Json RunningTask(const std::string& id) {
  return Json::parse(R"({
    "name": "web",
    "task_id": {"value": ")" +
                     id + R"("},
    "framework_id": {"value": "fw-0000"},
    "agent_id": {"value": "agent-S3"},
    "state": "TASK_RUNNING",
    "container": {"type": "MESOS"},
    "statuses": [{
      "state": "TASK_RUNNING",
      "timestamp": 1700000000.5,
      "container_status": {"container_id": {"value": "ctr-)" +
                     id + R"(", "parent": {"value": "exec"}}}
    }]
  })");
}

Json TasksResponse(std::vector<Json> tasks) {
  Json response = {{"type", "GET_TASKS"}, {"get_tasks", {{"tasks", Json::array()}}}};
  for (Json& task : tasks) response["get_tasks"]["tasks"].push_back(std::move(task));
  return response;
}

TEST(MatchTaskTest, ExactIdWins) {
  Json response =
      TasksResponse({RunningTask("web.1"), RunningTask("web.10"), RunningTask("web.11")});
  Result<TaskTarget> target = MatchTask(response, "web.1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_id, "web.1");
}

TEST(MatchTaskTest, FillsTarget) {
  Result<TaskTarget> target = MatchTask(TasksResponse({RunningTask("web.1")}), "web.1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_name, "web");
  EXPECT_EQ(target->agent_id, "agent-S3");
  EXPECT_EQ(target->framework_id, "fw-0000");
  EXPECT_EQ(target->container_id,
            Json::parse(R"({"value":"ctr-web.1","parent":{"value":"exec"}})"));
  EXPECT_EQ(target->app_id, "/web");
  EXPECT_EQ(target->agent_url, "");
}

TEST(MatchTaskTest, UniquePrefixMatches) {
  Json response = TasksResponse({RunningTask("web.abc"), RunningTask("db.abd")});
  Result<TaskTarget> target = MatchTask(response, "web");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_id, "web.abc");
}

TEST(MatchTaskTest, PrefixBeatsSubstring) {
  // "ab" is a prefix of one id and a substring of another: the prefix match is unique.
  Json response = TasksResponse({RunningTask("ab.1"), RunningTask("x.ab.2")});
  Result<TaskTarget> target = MatchTask(response, "ab");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_id, "ab.1");
}

TEST(MatchTaskTest, UniqueSubstringMatches) {
  Json response = TasksResponse({RunningTask("web.7c1e"), RunningTask("db.9f00")});
  Result<TaskTarget> target = MatchTask(response, "7c1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_id, "web.7c1e");
}

TEST(MatchTaskTest, NoMatchIsNotFound) {
  Result<TaskTarget> target = MatchTask(TasksResponse({RunningTask("web.1")}), "db");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(target.status().message(), "no running task matches 'db'");
}

TEST(MatchTaskTest, NoTasksFieldIsNotFound) {
  // The protobuf JSON mapping omits an empty repeated field.
  Result<TaskTarget> target = MatchTask(Json::parse(R"({"type":"GET_TASKS","get_tasks":{}})"), "x");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kNotFound);
}

TEST(MatchTaskTest, NonRunningTasksIgnored) {
  Json finished = RunningTask("web.1");
  finished["state"] = "TASK_FINISHED";
  Json staging = RunningTask("web.2");
  staging["state"] = "TASK_STAGING";
  Result<TaskTarget> target =
      MatchTask(TasksResponse({finished, staging, RunningTask("web.3")}), "web");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->task_id, "web.3");

  target = MatchTask(TasksResponse({finished}), "web.1");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kNotFound);
}

TEST(MatchTaskTest, NotRunningMatchExplained) {
  struct Case {
    const char* state;
    const char* list;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"TASK_FINISHED", "completed_tasks", "; task web.1 has ended (TASK_FINISHED)"},
      {"TASK_KILLED", "completed_tasks", "; task web.1 has ended (TASK_KILLED)"},
      {"TASK_KILLING", "tasks", "; task web.1 is being killed (TASK_KILLING)"},
      {"TASK_STAGING", "tasks", "; task web.1 is still starting (TASK_STAGING); try again"},
      {"TASK_UNREACHABLE", "unreachable_tasks", "; task web.1 is not reachable (TASK_UNREACHABLE)"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.state);
    Json task = RunningTask("web.1");
    task["state"] = test.state;
    Json response = TasksResponse({RunningTask("db.2")});
    response["get_tasks"][test.list].push_back(task);
    Result<TaskTarget> target = MatchTask(response, "web");
    ASSERT_FALSE(target.ok());
    EXPECT_EQ(target.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(target.status().message(), "no running task matches 'web'" + test.detail);
  }
}

TEST(MatchTaskTest, SeveralNotRunningMatchesGiveNoDetail) {
  Json first = RunningTask("web.1");
  first["state"] = "TASK_FINISHED";
  Json second = RunningTask("web.2");
  second["state"] = "TASK_FAILED";
  Json response = TasksResponse({});
  response["get_tasks"]["completed_tasks"] = Json::array({first, second});
  Result<TaskTarget> target = MatchTask(response, "web");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().message(), "no running task matches 'web'");
}

TEST(MatchTaskTest, AmbiguousListsSortedIds) {
  Json response = TasksResponse({RunningTask("web.b"), RunningTask("web.a"), RunningTask("db.c")});
  Result<TaskTarget> target = MatchTask(response, "web");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(target.status().message(), "'web' matches 2 running tasks:\nweb.a\nweb.b");
}

TEST(MatchTaskTest, AmbiguousSubstring) {
  Json response = TasksResponse({RunningTask("a.x.1"), RunningTask("b.x.2")});
  Result<TaskTarget> target = MatchTask(response, "x");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().message(), "'x' matches 2 running tasks:\na.x.1\nb.x.2");
}

TEST(MatchTaskTest, DuplicateExactIdIsAmbiguous) {
  Json other_framework = RunningTask("web.1");
  other_framework["framework_id"]["value"] = "fw-0001";
  Result<TaskTarget> target =
      MatchTask(TasksResponse({RunningTask("web.1"), other_framework}), "web.1");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(target.status().message(), "'web.1' matches 2 running tasks:"));
}

TEST(MatchTaskTest, AmbiguousListTruncatedAtMaximum) {
  std::vector<Json> tasks;
  const std::size_t count = kMaxListedTasks + 5;
  for (std::size_t i = 0; i < count; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "web.%03zu", i);
    tasks.push_back(RunningTask(id));
  }
  Result<TaskTarget> target = MatchTask(TasksResponse(tasks), "web");
  ASSERT_FALSE(target.ok());
  const std::string& message = target.status().message();
  EXPECT_TRUE(Contains(message, "'web' matches " + std::to_string(count) + " running tasks:\n"));
  EXPECT_TRUE(Contains(message, "\nweb.000\n"));
  EXPECT_TRUE(Contains(message, "\nweb.019\n"));
  EXPECT_FALSE(Contains(message, "web.020"));
  EXPECT_TRUE(message.ends_with("\n... and 5 more")) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'),
            static_cast<long>(kMaxListedTasks) + 1);
}

TEST(MatchTaskTest, ListAtMaximumNotTruncated) {
  std::vector<Json> tasks;
  for (std::size_t i = 0; i < kMaxListedTasks; ++i)
    tasks.push_back(RunningTask("t." + std::to_string(i)));
  Result<TaskTarget> target = MatchTask(TasksResponse(tasks), "t.");
  ASSERT_FALSE(target.ok());
  EXPECT_FALSE(Contains(target.status().message(), "more"));
}

TEST(MatchTaskTest, DockerTaskRejected) {
  Json task = RunningTask("redis.1");
  task["container"] = {{"type", "DOCKER"}, {"docker", {{"image", "redis"}}}};
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "redis");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(target.status().message(),
            "task redis.1 runs under the Docker containerizer; exec needs the Mesos (UCR) "
            "containerizer");
}

TEST(MatchTaskTest, TaskWithoutContainerInfoAccepted) {
  Json task = RunningTask("cmd.1");
  task.erase("container");
  EXPECT_TRUE(MatchTask(TasksResponse({task}), "cmd.1").ok());
}

TEST(MatchTaskTest, NoContainerIdIsStillStarting) {
  Json task = RunningTask("web.1");
  task["statuses"] = Json::parse(R"([{"state":"TASK_STARTING","timestamp":1.0},
                                      {"state":"TASK_RUNNING","timestamp":2.0,"container_status":{}}])");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "web.1");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(target.status().message(), "task web.1 is still starting; try again");
}

TEST(MatchTaskTest, NoStatusesIsStillStarting) {
  Json task = RunningTask("web.1");
  task.erase("statuses");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "web.1");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kFailedPrecondition);
}

TEST(MatchTaskTest, NewestStatusWithContainerIdUsed) {
  Json task = RunningTask("pod.1");
  // Listed out of order; the newest status (timestamp 3) lacks an id, so timestamp 2 wins.
  task["statuses"] = Json::parse(R"([
    {"timestamp": 2.0, "container_status": {"container_id":
        {"value": "task-ctr", "parent": {"value": "exec-ctr", "parent": {"value": "root"}}}}},
    {"timestamp": 1.0, "container_status": {"container_id": {"value": "old"}}},
    {"timestamp": 3.0, "state": "TASK_RUNNING"}
  ])");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "pod.1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->container_id["value"], "task-ctr");
  EXPECT_EQ(target->container_id["parent"]["parent"]["value"], "root");
}

TEST(MatchTaskTest, LaterStatusWinsOnEqualTimestamps) {
  Json task = RunningTask("t.1");
  task["statuses"] = Json::parse(R"([
    {"timestamp": 5.0, "container_status": {"container_id": {"value": "first"}}},
    {"timestamp": 5.0, "container_status": {"container_id": {"value": "second"}}}
  ])");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "t.1");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->container_id["value"], "second");
}

TEST(MatchTaskTest, AppIdFromDcosSpaceLabel) {
  Json task = RunningTask("web.1");
  task["labels"] = Json::parse(R"({"labels":[{"key":"MARATHON_APP_ID","value":"/prod/web"},
                                              {"key":"DCOS_SPACE","value":"/prod"}]})");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "web.1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->app_id, "/prod");
}

TEST(MatchTaskTest, AppIdFromMarathonLabel) {
  Json task = RunningTask("web.1");
  task["labels"] = Json::parse(R"({"labels":[{"key":"OTHER","value":"x"},
                                              {"key":"MARATHON_APP_ID","value":"/prod/web"}]})");
  Result<TaskTarget> target = MatchTask(TasksResponse({task}), "web.1");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->app_id, "/prod/web");
}

TEST(MatchTaskTest, EmptySelectorRejected) {
  Result<TaskTarget> target = MatchTask(TasksResponse({RunningTask("web.1")}), "");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(target.status().message(), "selector is empty"));
}

TEST(MatchTaskTest, MalformedShapesNamePath) {
  struct Case {
    const char* response;
    const char* message;
  };
  const Case cases[] = {
      {R"([])", "GET_TASKS response: expected an object, got array"},
      {R"({"type":"GET_TASKS"})", "get_tasks: missing"},
      {R"({"get_tasks":{"tasks":{}}})", "get_tasks.tasks: expected an array, got object"},
      {R"({"get_tasks":{"tasks":[7]}})", "get_tasks.tasks[0]: expected an object, got number"},
      {R"({"get_tasks":{"tasks":[{"task_id":{"value":"a"}}]}})",
       "get_tasks.tasks[0].state: missing"},
      {R"({"get_tasks":{"tasks":[{"state":"TASK_RUNNING","task_id":{"value":5}}]}})",
       "get_tasks.tasks[0].task_id.value: expected a string, got number"},
      {R"({"get_tasks":{"tasks":[{"state":"TASK_RUNNING","task_id":{"value":"a"},"name":"n",)"
       R"("framework_id":{"value":"f"}}]}})",
       "get_tasks.tasks[0].agent_id: missing"},
      {R"({"get_tasks":{"tasks":[{"state":"TASK_RUNNING","task_id":{"value":"a"},"name":"n",)"
       R"("framework_id":{"value":"f"},"agent_id":{"value":"s"},"statuses":[{"timestamp":"x"}]}]}})",
       "get_tasks.tasks[0].statuses[0].timestamp: expected a number, got string"},
  };
  for (const Case& c : cases) {
    Result<TaskTarget> target = MatchTask(Json::parse(c.response), "a");
    ASSERT_FALSE(target.ok()) << c.response;
    EXPECT_EQ(target.status().code(), StatusCode::kInvalidArgument) << c.response;
    EXPECT_EQ(target.status().message(), c.message) << c.response;
  }
}

Json AgentsResponse(const std::string& agents) {
  return Json::parse(R"({"type":"GET_AGENTS","get_agents":{"agents":)" + agents + "}}");
}

TEST(AgentAddressTest, FromPid) {
  Json response = AgentsResponse(R"([
    {"agent_info":{"id":{"value":"other"},"hostname":"h0"},"pid":"slave(1)@10.0.0.9:5051"},
    {"agent_info":{"id":{"value":"agent-S3"},"hostname":"agent3.internal","port":5052},
     "pid":"slave(1)@10.0.1.7:5051"}])");
  Result<std::string> address = AgentAddress(response, "agent-S3");
  ASSERT_TRUE(address.ok()) << address.status().ToString();
  EXPECT_EQ(*address, "10.0.1.7:5051");
}

TEST(AgentAddressTest, FallsBackToHostnameAndPort) {
  Json response =
      AgentsResponse(R"([{"agent_info":{"id":{"value":"a"},"hostname":"h1","port":5052}}])");
  Result<std::string> address = AgentAddress(response, "a");
  ASSERT_TRUE(address.ok()) << address.status().ToString();
  EXPECT_EQ(*address, "h1:5052");
}

TEST(AgentAddressTest, DefaultPort) {
  Json response =
      AgentsResponse(R"([{"agent_info":{"id":{"value":"a"},"hostname":"h1"},"pid":""}])");
  Result<std::string> address = AgentAddress(response, "a");
  ASSERT_TRUE(address.ok()) << address.status().ToString();
  EXPECT_EQ(*address, "h1:5051");
}

TEST(AgentAddressTest, Ipv6HostnameBracketed) {
  Json response =
      AgentsResponse(R"([{"agent_info":{"id":{"value":"a"},"hostname":"fd00::7","port":5051}}])");
  Result<std::string> address = AgentAddress(response, "a");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(*address, "[fd00::7]:5051");
}

TEST(AgentAddressTest, UnknownAgentNotFound) {
  Json response = AgentsResponse(R"([{"agent_info":{"id":{"value":"a"},"hostname":"h"}}])");
  Result<std::string> address = AgentAddress(response, "agent-S9");
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(address.status().message(), "agent agent-S9 is not registered with the master");
}

TEST(AgentAddressTest, NoAgentsNotFound) {
  Result<std::string> address = AgentAddress(Json::parse(R"({"get_agents":{}})"), "a");
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.status().code(), StatusCode::kNotFound);
}

TEST(AgentAddressTest, MalformedShapesNamePath) {
  struct Case {
    const char* response;
    const char* message;
  };
  const Case cases[] = {
      {R"({})", "get_agents: missing"},
      {R"({"get_agents":{"agents":[{}]}})", "get_agents.agents[0].agent_info: missing"},
      {R"({"get_agents":{"agents":[{"agent_info":{"id":{}}}]}})",
       "get_agents.agents[0].agent_info.id.value: missing"},
      {R"({"get_agents":{"agents":[{"agent_info":{"id":{"value":"a"}}}]}})",
       "get_agents.agents[0].agent_info.hostname: missing"},
      {R"({"get_agents":{"agents":[{"agent_info":{"id":{"value":"a"},"hostname":"h","port":"x"}}]}})",
       "get_agents.agents[0].agent_info.port: expected an integer, got string"},
      {R"({"get_agents":{"agents":[{"agent_info":{"id":{"value":"a"}},"pid":5}]}})",
       "get_agents.agents[0].pid: expected a string, got number"},
  };
  for (const Case& c : cases) {
    Result<std::string> address = AgentAddress(Json::parse(c.response), "a");
    ASSERT_FALSE(address.ok()) << c.response;
    EXPECT_EQ(address.status().code(), StatusCode::kInvalidArgument) << c.response;
    EXPECT_EQ(address.status().message(), c.message) << c.response;
  }
}

}  // namespace
}  // namespace tb::mesos
