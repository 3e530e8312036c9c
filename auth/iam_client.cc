#include "auth/iam_client.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "auth/permissions.h"
#include "auth/quote.h"
#include "common/http_errors.h"

namespace tb::auth {

namespace {

using Json = nlohmann::json;

// A login answer is a token or a small error object, so a larger body is not the IAM's.
constexpr std::size_t kMaxSmallBodyBytes = 64 << 10;
// The service account list grows with the cluster; 4 MiB holds about ten thousand accounts.
constexpr std::size_t kMaxListBodyBytes = 4 << 20;

struct IamAnswer {
  long status = 0;
  std::string body;
};

// One IAM request in flight. `done` gets the status and the whole body, or the transport failure
// as DeadlineExceeded or Unavailable naming the IAM URL. Destroying the call cancels the request
// (the HttpCall goes with it), and no handler, so not `done`, runs afterwards.
class IamCall : public Operation {
 public:
  IamCall(HttpRequest request, std::size_t max_body_bytes,
          std::function<void(Result<IamAnswer>)> done)
      : url_(request.url),
        timeout_(request.timeout),
        description_(request.description),
        max_body_bytes_(max_body_bytes),
        done_(std::move(done)) {
    request_ = std::move(request);
  }

  void Start(HttpClient& http) {
    HttpCall::Handlers handlers;
    handlers.on_head = [this](const HttpResponseHead& head) { answer_.status = head.status; };
    handlers.on_body = [this](std::string_view bytes) {
      if (answer_.body.size() + bytes.size() > max_body_bytes_) {
        body_too_large_ = true;
      } else {
        answer_.body.append(bytes);
      }
      return true;
    };
    handlers.on_done = [this](Status transport) { Finish(Interpret(transport)); };
    call_ = http.Start(std::move(request_), std::move(handlers));
  }

 private:
  Result<IamAnswer> Interpret(const Status& transport) {
    const std::string iam = "the cluster IAM at " + url_;
    if (!transport.ok()) {
      if (transport.code() == StatusCode::kDeadlineExceeded) {
        return Status::DeadlineExceeded(iam + " did not answer in " + DurationText(timeout_));
      }
      return Status::Unavailable(iam +
                                 " is unreachable: " + TransportReason(transport, description_));
    }
    if (body_too_large_) {
      return Status::Unavailable(iam + " answered with a body larger than " +
                                 std::to_string(max_body_bytes_) + " bytes");
    }
    return std::move(answer_);
  }

  void Finish(Result<IamAnswer> result) {
    // `done` may destroy this call, so nothing touches members after it.
    auto done = std::move(done_);
    done(std::move(result));
  }

  const std::string url_;
  const std::chrono::milliseconds timeout_;
  const std::string description_;
  const std::size_t max_body_bytes_;
  std::function<void(Result<IamAnswer>)> done_;
  HttpRequest request_;
  IamAnswer answer_;
  bool body_too_large_ = false;
  std::unique_ptr<HttpCall> call_;
};

// Returns ": CODE: description" from an IAM error body {"title", "description", "code"}, or the
// body's first line, or "" when the body is empty.
std::string ErrorDetails(const std::string& body) {
  if (body.empty()) return "";
  Json error = Json::parse(body, nullptr, false);
  if (error.is_object()) {
    std::string details;
    for (const char* key : {"code", "description"}) {
      auto it = error.find(key);
      if (it == error.end() || !it->is_string()) continue;
      details += ": " + FirstLine(it->get<std::string>());
    }
    if (!details.empty()) return details;
  }
  // Not JSON (Admin Router returns HTML, a proxy plain text): quote the first line.
  return ": " + FirstLine(body);
}

// The IAM error code of an error body, or "".
std::string ErrorCode(const std::string& body) {
  Json error = Json::parse(body, nullptr, false);
  if (!error.is_object()) return "";
  auto it = error.find("code");
  return it != error.end() && it->is_string() ? it->get<std::string>() : "";
}

Status UnexpectedStatus(const std::string& url, const IamAnswer& answer) {
  return Status::Unavailable("the cluster IAM at " + url + " answered HTTP " +
                             std::to_string(answer.status) + ErrorDetails(answer.body));
}

// 401 and 403 on a call made with the bastion's token.
Status TokenRejected(const std::string& url, const IamAnswer& answer) {
  if (answer.status == 401) {
    return Status::Unauthenticated("the cluster IAM at " + url +
                                   " rejected the bastion's token (HTTP 401)");
  }
  return Status::PermissionDenied("the cluster IAM at " + url +
                                  " denied the call to the bastion's service account (HTTP 403)" +
                                  ErrorDetails(answer.body));
}

Result<Json> ParseBody(const std::string& url, const IamAnswer& answer) {
  Json value;
  try {
    value = Json::parse(answer.body);
  } catch (const Json::parse_error& e) {
    // The body is not quoted: it could contain a token.
    return Status::Unavailable("the cluster IAM at " + url + " answered HTTP " +
                               std::to_string(answer.status) + " with invalid JSON at byte " +
                               std::to_string(e.byte));
  }
  return value;
}

Result<IamUser> ReadUser(const std::string& url, const Json& value) {
  if (!value.is_object()) {
    return Status::Unavailable("the cluster IAM at " + url + " answered a user that is not an object");
  }
  IamUser user;
  auto uid = value.find("uid");
  if (uid == value.end() || !uid->is_string()) {
    return Status::Unavailable("the cluster IAM at " + url + " answered a user without a uid");
  }
  user.uid = uid->get<std::string>();
  if (auto it = value.find("is_service"); it != value.end() && it->is_boolean()) {
    user.is_service = it->get<bool>();
  }
  if (auto it = value.find("public_key"); it != value.end() && it->is_string()) {
    user.public_key = it->get<std::string>();
  }
  return user;
}

}  // namespace

IamClient::IamClient(HttpClient& http, IamClientOptions options)
    : http_(http), options_(std::move(options)) {
  while (!options_.iam_url.empty() && options_.iam_url.back() == '/') options_.iam_url.pop_back();
}

namespace {

// Starts a call and returns it as an Operation.
std::unique_ptr<Operation> StartCall(HttpClient& http, HttpRequest request, std::size_t max_bytes,
                                     std::function<void(Result<IamAnswer>)> done) {
  auto call = std::make_unique<IamCall>(std::move(request), max_bytes, std::move(done));
  call->Start(http);
  return call;
}

HttpRequest MakeRequest(const IamClientOptions& options, const char* method,
                        const std::string& path, const std::string& authorization) {
  HttpRequest request;
  request.method = method;
  request.url = options.iam_url + "/acs/api/v1" + path;
  request.headers = {"Accept: application/json"};
  if (!authorization.empty()) request.headers.push_back("Authorization: " + authorization);
  request.timeout = options.call_timeout;
  request.description = std::string("IAM ") + method + " " + request.url;
  return request;
}

std::unique_ptr<Operation> StartLogin(HttpClient& http, const IamClientOptions& options,
                                      std::string uid, Json body,
                                      std::function<void(Result<std::string>)> done) {
  HttpRequest request = MakeRequest(options, "POST", "/auth/login", "");
  request.headers.push_back("Content-Type: application/json");
  // JSON strings carry UTF-8 only: invalid bytes in the uid or password become U+FFFD, which the
  // IAM then rejects like any wrong password.
  request.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  request.description = "IAM login at " + request.url;
  std::string url = request.url;
  return StartCall(
      http, std::move(request), kMaxSmallBodyBytes,
      [url, uid = std::move(uid), done = std::move(done)](Result<IamAnswer> answer) {
        if (!answer.ok()) return done(answer.status());
        if (answer->status == 401) {
          return done(Status::Unauthenticated("the IAM rejected the credentials for uid '" +
                                              FirstLine(uid) + "'"));
        }
        if (answer->status != 200) return done(UnexpectedStatus(url, *answer));
        Result<Json> value = ParseBody(url, *answer);
        if (!value.ok()) return done(value.status());
        auto token = value->is_object() ? value->find("token") : value->end();
        if (!value->is_object() || token == value->end() || !token->is_string() ||
            token->get_ref<const std::string&>().empty()) {
          return done(Status::Unavailable("the cluster IAM at " + url +
                                          " answered HTTP 200 without a token string"));
        }
        done(token->get<std::string>());
      });
}

}  // namespace

std::unique_ptr<Operation> IamClient::Login(std::string uid, std::string password,
                                            std::function<void(Result<std::string>)> done) {
  Json body = {{"uid", uid}, {"password", std::move(password)}};
  return StartLogin(http_, options_, std::move(uid), std::move(body), std::move(done));
}

std::unique_ptr<Operation> IamClient::ServiceLogin(std::string uid, std::string login_token,
                                                   std::function<void(Result<std::string>)> done) {
  Json body = {{"uid", uid}, {"token", std::move(login_token)}};
  return StartLogin(http_, options_, std::move(uid), std::move(body), std::move(done));
}

std::unique_ptr<Operation> IamClient::GetJwks(std::function<void(Result<KeySet>)> done) {
  HttpRequest request = MakeRequest(options_, "GET", "/auth/jwks", "");
  std::string url = request.url;
  return StartCall(http_, std::move(request), kMaxSmallBodyBytes,
                   [url, done = std::move(done)](Result<IamAnswer> answer) {
                     if (!answer.ok()) return done(answer.status());
                     if (answer->status != 200) return done(UnexpectedStatus(url, *answer));
                     Result<KeySet> keys = ParseJwks(answer->body);
                     if (!keys.ok()) {
                       return done(Status::Unavailable("the cluster IAM at " + url +
                                                       " answered an invalid key set: " +
                                                       keys.status().message()));
                     }
                     done(std::move(keys));
                   });
}

std::unique_ptr<Operation> IamClient::GetUser(std::string uid, std::string authorization,
                                              std::function<void(Result<IamUser>)> done) {
  HttpRequest request =
      MakeRequest(options_, "GET", "/users/" + EncodePathSegment(uid), authorization);
  std::string url = request.url;
  return StartCall(
      http_, std::move(request), kMaxSmallBodyBytes,
      [url, uid = std::move(uid), done = std::move(done)](Result<IamAnswer> answer) {
        if (!answer.ok()) return done(answer.status());
        if (answer->status == 401 || answer->status == 403) {
          return done(TokenRejected(url, *answer));
        }
        if ((answer->status == 400 || answer->status == 404) &&
            (answer->status == 404 || ErrorCode(answer->body) == "ERR_UNKNOWN_USER_ID")) {
          return done(Status::NotFound("the IAM has no user " + Quote(uid)));
        }
        if (answer->status != 200) return done(UnexpectedStatus(url, *answer));
        Result<Json> value = ParseBody(url, *answer);
        if (!value.ok()) return done(value.status());
        done(ReadUser(url, *value));
      });
}

std::unique_ptr<Operation> IamClient::ListServiceAccounts(
    std::string authorization, std::function<void(Result<std::vector<IamUser>>)> done) {
  HttpRequest request = MakeRequest(options_, "GET", "/users?type=service", authorization);
  std::string url = request.url;
  return StartCall(
      http_, std::move(request), kMaxListBodyBytes,
      [url, done = std::move(done)](Result<IamAnswer> answer) {
        if (!answer.ok()) return done(answer.status());
        if (answer->status == 401 || answer->status == 403) {
          return done(TokenRejected(url, *answer));
        }
        if (answer->status != 200) return done(UnexpectedStatus(url, *answer));
        Result<Json> value = ParseBody(url, *answer);
        if (!value.ok()) return done(value.status());
        auto array = value->is_object() ? value->find("array") : value->end();
        if (!value->is_object() || array == value->end() || !array->is_array()) {
          return done(Status::Unavailable("the cluster IAM at " + url +
                                          " answered without an \"array\" of users"));
        }
        std::vector<IamUser> users;
        for (const Json& entry : *array) {
          Result<IamUser> user = ReadUser(url, entry);
          if (!user.ok()) return done(user.status());
          users.push_back(std::move(user).value());
        }
        done(std::move(users));
      });
}

std::unique_ptr<Operation> IamClient::CheckPermission(std::string uid, std::string rid,
                                                      std::string action,
                                                      std::string authorization,
                                                      std::function<void(Result<bool>)> done) {
  HttpRequest request = MakeRequest(
      options_, "GET",
      "/acls/" + EncodeRidForPath(rid) + "/users/" + EncodePathSegment(uid) + "/" +
          EncodePathSegment(action),
      authorization);
  std::string url = request.url;
  return StartCall(
      http_, std::move(request), kMaxSmallBodyBytes,
      [url, done = std::move(done)](Result<IamAnswer> answer) {
        if (!answer.ok()) return done(answer.status());
        if (answer->status == 401 || answer->status == 403) {
          return done(TokenRejected(url, *answer));
        }
        // No ACL for the rid, or no such user: nobody holds the permission.
        if (answer->status == 400 || answer->status == 404) {
          std::string code = ErrorCode(answer->body);
          if (code == "ERR_UNKNOWN_RESOURCE_ID" || code == "ERR_UNKNOWN_USER_ID") {
            return done(false);
          }
        }
        if (answer->status != 200) return done(UnexpectedStatus(url, *answer));
        Result<Json> value = ParseBody(url, *answer);
        if (!value.ok()) return done(value.status());
        auto allowed = value->is_object() ? value->find("allowed") : value->end();
        if (!value->is_object() || allowed == value->end() || !allowed->is_boolean()) {
          return done(Status::Unavailable("the cluster IAM at " + url +
                                          " answered without a boolean \"allowed\""));
        }
        done(allowed->get<bool>());
      });
}

}  // namespace tb::auth
