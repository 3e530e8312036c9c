// FakeHttpClient: a scripted HttpClient for unit tests, with no sockets and no event loop.
//
// The test lists the responses in order with Add(). Each Start() records the request and takes
// the next response. Nothing is delivered inside Start(): the call's handlers (on_head, then
// on_body in pieces of body_chunk_bytes, then on_done) are queued, and RunPending() runs the queue
// until it is empty. A Start() with no answer left stays open until the call is destroyed, like a
// server that never answers.
//
// It keeps the HttpClient contract the code under test relies on: a destroyed call gets no more
// handlers, handlers may destroy their own call, a transport error's message starts with the
// request's description, and on_body returning false pauses the body until ResumeResponse().
//
// loop() is a manual EventLoop: posted tasks join the same queue RunPending() runs, and timers
// run only when the test calls RunTimers(). It does not watch file descriptors.
//
// Single-threaded; every call must be destroyed before the client.

#ifndef TASK_BASTION_TESTS_UNIT_FAKE_HTTP_CLIENT_H_
#define TASK_BASTION_TESTS_UNIT_FAKE_HTTP_CLIENT_H_

#include <algorithm>
#include <cassert>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/event_loop.h"
#include "common/http_client.h"
#include "common/status.h"

namespace tb::testing {

struct FakeResponse {
  long status = 200;
  std::map<std::string, std::string> headers;  // lower-case names, as HttpResponseHead has them
  std::string body;
  Status transport_error;  // not OK: no head and no body, on_done gets this error

  static FakeResponse Http(long status, std::string body,
                           std::map<std::string, std::string> headers = {}) {
    FakeResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    return response;
  }
  static FakeResponse TransportError(Status error) {
    FakeResponse response;
    response.transport_error = std::move(error);
    return response;
  }
};

class FakeHttpClient : public HttpClient {
 public:
  FakeHttpClient() = default;
  FakeHttpClient(const FakeHttpClient&) = delete;
  FakeHttpClient& operator=(const FakeHttpClient&) = delete;
  ~FakeHttpClient() override { assert(live_calls() == 0 && "an HttpCall outlived its client"); }

  // Appends the response for the next call that has none yet.
  void Add(FakeResponse response) { script_.push_back(std::move(response)); }

  // Size of the on_body pieces; 0 (the default) delivers the whole body at once.
  void set_body_chunk_bytes(std::size_t bytes) { body_chunk_bytes_ = bytes; }

  EventLoop& loop() override { return loop_; }

  std::unique_ptr<HttpCall> Start(HttpRequest request, HttpCall::Handlers handlers) override {
    auto state = std::make_shared<CallState>();
    state->handlers = std::move(handlers);
    state->description = request.description;
    requests_.push_back(std::move(request));
    states_.push_back(state);
    if (!script_.empty()) {
      state->response = std::move(script_.front());
      script_.pop_front();
      state->answered = true;
      Schedule(state);
    }
    return std::make_unique<Call>(this, state);
  }

  // Runs queued handler deliveries and posted tasks, including those queued meanwhile, until
  // none is left. Returns how many ran.
  std::size_t RunPending() {
    std::size_t ran = 0;
    while (!queue_.empty()) {
      std::function<bool()> task = std::move(queue_.front());
      queue_.pop_front();
      if (task()) ++ran;
    }
    return ran;
  }

  // Runs the oldest queued delivery or posted task. Returns false when the queue was empty.
  bool RunOne() {
    if (queue_.empty()) return false;
    std::function<bool()> task = std::move(queue_.front());
    queue_.pop_front();
    task();
    return true;
  }

  // Runs every timer started on loop() and not cancelled, then RunPending(). Returns how many
  // timers ran.
  std::size_t RunTimers() {
    std::map<EventLoop::TimerId, EventLoop::Task> timers = std::move(loop_.timers);
    loop_.timers.clear();
    for (auto& [id, task] : timers) task();
    RunPending();
    return timers.size();
  }

  // The delay of every timer started on loop(), in order, fired or not.
  const std::vector<std::chrono::milliseconds>& timer_delays() const { return loop_.timer_delays; }

  // Every request started so far, in order.
  const std::vector<HttpRequest>& requests() const { return requests_; }
  const HttpRequest& request(std::size_t index) const { return requests_.at(index); }
  // Streaming request bytes the index-th call received through Write().
  const std::string& written_body(std::size_t index) const { return states_.at(index)->written; }

  // Calls started and not yet destroyed.
  std::size_t live_calls() const {
    return static_cast<std::size_t>(
        std::count_if(states_.begin(), states_.end(), [](const auto& s) { return s->alive; }));
  }
  // Calls destroyed before their on_done ran.
  std::size_t cancelled_calls() const {
    return static_cast<std::size_t>(std::count_if(
        states_.begin(), states_.end(), [](const auto& s) { return !s->alive && !s->done; }));
  }
  // Responses added with Add() that no call has taken.
  std::size_t unused_responses() const { return script_.size(); }

 private:
  struct CallState {
    HttpCall::Handlers handlers;
    std::string description;
    FakeResponse response;
    bool answered = false;
    bool alive = true;
    bool head_sent = false;
    bool paused = false;
    bool done = false;
    std::size_t body_offset = 0;
    std::string written;
    bool body_finished = false;
  };

  class Call : public HttpCall {
   public:
    Call(FakeHttpClient* client, std::shared_ptr<CallState> state)
        : client_(client), state_(std::move(state)) {}
    ~Call() override { state_->alive = false; }

    void Write(std::string_view bytes) override {
      assert(!state_->body_finished);
      state_->written.append(bytes);
    }
    void FinishBody() override { state_->body_finished = true; }
    std::size_t queued_body_bytes() const override { return 0; }
    void ResumeResponse() override {
      if (!state_->paused) return;
      state_->paused = false;
      client_->Schedule(state_);
    }

   private:
    FakeHttpClient* client_;
    std::shared_ptr<CallState> state_;
  };

  class ManualLoop : public EventLoop {
   public:
    explicit ManualLoop(FakeHttpClient* client) : client_(client) {}
    void WatchFd(int, unsigned, FdHandler) override { assert(false && "no fds in FakeHttpClient"); }
    void UnwatchFd(int) override {}
    TimerId StartTimer(std::chrono::milliseconds delay, Task task) override {
      timer_delays.push_back(delay);
      timers.emplace(next_timer_id, std::move(task));
      return next_timer_id++;
    }
    void CancelTimer(TimerId id) override { timers.erase(id); }
    void Post(Task task) override {
      client_->queue_.push_back([task = std::move(task)] {
        task();
        return true;
      });
    }

    std::map<TimerId, Task> timers;
    std::vector<std::chrono::milliseconds> timer_delays;  // of every StartTimer call, in order
    TimerId next_timer_id = 1;

   private:
    FakeHttpClient* client_;
  };

  void Schedule(const std::shared_ptr<CallState>& state) {
    queue_.push_back([this, state] { return Step(state); });
  }

  // Delivers the next handler of one call. Returns false when there was nothing to deliver.
  bool Step(const std::shared_ptr<CallState>& state) {
    if (!state->alive || state->paused || state->done) return false;
    const FakeResponse& response = state->response;

    if (!response.transport_error.ok()) {
      state->done = true;
      if (state->handlers.on_done) {
        state->handlers.on_done(
            Status(response.transport_error.code(),
                   state->description + ": " + response.transport_error.message()));
      }
      return true;
    }

    if (!state->head_sent) {
      state->head_sent = true;
      Schedule(state);
      if (state->handlers.on_head) {
        HttpResponseHead head;
        head.status = response.status;
        head.headers = response.headers;
        state->handlers.on_head(head);
      }
      return true;
    }

    if (state->body_offset < response.body.size()) {
      std::size_t piece = response.body.size() - state->body_offset;
      if (body_chunk_bytes_ > 0) piece = std::min(piece, body_chunk_bytes_);
      std::string_view bytes = std::string_view(response.body).substr(state->body_offset, piece);
      state->body_offset += piece;
      bool more = state->handlers.on_body ? state->handlers.on_body(bytes) : true;
      if (!state->alive) return true;
      if (more) {
        Schedule(state);
      } else {
        state->paused = true;
      }
      return true;
    }

    state->done = true;
    if (state->handlers.on_done) state->handlers.on_done(Status::Ok());
    return true;
  }

  ManualLoop loop_{this};
  std::deque<FakeResponse> script_;
  std::deque<std::function<bool()>> queue_;
  std::vector<HttpRequest> requests_;
  std::vector<std::shared_ptr<CallState>> states_;
  std::size_t body_chunk_bytes_ = 0;
};

// Returns the value of header `name` in `request` ("Name: value" lines; the name is compared
// case-insensitively), or nullopt when it is absent.
inline std::optional<std::string> HeaderValue(const HttpRequest& request, std::string_view name) {
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  for (const std::string& line : request.headers) {
    const std::size_t colon = line.find(':');
    if (colon != name.size()) continue;
    if (!std::equal(name.begin(), name.end(), line.begin(),
                    [&](char a, char b) { return lower(a) == lower(b); })) {
      continue;
    }
    std::size_t start = colon + 1;
    while (start < line.size() && line[start] == ' ') ++start;
    return line.substr(start);
  }
  return std::nullopt;
}

}  // namespace tb::testing

#endif  // TASK_BASTION_TESTS_UNIT_FAKE_HTTP_CLIENT_H_
