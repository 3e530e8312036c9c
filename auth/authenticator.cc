#include "auth/authenticator.h"

#include <algorithm>
#include <utility>

#include "auth/jwt.h"

namespace tb::auth {
namespace {

// No IAM password and no DC/OS token is this long; a longer password is not sent anywhere.
constexpr std::size_t kMaxPasswordBytes = kMaxJwtBytes;

std::string JoinUids(const std::vector<std::string>& uids) {
  std::string list;
  for (const std::string& uid : uids) list += (list.empty() ? "'" : ", '") + uid + "'";
  return list;
}

}  // namespace

// One public-key decision in flight; see CheckPublicKey.
class Authenticator::KeyCheck : public Operation {
 public:
  KeyCheck(Authenticator& authenticator, std::string login_uid, SshPublicKey key,
           bool signed_request, std::function<void(Result<Identity>)> done)
      : authenticator_(authenticator),
        login_uid_(std::move(login_uid)),
        key_(std::move(key)),
        signed_request_(signed_request),
        done_(std::move(done)) {}

  void Start() {
    // Runs from a posted task, so that `done` never runs inside CheckPublicKey.
    step_ = PostCancellable(authenticator_.loop_, [this] { Run(); });
  }

 private:
  void Run() {
    Release();
    if (authenticator_.account_ == nullptr) {
      return Finish(Status::InvalidArgument(
          "public-key logins need the bastion's service account, which is not configured"));
    }
    std::vector<std::string> uids;
    if (authenticator_.registry_ != nullptr) {
      uids = authenticator_.registry_->UidsForKey(key_.blob);
    }
    if (!login_uid_.empty()) return CheckOwner(uids);

    if (uids.size() == 1) return Accept(uids[0], "key registry");
    if (uids.size() > 1) {
      return Finish(Status::Unauthenticated("key " + key_.fingerprint +
                                            " is registered for several uids (" + JoinUids(uids) +
                                            "); log in as <uid>@<task>"));
    }
    step_ = authenticator_.GetServiceAccounts([this](Result<std::vector<IamUser>> users) {
      Release();
      if (!users.ok()) return Finish(users.status());
      std::vector<std::string> owners;
      for (const IamUser& user : *users) {
        if (SshKeyMatchesPem(key_, user.public_key)) owners.push_back(user.uid);
      }
      if (owners.size() == 1) return Accept(owners[0], "IAM service account");
      if (owners.size() > 1) {
        return Finish(Status::Unauthenticated("key " + key_.fingerprint +
                                              " belongs to several service accounts (" +
                                              JoinUids(owners) + "); log in as <uid>@<task>"));
      }
      Finish(Status::Unauthenticated("key " + key_.fingerprint +
                                     " is not registered for any uid and belongs to no service "
                                     "account"));
    });
  }

  // The <uid>@<task> form: the key must be this uid's.
  void CheckOwner(const std::vector<std::string>& registry_uids) {
    if (std::find(registry_uids.begin(), registry_uids.end(), login_uid_) != registry_uids.end()) {
      return Accept(login_uid_, "key registry");
    }
    std::string elsewhere =
        registry_uids.empty() ? "" : " (the key registry lists it for another uid)";
    std::function<std::unique_ptr<Operation>(const Token&, std::function<void(Result<IamUser>)>)>
        call = [this](const Token& token, std::function<void(Result<IamUser>)> answer) {
          return authenticator_.iam_.GetUser(login_uid_, token.AuthorizationHeader(),
                                             std::move(answer));
        };
    step_ = WithServiceToken<IamUser>(
        *authenticator_.account_, authenticator_.loop_, std::move(call),
        [this, elsewhere](Result<IamUser> user) {
          Release();
          const std::string not_owner =
              "key " + key_.fingerprint + " is not registered for uid '" + login_uid_ + "'";
          if (!user.ok()) {
            if (user.status().code() == StatusCode::kNotFound) {
              return Finish(Status::Unauthenticated(not_owner + elsewhere));
            }
            return Finish(user.status());
          }
          if (user->is_service && SshKeyMatchesPem(key_, user->public_key)) {
            return Accept(login_uid_, "IAM service account");
          }
          Finish(Status::Unauthenticated(not_owner + elsewhere));
        });
  }

  void Accept(const std::string& uid, const char* source) {
    Identity identity;
    identity.uid = uid;
    identity.method = "publickey";
    identity.key_fingerprint = key_.fingerprint;
    identity.key_source = source;
    if (!signed_request_) return Finish(std::move(identity));

    step_ = authenticator_.account_->GetToken(
        [this, identity = std::move(identity)](Result<Token> token) mutable {
          Release();
          if (!token.ok()) return Finish(token.status());
          identity.cluster_token = std::move(token).value();
          Finish(std::move(identity));
        });
  }

  void Release() {
    authenticator_.loop_.Post([step = std::shared_ptr<Operation>(std::move(step_))] {});
  }

  void Finish(Result<Identity> result) {
    auto done = std::move(done_);
    done(std::move(result));  // may destroy this check
  }

  Authenticator& authenticator_;
  const std::string login_uid_;
  const SshPublicKey key_;
  const bool signed_request_;
  std::function<void(Result<Identity>)> done_;
  std::unique_ptr<Operation> step_;
};

Authenticator::Authenticator(IamClient& iam, EventLoop& loop, Clock& clock,
                             TokenVerifier& verifier, KeyRegistry* registry,
                             ServiceAccount* account, AuthenticatorOptions options)
    : iam_(iam),
      loop_(loop),
      clock_(clock),
      verifier_(verifier),
      registry_(registry),
      account_(account),
      options_(options) {}

std::unique_ptr<Operation> Authenticator::CheckPassword(
    std::string uid, std::string password, std::string method,
    std::function<void(Result<Identity>)> done) {
  auto reject = [this, &done](Status status) {
    return PostCancellable(loop_, [done = std::move(done), status = std::move(status)] {
      done(status);
    });
  };
  if (password.size() > kMaxPasswordBytes) {
    return reject(Status::InvalidArgument("the password is longer than " +
                                          std::to_string(kMaxPasswordBytes) + " bytes"));
  }

  if (LooksLikeJwt(password)) {
    return verifier_.Verify(std::move(password), [uid = std::move(uid), done = std::move(done)](
                                                     Result<Token> token) {
      if (!token.ok()) return done(token.status());
      if (!uid.empty() && token->uid() != uid) {
        return done(Status::Unauthenticated("the token is for uid '" + token->uid() +
                                            "', not for '" + uid + "'"));
      }
      Identity identity;
      identity.uid = token->uid();
      identity.method = "token";
      identity.cluster_token = std::move(token).value();
      done(std::move(identity));
    });
  }

  if (uid.empty()) {
    return reject(Status::InvalidArgument(
        "a password login needs the user name form <uid>@<task>, or a DC/OS auth token as the "
        "password"));
  }
  std::string login_uid = uid;
  return iam_.Login(std::move(login_uid), std::move(password),
                    [uid = std::move(uid), method = std::move(method),
                     done = std::move(done)](Result<std::string> answer) {
                      if (!answer.ok()) return done(answer.status());
                      Result<Token> token = TokenFromLoginAnswer(std::move(answer).value());
                      if (!token.ok()) {
                        return done(Status::Unavailable("the IAM answered the login of '" + uid +
                                                        "' with an unreadable token: " +
                                                        token.status().message()));
                      }
                      Identity identity;
                      identity.uid = uid;
                      identity.method = method;
                      identity.cluster_token = std::move(token).value();
                      done(std::move(identity));
                    });
}

std::unique_ptr<Operation> Authenticator::CheckPublicKey(
    std::string login_uid, SshPublicKey key, bool signed_request,
    std::function<void(Result<Identity>)> done) {
  auto check = std::make_unique<KeyCheck>(*this, std::move(login_uid), std::move(key),
                                          signed_request, std::move(done));
  check->Start();
  return check;
}

std::unique_ptr<Operation> Authenticator::GetServiceAccounts(
    std::function<void(Result<std::vector<IamUser>>)> done) {
  if (service_accounts_ &&
      clock_.Monotonic() - service_accounts_fetched_ < options_.service_accounts_ttl) {
    return PostCancellable(loop_, [done = std::move(done), users = *service_accounts_] {
      done(users);
    });
  }
  std::unique_ptr<Operation> waiter = waiting_for_accounts_.Add(std::move(done));
  if (!service_accounts_fetch_) {
    std::function<std::unique_ptr<Operation>(
        const Token&, std::function<void(Result<std::vector<IamUser>>)>)>
        call = [this](const Token& token, std::function<void(Result<std::vector<IamUser>>)> answer) {
          return iam_.ListServiceAccounts(token.AuthorizationHeader(), std::move(answer));
        };
    service_accounts_fetch_ = WithServiceToken<std::vector<IamUser>>(
        *account_, loop_, std::move(call),
        [this](Result<std::vector<IamUser>> users) { OnServiceAccounts(std::move(users)); });
  }
  return waiter;
}

void Authenticator::OnServiceAccounts(Result<std::vector<IamUser>> users) {
  loop_.Post([finished = std::shared_ptr<Operation>(std::move(service_accounts_fetch_))] {});
  if (users.ok()) {
    service_accounts_ = *users;
    service_accounts_fetched_ = clock_.Monotonic();
  }
  waiting_for_accounts_.CompleteEach(
      [&] { return std::tuple<Result<std::vector<IamUser>>>(users); });
}

}  // namespace tb::auth
