#include "auth/base64url.h"

#include "common/base64.h"

namespace tb::auth {

std::string Base64UrlEncode(std::string_view bytes) {
  std::string text = Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return Status::InvalidArgument("invalid base64url: length " + std::to_string(text.size()) +
                                   " leaves a single character in the last group");
  }
  std::string standard;
  standard.reserve(text.size() + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alphanumeric =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!alphanumeric) {
      return Status::InvalidArgument("invalid base64url: character " +
                                     std::to_string(static_cast<unsigned char>(text[i])) +
                                     " at offset " + std::to_string(i));
    }
    standard.push_back(c);
  }
  standard.append((4 - standard.size() % 4) % 4, '=');

  Result<std::string> bytes = Base64Decode(standard);
  if (!bytes.ok()) return bytes.status();
  // Non-zero unused bits in the last character decode to the same bytes as the zero form;
  // re-encoding tells them apart.
  if (Base64UrlEncode(*bytes) != text) {
    return Status::InvalidArgument("invalid base64url: non-canonical last character at offset " +
                                   std::to_string(text.size() - 1));
  }
  return bytes;
}

}  // namespace tb::auth
