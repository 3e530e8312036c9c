// Compact JSON Web Tokens signed RS256 (RFC 7515, RFC 7519): the form of DC/OS auth tokens and of
// the service login tokens a service account sends to the IAM.
//
// A token is "<header>.<payload>.<signature>", each part base64url without padding. DC/OS auth
// tokens carry the header {"alg":"RS256","typ":"JWT"} (the IAM adds "kid") and the claims `uid`
// and `exp` (Unix seconds). Parsing is strict, because the token arrives as an SSH password from
// anyone who can reach the port:
//   * at most kMaxJwtBytes, exactly three parts, canonical base64url in each;
//   * header and payload are JSON objects, valid UTF-8, without duplicate member names (a
//     duplicate could be read one way here and another way by another consumer);
//   * the signature algorithm is RS256 and nothing else. "none", HS256 (where an RSA public key
//     could be misused as an HMAC secret) and every other value are rejected before any key is
//     looked at. A `crit` header is rejected because no extension is implemented.
// Every function is pure and thread-safe. No message contains the token or part of it.

#ifndef TASK_BASTION_AUTH_JWT_H_
#define TASK_BASTION_AUTH_JWT_H_

#include <openssl/evp.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tb::auth {

// DC/OS auth tokens are about 600 bytes with a 2048-bit key and 1 KiB with a 4096-bit one, so a
// longer password is not a token the IAM issued.
inline constexpr std::size_t kMaxJwtBytes = 8192;

// A token that passed the structural checks; its signature is not verified yet.
struct Jwt {
  nlohmann::json header;      // a JSON object with "alg": "RS256"
  nlohmann::json claims;      // a JSON object
  std::string signing_input;  // "<header>.<payload>" exactly as received: what was signed
  std::string signature;      // decoded signature bytes
  std::string kid;            // the header's "kid", empty when absent
};

// Returns true when `text` has the shape of a compact JWT: it begins with "eyJ" (base64url of
// '{"') and has exactly two dots, parts possibly empty. This cheap test separates an offered token
// from a password, so that a malformed token ("alg": "none" with an empty signature, say) is
// rejected by ParseJwt with its reason instead of being sent to the IAM as a password.
bool LooksLikeJwt(std::string_view text);

// Splits and decodes `token` and checks the header as described above. The InvalidArgument
// message names the rule that failed ("token header: alg must be RS256, got \"HS256\"").
Result<Jwt> ParseJwt(std::string_view token);

// Verifies the RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) with an RSA public key.
// InvalidArgument when the key is not RSA, Unauthenticated when the signature does not verify.
Status VerifyRs256(const Jwt& jwt, EVP_PKEY* public_key);

// The claims DC/OS reads from an auth token.
struct TokenClaims {
  std::string uid;
  std::chrono::system_clock::time_point expires_at;
};

// How far `nbf` may lie in the future and still count as valid, for clocks that differ a little
// between the IAM and the bastion. `exp` gets no such allowance: an expired token is rejected.
inline constexpr std::chrono::seconds kNotBeforeSkew{30};

// Checks the claims at time `now`: `uid` a non-empty string, `exp` a number later than `now`,
// and `nbf`, when present, a number not later than now + kNotBeforeSkew. Unauthenticated for an
// expired or not yet valid token, InvalidArgument for a missing or mistyped claim.
Result<TokenClaims> CheckClaims(const Jwt& jwt, std::chrono::system_clock::time_point now);

// Returns the claims of `token` without verifying its signature or times: the uid and the expiry
// of a token the caller already trusts. InvalidArgument when malformed.
Result<TokenClaims> ReadClaimsUnverified(std::string_view token);

// Signs `claims` with an RSA private key: header {"alg":"RS256","typ":"JWT"}. Internal when
// OpenSSL fails (a key that is not RSA, say).
Result<std::string> SignRs256(const nlohmann::json& claims, EVP_PKEY* private_key);

// Parses `text` as one JSON object and rejects duplicate member names at any depth.
// InvalidArgument names `what` and the byte offset or the duplicate name.
Result<nlohmann::json> ParseStrictJsonObject(std::string_view text, std::string_view what);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_JWT_H_
