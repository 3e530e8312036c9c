#include "auth/token_verifier.h"

#include <spdlog/spdlog.h>

#include "auth/quote.h"

namespace tb::auth {
namespace {

// Every defect of an offered token makes it a wrong credential, so the code is Unauthenticated.
Status Rejected(const Status& status) {
  if (status.code() == StatusCode::kUnauthenticated) return status;
  return Status::Unauthenticated("invalid token: " + status.message());
}

}  // namespace

TokenVerifier::TokenVerifier(IamClient& iam, EventLoop& loop, Clock& clock,
                             TokenVerifierOptions options)
    : iam_(iam), loop_(loop), clock_(clock), options_(options) {}

void TokenVerifier::Start() { Fetch(); }

std::unique_ptr<Operation> TokenVerifier::Verify(std::string token,
                                                 std::function<void(Result<Token>)> done) {
  Result<Jwt> jwt = ParseJwt(token);
  if (!jwt.ok()) {
    return PostCancellable(loop_, [done = std::move(done), status = Rejected(jwt.status())] {
      done(status);
    });
  }

  bool may_refetch = !keys_ || fetch_ || !last_fetch_ ||
                     clock_.Monotonic() - *last_fetch_ >= options_.min_refetch_interval;
  std::optional<Result<Token>> answer = TryVerify(*jwt, token, may_refetch);
  if (answer) {
    return PostCancellable(loop_, [done = std::move(done), answer = std::move(*answer)]() mutable {
      done(std::move(answer));
    });
  }

  if (keys_) {
    spdlog::info("IAM key set: a token with key id {} does not verify; fetching the key set again",
                 jwt->kid.empty() ? "(none)" : Quote(jwt->kid, 64));
  }
  Fetch();
  return waiting_for_keys_.Add(
      [this, jwt = std::move(jwt).value(), token = std::move(token),
       done = std::move(done)](const Status& fetched) {
        if (!keys_) {
          done(Status(fetched.code(), "cannot verify the token: " + fetched.message()));
          return;
        }
        Result<Token> answer = *TryVerify(jwt, token, false);
        if (!answer.ok() && !fetched.ok()) {
          // The old keys do not verify the token and the IAM returned no new keys, so the
          // outcome is unknown rather than a rejection.
          done(Status(fetched.code(), "cannot verify the token: fetching the IAM's key set "
                                      "again failed: " + fetched.message()));
          return;
        }
        done(std::move(answer));
      });
}

std::optional<Result<Token>> TokenVerifier::TryVerify(const Jwt& jwt, const std::string& token,
                                                      bool may_refetch) {
  if (!keys_) {
    if (may_refetch) return std::nullopt;
    return Result<Token>(Status(last_fetch_error_.ok() ? StatusCode::kUnavailable
                                                       : last_fetch_error_.code(),
                                "cannot verify the token: " + last_fetch_error_.message()));
  }
  Status signature = VerifyWithKeySet(jwt, *keys_);
  if (signature.ok()) return Finish(jwt, token);
  bool stale_keys_possible = signature.code() == StatusCode::kNotFound ||
                             signature.code() == StatusCode::kUnauthenticated;
  if (stale_keys_possible && may_refetch) return std::nullopt;
  return Result<Token>(Rejected(signature));
}

Result<Token> TokenVerifier::Finish(const Jwt& jwt, const std::string& token) {
  Result<TokenClaims> claims = CheckClaims(jwt, clock_.Now());
  if (!claims.ok()) return Rejected(claims.status());
  return Token(token, claims->uid, claims->expires_at);
}

void TokenVerifier::Fetch() {
  if (fetch_) return;
  last_fetch_ = clock_.Monotonic();
  fetch_ = iam_.GetJwks([this](Result<KeySet> keys) { OnFetched(std::move(keys)); });
}

void TokenVerifier::OnFetched(Result<KeySet> keys) {
  // The call that runs this callback is released after it returns.
  loop_.Post([finished = std::shared_ptr<Operation>(std::move(fetch_))] {});
  if (keys.ok()) {
    std::string kids;
    for (const Jwk& jwk : keys->keys) kids += (kids.empty() ? "" : ", ") + jwk.kid;
    spdlog::info("IAM key set fetched from {}: {} keys (kid {})", iam_.iam_url(),
                 keys->keys.size(), kids);
    for (const std::string& reason : keys->skipped) {
      spdlog::warn("IAM key set: skipped {}", reason);
    }
    keys_ = std::move(keys).value();
    last_fetch_error_ = Status::Ok();
  } else {
    spdlog::error("fetching the IAM key set failed: {}{}", keys.status().message(),
                  keys_ ? "; keeping the keys fetched before" : "");
    last_fetch_error_ = keys.status();
  }
  Status outcome = last_fetch_error_;
  waiting_for_keys_.CompleteEach([&] { return std::tuple<const Status&>(outcome); });
}

}  // namespace tb::auth
