#include "auth/iam_client.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "common/http_errors.h"

namespace tb::auth {

namespace {

using Json = nlohmann::json;

// A login response body is a token or a small error object, so a larger body is not the IAM's.
constexpr std::size_t kMaxResponseBytes = 64 << 10;

// One login request in flight. Destroying it destroys the HttpCall, which cancels the request
// and guarantees that no handler, and so not `done`, runs afterwards.
class LoginOperation : public Operation {
 public:
  LoginOperation(std::string url, std::string uid, std::chrono::milliseconds timeout,
                 std::function<void(Result<std::string>)> done)
      : url_(std::move(url)), uid_(std::move(uid)), timeout_(timeout), done_(std::move(done)) {}

  void Start(HttpClient& http, std::string password) {
    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {"Content-Type: application/json", "Accept: application/json"};
    // JSON strings carry UTF-8 only: invalid bytes in the uid or password become U+FFFD, which
    // the IAM then rejects like any wrong password.
    request.body = Json{{"uid", uid_}, {"password", std::move(password)}}.dump(
        -1, ' ', false, Json::error_handler_t::replace);
    request.timeout = timeout_;
    request.description = "IAM login at " + url_;
    description_ = request.description;

    HttpCall::Handlers handlers;
    handlers.on_head = [this](const HttpResponseHead& head) { status_ = head.status; };
    handlers.on_body = [this](std::string_view bytes) {
      if (body_.size() + bytes.size() > kMaxResponseBytes) {
        body_too_large_ = true;
      } else {
        body_.append(bytes);
      }
      return true;
    };
    handlers.on_done = [this](Status transport) { Finish(Interpret(transport)); };
    call_ = http.Start(std::move(request), std::move(handlers));
  }

 private:
  Result<std::string> Interpret(const Status& transport) const {
    const std::string iam = "the cluster IAM at " + url_;
    if (!transport.ok()) {
      if (transport.code() == StatusCode::kDeadlineExceeded) {
        return Status::DeadlineExceeded(iam + " did not answer in " + DurationText(timeout_));
      }
      return Status::Unavailable(iam +
                                 " is unreachable: " + TransportReason(transport, description_));
    }
    if (status_ == 401) {
      return Status::Unauthenticated("the IAM rejected the credentials for uid '" + uid_ + "'");
    }
    if (status_ != 200) {
      return Status::Unavailable(iam + " answered HTTP " + std::to_string(status_) +
                                 ErrorDetails());
    }
    if (body_too_large_) {
      return Status::Unavailable(iam + " answered with a body larger than " +
                                 std::to_string(kMaxResponseBytes) + " bytes");
    }

    Json answer;
    try {
      answer = Json::parse(body_);
    } catch (const Json::parse_error& e) {
      // The body is not quoted: it could contain a token.
      return Status::Unavailable(iam + " answered HTTP 200 with invalid JSON at byte " +
                                 std::to_string(e.byte));
    }
    auto token = answer.is_object() ? answer.find("token") : answer.end();
    if (!answer.is_object() || token == answer.end() || !token->is_string() ||
        token->get_ref<const std::string&>().empty()) {
      return Status::Unavailable(iam + " answered HTTP 200 without a token string");
    }
    return token->get<std::string>();
  }

  // Returns ": CODE: description" from an IAM error body {"title", "description", "code"}, or
  // the body's first line, or "" when the body is empty.
  std::string ErrorDetails() const {
    if (body_.empty()) return "";
    try {
      Json error = Json::parse(body_);
      if (error.is_object()) {
        std::string details;
        for (const char* key : {"code", "description"}) {
          auto it = error.find(key);
          if (it == error.end() || !it->is_string()) continue;
          details += ": " + FirstLine(it->get<std::string>());
        }
        if (!details.empty()) return details;
      }
    } catch (const Json::parse_error&) {
      // Not JSON (Admin Router returns HTML, a proxy plain text): quote the first line below.
    }
    return ": " + FirstLine(body_);
  }

  void Finish(Result<std::string> result) {
    // `done` may destroy this operation, so nothing touches members after the call.
    auto done = std::move(done_);
    done(std::move(result));
  }

  const std::string url_;
  const std::string uid_;
  const std::chrono::milliseconds timeout_;
  std::function<void(Result<std::string>)> done_;
  std::string description_;
  long status_ = 0;
  std::string body_;
  bool body_too_large_ = false;
  std::unique_ptr<HttpCall> call_;
};

}  // namespace

IamClient::IamClient(HttpClient& http, IamClientOptions options)
    : http_(http), options_(std::move(options)) {
  while (!options_.iam_url.empty() && options_.iam_url.back() == '/') options_.iam_url.pop_back();
}

std::unique_ptr<Operation> IamClient::Login(std::string uid, std::string password,
                                            std::function<void(Result<std::string>)> done) {
  auto operation =
      std::make_unique<LoginOperation>(options_.iam_url + "/acs/api/v1/auth/login", std::move(uid),
                                       options_.call_timeout, std::move(done));
  operation->Start(http_, std::move(password));
  return operation;
}

}  // namespace tb::auth
