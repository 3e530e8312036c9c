// The libcurl implementation of HttpClient: one multi handle driven by an EventLoop.
//
// libcurl's multi socket interface names the sockets to watch (CURLMOPT_SOCKETFUNCTION) and the
// time to call it back (CURLMOPT_TIMERFUNCTION). For each ready socket or expired timeout we call
// curl_multi_socket_action, then collect finished transfers with curl_multi_info_read.
//
// Reentrancy rules that shape this file:
//  * libcurl forbids curl_multi_add_handle, curl_multi_remove_handle and curl_multi_socket_action
//    from inside its callbacks (CURLM_RECURSIVE_API_CALL). Handlers run inside those callbacks,
//    so Start() always adds the easy handle from a posted task, and an HttpCall destroyed while
//    libcurl is on the stack (`curl_depth_` > 0) is removed from a posted task.
//  * curl_easy_pause may call the write callback before it returns, so it is only called from
//    posted tasks. The one exception is the pause from inside the write callback itself, which
//    curl_transfer.h explains.
//  * Posted tasks and loop callbacks hold a weak_ptr to `alive_`, so those that run after the
//    client is destroyed do nothing.

#include "common/http_client.h"

#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include <curl/curl.h>

#include "common/curl_handles.h"
#include "common/curl_transfer.h"

namespace tb {

namespace {

// Counts nesting of calls into libcurl, which may run our callbacks and through them handlers.
class CurlScope {
 public:
  explicit CurlScope(int& depth) : depth_(depth) { ++depth_; }
  ~CurlScope() { --depth_; }
  CurlScope(const CurlScope&) = delete;
  CurlScope& operator=(const CurlScope&) = delete;

 private:
  int& depth_;
};

class CurlHttpClient;

class CurlHttpCall final : public HttpCall {
 public:
  CurlHttpCall(CurlHttpClient& client, std::shared_ptr<CurlTransfer> transfer)
      : client_(client), transfer_(std::move(transfer)) {}
  ~CurlHttpCall() override;

  void Write(std::string_view bytes) override;
  void FinishBody() override;
  std::size_t queued_body_bytes() const override { return transfer_->queued_body_bytes(); }
  void ResumeResponse() override;
  bool connect_failed() const override { return transfer_->connect_failed(); }

 private:
  CurlHttpClient& client_;
  const std::shared_ptr<CurlTransfer> transfer_;
};

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient(EventLoop& loop, HttpClientOptions options)
      : loop_(loop), options_(std::move(options)) {}
  ~CurlHttpClient() override;

  // Creates the multi handle. Returns Internal when libcurl fails.
  Status Init();

  std::unique_ptr<HttpCall> Start(HttpRequest request, HttpCall::Handlers handlers) override;
  EventLoop& loop() override { return loop_; }

  // For CurlHttpCall.
  void Release(const std::shared_ptr<CurlTransfer>& transfer);
  void ScheduleSendUnpause(const std::shared_ptr<CurlTransfer>& transfer);
  void ScheduleResume(const std::shared_ptr<CurlTransfer>& transfer);

 private:
  static int SocketTrampoline(CURL* easy, curl_socket_t fd, int what, void* self,
                              void* socket_data) noexcept;
  static int TimerTrampoline(CURLM* multi, long timeout_ms, void* self) noexcept;

  void OnSocket(curl_socket_t fd, int what);
  void OnTimer(long timeout_ms);

  // Posts `task`; it runs only if the client still exists.
  void PostIfAlive(std::function<void()> task);
  void Add(const std::shared_ptr<CurlTransfer>& transfer);
  void Remove(CurlTransfer& transfer);
  void SocketAction(curl_socket_t fd, int event_bits);
  void CompleteFinished();
  void UnpauseSend(CurlTransfer& transfer);
  void Resume(CurlTransfer& transfer);
  // Calls curl_easy_pause with the transfer's pause bits; fails the transfer if libcurl refuses.
  void ApplyPause(CurlTransfer& transfer);
  void FailTransfer(CurlTransfer& transfer, Status status);

  EventLoop& loop_;
  const HttpClientOptions options_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);

  int curl_depth_ = 0;
  EventLoop::TimerId timer_ = 0;
  bool timeout_posted_ = false;
  std::set<curl_socket_t> watched_fds_;

  // Transfers whose easy handle is in multi_; cleared (handles removed) before multi_ is cleaned
  // up in the destructor.
  std::unordered_map<CURL*, std::shared_ptr<CurlTransfer>> transfers_;
  CurlMultiPtr multi_;
};

CurlHttpCall::~CurlHttpCall() {
  transfer_->Cancel();
  client_.Release(transfer_);
}

void CurlHttpCall::Write(std::string_view bytes) {
  transfer_->AppendBody(bytes);
  client_.ScheduleSendUnpause(transfer_);
}

void CurlHttpCall::FinishBody() {
  transfer_->EndBody();
  client_.ScheduleSendUnpause(transfer_);
}

void CurlHttpCall::ResumeResponse() { client_.ScheduleResume(transfer_); }

CurlHttpClient::~CurlHttpClient() {
  alive_.reset();
  for (auto& [easy, transfer] : transfers_) {
    transfer->Cancel();
    (void)curl_multi_remove_handle(multi_.get(), easy);  // nothing to do if it fails
    transfer->set_in_multi(false);
  }
  transfers_.clear();
  multi_.reset();  // closes cached connections; the socket callback may still run here

  for (curl_socket_t fd : watched_fds_) loop_.UnwatchFd(fd);
  if (timer_ != 0) loop_.CancelTimer(timer_);
}

Status CurlHttpClient::Init() {
  multi_.reset(curl_multi_init());
  if (!multi_) return Status::Internal("curl_multi_init failed");

  CURLMcode code = curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION,
                                     &CurlHttpClient::SocketTrampoline);
  if (code == CURLM_OK) {
    code = curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, static_cast<void*>(this));
  }
  if (code == CURLM_OK) {
    code = curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION,
                             &CurlHttpClient::TimerTrampoline);
  }
  if (code == CURLM_OK) {
    code = curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, static_cast<void*>(this));
  }
  if (code != CURLM_OK) {
    return Status::Internal(std::string("curl_multi_setopt failed: ") +
                            curl_multi_strerror(code));
  }
  return Status::Ok();
}

std::unique_ptr<HttpCall> CurlHttpClient::Start(HttpRequest request,
                                                HttpCall::Handlers handlers) {
  // The transfer requests an upload unpause through this hook. The hook keeps only a weak
  // reference to the transfer, so there is no ownership cycle.
  auto self = std::make_shared<std::weak_ptr<CurlTransfer>>();
  auto wake_sender = [this, self]() {
    if (std::shared_ptr<CurlTransfer> transfer = self->lock()) ScheduleSendUnpause(transfer);
  };
  auto transfer =
      std::make_shared<CurlTransfer>(std::move(request), std::move(handlers), wake_sender);
  *self = transfer;

  Status init = transfer->Init(options_);
  std::weak_ptr<CurlTransfer> weak = transfer;
  PostIfAlive([this, weak, init]() {
    std::shared_ptr<CurlTransfer> transfer = weak.lock();
    if (!transfer || transfer->cancelled()) return;
    if (!init.ok()) {
      transfer->Fail(init);
      return;
    }
    Add(transfer);
  });
  return std::make_unique<CurlHttpCall>(*this, std::move(transfer));
}

void CurlHttpClient::Release(const std::shared_ptr<CurlTransfer>& transfer) {
  if (!transfer->in_multi()) return;
  if (curl_depth_ == 0) {
    Remove(*transfer);
    return;
  }
  std::shared_ptr<CurlTransfer> keep = transfer;
  PostIfAlive([this, keep]() { Remove(*keep); });
}

void CurlHttpClient::ScheduleSendUnpause(const std::shared_ptr<CurlTransfer>& transfer) {
  if (transfer->unpause_posted || !transfer->SendUnpauseNeeded()) return;
  transfer->unpause_posted = true;
  std::weak_ptr<CurlTransfer> weak = transfer;
  PostIfAlive([this, weak]() {
    if (std::shared_ptr<CurlTransfer> transfer = weak.lock()) UnpauseSend(*transfer);
  });
}

void CurlHttpClient::ScheduleResume(const std::shared_ptr<CurlTransfer>& transfer) {
  if (!transfer->response_paused()) return;
  std::weak_ptr<CurlTransfer> weak = transfer;
  PostIfAlive([this, weak]() {
    if (std::shared_ptr<CurlTransfer> transfer = weak.lock()) Resume(*transfer);
  });
}

int CurlHttpClient::SocketTrampoline(CURL* easy, curl_socket_t fd, int what, void* self,
                                     void* socket_data) noexcept {
  static_cast<CurlHttpClient*>(self)->OnSocket(fd, what);
  return 0;
}

int CurlHttpClient::TimerTrampoline(CURLM* multi, long timeout_ms, void* self) noexcept {
  static_cast<CurlHttpClient*>(self)->OnTimer(timeout_ms);
  return 0;
}

void CurlHttpClient::OnSocket(curl_socket_t fd, int what) {
  if (what == CURL_POLL_REMOVE) {
    if (watched_fds_.erase(fd) > 0) loop_.UnwatchFd(fd);
    return;
  }

  unsigned events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EventLoop::kReadable;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EventLoop::kWritable;
  std::weak_ptr<char> alive = alive_;
  loop_.WatchFd(fd, events, [this, alive, fd, events](unsigned ready) {
    if (alive.expired()) return;
    // On an error condition the socket is also reported ready for what libcurl watched, so
    // libcurl reads or writes and reports the socket's own error (reset, refused) rather than a
    // bare "select/poll returned error".
    if (ready & EventLoop::kError) ready |= events;
    int bits = 0;
    if (ready & EventLoop::kReadable) bits |= CURL_CSELECT_IN;
    if (ready & EventLoop::kWritable) bits |= CURL_CSELECT_OUT;
    if (ready & EventLoop::kError) bits |= CURL_CSELECT_ERR;
    SocketAction(fd, bits);
  });
  watched_fds_.insert(fd);
}

// libcurl must not be called back into from here (CURLM_RECURSIVE_API_CALL), so an expired
// timeout runs from a posted task.
void CurlHttpClient::OnTimer(long timeout_ms) {
  if (timer_ != 0) {
    loop_.CancelTimer(timer_);
    timer_ = 0;
  }
  if (timeout_ms < 0) return;

  if (timeout_ms == 0) {
    if (timeout_posted_) return;
    timeout_posted_ = true;
    PostIfAlive([this]() {
      timeout_posted_ = false;
      SocketAction(CURL_SOCKET_TIMEOUT, 0);
    });
    return;
  }

  std::weak_ptr<char> alive = alive_;
  timer_ = loop_.StartTimer(std::chrono::milliseconds(timeout_ms), [this, alive]() {
    if (alive.expired()) return;
    timer_ = 0;
    SocketAction(CURL_SOCKET_TIMEOUT, 0);
  });
}

void CurlHttpClient::PostIfAlive(std::function<void()> task) {
  std::weak_ptr<char> alive = alive_;
  loop_.Post([alive, task = std::move(task)]() {
    if (!alive.expired()) task();
  });
}

void CurlHttpClient::Add(const std::shared_ptr<CurlTransfer>& transfer) {
  CURLMcode code = curl_multi_add_handle(multi_.get(), transfer->easy());
  if (code != CURLM_OK) {
    transfer->Fail(Status::Internal(transfer->Describe() + ": curl_multi_add_handle failed: " +
                                    curl_multi_strerror(code)));
    return;
  }
  transfers_[transfer->easy()] = transfer;
  transfer->set_in_multi(true);
}

// REQUIRES: curl_depth_ == 0.
void CurlHttpClient::Remove(CurlTransfer& transfer) {
  auto it = transfers_.find(transfer.easy());
  if (it == transfers_.end()) return;
  std::shared_ptr<CurlTransfer> keep = std::move(it->second);
  transfers_.erase(it);
  // Removing an unfinished transfer closes its connection, which is how a stream is aborted.
  // It fails for a handle not in the multi handle (transfers_ rules that out) and from inside a
  // libcurl callback (the REQUIRES line rules that out).
  (void)curl_multi_remove_handle(multi_.get(), keep->easy());
  keep->set_in_multi(false);
}

void CurlHttpClient::SocketAction(curl_socket_t fd, int event_bits) {
  int running = 0;
  CURLMcode code;
  {
    CurlScope scope(curl_depth_);
    code = curl_multi_socket_action(multi_.get(), fd, event_bits, &running);
  }
  // CURLM_BAD_SOCKET means libcurl dropped the socket after the loop reported it. The other
  // failures leave the multi handle as it was, so finished transfers are still collected.
  (void)code;
  CompleteFinished();
}

void CurlHttpClient::CompleteFinished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    // Copy before removal: the message lives in the easy handle.
    CURL* easy = message->easy_handle;
    CURLcode result = message->data.result;

    auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;
    std::shared_ptr<CurlTransfer> transfer = it->second;
    Remove(*transfer);
    transfer->Complete(result);  // runs on_done, which may start or destroy calls
  }
}

void CurlHttpClient::UnpauseSend(CurlTransfer& transfer) {
  transfer.unpause_posted = false;
  if (transfer.cancelled() || !transfer.in_multi() || !transfer.SendUnpauseNeeded()) return;
  transfer.ClearSendPause();
  ApplyPause(transfer);
}

void CurlHttpClient::Resume(CurlTransfer& transfer) {
  if (transfer.ResumeDelivery() != CurlTransfer::ResumeResult::kReady) return;
  if (!transfer.curl_recv_paused() || !transfer.in_multi()) return;
  transfer.ClearRecvPause();
  ApplyPause(transfer);
}

void CurlHttpClient::ApplyPause(CurlTransfer& transfer) {
  CURLcode code;
  {
    CurlScope scope(curl_depth_);
    code = curl_easy_pause(transfer.easy(), transfer.PauseBits());
  }
  if (code != CURLE_OK && transfer.in_multi()) {
    FailTransfer(transfer, Status::Internal(transfer.Describe() + ": curl_easy_pause failed: " +
                                            curl_easy_strerror(code)));
  }
}

void CurlHttpClient::FailTransfer(CurlTransfer& transfer, Status status) {
  auto it = transfers_.find(transfer.easy());
  if (it == transfers_.end()) return;
  std::shared_ptr<CurlTransfer> keep = it->second;
  Remove(*keep);
  keep->Fail(std::move(status));
}

}  // namespace

std::unique_ptr<HttpClient> HttpClient::Create(EventLoop& loop, HttpClientOptions options) {
  // curl_global_init is not thread-safe in every libcurl build; run it once per process.
  static std::once_flag global_init;
  static CURLcode global_init_code = CURLE_OK;
  std::call_once(global_init, []() { global_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global_init_code != CURLE_OK) return nullptr;

  auto client = std::make_unique<CurlHttpClient>(loop, std::move(options));
  if (!client->Init().ok()) return nullptr;
  return client;
}

}  // namespace tb
