#include "auth/service_account.h"

#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "auth/jwt.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;

// A secret file is a few kilobytes; anything much larger is not one.
constexpr std::size_t kMaxSecretBytes = 64 << 10;

Result<std::string> ReadSmallFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(std::string(what) + " " + path + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  if (content.size() > kMaxSecretBytes) {
    return Status::InvalidArgument(std::string(what) + " " + path + " is larger than " +
                                   std::to_string(kMaxSecretBytes) + " bytes");
  }
  return content;
}

}  // namespace

Result<EvpPkey> ParseRsaPrivateKeyPem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status::Internal("OpenSSL BIO_new_mem_buf failed");
  // An empty passphrase callback: an encrypted key fails instead of prompting on the terminal.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  EvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return Status::InvalidArgument("private_key is not an unencrypted PEM private key");
  }
  if (!EVP_PKEY_is_a(key.get(), "RSA")) {
    return Status::InvalidArgument("private_key is not an RSA key (RS256 needs RSA)");
  }
  return key;
}

Result<ServiceAccountCredentials> ParseServiceAccountSecret(std::string_view json,
                                                            std::string source) {
  Json secret = Json::parse(json, nullptr, false);
  if (!secret.is_object()) {
    return Status::InvalidArgument(source + ": not a JSON object (a DC/OS service account secret)");
  }
  auto uid = secret.find("uid");
  if (uid == secret.end() || !uid->is_string() || uid->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument(source + ": uid is missing or not a string");
  }
  if (auto scheme = secret.find("scheme"); scheme != secret.end() && *scheme != "RS256") {
    return Status::InvalidArgument(source + ": scheme must be \"RS256\"");
  }
  auto pem = secret.find("private_key");
  if (pem == secret.end() || !pem->is_string()) {
    return Status::InvalidArgument(source + ": private_key is missing or not a string");
  }
  Result<EvpPkey> key = ParseRsaPrivateKeyPem(pem->get_ref<const std::string&>());
  if (!key.ok()) return key.status().Annotate(source);
  return ServiceAccountCredentials{uid->get<std::string>(), Share(std::move(key).value()),
                                   std::move(source)};
}

Result<ServiceAccountCredentials> LoadServiceAccountSecret(const std::string& path) {
  Result<std::string> text = ReadSmallFile(path, "service account secret");
  if (!text.ok()) return text.status();
  return ParseServiceAccountSecret(*text, path);
}

Result<ServiceAccountCredentials> LoadServiceAccountKey(std::string uid, const std::string& path) {
  Result<std::string> text = ReadSmallFile(path, "service account private key");
  if (!text.ok()) return text.status();
  Result<EvpPkey> key = ParseRsaPrivateKeyPem(*text);
  if (!key.ok()) return key.status().Annotate(path);
  return ServiceAccountCredentials{std::move(uid), Share(std::move(key).value()), path};
}

ServiceAccount::ServiceAccount(IamClient& iam, EventLoop& loop, Clock& clock,
                               ServiceAccountCredentials credentials, ServiceAccountOptions options)
    : iam_(iam),
      loop_(loop),
      clock_(clock),
      credentials_(std::move(credentials)),
      options_(options),
      retry_delay_(options.retry_min) {}

ServiceAccount::~ServiceAccount() {
  if (timer_ != 0) loop_.CancelTimer(timer_);
}

void ServiceAccount::Start() { Login(); }

bool ServiceAccount::Valid() const { return token_ && clock_.Now() < token_->expires_at(); }

std::optional<Token> ServiceAccount::current() const {
  if (!Valid()) return std::nullopt;
  return token_;
}

std::unique_ptr<Operation> ServiceAccount::GetToken(std::function<void(Result<Token>)> done) {
  if (Valid()) {
    return PostCancellable(loop_, [done = std::move(done), token = *token_] { done(token); });
  }
  Login();
  return waiting_.Add(std::move(done));
}

void ServiceAccount::Invalidate(const Token& token) {
  if (!token_ || token_->AuthorizationHeader() != token.AuthorizationHeader()) return;
  spdlog::warn("service account '{}': a call with its {} got HTTP 401; logging in again",
               credentials_.uid, *token_);
  token_.reset();
}

void ServiceAccount::Login() {
  if (login_) return;
  if (timer_ != 0) {
    loop_.CancelTimer(timer_);
    timer_ = 0;
  }
  const auto expires = clock_.Now() + options_.login_token_lifetime;
  Json claims = {{"uid", credentials_.uid},
                 {"exp", std::chrono::duration_cast<std::chrono::seconds>(
                             expires.time_since_epoch())
                             .count()}};
  Result<std::string> login_token = SignRs256(claims, credentials_.private_key.get());
  if (!login_token.ok()) {
    OnLogin(login_token.status());
    return;
  }
  login_ = iam_.ServiceLogin(credentials_.uid, std::move(login_token).value(),
                             [this](Result<std::string> answer) { OnLogin(std::move(answer)); });
}

void ServiceAccount::OnLogin(Result<std::string> answer) {
  loop_.Post([finished = std::shared_ptr<Operation>(std::move(login_))] {});

  Result<Token> token = answer.ok() ? TokenFromLoginAnswer(std::move(answer).value())
                                    : Result<Token>(answer.status());
  if (token.ok() && token->uid() != credentials_.uid) {
    token = Status::Unavailable("the IAM answered a token for uid '" + token->uid() + "'");
  }
  if (!token.ok()) {
    StatusCode code = token.status().code() == StatusCode::kDeadlineExceeded
                          ? StatusCode::kDeadlineExceeded
                          : StatusCode::kUnavailable;
    Status failure(code, "the bastion's service account '" + credentials_.uid +
                             "' could not log in: " + token.status().message());
    spdlog::error("{}; retrying in {} ms", failure.message(), retry_delay_.count());
    ScheduleLogin(retry_delay_);
    retry_delay_ = std::min(retry_delay_ * 2, options_.retry_max);
    waiting_.CompleteEach([&] { return std::tuple<Result<Token>>(failure); });
    return;
  }

  const auto now = clock_.Now();
  const auto lifetime = token->expires_at() - now;
  auto renew_in = std::chrono::duration_cast<std::chrono::milliseconds>(lifetime *
                                                                       options_.renew_after);
  if (renew_in < options_.retry_min) renew_in = options_.retry_min;
  spdlog::info("service account '{}' logged in: {}; renewing in {} s", credentials_.uid, *token,
               renew_in.count() / 1000);
  token_ = std::move(token).value();
  retry_delay_ = options_.retry_min;
  ScheduleLogin(renew_in);
  waiting_.CompleteEach([&] { return std::tuple<Result<Token>>(*token_); });
}

void ServiceAccount::ScheduleLogin(std::chrono::milliseconds delay) {
  if (timer_ != 0) loop_.CancelTimer(timer_);
  timer_ = loop_.StartTimer(delay, [this] {
    timer_ = 0;
    Login();
  });
}

}  // namespace tb::auth
