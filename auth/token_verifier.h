// TokenVerifier: checks DC/OS auth tokens offered as SSH passwords, against the IAM's JWKS.
//
// A token is accepted when ParseJwt accepts its form (RS256 only) and its signature verifies with
// the IAM key its kid names (or any IAM key when it has no kid). CheckClaims must also accept
// `uid`, `exp` and `nbf` at the clock's current time. The uid of the returned Token is the `uid` claim.
//
// The key set is fetched by Start(). It is fetched again when a token names an unknown kid or its
// signature does not verify, at most once per `min_refetch_interval`. So a rotated IAM key takes
// effect at once, while a flood of forged tokens causes at most one fetch a minute. Without
// any key set (the IAM was down since the start) every verification fetches, coalesced into one
// request in flight.
//
// Outcomes: Unauthenticated for a token that is malformed, forged, expired or not yet valid;
// Unavailable or DeadlineExceeded when no key set could be fetched. No message contains the
// token.
//
// Lives on one worker loop with the IamClient it borrows.

#ifndef TASK_BASTION_AUTH_TOKEN_VERIFIER_H_
#define TASK_BASTION_AUTH_TOKEN_VERIFIER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/clock.h"
#include "auth/iam_client.h"
#include "auth/jwks.h"
#include "auth/token.h"
#include "auth/waiters.h"
#include "common/event_loop.h"

namespace tb::auth {

struct TokenVerifierOptions {
  std::chrono::milliseconds min_refetch_interval{60000};
};

class TokenVerifier {
 public:
  // `iam`, `loop` and `clock` must outlive the verifier and every operation it starts.
  TokenVerifier(IamClient& iam, EventLoop& loop, Clock& clock, TokenVerifierOptions options);

  // Fetches the key set; the result is logged.
  void Start();

  // Verifies `token`. `done` runs once, later, on the loop thread, unless the returned Operation
  // is destroyed first.
  std::unique_ptr<Operation> Verify(std::string token, std::function<void(Result<Token>)> done);

  // The key set in use, or nullptr before the first successful fetch.
  const KeySet* keys() const { return keys_ ? &*keys_ : nullptr; }

 private:
  // Verifies against the current key set. Returns nullopt when a refetch could change the result.
  std::optional<Result<Token>> TryVerify(const Jwt& jwt, const std::string& token,
                                         bool may_refetch);
  Result<Token> Finish(const Jwt& jwt, const std::string& token);
  void Fetch();
  void OnFetched(Result<KeySet> keys);

  IamClient& iam_;
  EventLoop& loop_;
  Clock& clock_;
  const TokenVerifierOptions options_;

  std::optional<KeySet> keys_;
  std::optional<Clock::MonotonicTime> last_fetch_;  // start of the last fetch
  std::unique_ptr<Operation> fetch_;                // the fetch in flight
  Status last_fetch_error_;
  Waiters<const Status&> waiting_for_keys_;  // OK when a fetch succeeded
};

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_TOKEN_VERIFIER_H_
