// Quoting of values that come from outside (token claims, key ids, file contents) for messages
// and log lines, so a control character cannot forge a log line or move a terminal's cursor.

#ifndef TASK_BASTION_AUTH_QUOTE_H_
#define TASK_BASTION_AUTH_QUOTE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tb::auth {

// Returns `text` as a JSON string literal ("alice", "a\nb"), cut to `max_bytes` first (then
// ending in "..."); invalid UTF-8 becomes U+FFFD.
inline std::string Quote(std::string_view text, std::size_t max_bytes = 128) {
  std::string cut(text.substr(0, max_bytes));
  std::string quoted =
      nlohmann::json(cut).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_bytes) quoted += "...";
  return quoted;
}

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_QUOTE_H_
