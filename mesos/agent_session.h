// AgentSession: one nested container debug session on a Mesos agent, the way `dcos task exec`
// runs a command in a task's container.
//
// Sequence (POST <agent>/api/v1):
//   1. LAUNCH_NESTED_CONTAINER_SESSION, container id {value: new uuid4, parent: the task's whole
//      container id chain}. The 200 response is a RecordIO stream of ProcessIO records, open until
//      the process's output ends. Headers: Content-Type application/json, Accept
//      application/recordio, Message-Accept application/json.
//   2. After the launch response headers: ATTACH_CONTAINER_INPUT on a second connection, a chunked
//      RecordIO body: the CONTAINER_ID record, with a tty a TTY_INFO record with the pty size, then
//      STDIN data, resizes and a HEARTBEAT every heartbeat_interval. Stdin EOF is an empty STDIN
//      record without a tty, the byte 0x04 with one. A 500 on this call means the process is
//      already gone: output is still drained.
//   3. When the output stream ends: WAIT_CONTAINER for the raw wait(2) status.
// Destroying the session closes both streams; the agent then destroys the nested container.
//
// Failures and what the session does (the reason reaches on_finished as an Unavailable status
// unless stated otherwise):
//   * the launch gets 503 ("Agent has not finished recovery") or a refused connection: the
//     launch is repeated with backoff for up to launch_retry_timeout, then fails;
//   * the launch stream breaks (reset, cut, cut mid-record, invalid record) or stays silent for
//     output_silence_timeout: every decoded byte is delivered, then the session fails without
//     WAIT_CONTAINER, because the agent destroys the container when the stream goes, so no
//     true exit status is left to learn;
//   * the input stream breaks before any HTTP response (a proxy's idle cut, a reset): it is
//     attached again (stdin sent on the broken stream may be lost), at most
//     kMaxInputReattaches times; after that the session fails;
//   * WAIT_CONTAINER fails with 502, 503, 504 (Admin Router's idle cut) or without an answer:
//     repeated with backoff until wait_timeout; 404 means the agent no longer knows the
//     container (its task ended too), so the exit status is unknown.
//
// Lives on one worker loop; every handler runs on that loop and must not block.

#ifndef TASK_BASTION_MESOS_AGENT_SESSION_H_
#define TASK_BASTION_MESOS_AGENT_SESSION_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/status.h"
#include "mesos/wait_status.h"

namespace tb::mesos {

struct SessionSpec {
  std::string agent_url;      // "http://127.0.0.1:5051", no trailing path
  std::string task_id;        // names the task in messages; may be empty
  std::string authorization;  // whole Authorization header value; empty for none
  nlohmann::json parent_container_id;  // the task's container id, whole parent chain

  bool shell = true;                   // true: /bin/sh -c command; false: execvp(command, arguments)
  std::string command;
  std::vector<std::string> arguments;  // full argv including argv[0], used when !shell
  std::vector<std::pair<std::string, std::string>> environment;

  bool tty = false;
  int rows = 24;
  int columns = 80;

  std::chrono::milliseconds heartbeat_interval{30000};
  // WAIT_CONTAINER after the output ended, retries included.
  std::chrono::milliseconds wait_timeout{30000};
  std::size_t max_record_bytes = 4 << 20;  // larger output records end the session
  // No byte at all (not even a heartbeat) from the launch stream for this long ends the session:
  // the agent or the network is gone. The agent's heartbeats come every 30 s by default.
  std::chrono::milliseconds output_silence_timeout{90000};
  // While the agent responds to the launch with 503 (recovering) or refuses the connection
  // (restarting), the launch is repeated for this long.
  std::chrono::milliseconds launch_retry_timeout{15000};
  // Backoff of those retries and of WAIT_CONTAINER retries: the first delay, doubled each time up
  // to the maximum.
  std::chrono::milliseconds first_retry_delay{250};
  std::chrono::milliseconds max_retry_delay{4000};
  // The clock that the timeouts above use; tests replace it.
  std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
};

enum class OutputStream { kStdout, kStderr };

class AgentSession {
 public:
  struct Handlers {
    // The launch response arrived with 200: the process runs. `container_id` is the session's.
    std::function<void(const std::string& container_id)> on_launched;
    // Output bytes in order. Return false to pause the output stream until ResumeOutput().
    std::function<bool(OutputStream, std::string_view)> on_output;
    // Queued stdin fell to zero bytes after WriteStdin had queued some.
    std::function<void()> on_stdin_drained;
    // Once: after the output stream ended and WAIT_CONTAINER answered, the outcome; or the
    // reason the session failed (launch rejected, stream lost, wait failed). After it the
    // session makes no more calls and may be destroyed.
    std::function<void(Result<ExitOutcome>)> on_finished;
    // A call that does not end the session failed: ATTACH_CONTAINER_INPUT returned a status
    // other than 200 (a 500 usually means the process has already ended, and stdin is then
    // dropped), or KILL_CONTAINER failed. Only for logs; the session carries on. May be empty.
    std::function<void(const Status&)> on_warning;
  };

  // `http` must outlive the session.
  AgentSession(HttpClient& http, SessionSpec spec, Handlers handlers);
  ~AgentSession();
  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;

  // Sends the launch call. Handlers run later, never from inside Start().
  void Start();

  // Queues stdin bytes; they are sent once the input stream is attached, in STDIN records of at
  // most 64 KiB each. Dropped once the input stream has failed or ended (the process is gone).
  void WriteStdin(std::string_view bytes);
  // Stdin not yet handed to the socket: raw bytes waiting for the input stream plus the encoded
  // records queued on it (base64 makes those about 4/3 of the raw size). For backpressure: stop
  // reading the SSH channel above a limit and resume on on_stdin_drained.
  std::size_t stdin_queued_bytes() const;
  // Sends stdin EOF after the queued bytes and ends the input stream.
  void CloseStdin();
  // Sends a TTY_INFO record (tty sessions only; ignored otherwise).
  void Resize(int rows, int columns);
  // Resumes output paused by on_output returning false. Handlers run later, from a posted task.
  void ResumeOutput();
  // Sends KILL_CONTAINER with `signal` to the session's container. A signal sent before the
  // launch response arrives waits for it. Failures go to on_warning.
  void Signal(int signal);

  const std::string& container_id() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_AGENT_SESSION_H_
