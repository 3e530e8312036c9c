// ServiceAccount: the bastion's own DC/OS identity, used for IAM look-ups (users, service
// accounts, permissions) and for cluster calls on behalf of users who logged in with a public
// key.
//
// Credentials come as DC/OS lays out a service-account secret: a JSON object with `uid` and
// `private_key` (a PEM RSA private key), optionally `scheme` ("RS256") and `login_endpoint`
// (ignored: the bastion logs in at its configured IAM URL). The private key stays in memory.
//
// To log in, the account signs a service login token, an RS256 JWT {"uid", "exp"} living
// `login_token_lifetime` (the IAM rejects lifetimes above 10 minutes), and posts it to
// /acs/api/v1/auth/login. It keeps the auth token it gets in memory and logs in again:
//   * in the background once `renew_after` of the token's lifetime has passed;
//   * when a caller reports a 401 with Invalidate();
//   * after a failed login, with a delay that doubles from retry_min to retry_max.
//
// Lives on one worker loop with the IamClient it borrows.

#ifndef TASK_BASTION_AUTH_SERVICE_ACCOUNT_H_
#define TASK_BASTION_AUTH_SERVICE_ACCOUNT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/clock.h"
#include "auth/iam_client.h"
#include "auth/openssl_handles.h"
#include "auth/token.h"
#include "auth/waiters.h"
#include "common/event_loop.h"

namespace tb::auth {

struct ServiceAccountCredentials {
  std::string uid;
  SharedEvpPkey private_key;  // RSA
  std::string source;         // the file it came from, for messages
};

// Parses a service-account secret (the JSON object described above). InvalidArgument names the
// field; no message contains key material.
Result<ServiceAccountCredentials> ParseServiceAccountSecret(std::string_view json,
                                                            std::string source);

// Reads a service-account secret file.
Result<ServiceAccountCredentials> LoadServiceAccountSecret(const std::string& path);

// Reads a PEM RSA private key file for `uid` (the layout of `dcos security org service-accounts
// keypair`).
Result<ServiceAccountCredentials> LoadServiceAccountKey(std::string uid, const std::string& path);

// Parses a PEM RSA private key (PKCS#8 or PKCS#1).
Result<EvpPkey> ParseRsaPrivateKeyPem(std::string_view pem);

struct ServiceAccountOptions {
  std::chrono::seconds login_token_lifetime{300};
  double renew_after = 0.8;  // fraction of the auth token's lifetime
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{60000};
};

class ServiceAccount {
 public:
  // `iam`, `loop` and `clock` must outlive the account and every operation it starts.
  ServiceAccount(IamClient& iam, EventLoop& loop, Clock& clock,
                 ServiceAccountCredentials credentials, ServiceAccountOptions options);
  ~ServiceAccount();
  ServiceAccount(const ServiceAccount&) = delete;
  ServiceAccount& operator=(const ServiceAccount&) = delete;

  // Logs in now.
  void Start();

  // Passes a token that has not expired to `done`, logging in first when there is none. `done`
  // runs once, later, unless the Operation is destroyed first. Errors are Unavailable or
  // DeadlineExceeded, with a message that the bastion's service account could not log in.
  std::unique_ptr<Operation> GetToken(std::function<void(Result<Token>)> done);

  // Reports that a call with `token` got 401: unless a newer token is already held, the next
  // GetToken logs in again.
  void Invalidate(const Token& token);

  // The token held now when it has not expired.
  std::optional<Token> current() const;

  const std::string& uid() const { return credentials_.uid; }

 private:
  void Login();
  void OnLogin(Result<std::string> answer);
  void ScheduleLogin(std::chrono::milliseconds delay);
  bool Valid() const;

  IamClient& iam_;
  EventLoop& loop_;
  Clock& clock_;
  const ServiceAccountCredentials credentials_;
  const ServiceAccountOptions options_;

  std::optional<Token> token_;
  std::unique_ptr<Operation> login_;  // the login in flight
  EventLoop::TimerId timer_ = 0;      // the next renewal or retry
  std::chrono::milliseconds retry_delay_{0};
  Waiters<Result<Token>> waiting_;
};

// Runs `call` with the account's token. When the call fails with Unauthenticated (the IAM or a
// cluster component rejected the token), invalidates that token and runs `call` once more with
// a fresh one. `done` runs once, later, unless the returned Operation is destroyed first.
template <typename T>
std::unique_ptr<Operation> WithServiceToken(
    ServiceAccount& account, EventLoop& loop,
    std::function<std::unique_ptr<Operation>(const Token&, std::function<void(Result<T>)>)> call,
    std::function<void(Result<T>)> done) {
  class Retrying : public Operation {
   public:
    Retrying(ServiceAccount& account, EventLoop& loop, decltype(call) call, decltype(done) done)
        : account_(account), loop_(loop), call_(std::move(call)), done_(std::move(done)) {}

    void Begin() {
      step_ = account_.GetToken([this](Result<Token> token) {
        Release();
        if (!token.ok()) return Finish(token.status());
        token_ = *token;
        step_ = call_(*token_, [this](Result<T> result) {
          Release();
          if (!result.ok() && result.status().code() == StatusCode::kUnauthenticated &&
              !retried_) {
            retried_ = true;
            account_.Invalidate(*token_);
            return Begin();
          }
          Finish(std::move(result));
        });
      });
    }

   private:
    // The step that runs the current callback is destroyed after the callback returns.
    void Release() { loop_.Post([step = std::shared_ptr<Operation>(std::move(step_))] {}); }
    void Finish(Result<T> result) {
      auto done = std::move(done_);
      done(std::move(result));  // may destroy this operation
    }

    ServiceAccount& account_;
    EventLoop& loop_;
    decltype(call) call_;
    decltype(done) done_;
    std::optional<Token> token_;
    bool retried_ = false;
    std::unique_ptr<Operation> step_;
  };
  auto operation =
      std::make_unique<Retrying>(account, loop, std::move(call), std::move(done));
  operation->Begin();
  return operation;
}

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_SERVICE_ACCOUNT_H_
