// CurlTransfer: the state of one HttpCall on a libcurl easy handle, and the libcurl callbacks that
// move bytes between that state and the call's handlers. Private to common/http_client.cc, which
// owns the multi handle and is the only code that adds, removes or pauses the easy handle.
//
// Response body and pause. libcurl offers CURL_WRITEFUNC_PAUSE, but returning it means "these
// bytes were not taken", while our on_body contract states that the bytes passed are consumed
// whatever it returns. So the write callback always consumes: it passes the bytes to on_body, and when on_body
// returns false it pauses receiving at once with curl_easy_pause(CURLPAUSE_RECV) from inside the
// callback, which libcurl 7.88 supports. libcurl may still hand over the rest of the bytes it
// had already read from the socket, so the callback keeps those in `held_body_` (at most one
// socket read). ResumeDelivery() passes the held bytes on first; only then does the client lift
// the libcurl pause. While receiving is paused libcurl does not report the transfer done, so
// on_done always follows every body byte.
//
// Request body. The read callback hands over queued bytes; with the queue empty and FinishBody
// not yet called it returns CURL_READFUNC_PAUSE, and the client lifts that pause from a posted
// task after Write or FinishBody (curl_easy_pause can run callbacks before it returns, so it is
// never called from inside Write). Returning 0 ends the chunked body.
//
// Early response. HTTP/1.1 lets a server respond before the request body ends; the agent does
// that on ATTACH_CONTAINER_INPUT when the process is gone. libcurl 7.88 then keeps the transfer
// open until the upload ends, so when the final response head arrives before FinishBody the body
// is abandoned: queued bytes are dropped, later writes are ignored, and the chunked body ends.
//
// Lifetime: shared by the HttpCall (until it is destroyed) and the client (while the easy handle
// is in the multi handle), so a handler may destroy its HttpCall while a callback runs. A
// cancelled transfer calls no handler again. Single loop thread only.

#ifndef TASK_BASTION_COMMON_CURL_TRANSFER_H_
#define TASK_BASTION_COMMON_CURL_TRANSFER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <curl/curl.h>

#include "common/curl_handles.h"
#include "common/http_client.h"
#include "common/status.h"

namespace tb {

class CurlTransfer {
 public:
  // Outcome of ResumeDelivery().
  enum class ResumeResult {
    kPausedAgain,  // on_body returned false again; stay paused
    kFinished,     // the transfer had ended; on_done has been delivered
    kReady,        // nothing held any more; the libcurl receive pause can be lifted
  };

  // `wake_sender` is called from inside a libcurl callback when the upload pause must be lifted
  // (see "Early response"). It must defer the work, for example with EventLoop::Post.
  CurlTransfer(HttpRequest request, HttpCall::Handlers handlers,
               std::function<void()> wake_sender);
  // REQUIRES: the easy handle is not in a multi handle.
  ~CurlTransfer();
  CurlTransfer(const CurlTransfer&) = delete;
  CurlTransfer& operator=(const CurlTransfer&) = delete;

  // Creates and configures the easy handle. Returns Internal naming the option libcurl rejected.
  Status Init(const HttpClientOptions& options);
  CURL* easy() const { return easy_.get(); }

  // The HttpCall was destroyed: no handler runs from now on.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Whether the easy handle is in the client's multi handle; maintained by the client.
  bool in_multi() const { return in_multi_; }
  void set_in_multi(bool in_multi) { in_multi_ = in_multi; }

  // Request body (HttpCall::Write, FinishBody, queued_body_bytes).
  void AppendBody(std::string_view bytes);
  void EndBody();
  std::size_t queued_body_bytes() const { return body_queue_.size() - body_offset_; }

  // True when libcurl paused the upload and there is now something to do: bytes queued, or the
  // body finished or abandoned. Clears nothing.
  bool SendUnpauseNeeded() const;
  void ClearSendPause() { send_paused_ = false; }
  // Returns the curl_easy_pause bits that match our pause state in both directions, because each
  // curl_easy_pause call sets both.
  int PauseBits() const;

  // Whether the owner paused the response (on_body returned false).
  bool response_paused() const { return response_paused_; }
  // Un-pauses the response: delivers held bytes, then a held on_done. On kReady the caller lifts
  // the libcurl receive pause if curl_recv_paused().
  ResumeResult ResumeDelivery();
  bool curl_recv_paused() const { return curl_recv_paused_; }
  void ClearRecvPause() { curl_recv_paused_ = false; }

  // The transfer ended (CURLMSG_DONE with `code`, after removal from the multi handle): delivers
  // on_done, or keeps it until held body bytes have been delivered.
  void Complete(CURLcode code);
  // Ends the transfer with `status` (for failures outside libcurl's transfer, like an add or a
  // pause that libcurl rejected). Same delivery rule as Complete.
  void Fail(Status status);

  // Whether the transfer ended because no connection could be made (HttpCall::connect_failed).
  bool connect_failed() const { return connect_failed_; }

  // Returns "<description>: <METHOD> <url>", the start of every error message.
  std::string Describe() const;

  // Set while a task that lifts the upload pause is posted, so Write posts it only once.
  bool unpause_posted = false;

 private:
  static size_t WriteTrampoline(char* data, size_t size, size_t count, void* self) noexcept;
  static size_t HeaderTrampoline(char* data, size_t size, size_t count, void* self) noexcept;
  static size_t ReadTrampoline(char* buffer, size_t size, size_t count, void* self) noexcept;

  size_t OnWrite(std::string_view bytes);
  size_t OnHeader(std::string_view line);
  size_t OnRead(char* buffer, size_t capacity);

  void AbandonBody();
  Status StatusFromCurl(CURLcode code) const;
  // Returns "host:port" of the request's URL, with the scheme's default port when none is given.
  std::string HostPort() const;
  void Deliver(Status status);

  const HttpRequest request_;  // owns the body that CURLOPT_POSTFIELDS points into
  std::string ca_file_;        // HttpClientOptions::ca_file, named in TLS error messages
  HttpCall::Handlers handlers_;
  const std::function<void()> wake_sender_;

  // Declared before easy_ so that they outlive the easy handle that points at them.
  CurlSlistPtr header_list_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  CurlEasyPtr easy_;

  bool cancelled_ = false;
  bool in_multi_ = false;
  bool connect_failed_ = false;
  bool done_delivered_ = false;
  std::optional<Status> failure_;  // an error found by our own callbacks, reported over libcurl's

  // Response.
  HttpResponseHead head_;
  bool head_delivered_ = false;
  bool response_paused_ = false;
  bool curl_recv_paused_ = false;
  std::string held_body_;            // consumed from libcurl while paused, not yet delivered
  std::optional<Status> held_done_;  // the result, while held_body_ waits for a resume

  // Request body.
  std::string body_queue_;
  std::size_t body_offset_ = 0;  // bytes at the front of body_queue_ already handed to libcurl
  bool body_finished_ = false;
  bool body_abandoned_ = false;
  bool send_paused_ = false;  // the read callback returned CURL_READFUNC_PAUSE
};

}  // namespace tb

#endif  // TASK_BASTION_COMMON_CURL_TRANSFER_H_
