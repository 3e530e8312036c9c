#include "server/exec_session.h"

#include <fnmatch.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "auth/authorizer.h"
#include "mesos/wait_status.h"
#include "server/log_text.h"
#include "server/worker.h"

namespace tb::server {
ExecSession::ExecSession(Worker& worker, SessionContext context, ssh_channel channel)
    : worker_(worker), context_(std::move(context)), channel_(channel) {
  ssh_callbacks_init(&callbacks_);
  callbacks_.userdata = this;
  callbacks_.channel_signal_function = &ExecSession::OnSignalRequest;
  ssh_set_channel_callbacks(channel_, &callbacks_);
}

ExecSession::~ExecSession() {
  // Destroying the agent session closes its streams; the agent then destroys the container.
  agent_.reset();
  lookup_.reset();
  FreeChannel();
}

void ExecSession::FreeChannel() {
  if (channel_ == nullptr) return;
  ssh_remove_channel_callbacks(channel_, &callbacks_);
  // Sends the close if the client closed first; libssh frees the channel once both closes are
  // through.
  ssh_channel_free(channel_);
  channel_ = nullptr;
}

void ExecSession::OnSignalRequest(ssh_session /*session*/, ssh_channel /*channel*/,
                                  const char* signal, void* userdata) noexcept {
  auto* self = static_cast<ExecSession*>(userdata);
  self->signal_requests_.emplace_back(signal != nullptr ? signal : "");
}

Status ExecSession::OnPtyRequest(std::string term, int columns, int rows) {
  if (state_ != State::kWaitingForRequest) {
    return Status::FailedPrecondition("pty-req after the program started");
  }
  if (pty_) return Status::FailedPrecondition("a pty was already allocated");
  if (columns < 0 || rows < 0 || columns > 10000 || rows > 10000) {
    return Status::InvalidArgument("invalid window size " + std::to_string(columns) + "x" +
                                   std::to_string(rows));
  }
  pty_ = true;
  term_ = std::move(term);
  // A size of 0 means "unknown" in RFC 4254; keep the 80x24 default then.
  if (columns > 0) columns_ = columns;
  if (rows > 0) rows_ = rows;
  return Status::Ok();
}

Status ExecSession::OnEnv(const std::string& name, const std::string& value) {
  if (state_ != State::kWaitingForRequest) {
    return Status::FailedPrecondition("env after the program started");
  }
  for (const std::string& pattern : worker_.config().accept_env) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
      environment_.emplace_back(name, value);
      return Status::Ok();
    }
  }
  // Names only: values may be secrets.
  return Status::PermissionDenied("environment variable " + name + " is not in accept_env");
}

Status ExecSession::OnExec(std::string command) {
  if (state_ != State::kWaitingForRequest) {
    return Status::FailedPrecondition("a program already runs on this channel");
  }
  Start(false, std::move(command));
  return Status::Ok();
}

Status ExecSession::OnShell() {
  if (state_ != State::kWaitingForRequest) {
    return Status::FailedPrecondition("a program already runs on this channel");
  }
  Start(true, "");
  return Status::Ok();
}

Status ExecSession::OnWindowChange(int columns, int rows) {
  if (columns <= 0 || rows <= 0 || columns > 10000 || rows > 10000) {
    return Status::InvalidArgument("invalid window size");
  }
  columns_ = columns;
  rows_ = rows;
  if (agent_ && pty_) agent_->Resize(rows_, columns_);
  return Status::Ok();
}

Status ExecSession::OnSubsystem(const std::string& name) {
  if (state_ != State::kWaitingForRequest) {
    return Status::FailedPrecondition("a program already runs on this channel");
  }
  if (name != "sftp") return Status::InvalidArgument("subsystem '" + name + "' is not supported");

  spdlog::info("session={} uid={} task={}: sftp requested; not supported", context_.id,
               context_.uid, context_.task_selector);
  std::string message = "task-bastion: sftp and scp are not supported; copy a file with: ssh " +
                        context_.uid + "@" + context_.task_selector +
                        "@<bastion> 'cat > file' < file\n";
  output_bytes_ += message.size();
  output_.push_back(Chunk{mesos::OutputStream::kStderr, std::move(message)});
  outcome_ = Result<mesos::ExitOutcome>(Status::InvalidArgument("sftp is not supported"));
  state_ = State::kFinishing;
  return Status::Ok();
}

Status ExecSession::OnSignal(const std::string& name) {
  int number = mesos::SignalNumber(name);
  if (number == 0) return Status::InvalidArgument("unknown signal '" + name + "'");
  switch (state_) {
    case State::kWaitingForRequest:
      return Status::FailedPrecondition("no program runs on this channel yet");
    case State::kLookingUp:
      signals_before_launch_.push_back(number);
      return Status::Ok();
    case State::kRunning:
      agent_->Signal(number);
      return Status::Ok();
    case State::kFinishing:
    case State::kClosed:
      return Status::FailedPrecondition("the program has already ended");
  }
  return Status::Internal("unhandled state");
}

void ExecSession::Start(bool shell, std::string command) {
  shell_ = shell;
  command_ = std::move(command);
  state_ = State::kLookingUp;
  spdlog::info("session={} uid={} task={}: {} requested{}", context_.id, LogSafe(context_.uid),
               LogSafe(context_.task_selector), shell ? "shell" : "exec",
               pty_ ? " with a pty" : "");
  lookup_ = worker_.masters().FindTask(
      context_.task_selector, context_.authorization,
      [this](Result<mesos::TaskTarget> target) { OnTaskFound(std::move(target)); });
}

void ExecSession::OnTaskFound(Result<mesos::TaskTarget> target) {
  // The lookup has finished; release it after this callback returns.
  worker_.loop().Post([operation = std::shared_ptr<Operation>(std::move(lookup_))] {});
  if (state_ != State::kLookingUp) return;
  if (!target.ok()) {
    Fail(target.status());
    return;
  }
  target_ = std::move(target).value();

  // Authorization before launch: the IAM must grant the user the task-exec permissions on the
  // task's app. The check runs once; on success this function runs again with the same target.
  if (!authorized_ && worker_.authorization_required()) {
    if (worker_.authorizer() == nullptr) {
      Fail(Status::Unavailable("permissions cannot be checked: the bastion has no service "
                               "account configured to ask the IAM; ask the operator"));
      return;
    }
    auth::ExecTarget exec{context_.uid, target_->task_id, target_->app_id};
    lookup_ = worker_.authorizer()->CheckExec(std::move(exec), [this](Status decision) {
      worker_.loop().Post([operation = std::shared_ptr<Operation>(std::move(lookup_))] {});
      if (state_ != State::kLookingUp) return;
      if (!decision.ok()) {
        Fail(decision);
        return;
      }
      spdlog::debug("session={} uid={} task={}: permissions for app {} granted", context_.id,
                    context_.uid, target_->task_id, target_->app_id);
      authorized_ = true;
      OnTaskFound(Result<mesos::TaskTarget>(*target_));
    });
    return;
  }

  mesos::SessionSpec spec;
  spec.agent_url = target_->agent_url;
  spec.task_id = target_->task_id;
  spec.authorization = context_.authorization;
  spec.parent_container_id = target_->container_id;
  // Like sshd's "$SHELL -c command". With a pty, the window size is set before the command
  // starts, as sshd does: the agent applies TTY_INFO only once the input stream is attached, so
  // a command that reads the size at once would otherwise race it. The wrapper shell execs the
  // command, so $$ and the exit status are the command's own.
  std::string command = shell_ ? worker_.config().login_shell : command_;
  if (pty_) {
    spec.shell = false;
    spec.command = "/bin/sh";
    spec.arguments = {"sh", "-c",
                      "stty rows " + std::to_string(rows_) + " cols " + std::to_string(columns_) +
                          " 2>/dev/null; exec sh -c \"$1\"",
                      "sh", command};
  } else {
    spec.shell = true;
    spec.command = command;
  }
  spec.environment = environment_;
  if (pty_ && !term_.empty()) spec.environment.emplace_back("TERM", term_);
  spec.tty = pty_;
  spec.rows = rows_;
  spec.columns = columns_;
  spec.heartbeat_interval = worker_.config().heartbeat_interval;
  spec.wait_timeout = worker_.config().wait_timeout;
  spec.output_silence_timeout = worker_.config().output_silence_timeout;
  spec.launch_retry_timeout = worker_.config().launch_retry_timeout;

  mesos::AgentSession::Handlers handlers;
  handlers.on_launched = [this](const std::string& container_id) {
    spdlog::info("session={} uid={} task={} agent={} container={}: launched", context_.id,
                 context_.uid, target_->task_id, target_->agent_id, container_id);
  };
  handlers.on_output = [this](mesos::OutputStream stream, std::string_view bytes) {
    return OnOutput(stream, bytes);
  };
  handlers.on_stdin_drained = [] {};  // Pump reads more input after every poll
  handlers.on_finished = [this](Result<mesos::ExitOutcome> outcome) {
    OnFinished(std::move(outcome));
  };
  agent_ = std::make_unique<mesos::AgentSession>(worker_.http(), std::move(spec),
                                                 std::move(handlers));
  state_ = State::kRunning;
  agent_->Start();
  for (int number : signals_before_launch_) agent_->Signal(number);
  signals_before_launch_.clear();
}

bool ExecSession::OnOutput(mesos::OutputStream stream, std::string_view bytes) {
  if (bytes.empty()) return true;
  if (!output_.empty() && output_.back().stream == stream && output_.back().bytes.size() < 65536) {
    output_.back().bytes.append(bytes);
  } else {
    output_.push_back(Chunk{stream, std::string(bytes)});
  }
  output_bytes_ += bytes.size();
  if (output_bytes_ >= worker_.config().max_output_buffer_bytes) {
    output_paused_ = true;
    return false;
  }
  return true;
}

void ExecSession::OnFinished(Result<mesos::ExitOutcome> outcome) {
  if (state_ != State::kRunning) return;
  if (!outcome.ok()) {
    Fail(outcome.status());
    return;
  }
  const mesos::ExitOutcome& exit = *outcome;
  if (exit.signaled) {
    spdlog::info("session={} uid={} task={}: ended by signal {}", context_.id, context_.uid,
                 target_->task_id, exit.signal);
  } else {
    spdlog::info("session={} uid={} task={}: exited with status {}", context_.id, context_.uid,
                 target_->task_id, exit.exit_code);
  }
  outcome_ = std::move(outcome);
  state_ = State::kFinishing;
}

void ExecSession::Fail(const Status& failure) {
  // A 403 from the master or the agent names the user and the task, as the bastion's own
  // authorization denial does.
  Status status = failure;
  if (failure.code() == StatusCode::kPermissionDenied && !failure.message().starts_with("user '")) {
    status = Status::PermissionDenied("user '" + context_.uid + "' may not exec into task '" +
                                      (target_ ? target_->task_id : context_.task_selector) +
                                      "': " + failure.message());
  }
  // One log line per event: a multi-line message (the list of matching tasks) is joined.
  std::string message = status.ToString();
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::string task = LogSafe(target_ ? target_->task_id : context_.task_selector);
  switch (status.code()) {
    case StatusCode::kNotFound:
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kPermissionDenied:
      // The user's request cannot be served; nothing is wrong with the bastion or the cluster.
      spdlog::info("session={} uid={} task={}: rejected: {}", context_.id, context_.uid, task,
                   message);
      break;
    default:
      spdlog::error("session={} uid={} task={}: {}", context_.id, context_.uid, task, message);
      break;
  }
  output_.push_back(Chunk{mesos::OutputStream::kStderr, "task-bastion: " + status.message() + "\n"});
  output_bytes_ += output_.back().bytes.size();
  outcome_ = Result<mesos::ExitOutcome>(status);
  state_ = State::kFinishing;
}

void ExecSession::Pump() {
  if (state_ == State::kClosed) return;
  if (ssh_channel_is_closed(channel_)) {
    CloseByClient();
    return;
  }
  for (const std::string& name : std::exchange(signal_requests_, {})) {
    Status status = OnSignal(name);
    if (status.ok()) {
      spdlog::debug("session={} uid={}: signal {} accepted", context_.id, context_.uid, name);
    } else {
      spdlog::debug("session={} uid={}: signal {} rejected: {}", context_.id, context_.uid, name,
                    status.message());
    }
  }
  if (state_ == State::kRunning) ReadClientInput();
  WriteOutput();
  if (output_paused_ && agent_ && output_bytes_ < worker_.config().max_output_buffer_bytes / 2) {
    output_paused_ = false;
    agent_->ResumeOutput();
  }
  if (state_ == State::kFinishing && output_.empty()) SendExitAndClose();
}

void ExecSession::ReadClientInput() {
  if (stdin_closed_ || !agent_) return;
  if (agent_->stdin_queued_bytes() >= worker_.config().max_input_buffer_bytes) return;

  // Take everything libssh has buffered in one read. libssh grows the channel window back to
  // its full size after every read, so reading less than the buffered amount would let the
  // client send another window's worth each time and the buffer would grow without bound.
  int available = ssh_channel_poll(channel_, 0);
  if (available > 0) {
    std::string bytes(static_cast<std::size_t>(available), '\0');
    int n = ssh_channel_read_nonblocking(channel_, bytes.data(), static_cast<uint32_t>(available),
                                         0);
    if (n > 0) {
      bytes.resize(static_cast<std::size_t>(n));
      agent_->WriteStdin(bytes);
    }
  }
  // The client's EOF may have arrived with the data just read; no later poll would report it.
  if (available == SSH_EOF || ssh_channel_is_eof(channel_)) {
    stdin_closed_ = true;
    agent_->CloseStdin();
  }
  // SSH_ERROR: the session check in Connection closes us.
}

void ExecSession::WriteOutput() {
  while (!output_.empty()) {
    Chunk& chunk = output_.front();
    uint32_t window = ssh_channel_window_size(channel_);
    if (window == 0) return;  // resumed after the client's window adjust wakes the poll
    uint32_t length = static_cast<uint32_t>(std::min<std::size_t>(chunk.bytes.size(), window));
    int written = chunk.stream == mesos::OutputStream::kStdout
                      ? ssh_channel_write(channel_, chunk.bytes.data(), length)
                      : ssh_channel_write_stderr(channel_, chunk.bytes.data(), length);
    if (written < 0) {
      spdlog::warn("session={} uid={}: writing to the channel failed: {}", context_.id,
                   context_.uid, ssh_get_error(ssh_channel_get_session(channel_)));
      CloseByClient();
      return;
    }
    if (written == 0) return;
    chunk.bytes.erase(0, static_cast<std::size_t>(written));
    output_bytes_ -= static_cast<std::size_t>(written);
    if (chunk.bytes.empty()) output_.pop_front();
  }
}

void ExecSession::SendExitAndClose() {
  ssh_channel_send_eof(channel_);
  const Result<mesos::ExitOutcome>& outcome = *outcome_;
  if (!outcome.ok()) {
    ssh_channel_request_send_exit_status(channel_, 255);
  } else if (outcome->signaled) {
    std::string name = mesos::SignalName(outcome->signal);
    if (name.empty()) {
      ssh_channel_request_send_exit_status(channel_, 128 + outcome->signal);
    } else {
      ssh_channel_request_send_exit_signal(channel_, name.c_str(), outcome->core_dumped ? 1 : 0,
                                           "", "");
    }
  } else {
    ssh_channel_request_send_exit_status(channel_, outcome->exit_code);
  }
  ssh_channel_close(channel_);
  FreeChannel();
  agent_.reset();
  state_ = State::kClosed;
}

void ExecSession::CloseByClient() {
  if (state_ != State::kFinishing) {
    spdlog::info("session={} uid={}: the client closed the channel; ending the session",
                 context_.id, context_.uid);
  }
  agent_.reset();
  lookup_.reset();
  FreeChannel();
  state_ = State::kClosed;
}

}  // namespace tb::server
