// JSON Web Key sets (RFC 7517) as the DC/OS IAM publishes them at /acs/api/v1/auth/jwks:
// {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "...", "n": "...", "e": "..."}]},
// the current signing key first.
//
// Only keys that can check an RS256 token are kept: kty RSA, alg RS256 or absent, use sig or
// absent, and a modulus of at least kMinRsaBits. Other entries are skipped with a reason, so a
// set that also publishes an encryption key still works. Pure functions; a KeySet is immutable
// and may be shared between threads.

#ifndef TASK_BASTION_AUTH_JWKS_H_
#define TASK_BASTION_AUTH_JWKS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "auth/openssl_handles.h"
#include "common/status.h"

namespace tb::auth {

// RSA moduli below 2048 bits are too weak to trust (NIST SP 800-131A); DC/OS uses 2048.
inline constexpr int kMinRsaBits = 2048;
// Larger moduli only slow every verification down; 8192 bits covers every real key.
inline constexpr int kMaxRsaBits = 8192;
// A key set longer than this is not the IAM's: it publishes one key, two during a rotation.
inline constexpr std::size_t kMaxJwks = 32;

struct Jwk {
  std::string kid;  // may be empty
  SharedEvpPkey key;
  int bits = 0;
};

struct KeySet {
  std::vector<Jwk> keys;             // in the published order
  std::vector<std::string> skipped;  // why entries were not kept, e.g. "keys[1]: kty \"EC\""

  // The key with `kid`, or nullptr.
  const Jwk* Find(std::string_view kid) const;
};

// Parses a key set. InvalidArgument when the text is not a JSON object with a "keys" array of
// at most kMaxJwks objects, or when no entry is a usable RS256 key.
Result<KeySet> ParseJwks(std::string_view text);

// Builds an RSA public key from the base64url big-endian modulus `n` and exponent `e` with
// OpenSSL (OSSL_PARAM_BLD, EVP_PKEY_fromdata). InvalidArgument when either is malformed or has
// leading zero bytes, or when the modulus is outside [kMinRsaBits, kMaxRsaBits].
Result<EvpPkey> RsaPublicKeyFromJwk(std::string_view n, std::string_view e);

// Verifies `jwt` with the key named by its kid, or with each key in turn when it has none.
// NotFound when the kid names no key in the set (the set may be stale), Unauthenticated when
// the signature does not verify.
Status VerifyWithKeySet(const Jwt& jwt, const KeySet& keys);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_JWKS_H_
