// Test helpers for auth/: a settable clock, RSA test keys, JWT and JWK builders, and an
// HttpClient that computes each response from the request (the IAM's routes), so that tests
// of parallel calls do not depend on their order.
//
// Single-threaded, like the code under test.

#ifndef TASK_BASTION_TESTS_UNIT_AUTH_FAKES_H_
#define TASK_BASTION_TESTS_UNIT_AUTH_FAKES_H_

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"
#include "auth/clock.h"
#include "auth/openssl_handles.h"
#include "common/event_loop.h"
#include "common/http_client.h"
#include "tests/unit/fake_http_client.h"

namespace tb::testing {

class FakeClock : public auth::Clock {
 public:
  // Starts at a fixed, realistic wall time so that claims in tests are readable numbers.
  WallTime Now() const override { return wall_; }
  MonotonicTime Monotonic() const override { return monotonic_; }
  void Advance(std::chrono::milliseconds step) {
    wall_ += step;
    monotonic_ += step;
  }
  std::int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(wall_.time_since_epoch()).count();
  }

 private:
  WallTime wall_ = WallTime(std::chrono::seconds(1700000000));
  MonotonicTime monotonic_ = MonotonicTime(std::chrono::hours(1000));
};

// The index-th 2048-bit RSA test key, made once per test process (generation takes a while).
inline EVP_PKEY* TestRsaKey(int index) {
  static std::map<int, auth::EvpPkey> keys;
  auto it = keys.find(index);
  if (it == keys.end()) {
    it = keys.emplace(index, auth::EvpPkey(EVP_RSA_gen(2048))).first;
  }
  return it->second.get();
}

inline std::string BignumParam(EVP_PKEY* key, const char* name) {
  BIGNUM* number = nullptr;
  EVP_PKEY_get_bn_param(key, name, &number);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(number)), '\0');
  BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(number);
  return bytes;
}

// The JWK (RFC 7517) of an RSA key's public half.
inline nlohmann::json JwkFor(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "RSA"},
          {"alg", "RS256"},
          {"use", "sig"},
          {"kid", kid},
          {"n", auth::Base64UrlEncode(BignumParam(key, OSSL_PKEY_PARAM_RSA_N))},
          {"e", auth::Base64UrlEncode(BignumParam(key, OSSL_PKEY_PARAM_RSA_E))}};
}

inline std::string PublicPem(EVP_PKEY* key) {
  auth::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

inline std::string PrivatePem(EVP_PKEY* key) {
  auth::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// "<header>.<claims>." plus `signature` (raw bytes, base64url-encoded here).
inline std::string JwtWithSignature(const nlohmann::json& header, const nlohmann::json& claims,
                                    const std::string& signature) {
  return auth::Base64UrlEncode(header.dump()) + "." + auth::Base64UrlEncode(claims.dump()) + "." +
         auth::Base64UrlEncode(signature);
}

// A JWT with any header, signed RS256 with `key`.
inline std::string SignedJwt(const nlohmann::json& header, const nlohmann::json& claims,
                             EVP_PKEY* key) {
  std::string input =
      auth::Base64UrlEncode(header.dump()) + "." + auth::Base64UrlEncode(claims.dump());
  auth::EvpMdCtx context(EVP_MD_CTX_new());
  std::size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(context.get(), nullptr, &length, bytes, input.size());
  std::string signature(length, '\0');
  EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes,
                 input.size());
  return input + "." + auth::Base64UrlEncode(signature);
}

// An HttpClient whose responses come from `route(request)`. Deliveries are queued and run by
// RunPending(), like FakeHttpClient's; loop() is a manual loop whose timers run only through
// RunTimers().
class RoutingHttpClient : public HttpClient {
 public:
  using Route = std::function<FakeResponse(const HttpRequest&)>;

  explicit RoutingHttpClient(Route route) : route_(std::move(route)) {}
  ~RoutingHttpClient() override {
    [[maybe_unused]] bool all_destroyed = std::none_of(
        states_.begin(), states_.end(), [](const auto& state) { return state->alive; });
    assert(all_destroyed && "an HttpCall outlived its client");
  }

  void set_route(Route route) { route_ = std::move(route); }
  EventLoop& loop() override { return loop_; }

  std::unique_ptr<HttpCall> Start(HttpRequest request, HttpCall::Handlers handlers) override {
    auto state = std::make_shared<CallState>();
    state->handlers = std::move(handlers);
    state->description = request.description;
    requests_.push_back(request);
    states_.push_back(state);
    FakeResponse response = route_(request);
    if (!response.transport_error.ok() && response.transport_error.code() == StatusCode::kInternal &&
        response.transport_error.message() == "silence") {
      return std::make_unique<Call>(state);  // no response, like a silent server
    }
    queue_.push_back([state, response = std::move(response)] {
      if (!state->alive) return;
      if (!response.transport_error.ok()) {
        state->handlers.on_done(Status(response.transport_error.code(),
                                       state->description + ": " +
                                           response.transport_error.message()));
        return;
      }
      HttpResponseHead head;
      head.status = response.status;
      head.headers = response.headers;
      if (state->handlers.on_head) state->handlers.on_head(head);
      if (!state->alive) return;
      if (state->handlers.on_body && !response.body.empty()) state->handlers.on_body(response.body);
      if (!state->alive) return;
      state->handlers.on_done(Status::Ok());
    });
    return std::make_unique<Call>(state);
  }

  // A response that never comes.
  static FakeResponse Silence() {
    return FakeResponse::TransportError(Status::Internal("silence"));
  }

  void RunPending() {
    while (!queue_.empty()) {
      auto task = std::move(queue_.front());
      queue_.pop_front();
      task();
    }
  }

  void RunTimers() {
    auto timers = std::move(loop_.timers);
    loop_.timers.clear();
    for (auto& [id, task] : timers) task();
    RunPending();
  }
  std::size_t pending_timers() const { return loop_.timers.size(); }

  const std::vector<HttpRequest>& requests() const { return requests_; }
  std::size_t CountRequests(const std::string& url_fragment) const {
    std::size_t count = 0;
    for (const HttpRequest& request : requests_) {
      if (request.url.find(url_fragment) != std::string::npos) ++count;
    }
    return count;
  }

 private:
  struct CallState {
    HttpCall::Handlers handlers;
    std::string description;
    bool alive = true;
  };
  class Call : public HttpCall {
   public:
    explicit Call(std::shared_ptr<CallState> state) : state_(std::move(state)) {}
    ~Call() override { state_->alive = false; }
    void Write(std::string_view) override {}
    void FinishBody() override {}
    std::size_t queued_body_bytes() const override { return 0; }
    void ResumeResponse() override {}

   private:
    std::shared_ptr<CallState> state_;
  };
  class ManualLoop : public EventLoop {
   public:
    explicit ManualLoop(RoutingHttpClient* client) : client_(client) {}
    void WatchFd(int, unsigned, FdHandler) override { assert(false && "no fds"); }
    void UnwatchFd(int) override {}
    TimerId StartTimer(std::chrono::milliseconds delay, Task task) override {
      delays[next_timer_id] = delay;
      timers.emplace(next_timer_id, std::move(task));
      return next_timer_id++;
    }
    void CancelTimer(TimerId id) override { timers.erase(id); }
    void Post(Task task) override { client_->queue_.push_back(std::move(task)); }

    std::map<TimerId, Task> timers;
    std::map<TimerId, std::chrono::milliseconds> delays;
    TimerId next_timer_id = 1;

   private:
    RoutingHttpClient* client_;
  };

 public:
  // The delay each timer was started with, by id order.
  std::vector<std::chrono::milliseconds> timer_delays() const {
    std::vector<std::chrono::milliseconds> delays;
    for (const auto& [id, task] : loop_.timers) delays.push_back(loop_.delays.at(id));
    return delays;
  }

 private:
  Route route_;
  ManualLoop loop_{this};
  std::deque<std::function<void()>> queue_;
  std::vector<HttpRequest> requests_;
  std::vector<std::shared_ptr<CallState>> states_;
};

}  // namespace tb::testing

#endif  // TASK_BASTION_TESTS_UNIT_AUTH_FAKES_H_
