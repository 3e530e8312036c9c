#include "server/log_text.h"

#include <cstdio>

namespace tb::server {

std::string LogSafe(std::string_view text, std::size_t max_bytes) {
  std::string safe;
  std::size_t shown = text.size() > max_bytes ? max_bytes : text.size();
  safe.reserve(shown + 16);
  for (std::size_t i = 0; i < shown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\x%02x", c);
      safe += escape;
    } else {
      safe += static_cast<char>(c);
    }
  }
  if (shown < text.size()) safe += "...(" + std::to_string(text.size()) + " bytes)";
  return safe;
}

}  // namespace tb::server
