// Authenticator: turns the credentials of one SSH authentication request into an identity.
//
//   credential                          accepted when                              identity
//   password that is a JWT              TokenVerifier accepts it; with the         its uid claim
//   (any login name form)               <uid>@<task> form the uid claim is <uid>
//   password, keyboard-interactive      the IAM logs <uid> in with it              <uid>
//   public key, <uid>@<task>            the key registry lists it for <uid>, or    <uid>
//                                       <uid> is a service account with this RSA
//                                       key (GET /users/{uid})
//   public key, <task>                  exactly one uid lists it in the registry,  that uid
//                                       else exactly one service account has it
//                                       (GET /users?type=service, cached)
//
// Only the key's owner passes: a key listed for another uid, or of another service account, is
// rejected. Signature checks stay with libssh; this class only decides whose key it is.
//
// Outcomes (the three of ContainerSSH): OK with the Identity (accepted); Unauthenticated or
// InvalidArgument (rejected: wrong or unusable credentials); Unavailable or DeadlineExceeded
// (the IAM did not respond usefully). Both failures deny. Messages name uids and key fingerprints,
// never a password, token or key.
//
// Lives on one worker loop. `done` runs once, later, unless the returned Operation is destroyed
// first.

#ifndef TASK_BASTION_AUTH_AUTHENTICATOR_H_
#define TASK_BASTION_AUTH_AUTHENTICATOR_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/clock.h"
#include "auth/iam_client.h"
#include "auth/key_registry.h"
#include "auth/public_key.h"
#include "auth/service_account.h"
#include "auth/token.h"
#include "auth/token_verifier.h"
#include "auth/waiters.h"

namespace tb::auth {

struct Identity {
  std::string uid;
  std::string method;  // "password", "keyboard-interactive", "token" or "publickey"
  // The token for cluster calls: the user's own token after a password or token login, the
  // bastion's service-account token after a public-key login. Empty for a public-key probe.
  std::optional<Token> cluster_token;
  std::string key_fingerprint;  // public-key logins
  std::string key_source;       // "key registry" or "IAM service account"
};

struct AuthenticatorOptions {
  // How long the list of service accounts is reused before it is fetched again.
  std::chrono::milliseconds service_accounts_ttl{60000};
};

class Authenticator {
 public:
  // Every reference must outlive the authenticator and its operations. `registry` and `account`
  // may be null. Without a registry no key is registered. Without a service account public
  // keys are rejected, because the IAM look-ups and the cluster calls for a key user need it.
  Authenticator(IamClient& iam, EventLoop& loop, Clock& clock, TokenVerifier& verifier,
                KeyRegistry* registry, ServiceAccount* account, AuthenticatorOptions options);

  // Whether public-key logins can work at all.
  bool accepts_public_keys() const { return account_ != nullptr; }

  // A password from the password method or the keyboard-interactive password prompt. `uid` is
  // the uid of the login name or of the "IAM user:" prompt, empty when neither gave one.
  // `method` names the SSH method in the identity and in messages.
  std::unique_ptr<Operation> CheckPassword(std::string uid, std::string password,
                                           std::string method,
                                           std::function<void(Result<Identity>)> done);

  // Checks a public key. `login_uid` is empty for the <task> form. With `signed_request` (the
  // client proved that it has the private key) the identity carries the service-account
  // token. A probe only learns whether the key would be accepted.
  std::unique_ptr<Operation> CheckPublicKey(std::string login_uid, SshPublicKey key,
                                            bool signed_request,
                                            std::function<void(Result<Identity>)> done);

 private:
  class KeyCheck;

  // Returns the cached service-account list, fetching it when older than the TTL.
  std::unique_ptr<Operation> GetServiceAccounts(
      std::function<void(Result<std::vector<IamUser>>)> done);
  void OnServiceAccounts(Result<std::vector<IamUser>> users);

  IamClient& iam_;
  EventLoop& loop_;
  Clock& clock_;
  TokenVerifier& verifier_;
  KeyRegistry* const registry_;
  ServiceAccount* const account_;
  const AuthenticatorOptions options_;

  std::optional<std::vector<IamUser>> service_accounts_;
  Clock::MonotonicTime service_accounts_fetched_{};
  std::unique_ptr<Operation> service_accounts_fetch_;
  Waiters<Result<std::vector<IamUser>>> waiting_for_accounts_;
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_AUTHENTICATOR_H_
