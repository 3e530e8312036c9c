#include "mesos/master_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/http_errors.h"
#include "mesos/calls.h"

namespace tb::mesos {

namespace {

using Json = nlohmann::json;

// NOTE: an estimate. GET_TASKS lists completed tasks too (by default up to 1000 per framework),
// at roughly 1-2 KiB of JSON per task, so the response of a large cluster can reach tens of MiB.
// A larger response fails the lookup rather than growing the worker's memory without bound.
constexpr std::size_t kMaxResponseBytes = 64 << 20;

std::string SchemeOf(std::string_view url) {
  const std::size_t end = url.find("://");
  return std::string(end == std::string_view::npos ? "http" : url.substr(0, end));
}

// "scheme://host:port" of an absolute URL.
std::string OriginOf(std::string_view url) {
  const std::size_t authority = url.find("://");
  if (authority == std::string_view::npos) return std::string(url);
  const std::size_t path = url.find('/', authority + 3);
  return std::string(url.substr(0, path));
}

// Resolves a Location header against the URL that returned it. A non-leading master sends a
// scheme-less "//leader:5050/master/api/v1", which keeps the scheme of the request. Returns ""
// when `location` has none of these forms.
std::string ResolveLocation(std::string_view location, std::string_view request_url) {
  if (location.starts_with("//")) return SchemeOf(request_url) + ":" + std::string(location);
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return std::string(location);
  }
  if (location.starts_with("/")) return OriginOf(request_url) + std::string(location);
  return "";
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

// One FindTask lookup: GET_TASKS, then (for direct agent access) GET_AGENTS, one HTTP call at a
// time. Each call tries the masters round by round as master_client.h describes; GET_AGENTS
// starts at the master that returned the tasks. One deadline bounds the whole lookup. Destroying
// the operation destroys the call in flight and the retry timer, after which no handler and not
// `done` runs.
class FindTaskOperation : public Operation {
 public:
  FindTaskOperation(HttpClient& http, const MasterClientOptions& options, std::string selector,
                    std::string authorization, std::function<void(Result<TaskTarget>)> done)
      : http_(http),
        options_(options),
        selector_(std::move(selector)),
        authorization_(std::move(authorization)),
        done_(std::move(done)) {}

  ~FindTaskOperation() override {
    *alive_ = false;
    if (retry_timer_ != 0) http_.loop().CancelTimer(retry_timer_);
  }

  void Start() {
    if (options_.master_urls.empty()) {
      // The configuration rejects an empty list. The error is still reported asynchronously, as
      // FindTask promises.
      http_.loop().Post([this, alive = alive_] {
        if (*alive) Finish(Status::Unavailable("no Mesos master is configured"));
      });
      return;
    }
    deadline_ = options_.now() + options_.lookup_timeout;
    std::vector<std::string> endpoints;
    for (const std::string& master : options_.master_urls) endpoints.push_back(Endpoint(master));
    StartCall("GET_TASKS", GetTasksCall(), std::move(endpoints));
  }

 private:
  static std::string Endpoint(std::string master_url) {
    while (!master_url.empty() && master_url.back() == '/') master_url.pop_back();
    return master_url + "/api/v1";
  }

  void StartCall(std::string call_name, std::string body, std::vector<std::string> endpoints) {
    call_name_ = std::move(call_name);
    call_body_ = std::move(body);
    endpoints_ = std::move(endpoints);
    failures_.clear();
    rounds_ = 0;
    retry_delay_ = options_.first_retry_delay;
    StartRound();
  }

  void StartRound() {
    ++rounds_;
    next_endpoint_ = 0;
    TryNextEndpoint();
  }

  // Sends the call to the next master of this round. After the last one, waits and starts
  // another round, or fails when the next round would start after the deadline.
  void TryNextEndpoint() {
    if (next_endpoint_ < endpoints_.size()) {
      redirects_.clear();
      Send(endpoints_[next_endpoint_++]);
      return;
    }
    if (options_.now() + retry_delay_ >= deadline_) {
      FailAllMasters();
      return;
    }
    retry_timer_ = http_.loop().StartTimer(retry_delay_, [this] {
      retry_timer_ = 0;
      StartRound();
    });
    retry_delay_ = std::min(retry_delay_ * 2, options_.max_retry_delay);
  }

  void FailAllMasters() {
    std::vector<std::string> tried;
    for (const auto& [url, reason] : failures_) tried.push_back(url + " (" + reason + ")");
    const std::string rounds = std::to_string(rounds_) + (rounds_ == 1 ? " round" : " rounds");
    Finish(Status::Unavailable(call_name_ + ": no Mesos master answered within " +
                               DurationText(options_.lookup_timeout) + " (" + rounds +
                               "); tried " + Join(tried, ", ")));
  }

  // Records why `url` failed; a master that fails again keeps its place in the list.
  void RecordFailure(const std::string& url, std::string reason) {
    for (auto& [known, last_reason] : failures_) {
      if (known == url) {
        last_reason = std::move(reason);
        return;
      }
    }
    failures_.emplace_back(url, std::move(reason));
  }

  void Send(std::string url) {
    url_ = std::move(url);
    status_ = 0;
    location_.clear();
    body_.clear();

    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - options_.now());
    if (remaining.count() <= 0) {
      FailAllMasters();
      return;
    }
    timeout_ = std::min(options_.call_timeout, remaining);

    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {"Content-Type: application/json", "Accept: application/json"};
    if (!authorization_.empty()) request.headers.push_back("Authorization: " + authorization_);
    request.body = call_body_;
    request.timeout = timeout_;
    request.description = "master " + url_ + " " + call_name_;
    description_ = request.description;

    HttpCall::Handlers handlers;
    handlers.on_head = [this](const HttpResponseHead& head) {
      status_ = head.status;
      if (auto it = head.headers.find("location"); it != head.headers.end()) {
        location_ = it->second;
      }
    };
    handlers.on_body = [this](std::string_view bytes) { return OnBody(bytes); };
    handlers.on_done = [this](Status transport) { OnDone(transport); };
    call_ = http_.Start(std::move(request), std::move(handlers));
  }

  bool OnBody(std::string_view bytes) {
    if (body_.size() + bytes.size() > kMaxResponseBytes) {
      call_.reset();  // aborts the transfer; allowed from inside the call's own handler
      Finish(Status::ResourceExhausted(call_name_ + ": the master at " + url_ +
                                       " answered with more than " +
                                       std::to_string(kMaxResponseBytes) + " bytes"));
      return false;
    }
    body_.append(bytes);
    return true;
  }

  void OnDone(const Status& transport) {
    if (transport.code() == StatusCode::kFailedPrecondition) {
      // The TLS certificate failed verification: the CA bundle is wrong for this cluster, and
      // no retry or other master will fix that.
      Finish(Status::Unavailable(call_name_ + ": " + TransportReason(transport, description_)));
      return;
    }
    if (!transport.ok()) {
      const std::string reason = transport.code() == StatusCode::kDeadlineExceeded
                                     ? "no answer in " + DurationText(timeout_)
                                     : TransportReason(transport, description_);
      RecordFailure(url_, reason);
      TryNextEndpoint();
      return;
    }

    switch (status_) {
      case 200:
        OnAnswer();
        return;
      case 307:
        OnRedirect();
        return;
      case 401:
        Finish(Status::Unauthenticated(call_name_ + ": the master at " + url_ +
                                       " rejected the credentials (HTTP 401)"));
        return;
      case 403:
        Finish(Status::PermissionDenied(call_name_ + ": the master at " + url_ +
                                        " denied access (HTTP 403)"));
        return;
      default: {
        // 503 "No leader elected" or "Master has not finished recovery", Admin Router's 502 or
        // 504, or any other status that shows this master cannot serve the call now. Another
        // master, or this one later, may.
        std::string reason = "HTTP " + std::to_string(status_);
        const std::string text = FirstLine(body_);
        if (!text.empty()) reason += ": " + text;
        RecordFailure(url_, reason);
        TryNextEndpoint();
        return;
      }
    }
  }

  void OnRedirect() {
    const std::string target = ResolveLocation(location_, url_);
    if (target.empty()) {
      const std::string got = location_.empty() ? "no Location" : "Location '" + location_ + "'";
      RecordFailure(url_, "HTTP 307 with " + got);
      TryNextEndpoint();
      return;
    }
    redirects_.push_back(url_);
    if (redirects_.size() > static_cast<std::size_t>(MasterClient::kMaxRedirects)) {
      // The masters disagree about the leader, as during an election. Following further would
      // not settle it; a later round may.
      redirects_.push_back(target);
      RecordFailure(redirects_.front(),
                    "master redirect loop: " + Join(redirects_, " -> ") + ", more than " +
                        std::to_string(MasterClient::kMaxRedirects) + " redirects");
      TryNextEndpoint();
      return;
    }
    Send(target);
  }

  void OnAnswer() {
    Json answer;
    try {
      answer = Json::parse(body_);
    } catch (const Json::parse_error& e) {
      Finish(Status::Unavailable(call_name_ + ": the master at " + url_ +
                                 " answered HTTP 200 with invalid JSON at byte " +
                                 std::to_string(e.byte)));
      return;
    }
    body_.clear();
    body_.shrink_to_fit();

    if (call_name_ == "GET_TASKS") {
      Result<TaskTarget> target = MatchTask(answer, selector_);
      if (!target.ok()) {
        Finish(target.status());
        return;
      }
      target_ = std::move(target).value();
      if (!options_.admin_router_url.empty()) {
        // Admin Router finds the agent by its id (an unknown id gets 404 from it).
        std::string base = options_.admin_router_url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        target_.agent_url = base + "/agent/" + target_.agent_id;
        Finish(std::move(target_));
        return;
      }
      // Ask the master that returned the tasks (the leader) first, then the others again.
      std::vector<std::string> endpoints = {url_};
      for (const std::string& master : options_.master_urls) {
        std::string endpoint = Endpoint(master);
        if (endpoint != url_) endpoints.push_back(std::move(endpoint));
      }
      StartCall("GET_AGENTS", GetAgentsCall(), std::move(endpoints));
      return;
    }

    Result<std::string> address = AgentAddress(answer, target_.agent_id);
    if (!address.ok()) {
      Finish(address.status());
      return;
    }
    target_.agent_url = options_.agent_scheme + "://" + *address;
    Finish(std::move(target_));
  }

  void Finish(Result<TaskTarget> result) {
    if (retry_timer_ != 0) {
      http_.loop().CancelTimer(retry_timer_);
      retry_timer_ = 0;
    }
    // `done` may destroy this operation, so nothing touches members after the call.
    auto done = std::move(done_);
    done(std::move(result));
  }

  HttpClient& http_;
  const MasterClientOptions options_;
  const std::string selector_;
  const std::string authorization_;
  std::function<void(Result<TaskTarget>)> done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::chrono::steady_clock::time_point deadline_;  // of the whole lookup

  // The call in progress.
  std::string call_name_;  // "GET_TASKS" or "GET_AGENTS"
  std::string call_body_;
  std::vector<std::string> endpoints_;  // "<master>/api/v1" URLs, in the order to try
  std::size_t next_endpoint_ = 0;
  int rounds_ = 0;
  std::chrono::milliseconds retry_delay_{0};  // before the next round
  EventLoop::TimerId retry_timer_ = 0;
  // (URL, last reason) for each endpoint that failed, in the order of their first failure.
  std::vector<std::pair<std::string, std::string>> failures_;
  std::vector<std::string> redirects_;  // URLs that returned 307 since the last endpoint

  // The HTTP request in progress.
  std::string url_;
  std::string description_;
  std::chrono::milliseconds timeout_{0};
  long status_ = 0;
  std::string location_;
  std::string body_;
  std::unique_ptr<HttpCall> call_;

  TaskTarget target_;  // from GET_TASKS, completed by GET_AGENTS
};

}  // namespace

MasterClient::MasterClient(HttpClient& http, MasterClientOptions options)
    : http_(http), options_(std::move(options)) {}

std::unique_ptr<Operation> MasterClient::FindTask(std::string selector, std::string authorization,
                                                  std::function<void(Result<TaskTarget>)> done) {
  auto operation = std::make_unique<FindTaskOperation>(http_, options_, std::move(selector),
                                                       std::move(authorization), std::move(done));
  operation->Start();
  return operation;
}

}  // namespace tb::mesos
