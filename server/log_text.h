// LogSafe: makes text that a client chose (user names, task selectors, IAM responses) safe to put
// in a log line.

#ifndef TASK_BASTION_SERVER_LOG_TEXT_H_
#define TASK_BASTION_SERVER_LOG_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace tb::server {

// Returns `text` with control characters, quotes and backslashes written as \xNN escapes, so a
// client cannot forge log lines or break JSON logs. Text longer than `max_bytes` is cut there and
// its full size appended ("...(70005 bytes)"), so a long name cannot flood the log.
std::string LogSafe(std::string_view text, std::size_t max_bytes = 128);

}  // namespace tb::server

#endif  // TASK_BASTION_SERVER_LOG_TEXT_H_
