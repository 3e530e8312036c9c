#include "mesos/calls.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "mesos/container_id.h"
#include "mesos/recordio.h"

namespace tb::mesos {
namespace {

using Json = nlohmann::json;

// A session id under a one-level task id. The expected records below are the compact JSON the
// agent's input stream takes, and their byte lengths are the RecordIO size prefixes.
Json ExampleSessionId() {
  return SessionContainerId(Json{{"value", "5a9f3c0e-8d1b-4b8e-a7c2-6f0e2d4b1c33"}},
                            "0f6c1f7e-3b1a-4c55-9a57-2d3c1f1e9b10");
}

TEST(CallsTest, AttachContainerInputMatchesExampleRecord) {
  const std::string call = AttachContainerInputCall(ExampleSessionId());
  EXPECT_EQ(call.size(), 204u);
  EXPECT_EQ(call,
            R"({"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"CONTAINER_ID",)"
            R"("container_id":{"value":"0f6c1f7e-3b1a-4c55-9a57-2d3c1f1e9b10","parent":)"
            R"({"value":"5a9f3c0e-8d1b-4b8e-a7c2-6f0e2d4b1c33"}}}})");
  EXPECT_EQ(EncodeRecord(call).substr(0, 4), "204\n");
}

TEST(CallsTest, StdinDataMatchesExampleRecord) {
  const std::string record = StdinDataRecord("ls -l\n");
  EXPECT_EQ(record.size(), 151u);
  EXPECT_EQ(record,
            R"({"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"PROCESS_IO",)"
            R"("process_io":{"type":"DATA","data":{"type":"STDIN","data":"bHMgLWwK"}}}})");
}

TEST(CallsTest, StdinEofMatchesExampleRecord) {
  const std::string record = StdinDataRecord("");
  EXPECT_EQ(record.size(), 143u);
  EXPECT_NE(record.find(R"("data":{"type":"STDIN","data":""})"), std::string::npos) << record;
}

TEST(CallsTest, StdinTtyEofIsEot) {
  EXPECT_NE(StdinDataRecord("\x04").find(R"("data":"BA==")"), std::string::npos);
}

TEST(CallsTest, StdinBinaryBytesBase64) {
  const std::string bytes("\0\xff\x80\n", 4);
  Json record = Json::parse(StdinDataRecord(bytes));
  Result<std::string> decoded = Base64Decode(
      record["attach_container_input"]["process_io"]["data"]["data"].get<std::string>());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, bytes);
}

TEST(CallsTest, HeartbeatRecord) {
  EXPECT_EQ(HeartbeatRecord(std::chrono::seconds(30)),
            R"({"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"PROCESS_IO",)"
            R"("process_io":{"type":"CONTROL","control":{"type":"HEARTBEAT","heartbeat":)"
            R"({"interval":{"nanoseconds":30000000000}}}}}})");
}

TEST(CallsTest, TtyInfoRecord) {
  EXPECT_EQ(TtyInfoRecord(40, 120),
            R"({"type":"ATTACH_CONTAINER_INPUT","attach_container_input":{"type":"PROCESS_IO",)"
            R"("process_io":{"type":"CONTROL","control":{"type":"TTY_INFO","tty_info":)"
            R"({"window_size":{"rows":40,"columns":120}}}}}})");
}

TEST(CallsTest, MasterCalls) {
  EXPECT_EQ(GetTasksCall(), R"({"type":"GET_TASKS"})");
  EXPECT_EQ(GetAgentsCall(), R"({"type":"GET_AGENTS"})");
}

TEST(CallsTest, LaunchShellCommandWithoutTty) {
  LaunchCommand command;
  command.value = "echo hi >&2";
  command.arguments = {"ignored"};
  EXPECT_EQ(LaunchNestedContainerSessionCall(ExampleSessionId(), command),
            R"({"type":"LAUNCH_NESTED_CONTAINER_SESSION","launch_nested_container_session":)"
            R"({"container_id":{"value":"0f6c1f7e-3b1a-4c55-9a57-2d3c1f1e9b10","parent":)"
            R"({"value":"5a9f3c0e-8d1b-4b8e-a7c2-6f0e2d4b1c33"}},)"
            R"("command":{"shell":true,"value":"echo hi >&2"},"container":{"type":"MESOS"}}})");
}

TEST(CallsTest, LaunchArgvCommandWithTtyAndEnvironment) {
  LaunchCommand command;
  command.shell = false;
  command.value = "/bin/bash";
  command.arguments = {"/bin/bash", "-l"};
  command.environment = {{"TERM", "xterm-256color"}, {"LANG", "C.UTF-8"}};
  command.tty = true;
  Json call = Json::parse(LaunchNestedContainerSessionCall(ExampleSessionId(), command));

  const Json& launch = call["launch_nested_container_session"];
  EXPECT_EQ(call["type"], "LAUNCH_NESTED_CONTAINER_SESSION");
  EXPECT_EQ(launch["container_id"], ExampleSessionId());
  EXPECT_EQ(launch["command"]["shell"], false);
  EXPECT_EQ(launch["command"]["value"], "/bin/bash");
  EXPECT_EQ(launch["command"]["arguments"], (Json{"/bin/bash", "-l"}));
  EXPECT_EQ(launch["command"]["environment"],
            Json::parse(R"({"variables":[{"name":"TERM","type":"VALUE","value":"xterm-256color"},)"
                        R"({"name":"LANG","type":"VALUE","value":"C.UTF-8"}]})"));
  EXPECT_EQ(launch["container"], Json::parse(R"({"type":"MESOS","tty_info":{}})"));
}

TEST(CallsTest, LaunchKeepsDeepParentChain) {
  const Json task =
      Json::parse(R"({"value":"task","parent":{"value":"executor","parent":{"value":"root"}}})");
  LaunchCommand command;
  command.value = "true";
  Json call = Json::parse(LaunchNestedContainerSessionCall(SessionContainerId(task, "s"), command));
  EXPECT_EQ(call["launch_nested_container_session"]["container_id"]["parent"], task);
}

TEST(CallsTest, InvalidUtf8Replaced) {
  LaunchCommand command;
  command.value = "echo \xff";
  std::string call = LaunchNestedContainerSessionCall(ExampleSessionId(), command);
  EXPECT_NE(call.find("echo \xef\xbf\xbd"), std::string::npos) << call;
}

TEST(CallsTest, WaitContainerCall) {
  EXPECT_EQ(WaitContainerCall(Json{{"value", "c"}, {"parent", {{"value", "p"}}}}),
            R"({"type":"WAIT_CONTAINER","wait_container":{"container_id":)"
            R"({"value":"c","parent":{"value":"p"}}}})");
}

TEST(CallsTest, KillContainerCall) {
  EXPECT_EQ(KillContainerCall(Json{{"value", "c"}, {"parent", {{"value", "p"}}}}, 15),
            R"({"type":"KILL_CONTAINER","kill_container":{"container_id":)"
            R"({"value":"c","parent":{"value":"p"}},"signal":15}})");
}

}  // namespace
}  // namespace tb::mesos
