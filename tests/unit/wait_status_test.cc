#include "mesos/wait_status.h"

#include <gtest/gtest.h>

#include <csignal>

namespace tb::mesos {
namespace {

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

TEST(WaitStatusTest, DecodesExitCode) {
  ExitOutcome outcome = DecodeWaitStatus(768);
  EXPECT_FALSE(outcome.signaled);
  EXPECT_EQ(outcome.exit_code, 3);
}

TEST(WaitStatusTest, DecodesZeroAsSuccess) {
  ExitOutcome outcome = DecodeWaitStatus(0);
  EXPECT_FALSE(outcome.signaled);
  EXPECT_EQ(outcome.exit_code, 0);
}

TEST(WaitStatusTest, DecodesExitCode255) { EXPECT_EQ(DecodeWaitStatus(255 << 8).exit_code, 255); }

TEST(WaitStatusTest, DecodesSignal) {
  ExitOutcome outcome = DecodeWaitStatus(15);
  EXPECT_TRUE(outcome.signaled);
  EXPECT_EQ(outcome.signal, SIGTERM);
  EXPECT_FALSE(outcome.core_dumped);
}

TEST(WaitStatusTest, DecodesSignalWithCoreDump) {
  ExitOutcome outcome = DecodeWaitStatus(139);
  EXPECT_TRUE(outcome.signaled);
  EXPECT_EQ(outcome.signal, SIGSEGV);
  EXPECT_TRUE(outcome.core_dumped);
}

TEST(WaitStatusTest, NonTerminationStatusNeverSuccess) {
  for (int raw : {0x137f /* stopped by SIGSTOP */, 0xffff /* continued */, 0x10000, -1}) {
    EXPECT_FALSE(IsTerminationStatus(raw)) << raw;
    ExitOutcome outcome = DecodeWaitStatus(raw);
    EXPECT_FALSE(outcome.signaled) << raw;
    EXPECT_EQ(outcome.exit_code, 255) << raw;
  }
}

TEST(WaitStatusTest, ParsesWaitContainer) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(
      R"({"type":"WAIT_CONTAINER","wait_container":{"exit_status":2304}})");
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_FALSE(outcome->signaled);
  EXPECT_EQ(outcome->exit_code, 9);
}

TEST(WaitStatusTest, ParsesWaitNestedContainer) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(
      R"({"type":"WAIT_NESTED_CONTAINER","wait_nested_container":{"exit_status":9,"state":"TASK_KILLED"}})");
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->signaled);
  EXPECT_EQ(outcome->signal, SIGKILL);
}

TEST(WaitStatusTest, MissingExitStatusNamesReasonAndMessage) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(
      R"({"type":"WAIT_CONTAINER","wait_container":{"reason":"REASON_IO_SWITCHBOARD_EXITED",)"
      R"("message":"'IOSwitchboard' exited"}})");
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(outcome.status().message(),
            "the agent reported no exit status (reason: REASON_IO_SWITCHBOARD_EXITED, message: "
            "'IOSwitchboard' exited)");
}

TEST(WaitStatusTest, MissingExitStatusWithoutDetails) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(R"({"wait_container":{}})");
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(outcome.status().message(), "the agent reported no exit status");
}

TEST(WaitStatusTest, MissingResultObjectRejected) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(R"({"type":"WAIT_CONTAINER"})");
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(outcome.status().message(), "wait_container")) << outcome.status().message();
}

TEST(WaitStatusTest, NonIntegerExitStatusRejected) {
  Result<ExitOutcome> outcome =
      ParseWaitContainerResponse(R"({"wait_container":{"exit_status":"0"}})");
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(outcome.status().message(),
            "wait_container.exit_status: expected an integer, got string");

  outcome = ParseWaitContainerResponse(R"({"wait_container":{"exit_status":1.5}})");
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(Contains(outcome.status().message(), "got 1.5")) << outcome.status().message();
}

TEST(WaitStatusTest, OutOfRangeExitStatusRejected) {
  for (const char* body :
       {R"({"wait_container":{"exit_status":65536}})", R"({"wait_container":{"exit_status":-1}})",
        R"({"wait_nested_container":{"exit_status":4991}})"}) {
    Result<ExitOutcome> outcome = ParseWaitContainerResponse(body);
    ASSERT_FALSE(outcome.ok()) << body;
    EXPECT_EQ(outcome.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(outcome.status().message(), "is not a wait(2) status"))
        << outcome.status().message();
  }
}

TEST(WaitStatusTest, InvalidJsonRejected) {
  Result<ExitOutcome> outcome = ParseWaitContainerResponse("Container cannot be found");
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(outcome.status().message(), "WAIT_CONTAINER response: invalid JSON"));
}

TEST(SignalNameTest, Rfc4254Names) {
  EXPECT_EQ(SignalName(SIGTERM), "TERM");
  EXPECT_EQ(SignalName(SIGKILL), "KILL");
  EXPECT_EQ(SignalName(SIGINT), "INT");
  EXPECT_EQ(SignalName(SIGHUP), "HUP");
  EXPECT_EQ(SignalName(SIGSEGV), "SEGV");
  EXPECT_EQ(SignalName(SIGUSR1), "USR1");
  EXPECT_EQ(SignalName(SIGUSR2), "USR2");
}

TEST(SignalNameTest, OtherLinuxNames) {
  EXPECT_EQ(SignalName(SIGWINCH), "WINCH");
  EXPECT_EQ(SignalName(SIGCHLD), "CHLD");
  EXPECT_EQ(SignalName(SIGBUS), "BUS");
}

TEST(SignalNameTest, UnknownIsEmpty) {
  EXPECT_EQ(SignalName(0), "");
  EXPECT_EQ(SignalName(200), "");
  EXPECT_EQ(SignalName(SIGRTMIN), "");
}

TEST(SignalNameTest, SshExitSignalNameFollowsOpenSsh) {
  EXPECT_EQ(SshExitSignalName(SIGTERM), "TERM");
  EXPECT_EQ(SshExitSignalName(SIGQUIT), "QUIT");
  EXPECT_EQ(SshExitSignalName(SIGBUS), "SIG@openssh.com");
  EXPECT_EQ(SshExitSignalName(99), "SIG@openssh.com");
}

TEST(SignalNameTest, SignalNumberInvertsName) {
  EXPECT_EQ(SignalNumber("TERM"), SIGTERM);
  EXPECT_EQ(SignalNumber("KILL"), SIGKILL);
  EXPECT_EQ(SignalNumber("WINCH"), SIGWINCH);
  EXPECT_EQ(SignalNumber("SIGTERM"), 0);
  EXPECT_EQ(SignalNumber(""), 0);
  for (int signal = 1; signal < 32; ++signal) {
    if (!SignalName(signal).empty()) {
      EXPECT_EQ(SignalNumber(SignalName(signal)), signal);
    }
  }
}

}  // namespace
}  // namespace tb::mesos
