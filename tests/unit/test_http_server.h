// TestHttpServer: a small blocking HTTP/1.1 server on 127.0.0.1 for unit tests.
//
// It binds an ephemeral port and serves each accepted connection on its own thread, calling the
// test's handler once per request until the handler returns false or the peer closes. Handlers
// read the body and write the response themselves through TestConnection, so a test can script
// streams: send a chunk, wait for the client, send more, or close in the middle.
//
// Handlers run on server threads, never on the test's loop thread; share state with the test
// through atomics or a mutex. The destructor shuts every socket down, which ends blocked reads
// and writes, and joins every thread.

#ifndef TASK_BASTION_TESTS_UNIT_TEST_HTTP_SERVER_H_
#define TASK_BASTION_TESTS_UNIT_TEST_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tb::testing {

struct TestRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased

  // The header's value, or "" when it is absent.
  std::string header(const std::string& lower_case_name) const;
  bool has_header(const std::string& lower_case_name) const;
};

class TestConnection {
 public:
  explicit TestConnection(int fd) : fd_(fd) {}

  // Reads a request line and headers. Returns false at EOF or on a malformed head.
  bool ReadRequest(TestRequest* request);
  // Reads the whole body, by Content-Length or chunked. A request with neither has none.
  bool ReadBody(const TestRequest& request, std::string* body);
  // Reads one chunk of a chunked body; `*last` is set after the terminating zero-length chunk
  // (and its trailer) was read.
  bool ReadChunk(std::string* data, bool* last);

  bool Write(std::string_view bytes);
  // A whole response with Content-Length; `headers` are "Name: value" lines.
  bool WriteResponse(int status, std::string_view body,
                     const std::vector<std::string>& headers = {});
  // The head of a chunked response; the body follows with WriteChunk and WriteLastChunk.
  bool WriteStreamHead(int status, const std::vector<std::string>& headers = {});
  bool WriteChunk(std::string_view data);
  bool WriteLastChunk();

  // Reads and discards until the peer closes. Returns true on EOF, false on a read error.
  bool WaitForEof();
  // Calls `hook` (on the server thread) each time a write finds the socket's send buffer full
  // and has to wait: the sign that the client stopped reading.
  void set_write_blocked_hook(std::function<void()> hook) { write_blocked_hook_ = std::move(hook); }
  // Sets SO_SNDBUF, so a test can make the server feel backpressure sooner.
  void SetSendBuffer(int bytes);
  // Closes both directions at once, so the peer reads EOF.
  void Shutdown();

 private:
  bool Fill();  // reads more bytes into buffer_; false at EOF or on an error
  bool ReadLine(std::string* line);  // one line without its CRLF
  bool ReadExactly(std::size_t count, std::string* out);

  const int fd_;
  std::string buffer_;
  std::function<void()> write_blocked_hook_;
};

class TestHttpServer {
 public:
  // Handles one request. Returns true to read the next request on the same connection.
  using Handler = std::function<bool(TestConnection&, const TestRequest&)>;

  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string url() const;
  int connections_accepted() const { return connections_accepted_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  const Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_accepted_{0};

  std::mutex mutex_;
  std::vector<int> connection_fds_;     // guarded by mutex_; closed by the destructor
  std::vector<std::thread> threads_;    // guarded by mutex_
  std::thread accept_thread_;
};

// A one-shot event between threads, like absl::Notification. Server handlers wait on it with a
// deadline, so a failing test cannot leave a server thread blocked forever.
class Notification {
 public:
  void Notify();
  bool HasBeenNotified() const;
  // Returns true once notified, false if `timeout` passed first.
  bool WaitFor(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool notified_ = false;  // guarded by mutex_
};

// Returns a 127.0.0.1 port that refuses connections: one that was bound and then released.
int UnusedLocalPort();

}  // namespace tb::testing

#endif  // TASK_BASTION_TESTS_UNIT_TEST_HTTP_SERVER_H_
