#include "auth/jwks.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "auth/base64url.h"
#include "auth/quote.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;

Result<Bignum> DecodeUnsigned(std::string_view text, const char* name) {
  Result<std::string> bytes = Base64UrlDecode(text);
  if (!bytes.ok()) return bytes.status().Annotate(name);
  if (bytes->empty()) return Status::InvalidArgument(std::string(name) + ": empty");
  if ((*bytes)[0] == '\0') {
    return Status::InvalidArgument(std::string(name) + ": leading zero byte");
  }
  Bignum number(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()),
                          static_cast<int>(bytes->size()), nullptr));
  if (!number) return Status::Internal(std::string(name) + ": OpenSSL BN_bin2bn failed");
  return number;
}

std::string StringMember(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

const Jwk* KeySet::Find(std::string_view kid) const {
  for (const Jwk& jwk : keys) {
    if (jwk.kid == kid) return &jwk;
  }
  return nullptr;
}

Result<EvpPkey> RsaPublicKeyFromJwk(std::string_view n, std::string_view e) {
  Result<Bignum> modulus = DecodeUnsigned(n, "n");
  if (!modulus.ok()) return modulus.status();
  Result<Bignum> exponent = DecodeUnsigned(e, "e");
  if (!exponent.ok()) return exponent.status();
  int bits = BN_num_bits(modulus->get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Status::InvalidArgument("n: modulus of " + std::to_string(bits) +
                                   " bits is outside " + std::to_string(kMinRsaBits) + " to " +
                                   std::to_string(kMaxRsaBits));
  }
  if (!BN_is_odd(exponent->get()) || BN_is_one(exponent->get())) {
    return Status::InvalidArgument("e: not an odd exponent above 1");
  }

  ParamBuild builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus->get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent->get()) != 1) {
    return Status::Internal("OpenSSL could not build the RSA parameters");
  }
  Params params(OSSL_PARAM_BLD_to_param(builder.get()));
  EvpPkeyCtx context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Status::InvalidArgument("OpenSSL rejected the RSA key");
  }
  return EvpPkey(key);
}

Result<KeySet> ParseJwks(std::string_view text) {
  Result<Json> document = ParseStrictJsonObject(text, "JWKS");
  if (!document.ok()) return document.status();
  auto keys = document->find("keys");
  if (keys == document->end() || !keys->is_array()) {
    return Status::InvalidArgument("JWKS: keys is missing or not an array");
  }
  if (keys->size() > kMaxJwks) {
    return Status::InvalidArgument("JWKS: " + std::to_string(keys->size()) +
                                   " keys, more than the maximum of " + std::to_string(kMaxJwks));
  }

  KeySet set;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const Json& entry = (*keys)[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      set.skipped.push_back(where + ": not an object");
      continue;
    }
    if (std::string kty = StringMember(entry, "kty"); kty != "RSA") {
      set.skipped.push_back(where + ": kty \"" + kty + "\" is not RSA");
      continue;
    }
    if (entry.contains("alg") && StringMember(entry, "alg") != "RS256") {
      set.skipped.push_back(where + ": alg is not RS256");
      continue;
    }
    if (entry.contains("use") && StringMember(entry, "use") != "sig") {
      set.skipped.push_back(where + ": use is not sig");
      continue;
    }
    if (entry.contains("kid") && !entry["kid"].is_string()) {
      set.skipped.push_back(where + ": kid is not a string");
      continue;
    }
    Result<EvpPkey> key = RsaPublicKeyFromJwk(StringMember(entry, "n"), StringMember(entry, "e"));
    if (!key.ok()) {
      set.skipped.push_back(where + ": " + key.status().message());
      continue;
    }
    Jwk jwk;
    jwk.kid = StringMember(entry, "kid");
    jwk.bits = EVP_PKEY_get_bits(key->get());
    jwk.key = Share(std::move(key).value());
    set.keys.push_back(std::move(jwk));
  }
  if (set.keys.empty()) {
    std::string reasons;
    for (const std::string& reason : set.skipped) reasons += "; " + reason;
    return Status::InvalidArgument("JWKS: no usable RS256 key" + reasons);
  }
  return set;
}

Status VerifyWithKeySet(const Jwt& jwt, const KeySet& keys) {
  if (!jwt.kid.empty()) {
    const Jwk* jwk = keys.Find(jwt.kid);
    if (jwk == nullptr) {
      return Status::NotFound("token key id " + Quote(jwt.kid, 64) + " is not in the IAM's key set");
    }
    return VerifyRs256(jwt, jwk->key.get());
  }
  for (const Jwk& jwk : keys.keys) {
    if (VerifyRs256(jwt, jwk.key.get()).ok()) return Status::Ok();
  }
  return Status::Unauthenticated("token signature does not verify with any key of the IAM");
}

}  // namespace tb::auth
