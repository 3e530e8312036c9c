// The SSH login name: "<task>" or "<uid>@<task>".
//
// The name is split at its last '@', because uids may be e-mail addresses:
// "alice@example.com@web.1a2b" is uid "alice@example.com" and task selector "web.1a2b". Without '@'
// the whole name is the task selector and the uid comes from the credentials (a key's owner, a
// token's uid, or the keyboard-interactive prompt).

#ifndef TASK_BASTION_AUTH_LOGIN_NAME_H_
#define TASK_BASTION_AUTH_LOGIN_NAME_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::auth {

struct LoginName {
  std::string uid;   // empty when the name has no '@'
  std::string task;  // the task selector, never empty
};

// The maximum login name length, in bytes. Task ids are "<app>.<uuid>" and uids are short
// names or e-mail addresses, so real names stay far below it.
inline constexpr std::size_t kMaxLoginNameBytes = 256;

// Splits `user`. Returns InvalidArgument, with a message that names the expected form
// "<task> or <uid>@<task>", when the name is empty or longer than kMaxLoginNameBytes, contains a
// control character (bytes 0x00-0x1f and 0x7f), has nothing after its last '@', or has nothing
// before it.
Result<LoginName> ParseLoginName(std::string_view user);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_LOGIN_NAME_H_
