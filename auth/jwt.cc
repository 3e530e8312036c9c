#include "auth/jwt.h"

#include <cmath>
#include <set>
#include <vector>

#include "auth/base64url.h"
#include "auth/openssl_handles.h"
#include "auth/quote.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Reads a NumericDate claim (RFC 7519 section 2): a JSON number of seconds since the epoch,
// possibly with a fraction, which is dropped.
Result<std::chrono::system_clock::time_point> NumericDate(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) {
    return Status::InvalidArgument(std::string("token claims: ") + name + " is missing");
  }
  if (!it->is_number()) {
    return Status::InvalidArgument(std::string("token claims: ") + name + " is not a number");
  }
  double seconds = it->get<double>();
  // Past the year 10000 a token is malformed, and the cast below must not overflow.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 253402300800.0) {
    return Status::InvalidArgument(std::string("token claims: ") + name + " is out of range");
  }
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(static_cast<std::int64_t>(std::floor(seconds))));
}

Result<TokenClaims> ReadClaims(const Json& claims) {
  auto uid = claims.find("uid");
  if (uid == claims.end() || !uid->is_string() || uid->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument("token claims: uid is missing or not a non-empty string");
  }
  Result<std::chrono::system_clock::time_point> exp = NumericDate(claims, "exp");
  if (!exp.ok()) return exp.status();
  return TokenClaims{uid->get<std::string>(), *exp};
}

}  // namespace

Result<Json> ParseStrictJsonObject(std::string_view text, std::string_view what) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    return Status::InvalidArgument(std::string(what) + ": invalid JSON at byte " +
                                   std::to_string(e.byte));
  }
  if (!duplicate.empty()) {
    return Status::InvalidArgument(std::string(what) + ": duplicate member \"" + duplicate + "\"");
  }
  if (!value.is_object()) {
    return Status::InvalidArgument(std::string(what) + ": not a JSON object");
  }
  return value;
}

bool LooksLikeJwt(std::string_view text) {
  if (text.size() < 3 || text.substr(0, 3) != "eyJ") return false;
  int dots = 0;
  for (char c : text) {
    if (c == '.') {
      ++dots;
    } else if (!IsBase64UrlChar(c)) {
      return false;
    }
  }
  return dots == 2;
}

Result<Jwt> ParseJwt(std::string_view token) {
  if (token.size() > kMaxJwtBytes) {
    return Status::InvalidArgument("token is " + std::to_string(token.size()) +
                                   " bytes long, more than the maximum of " +
                                   std::to_string(kMaxJwtBytes));
  }
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Status::InvalidArgument("token does not have three dot-separated parts");
  }
  std::string_view header_text = token.substr(0, first);
  std::string_view payload_text = token.substr(first + 1, second - first - 1);
  std::string_view signature_text = token.substr(second + 1);
  if (header_text.empty() || payload_text.empty() || signature_text.empty()) {
    return Status::InvalidArgument("token has an empty part");
  }

  Result<std::string> header_bytes = Base64UrlDecode(header_text);
  if (!header_bytes.ok()) return header_bytes.status().Annotate("token header");
  Result<std::string> payload_bytes = Base64UrlDecode(payload_text);
  if (!payload_bytes.ok()) return payload_bytes.status().Annotate("token payload");
  Result<std::string> signature = Base64UrlDecode(signature_text);
  if (!signature.ok()) return signature.status().Annotate("token signature");

  Result<Json> header = ParseStrictJsonObject(*header_bytes, "token header");
  if (!header.ok()) return header.status();
  Result<Json> claims = ParseStrictJsonObject(*payload_bytes, "token payload");
  if (!claims.ok()) return claims.status();

  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) {
    return Status::InvalidArgument("token header: alg is missing or not a string");
  }
  if (alg->get_ref<const std::string&>() != "RS256") {
    return Status::InvalidArgument("token header: alg must be RS256, got " + Quote(alg->get_ref<const std::string&>(), 32));
  }
  auto typ = header->find("typ");
  if (typ != header->end() && (!typ->is_string() || typ->get_ref<const std::string&>() != "JWT")) {
    return Status::InvalidArgument("token header: typ must be \"JWT\" when present");
  }
  if (header->contains("crit")) {
    return Status::InvalidArgument("token header: crit is not supported");
  }
  std::string kid;
  if (auto it = header->find("kid"); it != header->end()) {
    if (!it->is_string()) return Status::InvalidArgument("token header: kid is not a string");
    kid = it->get<std::string>();
  }

  Jwt jwt;
  jwt.header = std::move(header).value();
  jwt.claims = std::move(claims).value();
  jwt.signing_input = std::string(token.substr(0, second));
  jwt.signature = std::move(signature).value();
  jwt.kid = std::move(kid);
  return jwt;
}

Status VerifyRs256(const Jwt& jwt, EVP_PKEY* public_key) {
  if (public_key == nullptr || !EVP_PKEY_is_a(public_key, "RSA")) {
    return Status::InvalidArgument("RS256 needs an RSA key");
  }
  EvpMdCtx context(EVP_MD_CTX_new());
  if (!context ||
      EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, public_key) != 1) {
    return Status::Internal("OpenSSL could not set up an RS256 verification");
  }
  int verified = EVP_DigestVerify(
      context.get(), reinterpret_cast<const unsigned char*>(jwt.signature.data()),
      jwt.signature.size(), reinterpret_cast<const unsigned char*>(jwt.signing_input.data()),
      jwt.signing_input.size());
  if (verified != 1) return Status::Unauthenticated("token signature does not verify");
  return Status::Ok();
}

Result<TokenClaims> CheckClaims(const Jwt& jwt, std::chrono::system_clock::time_point now) {
  Result<TokenClaims> claims = ReadClaims(jwt.claims);
  if (!claims.ok()) return claims.status();
  if (claims->expires_at <= now) {
    return Status::Unauthenticated("token for uid " + Quote(claims->uid) + " expired");
  }
  if (jwt.claims.contains("nbf")) {
    Result<std::chrono::system_clock::time_point> not_before = NumericDate(jwt.claims, "nbf");
    if (!not_before.ok()) return not_before.status();
    if (*not_before > now + kNotBeforeSkew) {
      return Status::Unauthenticated("token for uid " + Quote(claims->uid) + " is not valid yet (nbf)");
    }
  }
  return claims;
}

Result<TokenClaims> ReadClaimsUnverified(std::string_view token) {
  Result<Jwt> jwt = ParseJwt(token);
  if (!jwt.ok()) return jwt.status();
  return ReadClaims(jwt->claims);
}

Result<std::string> SignRs256(const Json& claims, EVP_PKEY* private_key) {
  if (private_key == nullptr || !EVP_PKEY_is_a(private_key, "RSA")) {
    return Status::Internal("RS256 signing needs an RSA private key");
  }
  const Json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  std::string signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());

  EvpMdCtx context(EVP_MD_CTX_new());
  std::size_t length = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (!context ||
      EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, private_key) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &length, input, signing_input.size()) != 1) {
    return Status::Internal("OpenSSL could not set up an RS256 signature");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     input, signing_input.size()) != 1) {
    return Status::Internal("OpenSSL could not sign the token");
  }
  signature.resize(length);
  return signing_input + "." + Base64UrlEncode(signature);
}

}  // namespace tb::auth
