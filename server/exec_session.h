// ExecSession: one SSH session channel mapped onto one Mesos nested container debug session.
//
// States and the channel requests each accepts (like OpenSSH's sshd, env, pty-req, exec and
// shell are only accepted before a program starts; window-change at any time):
//
//   kWaitingForRequest  env, pty-req, window-change; exec or shell starts the lookup;
//                       subsystem "sftp" ends the session with a message
//   kLookingUp          the master is asked for the task; window-change; signal is kept and
//                       sent once the session is launched
//   kRunning            the agent session streams both ways; window-change, signal
//   kFinishing          the outcome is known; remaining output, EOF, exit status, close
//   kClosed             the channel is closed and freed
//
// A second pty-req, or exec/shell after one of them, is answered with failure. A signal before
// exec or shell, or after the program ended, is dropped (like sshd, which needs a process).
//
// The two orders of death have their own entry points:
//  * the process ends first (Finish): every output byte is written, then the reason on stderr if
//    the outcome is unknown, EOF, then exactly one of exit-status or exit-signal (255 when
//    unknown), then close;
//  * the client closes first (CloseByClient): the agent session is destroyed at once, which closes
//    its streams, and the agent then destroys the nested container.
//
// Owned by a Connection and driven by it on one worker loop: the Connection routes channel
// requests here and calls Pump() after every poll, where bytes move both ways within the bounds
// of the session's buffers and the SSH windows.

#ifndef TASK_BASTION_SERVER_EXEC_SESSION_H_
#define TASK_BASTION_SERVER_EXEC_SESSION_H_

#include <libssh/callbacks.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/operation.h"
#include "common/status.h"
#include "mesos/agent_session.h"
#include "mesos/task_match.h"
#include "server/session_context.h"
#include "server/ssh_handles.h"

namespace tb::server {

class Worker;

class ExecSession {
 public:
  enum class State { kWaitingForRequest, kLookingUp, kRunning, kFinishing, kClosed };

  // `worker` must outlive the session; `channel` belongs to the connection's ssh_session, which
  // must outlive the session too.
  ExecSession(Worker& worker, SessionContext context, ssh_channel channel);
  ~ExecSession();
  ExecSession(const ExecSession&) = delete;
  ExecSession& operator=(const ExecSession&) = delete;

  // Channel requests (RFC 4254 section 6). Each returns the reason for a failure reply.
  Status OnPtyRequest(std::string term, int columns, int rows);
  Status OnEnv(const std::string& name, const std::string& value);
  Status OnExec(std::string command);
  Status OnShell();
  Status OnWindowChange(int columns, int rows);
  // The only subsystem is a message: "sftp" (which OpenSSH 9's scp uses too) is accepted, and
  // the session then writes why it is not supported to stderr and exits with 255. A failure
  // reply would make those clients print only "Connection closed". Other names get failure.
  Status OnSubsystem(const std::string& name);
  // "signal" with a name as in RFC 4254 section 6.10 ("TERM", "INT", ...): KILL_CONTAINER with
  // that signal. libssh 0.10 hands this request only to a channel callback and sends no reply,
  // so the session installs that callback itself and the result is only logged.
  Status OnSignal(const std::string& name);

  // Moves bytes between the channel and the agent session, and closes when the end is reached.
  void Pump();

  ssh_channel channel() const { return channel_; }
  State state() const { return state_; }
  const SessionContext& context() const { return context_; }

 private:
  struct Chunk {
    mesos::OutputStream stream;
    std::string bytes;
  };

  void Start(bool shell, std::string command);
  void OnTaskFound(Result<mesos::TaskTarget> target);
  bool OnOutput(mesos::OutputStream stream, std::string_view bytes);
  void OnFinished(Result<mesos::ExitOutcome> outcome);
  void Fail(const Status& failure);

  void ReadClientInput();
  void WriteOutput();
  void SendExitAndClose();
  void CloseByClient();
  void FreeChannel();

  // libssh channel callback for "signal"; it runs inside the event poll, so it only queues the
  // name for Pump().
  static void OnSignalRequest(ssh_session session, ssh_channel channel, const char* signal,
                              void* userdata) noexcept;

  Worker& worker_;
  SessionContext context_;
  ssh_channel channel_;  // borrowed from the connection's ssh_session; freed in FreeChannel
  // Registered on channel_ until FreeChannel removes it, because libssh keeps a freed channel
  // until the client's close arrives and would still call it.
  ssh_channel_callbacks_struct callbacks_{};
  std::vector<std::string> signal_requests_;  // queued by OnSignalRequest, handled in Pump
  std::vector<int> signals_before_launch_;    // signals received while kLookingUp
  State state_ = State::kWaitingForRequest;

  // Requests received before the program starts.
  bool pty_ = false;
  std::string term_;
  int columns_ = 80;
  int rows_ = 24;
  std::vector<std::pair<std::string, std::string>> environment_;
  bool shell_ = false;
  std::string command_;

  std::unique_ptr<Operation> lookup_;  // the task lookup, then the authorization check
  bool authorized_ = false;            // the IAM granted the exec permissions for target_
  std::optional<mesos::TaskTarget> target_;
  std::unique_ptr<mesos::AgentSession> agent_;

  std::deque<Chunk> output_;  // agent → client, in order; bounded by max_output_buffer_bytes
  std::size_t output_bytes_ = 0;
  bool output_paused_ = false;
  bool stdin_closed_ = false;

  // Set by OnFinished (or Fail): what the client receives once the output is written.
  std::optional<Result<mesos::ExitOutcome>> outcome_;
};

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_EXEC_SESSION_H_
