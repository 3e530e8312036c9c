// Tests of the libcurl HttpClient against TestHttpServer on 127.0.0.1. Each test drives the
// client on a PollLoop and waits for events with a deadline, never for a fixed time.

#include "common/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/poll_loop.h"
#include "tests/unit/test_http_server.h"

namespace tb {
namespace {

using ::tb::testing::Notification;
using ::tb::testing::PollLoop;
using ::tb::testing::TestConnection;
using ::tb::testing::TestHttpServer;
using ::tb::testing::TestRequest;

// What a call's handlers saw.
struct CallLog {
  std::optional<HttpResponseHead> head;
  std::string body;
  std::vector<std::string> body_pieces;
  std::optional<Status> done;
  int drained = 0;
};

HttpCall::Handlers Recording(CallLog* log) {
  HttpCall::Handlers handlers;
  handlers.on_head = [log](const HttpResponseHead& head) { log->head = head; };
  handlers.on_body = [log](std::string_view bytes) {
    log->body.append(bytes);
    log->body_pieces.emplace_back(bytes);
    return true;
  };
  handlers.on_done = [log](Status status) { log->done = std::move(status); };
  handlers.on_body_drained = [log]() { ++log->drained; };
  return handlers;
}

// The byte at `offset` of the large test stream: the little-endian 32-bit word offset / 4, so a
// misplaced or repeated piece shows.
char PatternByte(std::size_t offset) {
  return static_cast<char>(((offset / 4) >> (8 * (offset % 4))) & 0xff);
}

std::string Pattern(std::size_t offset, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = PatternByte(offset + i);
  return bytes;
}

// A request and its body as the server received them.
struct Received {
  std::mutex mutex;
  TestRequest request;
  std::string body;
  int requests = 0;
  int chunks = 0;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpClientOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    client_ = HttpClient::Create(loop_, options);
    ASSERT_NE(client_, nullptr);
  }

  HttpRequest Post(const std::string& url, std::string body = "{}") {
    HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.headers = {"Content-Type: application/json", "Accept: application/json"};
    request.body = std::move(body);
    request.description = "test call";
    return request;
  }

  bool RunUntil(const std::function<bool()>& done) { return loop_.RunUntil(done); }

  // Declared before client_: the client must be destroyed before its loop.
  PollLoop loop_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, FullResponseBody) {
  Received received;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    {
      std::lock_guard<std::mutex> lock(received.mutex);
      received.request = request;
      received.body = body;
    }
    return connection.WriteResponse(200, "hello world", {"X-Test: yes"});
  });

  CallLog log;
  auto call = client_->Start(Post(server.url() + "/api/v1", R"({"type":"GET_TASKS"})"),
                             Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  ASSERT_TRUE(log.done->ok()) << log.done->ToString();
  ASSERT_TRUE(log.head.has_value());
  EXPECT_EQ(log.head->status, 200);
  EXPECT_EQ(log.head->headers["x-test"], "yes");
  EXPECT_EQ(log.body, "hello world");

  std::lock_guard<std::mutex> lock(received.mutex);
  EXPECT_EQ(received.request.method, "POST");
  EXPECT_EQ(received.request.target, "/api/v1");
  EXPECT_EQ(received.request.header("content-type"), "application/json");
  EXPECT_EQ(received.request.header("accept"), "application/json");
  EXPECT_FALSE(received.request.has_header("expect"));
  EXPECT_FALSE(received.request.has_header("accept-encoding"));
  EXPECT_EQ(received.body, R"({"type":"GET_TASKS"})");
}

TEST_F(HttpClientTest, ChunkedResponseArrivesInPieces) {
  Notification first_piece_seen;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    if (!connection.WriteStreamHead(200) || !connection.WriteChunk("first")) return false;
    // The second piece is sent only after the client has seen the first: a client that waited
    // for the whole body would never get here.
    if (!first_piece_seen.WaitFor()) return false;
    return connection.WriteChunk("second") && connection.WriteLastChunk();
  });

  CallLog log;
  HttpCall::Handlers handlers = Recording(&log);
  handlers.on_body = [&](std::string_view bytes) {
    log.body.append(bytes);
    log.body_pieces.emplace_back(bytes);
    if (log.body == "first") first_piece_seen.Notify();
    return true;
  };
  auto call = client_->Start(Post(server.url()), handlers);
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  ASSERT_TRUE(log.done->ok()) << log.done->ToString();
  EXPECT_EQ(log.body, "firstsecond");
  ASSERT_GE(log.body_pieces.size(), 2u);
  EXPECT_EQ(log.body_pieces.front(), "first");
}

TEST_F(HttpClientTest, PausedLargeResponseArrivesWholeAndInOrder) {
  constexpr std::size_t kTotalBytes = 20 << 20;
  constexpr std::size_t kChunkBytes = 64 << 10;
  std::atomic<long long> blocked_at_bytes{-1};
  std::atomic<bool> server_finished{false};
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    connection.SetSendBuffer(64 << 10);
    std::size_t offset = 0;
    connection.set_write_blocked_hook([&]() {
      if (blocked_at_bytes < 0) blocked_at_bytes = static_cast<long long>(offset);
    });
    if (!connection.WriteStreamHead(200)) return false;
    for (; offset < kTotalBytes; offset += kChunkBytes) {
      if (!connection.WriteChunk(Pattern(offset, kChunkBytes))) return false;
    }
    server_finished = connection.WriteLastChunk();
    return server_finished.load();
  });

  std::unique_ptr<HttpCall> call;
  std::string received;
  int body_calls = 0;
  bool paused = false;
  bool called_while_paused = false;
  std::optional<Status> done;
  HttpCall::Handlers handlers;
  handlers.on_body = [&](std::string_view bytes) {
    if (paused) called_while_paused = true;
    received.append(bytes);
    ++body_calls;
    if (body_calls == 1) {
      paused = true;  // the test resumes once the server is blocked
      return false;
    }
    if (body_calls % 8 == 0) {
      paused = true;
      loop_.Post([&]() {
        paused = false;
        call->ResumeResponse();
      });
      return false;
    }
    return true;
  };
  handlers.on_done = [&](Status status) { done = std::move(status); };
  call = client_->Start(Post(server.url()), handlers);

  ASSERT_TRUE(RunUntil([&]() { return body_calls == 1; }));
  ASSERT_TRUE(RunUntil([&]() { return blocked_at_bytes >= 0 || server_finished; }));
  EXPECT_FALSE(server_finished) << "the server wrote everything while the response was paused";
  EXPECT_EQ(body_calls, 1);

  paused = false;
  call->ResumeResponse();
  ASSERT_TRUE(RunUntil([&]() { return done.has_value(); }));

  ASSERT_TRUE(done->ok()) << done->ToString();
  EXPECT_FALSE(called_while_paused);
  ASSERT_EQ(received.size(), kTotalBytes);
  for (std::size_t offset = 0; offset < kTotalBytes; offset += kChunkBytes) {
    ASSERT_EQ(received.compare(offset, kChunkBytes, Pattern(offset, kChunkBytes)), 0)
        << "bytes differ in the piece at offset " << offset;
  }
}

TEST_F(HttpClientTest, DoneWaitsForResumeOfPausedResponse) {
  Notification response_sent;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    bool sent = connection.WriteStreamHead(200) && connection.WriteChunk("abc") &&
                connection.WriteChunk("def") && connection.WriteLastChunk();
    response_sent.Notify();
    return sent;
  });

  std::string received;
  std::optional<Status> done;
  HttpCall::Handlers handlers;
  handlers.on_body = [&](std::string_view bytes) {
    received.append(bytes);
    return false;  // pause after every delivery
  };
  handlers.on_done = [&](Status status) { done = std::move(status); };
  auto call = client_->Start(Post(server.url()), handlers);

  ASSERT_TRUE(RunUntil([&]() { return response_sent.HasBeenNotified(); }));
  ASSERT_TRUE(RunUntil([&]() { return !received.empty(); }));
  // Let the loop run a few turns with the whole response on the socket: nothing more arrives.
  for (int turn = 0; turn < 5; ++turn) {
    loop_.RunUntil([]() { return false; }, PollLoop::kMaxPollWait);
  }
  EXPECT_FALSE(done.has_value());

  while (!done.has_value()) {
    std::size_t before = received.size();
    call->ResumeResponse();
    ASSERT_TRUE(RunUntil([&]() { return received.size() > before || done.has_value(); }));
  }
  ASSERT_TRUE(done->ok()) << done->ToString();
  EXPECT_EQ(received, "abcdef");
}

TEST_F(HttpClientTest, StreamingRequestBodyArrivesWhole) {
  Received received;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    int chunks = 0;
    for (;;) {
      std::string data;
      bool last = false;
      if (!connection.ReadChunk(&data, &last)) return false;
      if (last) break;
      body += data;
      ++chunks;
    }
    {
      std::lock_guard<std::mutex> lock(received.mutex);
      received.request = request;
      received.body = body;
      received.chunks = chunks;
    }
    return connection.WriteResponse(200, "ok");
  });

  // 200 pieces of 1 to 5000 bytes, written ten at a time: inline from on_body_drained on odd
  // rounds, and from a timer on even rounds so that libcurl pauses the upload in between.
  std::mt19937 random(1);
  std::uniform_int_distribution<int> piece_size(1, 5000);
  std::vector<std::string> pieces;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    pieces.push_back(std::string(piece_size(random), static_cast<char>('a' + i % 26)));
    expected += pieces.back();
  }

  std::unique_ptr<HttpCall> call;
  std::size_t next_piece = 0;
  int round = 0;
  bool queue_empty_when_drained = true;
  auto write_round = [&]() {
    for (int i = 0; i < 10 && next_piece < pieces.size(); ++i) call->Write(pieces[next_piece++]);
    if (next_piece == pieces.size()) call->FinishBody();
  };

  CallLog log;
  HttpCall::Handlers handlers = Recording(&log);
  handlers.on_body_drained = [&]() {
    ++log.drained;
    if (call->queued_body_bytes() != 0) queue_empty_when_drained = false;
    if (next_piece == pieces.size()) return;
    if (++round % 2 == 1) {
      write_round();
    } else {
      loop_.StartTimer(std::chrono::milliseconds(1), write_round);
    }
  };
  HttpRequest request = Post(server.url() + "/api/v1", "");
  request.streaming_body = true;
  request.headers = {"Content-Type: application/recordio", "Accept: application/json"};
  call = client_->Start(request, handlers);
  write_round();
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  ASSERT_TRUE(log.done->ok()) << log.done->ToString();
  EXPECT_EQ(log.head->status, 200);
  EXPECT_EQ(log.body, "ok");
  EXPECT_EQ(next_piece, pieces.size());
  EXPECT_GE(log.drained, 19);
  EXPECT_TRUE(queue_empty_when_drained);
  EXPECT_EQ(call->queued_body_bytes(), 0u);

  std::lock_guard<std::mutex> lock(received.mutex);
  EXPECT_EQ(received.request.header("transfer-encoding"), "chunked");
  EXPECT_FALSE(received.request.has_header("expect"));
  EXPECT_FALSE(received.request.has_header("content-length"));
  EXPECT_EQ(received.body.size(), expected.size());
  EXPECT_TRUE(received.body == expected) << "the body arrived changed or out of order";
  EXPECT_GT(received.chunks, 1);
}

TEST_F(HttpClientTest, EarlyResponseEndsStreamingBody) {
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string first;
    bool last = false;
    if (!connection.ReadChunk(&first, &last)) return false;
    if (!connection.WriteResponse(500, "Unknown container 1234")) return false;
    // Read whatever else the client sends, until the end of the body or the connection.
    while (!last && connection.ReadChunk(&first, &last)) {
    }
    return false;
  });

  CallLog log;
  std::unique_ptr<HttpCall> call;
  HttpCall::Handlers handlers = Recording(&log);
  handlers.on_head = [&](const HttpResponseHead& head) {
    log.head = head;
    call->Write("written after the answer");
  };
  HttpRequest request = Post(server.url(), "");
  request.streaming_body = true;
  call = client_->Start(request, handlers);
  call->Write("first record");
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  EXPECT_TRUE(log.done->ok()) << log.done->ToString();
  ASSERT_TRUE(log.head.has_value());
  EXPECT_EQ(log.head->status, 500);
  EXPECT_EQ(log.body, "Unknown container 1234");
  EXPECT_EQ(call->queued_body_bytes(), 0u);
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailable) {
  const std::string url =
      "http://127.0.0.1:" + std::to_string(testing::UnusedLocalPort()) + "/api/v1";
  CallLog log;
  HttpRequest request = Post(url);
  request.description = "agent 127.0.0.1 LAUNCH_NESTED_CONTAINER_SESSION";
  auto call = client_->Start(request, Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  EXPECT_EQ(log.done->code(), StatusCode::kUnavailable) << log.done->ToString();
  EXPECT_EQ(log.done->message().rfind(request.description, 0), 0u) << log.done->message();
  EXPECT_NE(log.done->message().find(url), std::string::npos) << log.done->message();
  EXPECT_FALSE(log.head.has_value());
  EXPECT_TRUE(call->connect_failed());
}

// Accepts one connection and sends a plain-text HTTP response to its first bytes, so a TLS
// client fails its handshake at once.
class PlainTextListener {
 public:
  PlainTextListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    (void)::bind(fd_, reinterpret_cast<sockaddr*>(&address), length);
    (void)::listen(fd_, 1);
    (void)::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int connection = ::accept(fd_, nullptr, nullptr);
      if (connection < 0) return;  // the destructor shut the listener down
      char buffer[1024];
      (void)::recv(connection, buffer, sizeof(buffer), 0);
      const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      (void)::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(connection);
    });
  }
  ~PlainTextListener() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(HttpClientTest, TlsHandshakeFailureNamesHost) {
  PlainTextListener server;
  const std::string host_port = "127.0.0.1:" + std::to_string(server.port());
  CallLog log;
  HttpRequest request = Post("https://" + host_port + "/api/v1");
  request.description = "master GET_TASKS";
  auto call = client_->Start(request, Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  EXPECT_EQ(log.done->code(), StatusCode::kUnavailable) << log.done->ToString();
  EXPECT_NE(log.done->message().find("the TLS handshake with " + host_port + " failed"),
            std::string::npos)
      << log.done->message();
}

TEST_F(HttpClientTest, UnreadableCaBundleIsFailedPrecondition) {
  HttpClientOptions options;
  options.ca_file = "/nonexistent/ca-bundle.pem";
  std::unique_ptr<HttpClient> client = HttpClient::Create(loop_, options);
  ASSERT_NE(client, nullptr);
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    return false;
  });
  CallLog log;
  auto call = client->Start(Post("https://localhost:" + std::to_string(server.port()) + "/x"),
                            Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  EXPECT_EQ(log.done->code(), StatusCode::kFailedPrecondition) << log.done->ToString();
  EXPECT_NE(log.done->message().find("the CA bundle /nonexistent/ca-bundle.pem"),
            std::string::npos)
      << log.done->message();
  EXPECT_NE(log.done->message().find("localhost:" + std::to_string(server.port())),
            std::string::npos)
      << log.done->message();
  call.reset();
}

TEST_F(HttpClientTest, TimeoutIsDeadlineExceeded) {
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    connection.WaitForEof();  // never answers
    return false;
  });

  CallLog log;
  HttpRequest request = Post(server.url() + "/api/v1");
  request.timeout = std::chrono::milliseconds(200);
  request.description = "agent WAIT_CONTAINER";
  auto call = client_->Start(request, Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  EXPECT_EQ(log.done->code(), StatusCode::kDeadlineExceeded) << log.done->ToString();
  EXPECT_EQ(log.done->message().rfind("agent WAIT_CONTAINER", 0), 0u) << log.done->message();
  EXPECT_NE(log.done->message().find(request.url), std::string::npos) << log.done->message();
}

TEST_F(HttpClientTest, DestroyMidStreamClosesConnection) {
  Notification saw_eof;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    if (!connection.WriteStreamHead(200) || !connection.WriteChunk("x")) return false;
    if (connection.WaitForEof()) saw_eof.Notify();
    return false;
  });

  CallLog log;
  auto call = client_->Start(Post(server.url()), Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return !log.body.empty(); }));
  call.reset();
  ASSERT_TRUE(RunUntil([&]() { return saw_eof.HasBeenNotified(); }));
  EXPECT_FALSE(log.done.has_value());
}

TEST_F(HttpClientTest, DestroyInsideOnBodyIsSafe) {
  Notification saw_eof;
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    if (!connection.WriteStreamHead(200) || !connection.WriteChunk("x")) return false;
    if (connection.WaitForEof()) saw_eof.Notify();
    return false;
  });

  std::unique_ptr<HttpCall> call;
  int body_calls = 0;
  bool done_called = false;
  HttpCall::Handlers handlers;
  handlers.on_body = [&](std::string_view) {
    ++body_calls;
    call.reset();
    return true;
  };
  handlers.on_done = [&](Status) { done_called = true; };
  call = client_->Start(Post(server.url()), handlers);
  ASSERT_TRUE(RunUntil([&]() { return saw_eof.HasBeenNotified(); }));
  // A few more turns, for the posted removal and any late callback.
  loop_.RunUntil([]() { return false; }, 5 * PollLoop::kMaxPollWait);

  EXPECT_EQ(body_calls, 1);
  EXPECT_FALSE(done_called);
}

TEST_F(HttpClientTest, NewCallFromDoneHandler) {
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    return connection.WriteResponse(request.target == "/first" ? 202 : 200, request.target);
  });

  std::unique_ptr<HttpCall> call;
  CallLog second;
  HttpCall::Handlers first;
  first.on_done = [&](Status status) {
    // Replacing the call destroys the one whose handler runs.
    call = client_->Start(Post(server.url() + "/second"), Recording(&second));
  };
  call = client_->Start(Post(server.url() + "/first"), first);
  ASSERT_TRUE(RunUntil([&]() { return second.done.has_value(); }));

  ASSERT_TRUE(second.done->ok()) << second.done->ToString();
  EXPECT_EQ(second.head->status, 200);
  EXPECT_EQ(second.body, "/second");
}

TEST_F(HttpClientTest, RedirectIsNotFollowed) {
  std::atomic<int> requests{0};
  TestHttpServer server([&](TestConnection& connection, const TestRequest& request) {
    std::string body;
    if (!connection.ReadBody(request, &body)) return false;
    ++requests;
    return connection.WriteResponse(307, "", {"Location: //127.0.0.1:1/master/api/v1"});
  });

  CallLog log;
  auto call = client_->Start(Post(server.url() + "/api/v1"), Recording(&log));
  ASSERT_TRUE(RunUntil([&]() { return log.done.has_value(); }));

  ASSERT_TRUE(log.done->ok()) << log.done->ToString();
  EXPECT_EQ(log.head->status, 307);
  EXPECT_EQ(log.head->headers["location"], "//127.0.0.1:1/master/api/v1");
  EXPECT_EQ(requests.load(), 1);
}

}  // namespace
}  // namespace tb
