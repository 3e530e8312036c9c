#include "auth/login_name.h"

#include <cstdio>

namespace tb::auth {

namespace {

constexpr std::string_view kExpectedForm = "; expected <task> or <uid>@<task>";

Status Invalid(std::string message) {
  message += kExpectedForm;
  return Status::InvalidArgument(std::move(message));
}

}  // namespace

Result<LoginName> ParseLoginName(std::string_view user) {
  if (user.empty()) return Invalid("the login name is empty");
  if (user.size() > kMaxLoginNameBytes) {
    return Invalid("the login name is " + std::to_string(user.size()) +
                   " bytes long, above the maximum of " + std::to_string(kMaxLoginNameBytes));
  }
  for (std::size_t i = 0; i < user.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(user[i]);
    if (byte < 0x20 || byte == 0x7f) {
      // The name is not quoted: it would carry the control character into the terminal or log.
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", byte);
      return Invalid("the login name contains the control character " + std::string(hex) +
                     " at offset " + std::to_string(i));
    }
  }

  const std::size_t at = user.rfind('@');
  if (at == std::string_view::npos) return LoginName{"", std::string(user)};
  if (at + 1 == user.size()) {
    return Invalid("the login name '" + std::string(user) + "' has no task after its last '@'");
  }
  if (at == 0) {
    return Invalid("the login name '" + std::string(user) + "' has no uid before its last '@'");
  }
  return LoginName{std::string(user.substr(0, at)), std::string(user.substr(at + 1))};
}

}  // namespace tb::auth
