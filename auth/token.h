// Token: a DC/OS auth token (an RS256 JWT) with the uid and expiry it was issued for.
//
// The JWT is a bearer secret, so the type never prints it: ToString(), operator<< and the fmt
// formatter show only the uid and the expiry, and the only way to the JWT is
// AuthorizationHeader(), whose result goes into an HTTP header and nowhere else.

#ifndef TASK_BASTION_AUTH_TOKEN_H_
#define TASK_BASTION_AUTH_TOKEN_H_

#include <chrono>
#include <ostream>
#include <string>
#include <string_view>

#include <spdlog/fmt/fmt.h>

#include "common/status.h"

namespace tb::auth {

class Token {
 public:
  using Time = std::chrono::system_clock::time_point;

  Token(std::string jwt, std::string uid, Time expires_at)
      : jwt_(std::move(jwt)), uid_(std::move(uid)), expires_at_(expires_at) {}

  const std::string& uid() const { return uid_; }
  Time expires_at() const { return expires_at_; }

  // "token=<jwt>": the Authorization header value Admin Router, Mesos and the IAM accept.
  std::string AuthorizationHeader() const { return "token=" + jwt_; }

  // "token for uid 'alice' expiring 2024-05-01T12:00:00Z".
  std::string ToString() const;

 private:
  std::string jwt_;  // never logged
  std::string uid_;
  Time expires_at_;
};

inline std::ostream& operator<<(std::ostream& out, const Token& token) {
  return out << token.ToString();
}

// Formats a Unix time as "2024-05-01T12:00:00Z".
std::string FormatUtc(Token::Time time);

// Reads `uid` and `exp` from a token the IAM returned on a login call, without verifying its
// signature: the caller trusts the channel the token came on and needs the expiry only to know
// when to log in again. InvalidArgument when the JWT or the claims are malformed; the message
// never contains the token.
Result<Token> TokenFromLoginAnswer(std::string jwt);

}  // namespace tb::auth

template <>
struct fmt::formatter<tb::auth::Token> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const tb::auth::Token& token, FormatContext& context) const {
    return fmt::formatter<std::string_view>::format(token.ToString(), context);
  }
};

#endif  // TASK_BASTION_AUTH_TOKEN_H_
