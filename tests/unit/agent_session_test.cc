// Tests of AgentSession against FakeAgent, a scripted Mesos agent on TestHttpServer, through the
// real libcurl HttpClient. The fake encodes and decodes RecordIO, base64 and ProcessIO itself,
// so these tests also check the codecs the session uses against an independent reading of the
// wire format. Every wait is for an event, with a deadline.

#include "mesos/agent_session.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/poll_loop.h"
#include "tests/unit/test_http_server.h"

namespace tb::mesos {
namespace {

using ::nlohmann::json;
using ::tb::testing::PollLoop;
using ::tb::testing::TestConnection;
using ::tb::testing::TestHttpServer;
using ::tb::testing::TestRequest;

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string ToBase64(std::string_view bytes) {
  std::string text;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned value = (static_cast<unsigned char>(bytes[i]) << 16) |
                     (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                     static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) text += kBase64Alphabet[(value >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    unsigned value = static_cast<unsigned char>(bytes[i]) << 16;
    text += kBase64Alphabet[(value >> 18) & 63];
    text += kBase64Alphabet[(value >> 12) & 63];
    text += "==";
  } else if (i + 2 == bytes.size()) {
    unsigned value = (static_cast<unsigned char>(bytes[i]) << 16) |
                     (static_cast<unsigned char>(bytes[i + 1]) << 8);
    text += kBase64Alphabet[(value >> 18) & 63];
    text += kBase64Alphabet[(value >> 12) & 63];
    text += kBase64Alphabet[(value >> 6) & 63];
    text += '=';
  }
  return text;
}

std::string FromBase64(std::string_view text) {
  std::string bytes;
  unsigned value = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* position = std::strchr(kBase64Alphabet, c);
    if (position == nullptr || c == '\0') return "<invalid base64>";
    value = (value << 6) | static_cast<unsigned>(position - kBase64Alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return bytes;
}

std::string Frame(const std::string& record) {
  return std::to_string(record.size()) + "\n" + record;
}

std::string DataRecord(const char* stream, std::string_view bytes) {
  json record = {{"type", "DATA"}, {"data", {{"type", stream}, {"data", ToBase64(bytes)}}}};
  return Frame(record.dump());
}

std::string StdoutRecord(std::string_view bytes) { return DataRecord("STDOUT", bytes); }
std::string StderrRecord(std::string_view bytes) { return DataRecord("STDERR", bytes); }

std::string HeartbeatRecord() {
  json record = {{"type", "CONTROL"},
                 {"control",
                  {{"type", "HEARTBEAT"},
                   {"heartbeat", {{"interval", {{"nanoseconds", 30000000000LL}}}}}}}};
  return Frame(record.dump());
}

std::string WaitAnswer(int exit_status) {
  json answer = {{"type", "WAIT_CONTAINER"}, {"wait_container", {{"exit_status", exit_status}}}};
  return answer.dump();
}

// The input record's ProcessIO, or null for the CONTAINER_ID record.
const json& ProcessIoOf(const json& record) {
  static const json kNone;
  const json& input = record["attach_container_input"];
  return input.value("type", "") == "PROCESS_IO" ? input["process_io"] : kNone;
}

// A scripted Mesos agent. Server threads record every call; the test reads the records after
// the session finished, or waits for them with WaitUntil.
class FakeAgent {
 public:
  struct Answer {
    int status;
    std::string body;
  };
  // Writes the output stream of a 200 launch response, after the stream head, on a server
  // thread. It ends the stream itself (WriteLastChunk), or cuts it.
  using OutputScript = std::function<void(FakeAgent&, TestConnection&)>;

  FakeAgent() : server_([this](TestConnection& c, const TestRequest& r) { return Serve(c, r); }) {}

  std::string url() const { return server_.url(); }

  // Script, set before the session starts.
  std::deque<Answer> launch_answers;  // 200 with `output` once these are used up
  OutputScript output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("hello\n"));
    stream.WriteLastChunk();
  };
  int reject_inputs = 0;  // this many input streams get 500 "Unknown container" at once
  Answer input_answer{200, ""};
  bool input_answer_early = false;  // respond after the first record instead of at the end
  int cut_inputs = 0;  // this many input streams are closed after their first record, unanswered
  std::deque<Answer> wait_answers;  // responses to the first WAIT calls, then wait_answer
  Answer wait_answer{200, WaitAnswer(0)};

  // Blocks the calling server thread until `ready()` holds (checked under the agent's lock).
  bool WaitUntil(const std::function<bool()>& ready) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), ready);
  }

  // Records, guarded by the agent's lock while the server runs.
  std::vector<TestRequest> launch_requests;
  std::vector<json> launch_calls;
  std::vector<TestRequest> input_requests;
  std::vector<std::vector<json>> input_records;  // per input connection
  int inputs_finished = 0;                       // input bodies read to their end
  int inputs_answered = 0;
  std::vector<TestRequest> wait_requests;
  std::vector<json> wait_calls;
  std::vector<json> kill_calls;

  std::string StdinReceived() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string stdin_bytes;
    for (const auto& records : input_records) {
      for (const json& record : records) {
        const json& io = ProcessIoOf(record);
        if (!io.is_null() && io["type"] == "DATA") {
          stdin_bytes += FromBase64(io["data"]["data"].get<std::string>());
        }
      }
    }
    return stdin_bytes;
  }

  bool SawHeartbeat() const {
    for (const auto& records : input_records) {
      for (const json& record : records) {
        const json& io = ProcessIoOf(record);
        if (!io.is_null() && io["type"] == "CONTROL" && io["control"]["type"] == "HEARTBEAT") {
          return true;
        }
      }
    }
    return false;
  }

 private:
  bool Serve(TestConnection& connection, const TestRequest& request) {
    if (request.header("content-type") == "application/recordio") {
      return ServeInput(connection, request);
    }
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    json call = json::parse(body, nullptr, false);
    std::string type = call.is_object() ? call.value("type", "") : "";

    if (type == "LAUNCH_NESTED_CONTAINER_SESSION") return ServeLaunch(connection, request, call);
    if (type == "WAIT_CONTAINER") {
      Answer answer = wait_answer;
      Record([&]() {
        wait_requests.push_back(request);
        wait_calls.push_back(call);
        if (!wait_answers.empty()) {
          answer = wait_answers.front();
          wait_answers.pop_front();
        }
      });
      return connection.WriteResponse(answer.status, answer.body);
    }
    if (type == "KILL_CONTAINER") {
      Record([&]() { kill_calls.push_back(call); });
      return connection.WriteResponse(200, "");
    }
    return connection.WriteResponse(400, "unexpected call " + type);
  }

  bool ServeLaunch(TestConnection& connection, const TestRequest& request, const json& call) {
    std::optional<Answer> answer;
    Record([&]() {
      launch_requests.push_back(request);
      launch_calls.push_back(call);
      if (!launch_answers.empty()) {
        answer = launch_answers.front();
        launch_answers.pop_front();
      }
    });
    if (answer) return connection.WriteResponse(answer->status, answer->body);

    if (!connection.WriteStreamHead(200, {"Content-Type: application/recordio",
                                          "Message-Content-Type: application/json"})) {
      return false;
    }
    output(*this, connection);
    return false;
  }

  bool ServeInput(TestConnection& connection, const TestRequest& request) {
    std::size_t index = 0;
    bool reject = false;
    bool cut = false;
    Record([&]() {
      index = input_requests.size();
      input_requests.push_back(request);
      input_records.emplace_back();
      if (reject_inputs > 0) {
        --reject_inputs;
        reject = true;
      } else if (cut_inputs > 0) {
        --cut_inputs;
        cut = true;
      }
    });

    std::string buffer;
    bool last = false;
    bool answered = false;
    while (!last) {
      std::string data;
      if (!connection.ReadChunk(&data, &last)) return false;
      buffer += data;
      // Complete RecordIO records: "<size>\n<data>".
      for (;;) {
        std::size_t newline = buffer.find('\n');
        if (newline == std::string::npos) break;
        std::size_t size = std::stoul(buffer.substr(0, newline));
        if (buffer.size() < newline + 1 + size) break;
        json record = json::parse(buffer.substr(newline + 1, size), nullptr, false);
        buffer.erase(0, newline + 1 + size);
        Record([&]() { input_records[index].push_back(record); });
        if (reject) {
          std::string id = record["attach_container_input"]["container_id"].value("value", "");
          connection.WriteResponse(500, "Unknown container " + id);
          Record([&]() { ++inputs_answered; });
          return false;
        }
        if (cut) {
          connection.Shutdown();  // as a proxy's idle cut or a reset would
          return false;
        }
        if (input_answer_early && !answered) {
          answered = true;
          if (!connection.WriteResponse(input_answer.status, input_answer.body)) return false;
          Record([&]() { ++inputs_answered; });
        }
      }
    }
    Record([&]() { ++inputs_finished; });
    if (answered) return false;
    connection.WriteResponse(input_answer.status, input_answer.body);
    Record([&]() { ++inputs_answered; });
    return false;
  }

  void Record(const std::function<void()>& change) {
    std::lock_guard<std::mutex> lock(mutex_);
    change();
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  // Last: destroyed first, so no server thread runs while the records above are destroyed.
  TestHttpServer server_;
};

struct OutputPiece {
  OutputStream stream;
  std::string data;
  bool operator==(const OutputPiece& other) const = default;
};

class AgentSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_ = HttpClient::Create(loop_, {});
    ASSERT_NE(http_, nullptr);
  }

  void TearDown() override {
    session_.reset();
    http_.reset();
  }

  SessionSpec Spec(const FakeAgent& agent) {
    SessionSpec spec;
    spec.agent_url = agent.url();
    spec.authorization = "token=secret";
    spec.parent_container_id = {{"value", "task-ctr"}, {"parent", {{"value", "executor-ctr"}}}};
    spec.command = "echo hello";
    return spec;
  }

  // Creates the session with recording handlers; `pause_every` > 0 pauses the output after
  // every pause_every-th piece and resumes it from a posted task.
  void Create(SessionSpec spec, int pause_every = 0) {
    AgentSession::Handlers handlers;
    handlers.on_launched = [this](const std::string& id) { launched_id_ = id; };
    handlers.on_output = [this, pause_every](OutputStream stream, std::string_view data) {
      if (paused_) output_while_paused_ = true;
      output_.push_back({stream, std::string(data)});
      if (pause_every > 0 && output_.size() % pause_every == 0) {
        paused_ = true;
        loop_.Post([this]() {
          paused_ = false;
          session_->ResumeOutput();
        });
        return false;
      }
      return true;
    };
    handlers.on_stdin_drained = [this]() { ++drained_; };
    handlers.on_finished = [this](Result<ExitOutcome> result) { finished_.emplace(result); };
    handlers.on_warning = [this](const Status& status) {
      warnings_.push_back(status);
      warned_.Notify();
    };
    session_ = std::make_unique<AgentSession>(*http_, std::move(spec), std::move(handlers));
  }

  void RunToFinish() {
    ASSERT_TRUE(loop_.RunUntil([this]() { return finished_.has_value(); }));
  }

  std::string Output(OutputStream stream) const {
    std::string bytes;
    for (const OutputPiece& piece : output_) {
      if (piece.stream == stream) bytes += piece.data;
    }
    return bytes;
  }

  PollLoop loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<AgentSession> session_;

  std::optional<std::string> launched_id_;
  std::vector<OutputPiece> output_;
  bool paused_ = false;
  bool output_while_paused_ = false;
  int drained_ = 0;
  std::optional<Result<ExitOutcome>> finished_;
  std::vector<Status> warnings_;
  testing::Notification warned_;  // the first on_warning, for scripts on server threads
};

TEST_F(AgentSessionTest, OutputInOrderWithStreamsApart) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("one\n"));
    stream.WriteChunk(StderrRecord("two\n") + HeartbeatRecord() + StdoutRecord("three\n"));
    std::string split = StderrRecord("four\n") + StdoutRecord(std::string("\0\xff\n", 3));
    stream.WriteChunk(split.substr(0, 1));  // inside the size digits
    stream.WriteChunk(split.substr(1, 20));
    stream.WriteChunk(split.substr(21));
    stream.WriteLastChunk();
  };
  agent.wait_answer = {200, WaitAnswer(3 << 8)};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_FALSE((*finished_)->signaled);
  EXPECT_EQ((*finished_)->exit_code, 3);
  std::vector<OutputPiece> expected = {{OutputStream::kStdout, "one\n"},
                                       {OutputStream::kStderr, "two\n"},
                                       {OutputStream::kStdout, "three\n"},
                                       {OutputStream::kStderr, "four\n"},
                                       {OutputStream::kStdout, std::string("\0\xff\n", 3)}};
  EXPECT_EQ(output_, expected);
  ASSERT_TRUE(launched_id_.has_value());
  EXPECT_EQ(*launched_id_, session_->container_id());
}

TEST_F(AgentSessionTest, LaunchAndWaitRequestsFollowProtocol) {
  FakeAgent agent;
  SessionSpec spec = Spec(agent);
  spec.environment = {{"LANG", "C.UTF-8"}};
  Create(spec);
  session_->Start();
  RunToFinish();
  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();

  ASSERT_EQ(agent.launch_requests.size(), 1u);
  const TestRequest& launch = agent.launch_requests[0];
  EXPECT_EQ(launch.method, "POST");
  EXPECT_EQ(launch.target, "/api/v1");
  EXPECT_EQ(launch.header("content-type"), "application/json");
  EXPECT_EQ(launch.header("accept"), "application/recordio");
  EXPECT_EQ(launch.header("message-accept"), "application/json");
  EXPECT_EQ(launch.header("authorization"), "token=secret");
  EXPECT_FALSE(launch.has_header("accept-encoding"));

  const json& call = agent.launch_calls[0]["launch_nested_container_session"];
  EXPECT_EQ(call["container_id"]["value"], session_->container_id());
  EXPECT_EQ(call["container_id"]["parent"], Spec(agent).parent_container_id);
  EXPECT_EQ(call["command"]["shell"], true);
  EXPECT_EQ(call["command"]["value"], "echo hello");

  ASSERT_EQ(agent.wait_requests.size(), 1u);
  const TestRequest& wait = agent.wait_requests[0];
  EXPECT_EQ(wait.header("content-type"), "application/json");
  EXPECT_EQ(wait.header("accept"), "application/json");
  EXPECT_FALSE(wait.has_header("message-accept"));
  EXPECT_EQ(wait.header("authorization"), "token=secret");
  EXPECT_EQ(agent.wait_calls[0]["wait_container"]["container_id"],
            call["container_id"]);
}

TEST_F(AgentSessionTest, StdinRecordsAndEof) {
  FakeAgent agent;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    // Echo stdin the way `cat` would, once the input stream has ended.
    self.WaitUntil([&]() { return self.inputs_finished == 1; });
    stream.WriteChunk(StdoutRecord(self.StdinReceived()));
    stream.WriteLastChunk();
  };
  std::string input = "hello " + std::string(150 * 1024, 'x') + " end";
  Create(Spec(agent));
  session_->WriteStdin(input.substr(0, 6));  // queued before the input stream exists
  session_->Start();
  session_->WriteStdin(input.substr(6));
  session_->CloseStdin();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(Output(OutputStream::kStdout), input);
  EXPECT_EQ(session_->stdin_queued_bytes(), 0u);
  EXPECT_GE(drained_, 1);

  ASSERT_EQ(agent.input_requests.size(), 1u);
  const TestRequest& request = agent.input_requests[0];
  EXPECT_EQ(request.header("content-type"), "application/recordio");
  EXPECT_EQ(request.header("message-content-type"), "application/json");
  EXPECT_EQ(request.header("accept"), "application/json");
  EXPECT_EQ(request.header("transfer-encoding"), "chunked");
  EXPECT_EQ(request.header("connection"), "close");
  EXPECT_EQ(request.header("authorization"), "token=secret");

  const std::vector<json>& records = agent.input_records[0];
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records[0]["type"], "ATTACH_CONTAINER_INPUT");
  EXPECT_EQ(records[0]["attach_container_input"]["type"], "CONTAINER_ID");
  EXPECT_EQ(records[0]["attach_container_input"]["container_id"]["value"],
            session_->container_id());
  for (std::size_t i = 1; i < records.size(); ++i) {
    const json& io = ProcessIoOf(records[i]);
    ASSERT_EQ(io["type"], "DATA") << records[i].dump();
    EXPECT_EQ(io["data"]["type"], "STDIN");
    EXPECT_LE(FromBase64(io["data"]["data"].get<std::string>()).size(), 64u * 1024)
        << "record " << i;
  }
  EXPECT_EQ(ProcessIoOf(records.back())["data"]["data"], "");
}

TEST_F(AgentSessionTest, TtyInfoResizeAndEotByte) {
  FakeAgent agent;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    self.WaitUntil([&]() { return self.inputs_finished == 1; });
    stream.WriteLastChunk();
  };
  SessionSpec spec = Spec(agent);
  spec.tty = true;
  spec.rows = 40;
  spec.columns = 120;
  Create(spec);
  session_->Start();
  ASSERT_TRUE(loop_.RunUntil([&]() { return launched_id_.has_value(); }));
  session_->Resize(50, 132);
  session_->CloseStdin();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_TRUE(agent.launch_calls[0]["launch_nested_container_session"]["container"].contains(
      "tty_info"));
  const std::vector<json>& records = agent.input_records.at(0);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0]["attach_container_input"]["type"], "CONTAINER_ID");
  const json& first_size = ProcessIoOf(records[1])["control"];
  EXPECT_EQ(first_size["type"], "TTY_INFO");
  EXPECT_EQ(first_size["tty_info"]["window_size"]["rows"], 40);
  EXPECT_EQ(first_size["tty_info"]["window_size"]["columns"], 120);
  const json& resize = ProcessIoOf(records[2])["control"];
  EXPECT_EQ(resize["tty_info"]["window_size"]["rows"], 50);
  EXPECT_EQ(resize["tty_info"]["window_size"]["columns"], 132);
  EXPECT_EQ(FromBase64(ProcessIoOf(records[3])["data"]["data"].get<std::string>()), "\x04");
}

TEST_F(AgentSessionTest, PausedOutputResumesInOrder) {
  constexpr int kRecords = 300;
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    std::string batch;
    for (int i = 0; i < kRecords; ++i) {
      std::string line = std::to_string(i) + std::string(8 * 1024, '.') + "\n";
      batch += i % 2 == 0 ? StdoutRecord(line) : StderrRecord(line);
      if (i % 7 == 6) {
        stream.WriteChunk(batch);
        batch.clear();
      }
    }
    stream.WriteChunk(batch);
    stream.WriteLastChunk();
  };
  Create(Spec(agent), /*pause_every=*/3);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_FALSE(output_while_paused_);
  ASSERT_EQ(output_.size(), static_cast<std::size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    EXPECT_EQ(output_[i].stream, i % 2 == 0 ? OutputStream::kStdout : OutputStream::kStderr);
    ASSERT_EQ(output_[i].data, std::to_string(i) + std::string(8 * 1024, '.') + "\n");
  }
}

TEST_F(AgentSessionTest, StreamCutMidRecordIsError) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("before the cut\n"));
    stream.WriteChunk(StdoutRecord("never complete").substr(0, 12));
    stream.WriteLastChunk();  // a clean HTTP end inside a record
  };
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(finished_->status().message().find("cut mid-record"), std::string::npos)
      << finished_->status().message();
  EXPECT_EQ(Output(OutputStream::kStdout), "before the cut\n");
  EXPECT_TRUE(agent.wait_calls.empty());
}

TEST_F(AgentSessionTest, LostStreamReportedAfterOutput) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("delivered first\n"));
    stream.Write("40\r\n58\n{\"type\":");  // half of an HTTP chunk, then the connection ends
    stream.Shutdown();
  };
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(finished_->status().message().rfind("lost the output stream from agent " + agent.url(),
                                                0),
            0u)
      << finished_->status().ToString();
  EXPECT_EQ(Output(OutputStream::kStdout), "delivered first\n");
  EXPECT_TRUE(agent.wait_calls.empty());
}

TEST_F(AgentSessionTest, InvalidRecordEndsSession) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("fine\n") + Frame(R"({"type":"DATA","data":{"type":"STDOUT","data":"***"}})"));
    stream.WaitForEof();  // the session closes the stream
  };
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(finished_->status().message().find("invalid output stream"), std::string::npos)
      << finished_->status().message();
  EXPECT_EQ(Output(OutputStream::kStdout), "fine\n");
}

struct LaunchErrorCase {
  int status;
  std::string body;
  StatusCode code;
  std::string message_part;
};

TEST_F(AgentSessionTest, LaunchErrorsMapped) {
  const std::vector<LaunchErrorCase> cases = {
      {400, "Root container 1234 not found", StatusCode::kFailedPrecondition,
       "the task's container is gone (it has ended or is being killed)"},
      {400, "Parent container 1234 does not exist", StatusCode::kFailedPrecondition,
       "the task's container is gone"},
      {400, "Nested containers are not supported", StatusCode::kFailedPrecondition,
       "Docker containerizer"},
      {400, "Parent container 1234 is in 'DESTROYING' state", StatusCode::kFailedPrecondition,
       "the task is being killed"},
      {400, "Failed to validate agent::Call: bad field\nsecond line", StatusCode::kInvalidArgument,
       "returned HTTP 400: Failed to validate agent::Call: bad field"},
      {401, "", StatusCode::kUnauthenticated, "(HTTP 401)"},
      {403, "", StatusCode::kPermissionDenied,
       "the agent denied LAUNCH_NESTED_CONTAINER_SESSION (HTTP 403)"},
      {503, "Agent has not finished recovery", StatusCode::kUnavailable,
       "is recovering (HTTP 503: Agent has not finished recovery)"},
      {404, "404 Not Found: agent `S1` unknown.", StatusCode::kUnavailable,
       "Admin Router does not know the task's agent"},
      {500, "I/O switchboard server was disabled\nsecond line", StatusCode::kUnavailable,
       "returned HTTP 500: I/O switchboard server was disabled"},
  };
  for (const LaunchErrorCase& test : cases) {
    SCOPED_TRACE(std::to_string(test.status) + " " + test.body);
    FakeAgent agent;
    agent.launch_answers = {{test.status, test.body}};
    finished_.reset();
    SessionSpec spec = Spec(agent);
    spec.launch_retry_timeout = std::chrono::milliseconds(0);  // 503 is not retried here
    Create(spec);
    session_->Start();
    RunToFinish();

    ASSERT_FALSE(finished_->ok());
    EXPECT_EQ(finished_->status().code(), test.code) << finished_->status().ToString();
    EXPECT_NE(finished_->status().message().find(test.message_part), std::string::npos)
        << finished_->status().message();
    EXPECT_EQ(finished_->status().message().find("second line"), std::string::npos);
    EXPECT_FALSE(launched_id_.has_value());
    EXPECT_TRUE(agent.input_requests.empty());
    EXPECT_TRUE(agent.wait_calls.empty());
    session_.reset();
  }
}

TEST_F(AgentSessionTest, GoneContainerMessageNamesTask) {
  FakeAgent agent;
  agent.launch_answers = {{400, "Root container 1234 not found"}};
  SessionSpec spec = Spec(agent);
  spec.task_id = "web.1a2b";
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(finished_->status().message(),
            "task web.1a2b's container is gone (it has ended or is being killed)");
}

TEST_F(AgentSessionTest, ConnectionRefusedRetriedThenUnavailable) {
  SessionSpec spec;
  spec.agent_url = "http://127.0.0.1:" + std::to_string(testing::UnusedLocalPort());
  spec.parent_container_id = {{"value", "task-ctr"}};
  spec.command = "true";
  spec.launch_retry_timeout = std::chrono::milliseconds(100);
  spec.first_retry_delay = std::chrono::milliseconds(20);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(finished_->status().message().find(spec.agent_url), std::string::npos)
      << finished_->status().message();
  EXPECT_NE(finished_->status().message().find(" attempts in "), std::string::npos)
      << finished_->status().message();
}

TEST_F(AgentSessionTest, RecoveringAgentRetriedWithBackoff) {
  FakeAgent agent;
  agent.launch_answers = {{503, "Agent has not finished recovery"},
                          {503, "Agent has not finished recovery"}};
  SessionSpec spec = Spec(agent);
  spec.first_retry_delay = std::chrono::milliseconds(10);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(agent.launch_calls.size(), 3u);
  EXPECT_EQ(Output(OutputStream::kStdout), "hello\n");
}

TEST_F(AgentSessionTest, RecoveringAgentGivenUpAfterRetryTimeout) {
  FakeAgent agent;
  for (int i = 0; i < 50; ++i) agent.launch_answers.push_back({503, "Agent has not finished recovery"});
  SessionSpec spec = Spec(agent);
  spec.first_retry_delay = std::chrono::milliseconds(10);
  spec.max_retry_delay = std::chrono::milliseconds(20);
  spec.launch_retry_timeout = std::chrono::milliseconds(150);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(finished_->status().message().find("is recovering (HTTP 503"), std::string::npos)
      << finished_->status().message();
  EXPECT_GE(agent.launch_calls.size(), 3u);
  EXPECT_LT(agent.launch_calls.size(), 50u);
  EXPECT_FALSE(launched_id_.has_value());
}

TEST_F(AgentSessionTest, SilentOutputEndsSessionAfterOutput) {
  testing::Notification launch_closed;
  FakeAgent agent;
  agent.output = [&](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("partial\n"));
    if (stream.WaitForEof()) launch_closed.Notify();  // then nothing, not even heartbeats
  };
  SessionSpec spec = Spec(agent);
  spec.output_silence_timeout = std::chrono::milliseconds(200);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_NE(finished_->status().message().find("was silent for 200 ms"), std::string::npos)
      << finished_->status().message();
  EXPECT_NE(finished_->status().message().find(agent.url()), std::string::npos);
  EXPECT_EQ(Output(OutputStream::kStdout), "partial\n");
  EXPECT_TRUE(agent.wait_calls.empty());
  EXPECT_TRUE(launch_closed.WaitFor());
}

TEST_F(AgentSessionTest, HeartbeatsKeepQuietCommandAlive) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    for (int i = 0; i < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      stream.WriteChunk(HeartbeatRecord());
    }
    stream.WriteChunk(StdoutRecord("done\n"));
    stream.WriteLastChunk();
  };
  SessionSpec spec = Spec(agent);
  spec.output_silence_timeout = std::chrono::milliseconds(200);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(Output(OutputStream::kStdout), "done\n");
}

TEST_F(AgentSessionTest, PausedOutputIsNotSilence) {
  FakeAgent agent;
  agent.output = [](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("first\n"));
    stream.WriteChunk(StdoutRecord("second\n"));
    stream.WriteLastChunk();
  };
  SessionSpec spec = Spec(agent);
  spec.output_silence_timeout = std::chrono::milliseconds(100);
  AgentSession::Handlers handlers;
  std::string output;
  handlers.on_output = [&](OutputStream, std::string_view data) {
    output += data;
    // Hold the output three silence periods after the first piece, as a slow SSH client would.
    if (output == "first\n") {
      loop_.StartTimer(std::chrono::milliseconds(300), [this]() { session_->ResumeOutput(); });
      return false;
    }
    return true;
  };
  handlers.on_finished = [this](Result<ExitOutcome> result) { finished_.emplace(result); };
  session_ = std::make_unique<AgentSession>(*http_, spec, handlers);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(output, "first\nsecond\n");
}

TEST_F(AgentSessionTest, WaitRetriedAfterGatewayTimeout) {
  FakeAgent agent;
  agent.wait_answers = {{504, "<html>504 Gateway Time-out</html>"}, {502, "Bad Gateway"}};
  agent.wait_answer = {200, WaitAnswer(7 << 8)};
  SessionSpec spec = Spec(agent);
  spec.first_retry_delay = std::chrono::milliseconds(10);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ((*finished_)->exit_code, 7);
  EXPECT_EQ(agent.wait_calls.size(), 3u);
}

TEST_F(AgentSessionTest, WaitGivenUpAfterWaitTimeout) {
  FakeAgent agent;
  for (int i = 0; i < 50; ++i) agent.wait_answers.push_back({504, "Gateway Time-out"});
  SessionSpec spec = Spec(agent);
  spec.first_retry_delay = std::chrono::milliseconds(10);
  spec.max_retry_delay = std::chrono::milliseconds(20);
  spec.wait_timeout = std::chrono::milliseconds(150);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_NE(finished_->status().message().find("WAIT_CONTAINER returned HTTP 504"),
            std::string::npos)
      << finished_->status().message();
  EXPECT_LT(agent.wait_calls.size(), 50u);
}

TEST_F(AgentSessionTest, WaitNotFoundExplainsContainerGone) {
  FakeAgent agent;
  agent.wait_answer = {404, "Container abc cannot be found"};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_NE(finished_->status().message().find("no longer knows the session's container"),
            std::string::npos)
      << finished_->status().message();
  EXPECT_EQ(agent.wait_calls.size(), 1u);
}

TEST_F(AgentSessionTest, BrokenInputStreamAttachedAgain) {
  FakeAgent agent;
  agent.cut_inputs = 1;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    self.WaitUntil([&]() { return self.inputs_finished == 1; });
    stream.WriteChunk(StdoutRecord(self.StdinReceived()));
    stream.WriteLastChunk();
  };
  SessionSpec spec = Spec(agent);
  // libcurl notices the closed connection of a paused upload only on the next write.
  spec.heartbeat_interval = std::chrono::milliseconds(50);
  Create(spec);
  session_->Start();
  ASSERT_TRUE(loop_.RunUntil([&]() { return !warnings_.empty(); }));
  session_->WriteStdin("after the cut\n");
  session_->CloseStdin();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(Output(OutputStream::kStdout), "after the cut\n");
  ASSERT_EQ(agent.input_requests.size(), 2u);
  EXPECT_EQ(agent.input_records[1][0]["attach_container_input"]["type"], "CONTAINER_ID");
  EXPECT_NE(warnings_[0].message().find("attaching the input again (1 of 3)"), std::string::npos)
      << warnings_[0].message();
}

TEST_F(AgentSessionTest, InputBreakingTooOftenEndsSession) {
  FakeAgent agent;
  agent.cut_inputs = 10;
  agent.output = [](FakeAgent&, TestConnection& stream) { stream.WaitForEof(); };
  SessionSpec spec = Spec(agent);
  spec.heartbeat_interval = std::chrono::milliseconds(50);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_NE(finished_->status().message().find("lost the input stream to agent " + agent.url() +
                                               " 4 times"),
            std::string::npos)
      << finished_->status().message();
  EXPECT_EQ(agent.input_requests.size(), 4u);
}

TEST_F(AgentSessionTest, RelaunchAfter202WithNewId) {
  FakeAgent agent;
  agent.launch_answers = {{202, ""}};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  ASSERT_EQ(agent.launch_calls.size(), 2u);
  std::string first = agent.launch_calls[0]["launch_nested_container_session"]["container_id"]
                                        ["value"];
  std::string second = agent.launch_calls[1]["launch_nested_container_session"]["container_id"]
                                         ["value"];
  EXPECT_NE(first, second);
  EXPECT_EQ(session_->container_id(), second);
}

TEST_F(AgentSessionTest, Second202IsError) {
  FakeAgent agent;
  agent.launch_answers = {{202, ""}, {202, ""}};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(agent.launch_calls.size(), 2u);
}

TEST_F(AgentSessionTest, WaitStatusParsed) {
  struct WaitCase {
    int raw;
    bool signaled;
    int exit_code;
    int signal;
  };
  for (const WaitCase& test : {WaitCase{0, false, 0, 0}, WaitCase{256, false, 1, 0},
                               WaitCase{9 << 8, false, 9, 0}, WaitCase{9, true, 0, 9},
                               WaitCase{15, true, 0, 15}}) {
    SCOPED_TRACE(test.raw);
    FakeAgent agent;
    agent.wait_answer = {200, WaitAnswer(test.raw)};
    finished_.reset();
    Create(Spec(agent));
    session_->Start();
    RunToFinish();

    ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
    EXPECT_EQ((*finished_)->signaled, test.signaled);
    if (test.signaled) {
      EXPECT_EQ((*finished_)->signal, test.signal);
    } else {
      EXPECT_EQ((*finished_)->exit_code, test.exit_code);
    }
    session_.reset();
  }
}

TEST_F(AgentSessionTest, WaitFailureIsUnknownResult) {
  FakeAgent agent;
  agent.wait_answer = {404, "Container abc cannot be found"};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(finished_->status().message().rfind("could not learn the exit status: ", 0), 0u)
      << finished_->status().message();
  EXPECT_NE(finished_->status().message().find("HTTP 404"), std::string::npos);
}

TEST_F(AgentSessionTest, WaitWithoutExitStatusIsUnknownResult) {
  FakeAgent agent;
  agent.wait_answer = {200, R"({"type":"WAIT_CONTAINER","wait_container":{"reason":"X"}})"};
  Create(Spec(agent));
  session_->Start();
  RunToFinish();

  ASSERT_FALSE(finished_->ok());
  EXPECT_EQ(finished_->status().code(), StatusCode::kUnavailable);
}

TEST_F(AgentSessionTest, InputRetriedWhileContainerUnknown) {
  FakeAgent agent;
  agent.reject_inputs = 2;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    self.WaitUntil([&]() { return self.inputs_finished == 1; });
    stream.WriteLastChunk();
  };
  Create(Spec(agent));
  session_->Start();
  session_->CloseStdin();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  ASSERT_EQ(agent.input_requests.size(), 3u);
  const std::vector<json>& accepted = agent.input_records[2];
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[0]["attach_container_input"]["type"], "CONTAINER_ID");
  EXPECT_EQ(ProcessIoOf(accepted[1])["data"]["data"], "");
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(AgentSessionTest, InputFailureDropsStdinAndKeepsOutput) {
  FakeAgent agent;
  agent.input_answer = {500, "Failed writing to stdin: Failed: Broken pipe"};
  agent.input_answer_early = true;
  agent.output = [this](FakeAgent&, TestConnection& stream) {
    // Output ends only after the session saw the input fail, or it would close input first.
    warned_.WaitFor();
    stream.WriteChunk(StdoutRecord("still here\n"));
    stream.WriteLastChunk();
  };
  agent.wait_answer = {200, WaitAnswer(0)};
  Create(Spec(agent));
  session_->Start();
  session_->WriteStdin("some input");
  ASSERT_TRUE(loop_.RunUntil([&]() { return !warnings_.empty(); }));
  session_->WriteStdin("dropped");
  EXPECT_EQ(session_->stdin_queued_bytes(), 0u);
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_EQ(Output(OutputStream::kStdout), "still here\n");
  EXPECT_EQ(warnings_[0].code(), StatusCode::kUnavailable);
  EXPECT_NE(warnings_[0].message().find("HTTP 500"), std::string::npos) << warnings_[0].message();
  EXPECT_GE(drained_, 1);
  EXPECT_EQ(agent.StdinReceived().find("dropped"), std::string::npos);
}

TEST_F(AgentSessionTest, HeartbeatsOnInputStream) {
  FakeAgent agent;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    self.WaitUntil([&]() { return self.SawHeartbeat(); });
    stream.WriteLastChunk();
  };
  SessionSpec spec = Spec(agent);
  spec.heartbeat_interval = std::chrono::milliseconds(20);
  Create(spec);
  session_->Start();
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  const json* heartbeat = nullptr;
  for (const json& record : agent.input_records.at(0)) {
    const json& io = ProcessIoOf(record);
    if (!io.is_null() && io["type"] == "CONTROL") heartbeat = &io;
  }
  ASSERT_NE(heartbeat, nullptr);
  EXPECT_EQ((*heartbeat)["control"]["heartbeat"]["interval"]["nanoseconds"], 20000000);
}

TEST_F(AgentSessionTest, SignalSendsKillContainer) {
  FakeAgent agent;
  agent.output = [](FakeAgent& self, TestConnection& stream) {
    self.WaitUntil([&]() { return !self.kill_calls.empty(); });
    stream.WriteLastChunk();
  };
  agent.wait_answer = {200, WaitAnswer(15)};
  Create(Spec(agent));
  session_->Start();
  session_->Signal(15);  // before the launch answered: sent once it has
  RunToFinish();

  ASSERT_TRUE(finished_->ok()) << finished_->status().ToString();
  EXPECT_TRUE((*finished_)->signaled);
  EXPECT_EQ((*finished_)->signal, 15);
  ASSERT_EQ(agent.kill_calls.size(), 1u);
  EXPECT_EQ(agent.kill_calls[0]["kill_container"]["signal"], 15);
  EXPECT_EQ(agent.kill_calls[0]["kill_container"]["container_id"]["value"],
            session_->container_id());
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(AgentSessionTest, DestroyFromOutputHandlerClosesLaunchStream) {
  testing::Notification launch_closed;
  FakeAgent agent;
  agent.output = [&](FakeAgent&, TestConnection& stream) {
    stream.WriteChunk(StdoutRecord("first\n") + StdoutRecord("second\n"));
    if (stream.WaitForEof()) launch_closed.Notify();
  };
  AgentSession::Handlers handlers;
  int outputs = 0;
  handlers.on_output = [&](OutputStream, std::string_view) {
    ++outputs;
    session_.reset();
    return true;
  };
  handlers.on_finished = [&](Result<ExitOutcome>) { finished_.emplace(Status::Internal("no")); };
  session_ = std::make_unique<AgentSession>(*http_, Spec(agent), handlers);
  session_->Start();
  ASSERT_TRUE(loop_.RunUntil([&]() { return launch_closed.HasBeenNotified(); }));

  EXPECT_EQ(outputs, 1);
  EXPECT_FALSE(finished_.has_value());
}

}  // namespace
}  // namespace tb::mesos
