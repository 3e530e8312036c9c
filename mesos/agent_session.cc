#include "mesos/agent_session.h"

#include <algorithm>
#include <deque>
#include <list>
#include <optional>
#include <utility>

#include "common/http_errors.h"
#include "mesos/calls.h"
#include "mesos/container_id.h"
#include "mesos/process_io.h"
#include "mesos/recordio.h"

namespace tb::mesos {

namespace {

// The agent's I/O switchboard reads at most 64 KiB at a time, so its own records carry at most
// 64 KiB. Larger stdin writes are split into records of that size.
constexpr std::size_t kMaxStdinRecordBytes = 64 * 1024;

// A 202 means the container id already existed. One relaunch with a fresh uuid4 is enough,
// because a second collision of random ids points to a broken agent.
constexpr int kMaxRelaunchesAfter202 = 1;

// An input stream that breaks before any HTTP response is attached again this many times at
// most; the next break ends the session.
constexpr int kMaxInputReattaches = 3;

// The agent rejects ATTACH_CONTAINER_INPUT with 500 "Unknown container" when the request arrives
// before the agent has registered the session container. kMaxInputAttempts counts all attempts; the delay
// before a retry starts at kFirstInputRetryDelay and doubles each time.
constexpr int kMaxInputAttempts = 4;
constexpr std::chrono::milliseconds kFirstInputRetryDelay{100};

constexpr std::chrono::milliseconds kKillTimeout{10000};

// Error and WAIT_CONTAINER bodies are kept up to these sizes; the rest is dropped.
constexpr std::size_t kMaxErrorBodyBytes = 4096;
constexpr std::size_t kMaxWaitBodyBytes = 64 * 1024;
constexpr std::size_t kMaxMessageLineBytes = 200;

void AppendCapped(std::string* buffer, std::string_view bytes, std::size_t limit) {
  if (buffer->size() >= limit) return;
  buffer->append(bytes.substr(0, limit - buffer->size()));
}

// Returns the first line of an error body, shortened for a one-line message.
std::string FirstBodyLine(std::string_view body) {
  std::size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "(empty body)";
  body.remove_prefix(start);
  body = body.substr(0, body.find_first_of("\r\n"));
  if (body.size() <= kMaxMessageLineBytes) return std::string(body);
  return std::string(body.substr(0, kMaxMessageLineBytes)) + "...";
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

class AgentSession::Impl {
 public:
  Impl(HttpClient& http, SessionSpec spec, Handlers handlers);
  ~Impl();

  void Start();
  void WriteStdin(std::string_view bytes);
  std::size_t stdin_queued_bytes() const;
  void CloseStdin();
  void Resize(int rows, int columns);
  void ResumeOutput();
  void Signal(int signal);
  const std::string& container_id() const { return container_id_; }

 private:
  // Launch and output (LAUNCH_NESTED_CONTAINER_SESSION).
  void Launch();
  void OnLaunchHead(const HttpResponseHead& head);
  bool OnLaunchBody(std::string_view bytes);
  void OnLaunchDone(Status status);
  // Starts the launch again after a backoff delay if launch_retry_timeout allows; returns false
  // when it does not.
  bool RetryLaunch();
  Status LaunchRejected() const;
  // "task <id>", or "the task" when the spec names none; starts messages about the task.
  std::string Task() const { return spec_.task_id.empty() ? "the task" : "task " + spec_.task_id; }
  std::string AttemptsText() const;
  // The silence check: a timer that fires once output_silence_timeout after the last byte from
  // the launch stream, unless the output is paused or over.
  void NoteOutputActivity();
  void ArmSilenceTimer();
  void OnSilenceTimer();
  void StopSilenceTimer();
  void BreakOutput(Status reason);
  // Passes queued output to on_output until it pauses. Returns false if a handler destroyed the
  // session.
  bool DeliverOutput();
  void OnOutputEnded();

  // Input (ATTACH_CONTAINER_INPUT).
  void OpenInput();
  void WriteInputRecord(const std::string& record_json);
  void FlushStdin();
  void ScheduleHeartbeat();
  void OnInputDone(Status status);
  void OnInputDrained();
  void DropInput();
  void StopInput();

  // Result (WAIT_CONTAINER) and signals (KILL_CONTAINER).
  void WaitForExit();
  void OnWaitDone(Status status);
  bool RetryWait();
  void SendKill(int signal);
  void Finish(Result<ExitOutcome> result);

  void Warn(const Status& status);
  std::vector<std::string> JsonHeaders() const;

  std::chrono::steady_clock::time_point Now() const { return spec_.now(); }

  HttpClient& http_;
  EventLoop& loop_;
  const SessionSpec spec_;
  const Handlers handlers_;
  const std::string agent_;  // "agent <url>", the start of messages about the agent
  // Posted tasks hold a weak_ptr, and a handler call is followed by a check, because a handler
  // may destroy the session.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);

  bool started_ = false;
  bool finished_ = false;
  nlohmann::json container_id_json_;
  std::string container_id_;

  // Launch and output.
  int launch_attempts_ = 0;
  int relaunches_after_202_ = 0;
  std::chrono::steady_clock::time_point launch_started_;
  std::chrono::milliseconds launch_retry_delay_;
  EventLoop::TimerId launch_retry_timer_ = 0;
  std::chrono::steady_clock::time_point last_output_activity_;
  EventLoop::TimerId silence_timer_ = 0;
  std::unique_ptr<HttpCall> launch_call_;
  long launch_status_ = 0;
  std::string launch_error_body_;
  bool launched_ = false;
  RecordIoDecoder decoder_;
  std::deque<std::pair<OutputStream, std::string>> output_queue_;  // decoded, not delivered
  bool output_paused_ = false;
  bool resume_posted_ = false;
  bool output_ended_ = false;       // the launch stream is over (or broken)
  bool output_end_handled_ = false;
  std::optional<Status> output_error_;  // why the stream broke, reported after queued output

  // Input.
  std::unique_ptr<HttpCall> input_call_;
  bool input_open_ = false;         // input_call_ is in flight
  bool input_body_finished_ = false;
  bool input_gone_ = false;         // the input stream failed or ended; stdin is dropped
  int input_attempts_ = 0;     // since the last transport failure, for "Unknown container"
  int input_reattaches_ = 0;  // after transport failures
  long input_status_ = 0;
  std::string input_error_body_;
  EventLoop::TimerId input_retry_timer_ = 0;
  EventLoop::TimerId heartbeat_timer_ = 0;
  std::string pending_stdin_;       // raw stdin not yet written to input_call_
  bool stdin_sent_ = false;         // some stdin data went out on an input stream
  bool stdin_eof_ = false;
  bool drain_armed_ = false;        // on_stdin_drained is due when the queue empties
  int rows_;
  int columns_;

  // Result and signals.
  std::unique_ptr<HttpCall> wait_call_;
  long wait_status_ = 0;
  std::string wait_body_;
  int wait_attempts_ = 0;
  std::chrono::steady_clock::time_point wait_deadline_;
  std::chrono::milliseconds wait_retry_delay_;
  EventLoop::TimerId wait_retry_timer_ = 0;
  std::vector<int> pending_signals_;
  std::list<std::unique_ptr<HttpCall>> kill_calls_;
};

AgentSession::Impl::Impl(HttpClient& http, SessionSpec spec, Handlers handlers)
    : http_(http),
      loop_(http.loop()),
      spec_(std::move(spec)),
      handlers_(std::move(handlers)),
      agent_("agent " + spec_.agent_url),
      launch_retry_delay_(spec_.first_retry_delay),
      decoder_(spec_.max_record_bytes),
      rows_(spec_.rows),
      columns_(spec_.columns),
      wait_retry_delay_(spec_.first_retry_delay) {}

AgentSession::Impl::~Impl() {
  alive_.reset();
  if (input_retry_timer_ != 0) loop_.CancelTimer(input_retry_timer_);
  if (heartbeat_timer_ != 0) loop_.CancelTimer(heartbeat_timer_);
  if (launch_retry_timer_ != 0) loop_.CancelTimer(launch_retry_timer_);
  if (wait_retry_timer_ != 0) loop_.CancelTimer(wait_retry_timer_);
  StopSilenceTimer();
  // Closing the launch connection makes the agent destroy the session container.
  input_call_.reset();
  launch_call_.reset();
}

void AgentSession::Impl::Start() {
  if (started_) return;
  started_ = true;
  launch_started_ = Now();
  Launch();
}

void AgentSession::Impl::Launch() {
  ++launch_attempts_;
  container_id_json_ = SessionContainerId(spec_.parent_container_id, NewUuid4());
  container_id_ = container_id_json_["value"].get<std::string>();
  launch_status_ = 0;
  launch_error_body_.clear();

  LaunchCommand command;
  command.shell = spec_.shell;
  command.value = spec_.command;
  command.arguments = spec_.arguments;
  command.environment = spec_.environment;
  command.tty = spec_.tty;

  HttpRequest request;
  request.url = spec_.agent_url + "/api/v1";
  request.headers = {"Content-Type: application/json", "Accept: application/recordio",
                     "Message-Accept: application/json"};
  if (!spec_.authorization.empty()) {
    request.headers.push_back("Authorization: " + spec_.authorization);
  }
  request.body = LaunchNestedContainerSessionCall(container_id_json_, command);
  request.description = agent_ + " LAUNCH_NESTED_CONTAINER_SESSION";
  // No transfer deadline, because the stream lasts as long as the process. The output-silence
  // timer armed below also ends a launch whose agent never sends the response head.

  HttpCall::Handlers handlers;
  handlers.on_head = [this](const HttpResponseHead& head) { OnLaunchHead(head); };
  handlers.on_body = [this](std::string_view bytes) { return OnLaunchBody(bytes); };
  handlers.on_done = [this](Status status) { OnLaunchDone(std::move(status)); };
  launch_call_ = http_.Start(std::move(request), std::move(handlers));
  NoteOutputActivity();
}

void AgentSession::Impl::NoteOutputActivity() {
  last_output_activity_ = Now();
  ArmSilenceTimer();
}

void AgentSession::Impl::ArmSilenceTimer() {
  if (silence_timer_ != 0 || output_ended_ || output_paused_ || finished_) return;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(
      last_output_activity_ + spec_.output_silence_timeout - Now());
  silence_timer_ = loop_.StartTimer(std::max(left, std::chrono::milliseconds(1)), [this]() {
    silence_timer_ = 0;
    OnSilenceTimer();
  });
}

void AgentSession::Impl::StopSilenceTimer() {
  if (silence_timer_ == 0) return;
  loop_.CancelTimer(silence_timer_);
  silence_timer_ = 0;
}

void AgentSession::Impl::OnSilenceTimer() {
  // While the output is paused the session does not read, so the agent's bytes wait unread.
  if (output_ended_ || output_paused_ || finished_) return;
  if (Now() - last_output_activity_ < spec_.output_silence_timeout) {
    ArmSilenceTimer();  // bytes arrived since the timer started
    return;
  }
  const std::string silence = DurationText(spec_.output_silence_timeout);
  if (!launched_) {
    launch_call_.reset();  // the agent destroys a container it may have started meanwhile
    Finish(Status::Unavailable(agent_ + " did not respond to LAUNCH_NESTED_CONTAINER_SESSION in " +
                               silence));
    return;
  }
  BreakOutput(Status::Unavailable(
      "the output stream from " + agent_ + " was silent for " + silence +
      ", without even a heartbeat, so the agent or the network to it is down; the command's "
      "result is unknown"));
  DeliverOutput();
}

void AgentSession::Impl::OnLaunchHead(const HttpResponseHead& head) {
  launch_status_ = head.status;
  if (head.status != 200) return;  // OnLaunchDone reports the reason the body gives
  NoteOutputActivity();

  launched_ = true;
  std::weak_ptr<char> alive = alive_;
  if (handlers_.on_launched) handlers_.on_launched(container_id_);
  if (alive.expired() || finished_) return;

  // The container and its I/O switchboard exist only now; input attached earlier gets 500.
  OpenInput();
  std::vector<int> signals = std::move(pending_signals_);
  pending_signals_.clear();
  for (int signal : signals) SendKill(signal);
}

bool AgentSession::Impl::OnLaunchBody(std::string_view bytes) {
  if (launch_status_ != 200) {
    AppendCapped(&launch_error_body_, bytes, kMaxErrorBodyBytes);
    return true;
  }
  if (output_ended_) return true;
  last_output_activity_ = Now();

  std::vector<std::string> records;
  Status fed = decoder_.Feed(bytes, &records);
  for (const std::string& record : records) {
    Result<ProcessIoRecord> parsed = ParseProcessIo(record);
    if (!parsed.ok()) {
      fed = parsed.status();
      break;
    }
    // CONTROL records (heartbeats) carry nothing for the client, and an empty DATA record
    // carries no bytes.
    if (parsed->data.empty()) continue;
    if (parsed->kind == ProcessIoRecord::Kind::kStdout) {
      output_queue_.emplace_back(OutputStream::kStdout, std::move(parsed->data));
    } else if (parsed->kind == ProcessIoRecord::Kind::kStderr) {
      output_queue_.emplace_back(OutputStream::kStderr, std::move(parsed->data));
    }
  }
  if (!fed.ok()) {
    BreakOutput(Status::Unavailable(agent_ + " sent an invalid output stream: " + fed.message()));
  }

  if (!DeliverOutput()) return false;
  return !output_paused_;
}

// Ends the output stream on our side. Output decoded before the fault is still delivered; the
// session then ends with `reason` and no WAIT_CONTAINER, because the result is unknown.
void AgentSession::Impl::BreakOutput(Status reason) {
  output_ended_ = true;
  output_error_ = std::move(reason);
  StopSilenceTimer();
  launch_call_.reset();  // the agent destroys the container when this connection closes
}

void AgentSession::Impl::OnLaunchDone(Status status) {
  if (launch_status_ != 200) {
    StopSilenceTimer();
    if (launch_status_ == 0) {
      // No response. Only a connection that was never made is safe to repeat: after a reset the
      // agent may have started the command.
      if (launch_call_ && launch_call_->connect_failed() && RetryLaunch()) return;
      // A certificate failure arrives as FailedPrecondition; for the session it is the cluster
      // that cannot be reached.
      Finish(Status::Unavailable(status.message() + AttemptsText()));
    } else if (launch_status_ == 202 && relaunches_after_202_ < kMaxRelaunchesAfter202) {
      ++relaunches_after_202_;
      Launch();
    } else if (launch_status_ == 503 && RetryLaunch()) {
      return;
    } else {
      Finish(LaunchRejected());
    }
    return;
  }

  if (output_ended_) return;
  output_ended_ = true;
  StopSilenceTimer();
  if (!status.ok()) {
    output_error_ = Status::Unavailable(
        "lost the output stream from " + agent_ + ": " +
        TransportReason(status, agent_ + " LAUNCH_NESTED_CONTAINER_SESSION") +
        "; the command's result is unknown");
  } else if (Status end = decoder_.Finish(); !end.ok()) {
    output_error_ = Status::Unavailable("the agent stream was cut mid-record: " + agent_ + ": " +
                                        end.message() + "; the command's result is unknown");
  }
  DeliverOutput();
}

bool AgentSession::Impl::RetryLaunch() {
  if (Now() + launch_retry_delay_ > launch_started_ + spec_.launch_retry_timeout) return false;
  launch_retry_timer_ = loop_.StartTimer(launch_retry_delay_, [this]() {
    launch_retry_timer_ = 0;
    if (!finished_) Launch();
  });
  launch_retry_delay_ = std::min(launch_retry_delay_ * 2, spec_.max_retry_delay);
  return true;
}

std::string AgentSession::Impl::AttemptsText() const {
  if (launch_attempts_ - relaunches_after_202_ <= 1) return "";
  const auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(
                          Now() - launch_started_).count() / 100;
  return " (" + std::to_string(launch_attempts_ - relaunches_after_202_) + " attempts in " +
         std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s)";
}

Status AgentSession::Impl::LaunchRejected() const {
  const std::string& body = launch_error_body_;
  const std::string code = "HTTP " + std::to_string(launch_status_);
  switch (launch_status_) {
    case 400:
      // Texts from the agent's launch path (Mesos containerizer, composing containerizer).
      if ((Contains(body, "Root container") && Contains(body, "not found")) ||
          (Contains(body, "Parent container") && Contains(body, "does not exist"))) {
        return Status::FailedPrecondition(
            Task() + "'s container is gone (it has ended or is being killed)");
      }
      if (Contains(body, "Nested containers are not supported")) {
        return Status::FailedPrecondition(
            Task() + " runs under the Docker containerizer; exec needs the Mesos (UCR) "
            "containerizer");
      }
      if (Contains(body, "DESTROYING")) return Status::FailedPrecondition(Task() + " is being killed");
      return Status::InvalidArgument(agent_ + ": LAUNCH_NESTED_CONTAINER_SESSION returned " +
                                     code + ": " + FirstBodyLine(body));
    case 401:
      return Status::Unauthenticated(agent_ + ": LAUNCH_NESTED_CONTAINER_SESSION rejected the "
                                     "credentials (" + code + ")");
    case 403:
      return Status::PermissionDenied("the agent denied LAUNCH_NESTED_CONTAINER_SESSION (" + code +
                                      ")");
    case 404:
      // Admin Router: "404 Not Found: agent `<id>` unknown." for an agent id it does not know.
      if (Contains(body, "unknown")) {
        return Status::Unavailable(agent_ + ": Admin Router does not know the task's agent; it "
                                   "may have left the cluster (" + code + ": " +
                                   FirstBodyLine(body) + ")");
      }
      return Status::Unavailable(agent_ + ": LAUNCH_NESTED_CONTAINER_SESSION returned " + code +
                                 ": " + FirstBodyLine(body));
    case 503:
      return Status::Unavailable(agent_ + " is recovering (" + code + ": " +
                                 FirstBodyLine(body) + ")" + AttemptsText());
    case 202:
      return Status::Unavailable(agent_ + ": LAUNCH_NESTED_CONTAINER_SESSION returned HTTP 202 "
                                 "twice, so two fresh session container ids already existed");
    default:
      return Status::Unavailable(agent_ + ": LAUNCH_NESTED_CONTAINER_SESSION returned " + code +
                                 ": " + FirstBodyLine(body));
  }
}

bool AgentSession::Impl::DeliverOutput() {
  std::weak_ptr<char> alive = alive_;
  while (!output_paused_ && !output_queue_.empty()) {
    auto [stream, data] = std::move(output_queue_.front());
    output_queue_.pop_front();
    bool more = !handlers_.on_output || handlers_.on_output(stream, data);
    if (alive.expired()) return false;
    if (!more) output_paused_ = true;
  }
  if (!output_paused_ && output_queue_.empty() && output_ended_ && !output_end_handled_) {
    OnOutputEnded();
    if (alive.expired()) return false;
  }
  return true;
}

void AgentSession::Impl::OnOutputEnded() {
  output_end_handled_ = true;
  if (output_error_) {
    Finish(std::move(*output_error_));
    return;
  }
  // The output is complete, so the process has exited: the agent destroys the container when
  // its main process ends. Input still queued can no longer matter.
  StopInput();
  WaitForExit();
}

void AgentSession::Impl::ResumeOutput() {
  if (!output_paused_ || resume_posted_) return;
  resume_posted_ = true;
  std::weak_ptr<char> alive = alive_;
  loop_.Post([this, alive]() {
    if (alive.expired()) return;
    resume_posted_ = false;
    output_paused_ = false;
    if (!DeliverOutput() || output_paused_) return;
    if (launch_call_ && !output_ended_) {
      launch_call_->ResumeResponse();
      NoteOutputActivity();  // silence counts again from now, when reading resumes
    }
  });
}

void AgentSession::Impl::OpenInput() {
  ++input_attempts_;
  input_status_ = 0;
  input_error_body_.clear();
  input_body_finished_ = false;

  HttpRequest request;
  request.url = spec_.agent_url + "/api/v1";
  // The agent allows one input connection per session and rejects a second with 409, so the
  // connection is not kept for reuse.
  request.headers = {"Content-Type: application/recordio",
                     "Message-Content-Type: application/json", "Accept: application/json",
                     "Transfer-Encoding: chunked", "Connection: close"};
  if (!spec_.authorization.empty()) {
    request.headers.push_back("Authorization: " + spec_.authorization);
  }
  request.streaming_body = true;
  request.description = agent_ + " ATTACH_CONTAINER_INPUT";

  HttpCall::Handlers handlers;
  handlers.on_head = [this](const HttpResponseHead& head) { input_status_ = head.status; };
  handlers.on_body = [this](std::string_view bytes) {
    AppendCapped(&input_error_body_, bytes, kMaxErrorBodyBytes);
    return true;
  };
  handlers.on_done = [this](Status status) { OnInputDone(std::move(status)); };
  handlers.on_body_drained = [this]() { OnInputDrained(); };
  input_call_ = http_.Start(std::move(request), std::move(handlers));
  input_open_ = true;

  WriteInputRecord(AttachContainerInputCall(container_id_json_));
  if (spec_.tty) WriteInputRecord(TtyInfoRecord(rows_, columns_));
  FlushStdin();
  ScheduleHeartbeat();
}

void AgentSession::Impl::WriteInputRecord(const std::string& record_json) {
  input_call_->Write(EncodeRecord(record_json));
}

// Moves pending stdin onto the open input stream, then the EOF record if CloseStdin was called.
void AgentSession::Impl::FlushStdin() {
  if (!input_open_ || input_body_finished_) return;

  std::string_view pending = pending_stdin_;
  while (!pending.empty()) {
    std::string_view piece = pending.substr(0, kMaxStdinRecordBytes);
    WriteInputRecord(StdinDataRecord(piece));
    pending.remove_prefix(piece.size());
    stdin_sent_ = true;
  }
  pending_stdin_.clear();

  if (stdin_eof_) {
    // Without a tty an empty STDIN record closes the process's stdin pipe. With a tty it would
    // do nothing, so the EOT byte goes through the pty's line discipline, which reads it as EOF.
    WriteInputRecord(StdinDataRecord(spec_.tty ? "\x04" : ""));
    input_call_->FinishBody();
    input_body_finished_ = true;
    if (heartbeat_timer_ != 0) {
      loop_.CancelTimer(heartbeat_timer_);
      heartbeat_timer_ = 0;
    }
  }
}

void AgentSession::Impl::ScheduleHeartbeat() {
  if (heartbeat_timer_ != 0 || input_body_finished_) return;
  heartbeat_timer_ = loop_.StartTimer(spec_.heartbeat_interval, [this]() {
    heartbeat_timer_ = 0;
    if (!input_open_ || input_body_finished_) return;
    WriteInputRecord(HeartbeatRecord(spec_.heartbeat_interval));
    ScheduleHeartbeat();
  });
}

void AgentSession::Impl::OnInputDone(Status status) {
  input_open_ = false;
  if (heartbeat_timer_ != 0) {
    loop_.CancelTimer(heartbeat_timer_);
    heartbeat_timer_ = 0;
  }
  if (finished_) return;

  if (status.ok() && input_status_ == 200) {
    // The agent took the whole body, or responded early because the output ended.
    DropInput();
    return;
  }

  const bool unknown_container = status.ok() && input_status_ == 500 &&
                                 Contains(input_error_body_, "Unknown container");
  const bool launch_open = launch_call_ != nullptr && !output_ended_;
  // NOTE: once stdin data went out on the rejected stream, the input is dropped and not retried,
  // although the agent forwarded none of it. A retry would need a copy of all stdin sent.
  if (unknown_container && launch_open && !stdin_sent_ && input_attempts_ < kMaxInputAttempts) {
    // The agent did not know the container yet. Nothing of the input reached the process, and
    // stdin, EOF and the tty size are all replayed by OpenInput, so the retry loses nothing.
    input_call_.reset();
    auto delay = kFirstInputRetryDelay * (1 << (input_attempts_ - 1));
    input_retry_timer_ = loop_.StartTimer(delay, [this]() {
      input_retry_timer_ = 0;
      if (!finished_ && !output_ended_) OpenInput();
    });
    return;
  }

  std::weak_ptr<char> alive = alive_;
  if (!status.ok() && launch_open && !input_body_finished_) {
    // No HTTP response: the connection broke (a proxy's idle cut, a reset) while the process
    // may still read stdin. The agent allows attaching input again.
    // NOTE: stdin already handed to the broken connection may or may not have reached the
    // process. It is not sent again, so a few bytes can be lost here.
    if (input_reattaches_ < kMaxInputReattaches) {
      ++input_reattaches_;
      Warn(Status::Unavailable(status.message() + "; attaching the input again (" +
                               std::to_string(input_reattaches_) + " of " +
                               std::to_string(kMaxInputReattaches) + ")"));
      if (alive.expired()) return;
      input_call_.reset();
      input_attempts_ = 0;
      input_retry_timer_ = loop_.StartTimer(kFirstInputRetryDelay, [this]() {
        input_retry_timer_ = 0;
        if (!finished_ && !output_ended_) OpenInput();
      });
      return;
    }
    BreakOutput(Status::Unavailable("lost the input stream to " + agent_ + " " +
                                    std::to_string(kMaxInputReattaches + 1) +
                                    " times, last: " + status.message()));
    DeliverOutput();
    return;
  }
  Warn(status.ok() ? Status::Unavailable(agent_ + ": ATTACH_CONTAINER_INPUT returned HTTP " +
                                         std::to_string(input_status_) + ": " +
                                         FirstBodyLine(input_error_body_))
                   : status);
  if (alive.expired()) return;
  // A 500 here means the process already ended or closed stdin; output is still drained.
  DropInput();
}

void AgentSession::Impl::OnInputDrained() {
  if (!drain_armed_ || stdin_queued_bytes() > 0) return;
  drain_armed_ = false;
  if (handlers_.on_stdin_drained) handlers_.on_stdin_drained();
}

// Stops sending stdin for good. A caller waiting for on_stdin_drained gets it, so that it goes
// on reading (and dropping) its input instead of waiting forever.
void AgentSession::Impl::DropInput() {
  input_gone_ = true;
  pending_stdin_.clear();
  if (drain_armed_) {
    drain_armed_ = false;
    if (handlers_.on_stdin_drained) handlers_.on_stdin_drained();
  }
}

void AgentSession::Impl::StopInput() {
  input_gone_ = true;
  input_open_ = false;
  pending_stdin_.clear();
  drain_armed_ = false;
  if (input_retry_timer_ != 0) {
    loop_.CancelTimer(input_retry_timer_);
    input_retry_timer_ = 0;
  }
  if (heartbeat_timer_ != 0) {
    loop_.CancelTimer(heartbeat_timer_);
    heartbeat_timer_ = 0;
  }
  input_call_.reset();
}

void AgentSession::Impl::WriteStdin(std::string_view bytes) {
  if (bytes.empty() || finished_ || stdin_eof_ || input_gone_) return;
  pending_stdin_.append(bytes);
  drain_armed_ = true;
  FlushStdin();
}

std::size_t AgentSession::Impl::stdin_queued_bytes() const {
  std::size_t queued = pending_stdin_.size();
  if (input_open_ && input_call_) queued += input_call_->queued_body_bytes();
  return queued;
}

void AgentSession::Impl::CloseStdin() {
  if (stdin_eof_ || finished_ || input_gone_) return;
  stdin_eof_ = true;
  FlushStdin();
}

void AgentSession::Impl::Resize(int rows, int columns) {
  if (!spec_.tty) return;
  rows_ = rows;
  columns_ = columns;
  if (input_open_ && !input_body_finished_) WriteInputRecord(TtyInfoRecord(rows, columns));
}

void AgentSession::Impl::WaitForExit() {
  if (wait_attempts_++ == 0) wait_deadline_ = Now() + spec_.wait_timeout;
  wait_status_ = 0;
  wait_body_.clear();
  const auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(wait_deadline_ - Now());

  HttpRequest request;
  request.url = spec_.agent_url + "/api/v1";
  request.headers = JsonHeaders();  // no Message-Accept: the agent rejects it here with 406
  request.body = WaitContainerCall(container_id_json_);
  request.timeout = std::max(remaining, std::chrono::milliseconds(1));
  request.description = agent_ + " WAIT_CONTAINER";

  HttpCall::Handlers handlers;
  handlers.on_head = [this](const HttpResponseHead& head) { wait_status_ = head.status; };
  handlers.on_body = [this](std::string_view bytes) {
    AppendCapped(&wait_body_, bytes, kMaxWaitBodyBytes);
    return true;
  };
  handlers.on_done = [this](Status status) { OnWaitDone(std::move(status)); };
  wait_call_ = http_.Start(std::move(request), std::move(handlers));
}

void AgentSession::Impl::OnWaitDone(Status status) {
  const std::string context = "could not learn the exit status: ";
  // Admin Router returns 504 after 60 s without a response from the agent, and 502 when it
  // cannot reach the agent. A reset connection or a restarting agent (503) may pass too.
  const bool transient =
      (!status.ok() && status.code() == StatusCode::kUnavailable) ||
      (status.ok() && (wait_status_ == 502 || wait_status_ == 503 || wait_status_ == 504));
  if (transient && RetryWait()) return;
  if (!status.ok()) {
    Finish(Status::Unavailable(context + status.message()));
    return;
  }
  if (wait_status_ == 404) {
    Finish(Status::Unavailable(context + agent_ + " no longer knows the session's container, "
                               "as happens when the task ended at the same time "
                               "(WAIT_CONTAINER returned HTTP 404: " +
                               FirstBodyLine(wait_body_) + ")"));
    return;
  }
  if (wait_status_ != 200) {
    Finish(Status::Unavailable(context + agent_ + ": WAIT_CONTAINER returned HTTP " +
                               std::to_string(wait_status_) + ": " + FirstBodyLine(wait_body_)));
    return;
  }
  Result<ExitOutcome> outcome = ParseWaitContainerResponse(wait_body_);
  if (!outcome.ok()) {
    Finish(Status::Unavailable(context + agent_ + ": " + outcome.status().message()));
    return;
  }
  Finish(std::move(outcome));
}

bool AgentSession::Impl::RetryWait() {
  if (Now() + wait_retry_delay_ >= wait_deadline_) return false;
  wait_retry_timer_ = loop_.StartTimer(wait_retry_delay_, [this]() {
    wait_retry_timer_ = 0;
    if (!finished_) WaitForExit();
  });
  wait_retry_delay_ = std::min(wait_retry_delay_ * 2, spec_.max_retry_delay);
  return true;
}

void AgentSession::Impl::Signal(int signal) {
  if (finished_) return;
  if (!launched_) {
    pending_signals_.push_back(signal);
    return;
  }
  SendKill(signal);
}

void AgentSession::Impl::SendKill(int signal) {
  HttpRequest request;
  request.url = spec_.agent_url + "/api/v1";
  request.headers = JsonHeaders();
  request.body = KillContainerCall(container_id_json_, signal);
  request.timeout = kKillTimeout;
  request.description = agent_ + " KILL_CONTAINER " + std::to_string(signal);

  // The handlers erase their own call when it ends, which HttpCall allows.
  auto entry = kill_calls_.emplace(kill_calls_.end());
  auto status_code = std::make_shared<long>(0);
  auto body = std::make_shared<std::string>();
  HttpCall::Handlers handlers;
  handlers.on_head = [status_code](const HttpResponseHead& head) { *status_code = head.status; };
  handlers.on_body = [body](std::string_view bytes) {
    AppendCapped(body.get(), bytes, kMaxErrorBodyBytes);
    return true;
  };
  handlers.on_done = [this, entry, status_code, body, signal](Status status) {
    std::weak_ptr<char> alive = alive_;
    if (!status.ok()) {
      Warn(status);
    } else if (*status_code != 200) {
      Warn(Status::Unavailable(agent_ + ": KILL_CONTAINER with signal " + std::to_string(signal) +
                               " returned HTTP " + std::to_string(*status_code) + ": " +
                               FirstBodyLine(*body)));
    }
    if (!alive.expired()) kill_calls_.erase(entry);
  };
  *entry = http_.Start(std::move(request), std::move(handlers));
}

void AgentSession::Impl::Finish(Result<ExitOutcome> result) {
  if (finished_) return;
  finished_ = true;
  StopSilenceTimer();
  StopInput();
  if (handlers_.on_finished) handlers_.on_finished(std::move(result));
}

void AgentSession::Impl::Warn(const Status& status) {
  if (handlers_.on_warning) handlers_.on_warning(status);
}

std::vector<std::string> AgentSession::Impl::JsonHeaders() const {
  std::vector<std::string> headers = {"Content-Type: application/json",
                                      "Accept: application/json"};
  if (!spec_.authorization.empty()) headers.push_back("Authorization: " + spec_.authorization);
  return headers;
}

AgentSession::AgentSession(HttpClient& http, SessionSpec spec, Handlers handlers)
    : impl_(std::make_unique<Impl>(http, std::move(spec), std::move(handlers))) {}

AgentSession::~AgentSession() = default;

void AgentSession::Start() { impl_->Start(); }
void AgentSession::WriteStdin(std::string_view bytes) { impl_->WriteStdin(bytes); }
std::size_t AgentSession::stdin_queued_bytes() const { return impl_->stdin_queued_bytes(); }
void AgentSession::CloseStdin() { impl_->CloseStdin(); }
void AgentSession::Resize(int rows, int columns) { impl_->Resize(rows, columns); }
void AgentSession::ResumeOutput() { impl_->ResumeOutput(); }
void AgentSession::Signal(int signal) { impl_->Signal(signal); }
const std::string& AgentSession::container_id() const { return impl_->container_id(); }

}  // namespace tb::mesos
