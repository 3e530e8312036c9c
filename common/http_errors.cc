#include "common/http_errors.h"

namespace tb {

std::string DurationText(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

std::string TransportReason(const Status& error, std::string_view description) {
  std::string_view message = error.message();
  if (!description.empty() && message.size() > description.size() + 2 &&
      message.substr(0, description.size()) == description &&
      message.substr(description.size(), 2) == ": ") {
    message.remove_prefix(description.size() + 2);
  }
  return std::string(message);
}

std::string FirstLine(std::string_view body, std::size_t max_bytes) {
  std::string_view line = body.substr(0, body.find_first_of("\r\n"));
  std::string out(line.substr(0, max_bytes));
  for (char& c : out) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  if (line.size() > max_bytes) out += "...";
  return out;
}

}  // namespace tb
