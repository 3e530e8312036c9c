#include "auth/token.h"

#include <ctime>

#include "auth/jwt.h"

namespace tb::auth {

std::string FormatUtc(Token::Time time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string Token::ToString() const {
  return "token for uid '" + uid_ + "' expiring " + FormatUtc(expires_at_);
}

Result<Token> TokenFromLoginAnswer(std::string jwt) {
  Result<TokenClaims> claims = ReadClaimsUnverified(jwt);
  if (!claims.ok()) return claims.status();
  return Token(std::move(jwt), claims->uid, claims->expires_at);
}

}  // namespace tb::auth
