// HttpClient: asynchronous HTTP/1.1 calls on one EventLoop, built on a libcurl multi handle.
//
// One HttpClient belongs to one worker loop and must only be used from that loop's thread. It
// never blocks: sockets and timers go through the loop (CURLMOPT_SOCKETFUNCTION,
// CURLMOPT_TIMERFUNCTION, curl_multi_socket_action).
//
// A call streams both ways:
//  * the response body is handed over as it arrives; a handler can pause it (backpressure toward
//    the server) and the owner resumes it with ResumeResponse();
//  * with `streaming_body` the request body is sent chunked (Transfer-Encoding: chunked) from
//    bytes the owner appends with Write(), until FinishBody(); while the queue is empty the upload
//    is paused.
//
// Destroying an HttpCall aborts its transfer and closes its connection, which is how the owner
// ends a stream early. Handlers may destroy the HttpCall that invoked them; no handler runs after
// the HttpCall is destroyed.
//
// A server may answer before a streaming request body is finished (the Mesos agent does so on
// ATTACH_CONTAINER_INPUT once the process is gone). The body then ends with the final response
// head: queued bytes are dropped (on_body_drained follows on_head if any were queued), later
// Write calls are ignored, and queued_body_bytes() stays 0.

#ifndef TASK_BASTION_COMMON_HTTP_CLIENT_H_
#define TASK_BASTION_COMMON_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/status.h"

namespace tb {

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::string ca_file;      // CA bundle for HTTPS; empty means the system default
  bool verify_tls = true;   // verify peer certificate and host name
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value" lines, sent as given
  std::string body;                  // the whole body, unless streaming_body
  bool streaming_body = false;       // body comes from HttpCall::Write, sent chunked
  // Deadline for the whole transfer; zero means none (for streams that may last hours).
  std::chrono::milliseconds timeout{0};
  // Names the call in error messages, e.g. "agent 127.0.0.1:5051 WAIT_CONTAINER".
  std::string description;
};

struct HttpResponseHead {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; the last value wins
};

class HttpCall {
 public:
  struct Handlers {
    // Once, when the final status line and headers have arrived (any status code).
    std::function<void(const HttpResponseHead&)> on_head;
    // Response body bytes in arrival order. Return false to pause the response; the bytes passed
    // in this call are consumed either way. Resume with ResumeResponse().
    std::function<bool(std::string_view)> on_body;
    // Once, when the transfer ends: OK after the whole response arrived, else Unavailable
    // (connect failure, reset, TLS handshake failure) or DeadlineExceeded. FailedPrecondition
    // means that the server's TLS certificate failed verification or the CA bundle is unusable,
    // a configuration problem that a retry does not fix; the message names host and bundle.
    // The message starts with the request's description and names the method and URL. It always comes after every body byte
    // was passed to on_body: a failure during a pause waits for ResumeResponse when bytes
    // received before it are still held. Internal when libcurl rejected the request's setup or
    // a handler threw inside a libcurl callback.
    std::function<void(Status)> on_done;
    // With streaming_body: the queued request bytes fell to zero (all handed to the socket).
    std::function<void()> on_body_drained;
  };

  virtual ~HttpCall() = default;

  // Appends bytes to a streaming request body. REQUIRES: streaming_body, FinishBody not called.
  virtual void Write(std::string_view bytes) = 0;
  // Ends a streaming request body (the terminating zero-length chunk follows the queued bytes).
  virtual void FinishBody() = 0;
  // Request bytes queued by Write and not yet handed to libcurl.
  virtual std::size_t queued_body_bytes() const = 0;
  // Resumes a response paused by on_body returning false. Handlers run later, from a posted
  // task, never from inside this call.
  virtual void ResumeResponse() = 0;
  // After a failed on_done: true when no connection to the server was made (refused, host not
  // resolved), so the server saw nothing of the request and repeating it is safe.
  virtual bool connect_failed() const { return false; }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Starts a call. Handlers run on the loop thread, never from inside Start().
  virtual std::unique_ptr<HttpCall> Start(HttpRequest request, HttpCall::Handlers handlers) = 0;

  // The loop the client runs on. Users of the client start their timers and post their tasks
  // there.
  virtual EventLoop& loop() = 0;

  // Creates the libcurl-based client. `loop` must outlive the client, and every HttpCall must be
  // destroyed before the client. Returns null when libcurl cannot be initialized.
  static std::unique_ptr<HttpClient> Create(EventLoop& loop, HttpClientOptions options);
};

}  // namespace tb

#endif  // TASK_BASTION_COMMON_HTTP_CLIENT_H_
