#include "common/curl_transfer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <utility>

namespace tb {

namespace {

// Once this many bytes at the front of the request queue have been handed to libcurl, and they
// are more than half of it, the queue is compacted.
constexpr std::size_t kCompactBodyBytes = 64 * 1024;

// Collects the first failure of a series of curl_easy_setopt calls.
class OptionSetter {
 public:
  explicit OptionSetter(CURL* easy) : easy_(easy) {}

  template <typename T>
  void operator()(CURLoption option, T value, const char* name) {
    if (code_ != CURLE_OK) return;
    code_ = curl_easy_setopt(easy_, option, value);
    if (code_ != CURLE_OK) name_ = name;
  }

  bool ok() const { return code_ == CURLE_OK; }
  std::string error() const {
    return std::string("libcurl rejected ") + name_ + ": " + curl_easy_strerror(code_);
  }

 private:
  CURL* const easy_;
  CURLcode code_ = CURLE_OK;
  const char* name_ = "";
};

bool AppendHeader(CurlSlistPtr& list, const std::string& line) {
  curl_slist* head = curl_slist_append(list.get(), line.c_str());
  if (head == nullptr) return false;
  (void)list.release();  // curl_slist_append returned the same list, now one entry longer
  list.reset(head);
  return true;
}

bool HasHeader(const std::vector<std::string>& headers, std::string_view name) {
  for (const std::string& line : headers) {
    if (line.size() < name.size() + 1 || line[name.size()] != ':') continue;
    bool same = std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) ==
             std::tolower(static_cast<unsigned char>(b));
    });
    if (same) return true;
  }
  return false;
}

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// Returns the code of a status line such as "HTTP/1.1 200 OK", or 0 if there is none.
long ParseStatusCode(std::string_view line) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  std::string_view rest = line.substr(space + 1);
  long code = 0;
  auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), code);
  if (error != std::errc() || end == rest.data()) return 0;
  return code;
}

}  // namespace

CurlTransfer::CurlTransfer(HttpRequest request, HttpCall::Handlers handlers,
                           std::function<void()> wake_sender)
    : request_(std::move(request)),
      handlers_(std::move(handlers)),
      wake_sender_(std::move(wake_sender)) {}

CurlTransfer::~CurlTransfer() = default;

Status CurlTransfer::Init(const HttpClientOptions& options) {
  easy_.reset(curl_easy_init());
  if (!easy_) return Status::Internal(Describe() + ": curl_easy_init failed");

  const bool is_get = request_.method == "GET";
  const bool is_head = request_.method == "HEAD";
  const bool sends_body = request_.streaming_body || (!is_get && !is_head);

  for (const std::string& line : request_.headers) {
    if (!AppendHeader(header_list_, line)) {
      return Status::Internal(Describe() + ": curl_slist_append failed");
    }
  }
  // libcurl would add "Expect: 100-continue" to large or chunked bodies and wait for the
  // interim 100 response, and would label a POST body application/x-www-form-urlencoded. An
  // empty header value suppresses each.
  std::vector<std::string> extra;
  if (!HasHeader(request_.headers, "Expect")) extra.push_back("Expect:");
  if (sends_body && !HasHeader(request_.headers, "Content-Type")) extra.push_back("Content-Type:");
  if (request_.streaming_body && !HasHeader(request_.headers, "Transfer-Encoding")) {
    extra.push_back("Transfer-Encoding: chunked");
  }
  for (const std::string& line : extra) {
    if (!AppendHeader(header_list_, line)) {
      return Status::Internal(Describe() + ": curl_slist_append failed");
    }
  }

  OptionSetter set(easy_.get());
  set(CURLOPT_URL, request_.url.c_str(), "CURLOPT_URL");
  set(CURLOPT_PRIVATE, static_cast<void*>(this), "CURLOPT_PRIVATE");
  set(CURLOPT_ERRORBUFFER, error_buffer_, "CURLOPT_ERRORBUFFER");
  set(CURLOPT_NOSIGNAL, 1L, "CURLOPT_NOSIGNAL");
  set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1), "CURLOPT_HTTP_VERSION");
  set(CURLOPT_PROTOCOLS_STR, "http,https", "CURLOPT_PROTOCOLS_STR");
  set(CURLOPT_FOLLOWLOCATION, 0L, "CURLOPT_FOLLOWLOCATION");
  set(CURLOPT_TCP_KEEPALIVE, 1L, "CURLOPT_TCP_KEEPALIVE");
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()),
      "CURLOPT_CONNECTTIMEOUT_MS");
  if (request_.timeout.count() > 0) {
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(request_.timeout.count()), "CURLOPT_TIMEOUT_MS");
  }
  ca_file_ = options.ca_file;
  if (!options.ca_file.empty()) set(CURLOPT_CAINFO, options.ca_file.c_str(), "CURLOPT_CAINFO");
  set(CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L, "CURLOPT_SSL_VERIFYPEER");
  set(CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L, "CURLOPT_SSL_VERIFYHOST");
  set(CURLOPT_HTTPHEADER, header_list_.get(), "CURLOPT_HTTPHEADER");
  set(CURLOPT_HEADERFUNCTION, &CurlTransfer::HeaderTrampoline, "CURLOPT_HEADERFUNCTION");
  set(CURLOPT_HEADERDATA, static_cast<void*>(this), "CURLOPT_HEADERDATA");
  set(CURLOPT_WRITEFUNCTION, &CurlTransfer::WriteTrampoline, "CURLOPT_WRITEFUNCTION");
  set(CURLOPT_WRITEDATA, static_cast<void*>(this), "CURLOPT_WRITEDATA");

  if (is_get) {
    set(CURLOPT_HTTPGET, 1L, "CURLOPT_HTTPGET");
  } else if (is_head) {
    set(CURLOPT_NOBODY, 1L, "CURLOPT_NOBODY");
  } else {
    set(CURLOPT_POST, 1L, "CURLOPT_POST");
    if (request_.method != "POST") {
      set(CURLOPT_CUSTOMREQUEST, request_.method.c_str(), "CURLOPT_CUSTOMREQUEST");
    }
  }
  if (request_.streaming_body) {
    // No CURLOPT_POSTFIELDSIZE: libcurl then sends the body chunked from the read callback.
    set(CURLOPT_READFUNCTION, &CurlTransfer::ReadTrampoline, "CURLOPT_READFUNCTION");
    set(CURLOPT_READDATA, static_cast<void*>(this), "CURLOPT_READDATA");
  } else if (sends_body) {
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_.body.size()),
        "CURLOPT_POSTFIELDSIZE_LARGE");
    set(CURLOPT_POSTFIELDS, request_.body.data(), "CURLOPT_POSTFIELDS");
  }

  if (!set.ok()) return Status::Internal(Describe() + ": " + set.error());
  return Status::Ok();
}

void CurlTransfer::AppendBody(std::string_view bytes) {
  if (body_finished_ || body_abandoned_) return;
  body_queue_.append(bytes);
}

void CurlTransfer::EndBody() { body_finished_ = true; }

bool CurlTransfer::SendUnpauseNeeded() const {
  return send_paused_ && (queued_body_bytes() > 0 || body_finished_ || body_abandoned_);
}

int CurlTransfer::PauseBits() const {
  return (curl_recv_paused_ ? CURLPAUSE_RECV : 0) | (send_paused_ ? CURLPAUSE_SEND : 0);
}

CurlTransfer::ResumeResult CurlTransfer::ResumeDelivery() {
  if (cancelled_ || !response_paused_) return ResumeResult::kReady;
  response_paused_ = false;

  if (!held_body_.empty()) {
    std::string held = std::move(held_body_);
    held_body_.clear();
    bool keep_going = !handlers_.on_body || handlers_.on_body(held);
    if (cancelled_) return ResumeResult::kFinished;
    if (!keep_going) {
      response_paused_ = true;
      return ResumeResult::kPausedAgain;
    }
  }

  if (held_done_) {
    Status status = std::move(*held_done_);
    held_done_.reset();
    Deliver(std::move(status));
    return ResumeResult::kFinished;
  }
  return ResumeResult::kReady;
}

void CurlTransfer::Complete(CURLcode code) {
  connect_failed_ = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                    code == CURLE_COULDNT_RESOLVE_PROXY;
  Fail(failure_ ? *failure_ : StatusFromCurl(code));
}

void CurlTransfer::Fail(Status status) {
  if (done_delivered_ || held_done_) return;
  if (response_paused_ && !held_body_.empty()) {
    held_done_ = std::move(status);
    return;
  }
  Deliver(std::move(status));
}

void CurlTransfer::Deliver(Status status) {
  done_delivered_ = true;
  if (!cancelled_ && handlers_.on_done) handlers_.on_done(std::move(status));
}

size_t CurlTransfer::WriteTrampoline(char* data, size_t size, size_t count, void* self) noexcept {
  return static_cast<CurlTransfer*>(self)->OnWrite(std::string_view(data, size * count));
}

size_t CurlTransfer::HeaderTrampoline(char* data, size_t size, size_t count, void* self) noexcept {
  return static_cast<CurlTransfer*>(self)->OnHeader(std::string_view(data, size * count));
}

size_t CurlTransfer::ReadTrampoline(char* buffer, size_t size, size_t count, void* self) noexcept {
  return static_cast<CurlTransfer*>(self)->OnRead(buffer, size * count);
}

// Returning a count other than bytes.size() makes libcurl fail the transfer with
// CURLE_WRITE_ERROR. That is how a cancelled transfer or a throwing handler stops it.
size_t CurlTransfer::OnWrite(std::string_view bytes) {
  if (cancelled_) return 0;
  try {
    if (response_paused_) {
      held_body_.append(bytes);
      return bytes.size();
    }
    bool keep_going = !handlers_.on_body || handlers_.on_body(bytes);
    if (cancelled_ || keep_going) return bytes.size();

    response_paused_ = true;
    curl_recv_paused_ = true;
    CURLcode code = curl_easy_pause(easy_.get(), PauseBits());
    if (code != CURLE_OK) {
      failure_ = Status::Internal(Describe() + ": curl_easy_pause failed: " +
                                  curl_easy_strerror(code));
      return 0;
    }
    return bytes.size();
  } catch (const std::exception& e) {
    failure_ = Status::Internal(Describe() + ": the response body handler threw: " + e.what());
  } catch (...) {
    failure_ = Status::Internal(Describe() + ": the response body handler threw");
  }
  return 0;
}

size_t CurlTransfer::OnHeader(std::string_view line) {
  if (cancelled_) return 0;
  try {
    if (line.starts_with("HTTP/")) {
      // A status line starts a response: an interim 1xx one or the final one.
      head_ = HttpResponseHead{};
      head_.status = ParseStatusCode(TrimWhitespace(line));
      return line.size();
    }

    std::string_view content = TrimWhitespace(line);
    if (!content.empty()) {
      std::size_t colon = content.find(':');
      if (!head_delivered_ && colon != std::string_view::npos) {
        std::string name(TrimWhitespace(content.substr(0, colon)));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        head_.headers[name] = std::string(TrimWhitespace(content.substr(colon + 1)));
      }
      return line.size();
    }

    // The blank line ends a header block; trailers after the body end one too.
    if (head_delivered_ || head_.status < 200) return line.size();
    head_delivered_ = true;
    bool dropped_queued_body = false;
    if (request_.streaming_body && !body_finished_) {
      dropped_queued_body = queued_body_bytes() > 0;
      AbandonBody();
    }
    if (handlers_.on_head) handlers_.on_head(head_);
    if (dropped_queued_body && !cancelled_ && handlers_.on_body_drained) {
      handlers_.on_body_drained();
    }
    return line.size();
  } catch (const std::exception& e) {
    failure_ = Status::Internal(Describe() + ": the response head handler threw: " + e.what());
  } catch (...) {
    failure_ = Status::Internal(Describe() + ": the response head handler threw");
  }
  return 0;
}

size_t CurlTransfer::OnRead(char* buffer, size_t capacity) {
  if (cancelled_) return CURL_READFUNC_ABORT;
  if (body_abandoned_) return 0;

  const std::size_t queued = queued_body_bytes();
  if (queued == 0) {
    if (body_finished_) return 0;  // libcurl sends the terminating zero-length chunk
    send_paused_ = true;
    return CURL_READFUNC_PAUSE;
  }

  const std::size_t count = std::min(capacity, queued);
  std::memcpy(buffer, body_queue_.data() + body_offset_, count);
  body_offset_ += count;
  if (body_offset_ < body_queue_.size()) {
    if (body_offset_ >= kCompactBodyBytes && body_offset_ * 2 > body_queue_.size()) {
      body_queue_.erase(0, body_offset_);
      body_offset_ = 0;
    }
    return count;
  }

  body_queue_.clear();
  body_offset_ = 0;
  try {
    if (handlers_.on_body_drained) handlers_.on_body_drained();
  } catch (const std::exception& e) {
    failure_ = Status::Internal(Describe() + ": the body drained handler threw: " + e.what());
    return CURL_READFUNC_ABORT;
  } catch (...) {
    failure_ = Status::Internal(Describe() + ": the body drained handler threw");
    return CURL_READFUNC_ABORT;
  }
  return count;
}

void CurlTransfer::AbandonBody() {
  body_abandoned_ = true;
  body_queue_.clear();
  body_offset_ = 0;
  if (send_paused_) wake_sender_();
}

Status CurlTransfer::StatusFromCurl(CURLcode code) const {
  if (code == CURLE_OK) return Status::Ok();
  std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
  const std::string bundle = ca_file_.empty() ? "the system CA bundle" : "the CA bundle " + ca_file_;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Status::DeadlineExceeded(Describe() + " timed out: " + detail);
    case CURLE_PEER_FAILED_VERIFICATION:
      // A wrong CA bundle or a certificate for another name; retrying does not help.
      return Status::FailedPrecondition(Describe() + " failed: the TLS certificate of " +
                                        HostPort() + " failed verification against " + bundle +
                                        ": " + detail);
    case CURLE_SSL_CACERT_BADFILE:
      return Status::FailedPrecondition(Describe() + " failed: cannot use " + bundle +
                                        " to verify " + HostPort() + ": " + detail);
    case CURLE_SSL_CONNECT_ERROR:
      return Status::Unavailable(Describe() + " failed: the TLS handshake with " + HostPort() +
                                 " failed: " + detail);
    default:
      return Status::Unavailable(Describe() + " failed: " + detail);
  }
}

std::string CurlTransfer::HostPort() const {
  std::string_view url = request_.url;
  const std::size_t scheme_end = url.find("://");
  const std::string_view scheme = scheme_end == std::string_view::npos ? "" : url.substr(0, scheme_end);
  std::string_view authority = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // user information is never shown
  }
  // An IPv6 literal ("[::1]:8443") has colons inside its brackets.
  const std::size_t bracket = authority.rfind(']');
  const std::size_t colon = authority.rfind(':');
  const bool has_port =
      colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (has_port) return std::string(authority);
  return std::string(authority) + (scheme == "https" ? ":443" : ":80");
}

std::string CurlTransfer::Describe() const {
  std::string target = request_.method + " " + request_.url;
  if (request_.description.empty()) return target;
  return request_.description + ": " + target;
}

}  // namespace tb
