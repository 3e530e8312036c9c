// Wording shared by the clients that turn HttpClient results into user-facing Status messages.

#ifndef TASK_BASTION_COMMON_HTTP_ERRORS_H_
#define TASK_BASTION_COMMON_HTTP_ERRORS_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tb {

// Returns "5 s" for whole seconds, else "1500 ms".
std::string DurationText(std::chrono::milliseconds duration);

// Returns the message of a failed HttpCall without the "<description>: " prefix HttpClient puts
// in front of it, so that a caller that names the call itself does not name it twice.
std::string TransportReason(const Status& error, std::string_view description);

// Returns the first line of `body`, cut to `max_bytes` (then ending in "...") and with control
// characters replaced by '?', for quoting a server's error text in a message shown on a
// terminal ("No leader elected").
std::string FirstLine(std::string_view body, std::size_t max_bytes = 200);

}  // namespace tb

#endif  // TASK_BASTION_COMMON_HTTP_ERRORS_H_
