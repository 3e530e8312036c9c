#include "tests/unit/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace tb::testing {

namespace {

std::string ToLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string StatusLine(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
}

}  // namespace

std::string TestRequest::header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? std::string() : it->second;
}

bool TestRequest::has_header(const std::string& lower_case_name) const {
  return headers.count(lower_case_name) > 0;
}

bool TestConnection::Fill() {
  char chunk[64 * 1024];
  for (;;) {
    ssize_t count = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (count > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(count));
      return true;
    }
    if (count < 0 && errno == EINTR) continue;
    return false;
  }
}

bool TestConnection::ReadLine(std::string* line) {
  for (;;) {
    std::size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      *line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return true;
    }
    if (!Fill()) return false;
  }
}

bool TestConnection::ReadExactly(std::size_t count, std::string* out) {
  while (buffer_.size() < count) {
    if (!Fill()) return false;
  }
  out->append(buffer_, 0, count);
  buffer_.erase(0, count);
  return true;
}

bool TestConnection::ReadRequest(TestRequest* request) {
  std::string line;
  if (!ReadLine(&line)) return false;
  std::size_t first_space = line.find(' ');
  std::size_t second_space = line.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) return false;
  request->method = line.substr(0, first_space);
  request->target = line.substr(first_space + 1, second_space - first_space - 1);
  request->headers.clear();

  for (;;) {
    if (!ReadLine(&line)) return false;
    if (line.empty()) return true;
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) return false;
    request->headers[ToLower(Trim(std::string_view(line).substr(0, colon)))] =
        std::string(Trim(std::string_view(line).substr(colon + 1)));
  }
}

bool TestConnection::ReadBody(const TestRequest& request, std::string* body) {
  body->clear();
  if (ToLower(request.header("transfer-encoding")) == "chunked") {
    for (;;) {
      std::string data;
      bool last = false;
      if (!ReadChunk(&data, &last)) return false;
      if (last) return true;
      body->append(data);
    }
  }
  std::string length_text = request.header("content-length");
  if (length_text.empty()) return true;
  std::size_t length = 0;
  auto [end, error] =
      std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  if (error != std::errc()) return false;
  return ReadExactly(length, body);
}

bool TestConnection::ReadChunk(std::string* data, bool* last) {
  data->clear();
  *last = false;
  std::string size_line;
  if (!ReadLine(&size_line)) return false;
  std::size_t size = 0;
  auto [end, error] =
      std::from_chars(size_line.data(), size_line.data() + size_line.size(), size, 16);
  if (error != std::errc()) return false;

  if (size == 0) {
    // Trailer fields, then the blank line that ends the body.
    std::string trailer;
    do {
      if (!ReadLine(&trailer)) return false;
    } while (!trailer.empty());
    *last = true;
    return true;
  }

  std::string crlf;
  if (!ReadExactly(size, data) || !ReadExactly(2, &crlf)) return false;
  return crlf == "\r\n";
}

bool TestConnection::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t count = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (write_blocked_hook_) write_blocked_hook_();
      pollfd entry{fd_, POLLOUT, 0};
      if (::poll(&entry, 1, -1) < 0 && errno != EINTR) return false;
      continue;
    }
    if (count <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(count));
  }
  return true;
}

bool TestConnection::WriteResponse(int status, std::string_view body,
                                   const std::vector<std::string>& headers) {
  std::string head = StatusLine(status);
  for (const std::string& line : headers) head += line + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  head += body;
  return Write(head);
}

bool TestConnection::WriteStreamHead(int status, const std::vector<std::string>& headers) {
  std::string head = StatusLine(status);
  for (const std::string& line : headers) head += line + "\r\n";
  head += "Transfer-Encoding: chunked\r\n\r\n";
  return Write(head);
}

bool TestConnection::WriteChunk(std::string_view data) {
  if (data.empty()) return true;  // an empty chunk would end the body
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string chunk = size;
  chunk.append(data);
  chunk += "\r\n";
  return Write(chunk);
}

bool TestConnection::WriteLastChunk() { return Write("0\r\n\r\n"); }

bool TestConnection::WaitForEof() {
  buffer_.clear();
  for (;;) {
    char chunk[4096];
    ssize_t count = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (count == 0) return true;
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return errno == ECONNRESET;  // an abortive close is a close too
  }
}

void TestConnection::SetSendBuffer(int bytes) {
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

void TestConnection::Shutdown() { (void)::shutdown(fd_, SHUT_RDWR); }

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("TestHttpServer: cannot listen on 127.0.0.1");
    std::abort();
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this]() { AcceptLoop(); });
}

TestHttpServer::~TestHttpServer() {
  stopping_ = true;
  // shutdown() wakes the blocked accept() and every blocked recv() or send().
  (void)::shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : connection_fds_) (void)::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& thread : threads_) thread.join();
  for (int fd : connection_fds_) ::close(fd);
  ::close(listen_fd_);
}

std::string TestHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void TestHttpServer::AcceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++connections_accepted_;
    // Without it, a response written in two sends waits for the client's delayed ACK.
    int on = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    connection_fds_.push_back(fd);
    threads_.emplace_back([this, fd]() { Serve(fd); });
  }
}

void TestHttpServer::Serve(int fd) {
  TestConnection connection(fd);
  TestRequest request;
  while (!stopping_ && connection.ReadRequest(&request)) {
    if (!handler_(connection, request)) break;
  }
  // Both directions end here, so the client reads EOF. The fd itself is closed by the
  // destructor, after every thread that might still use it has been joined.
  connection.Shutdown();
}

void Notification::Notify() {
  std::lock_guard<std::mutex> lock(mutex_);
  notified_ = true;
  changed_.notify_all();
}

bool Notification::HasBeenNotified() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return notified_;
}

bool Notification::WaitFor(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this]() { return notified_; });
}

int UnusedLocalPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  (void)::bind(fd, reinterpret_cast<sockaddr*>(&address), length);
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace tb::testing
