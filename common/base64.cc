#include "common/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>

namespace tb {

namespace {

// EVP_EncodeBlock and EVP_DecodeBlock take int lengths, so long inputs go through in pieces.
// Encoding pieces are a multiple of 3 bytes and decoding pieces a multiple of 4 characters, so
// every piece except the last has no padding and the outputs simply concatenate.
constexpr std::size_t kEncodePieceBytes = 3 << 20;
constexpr std::size_t kDecodePieceChars = 4 << 20;

bool IsAlphabetChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

std::string DescribeChar(char c) {
  unsigned char byte = static_cast<unsigned char>(c);
  char text[16];
  if (byte >= 0x21 && byte < 0x7f) {
    std::snprintf(text, sizeof(text), "'%c'", c);
  } else {
    std::snprintf(text, sizeof(text), "byte 0x%02x", byte);
  }
  return text;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  // +1 because EVP_EncodeBlock ends its output with a NUL, which the final resize drops.
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  std::size_t written = 0;
  for (std::size_t offset = 0; offset < bytes.size(); offset += kEncodePieceBytes) {
    std::size_t piece = std::min(kEncodePieceBytes, bytes.size() - offset);
    written += static_cast<std::size_t>(
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()) + written, in + offset,
                        static_cast<int>(piece)));
  }
  out.resize(written);
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument("invalid base64: length " + std::to_string(text.size()) +
                                   " is not a multiple of 4");
  }

  // EVP_DecodeBlock skips surrounding whitespace and cannot tell padding from data, so the
  // alphabet and the position of '=' are checked here and the padding is subtracted below.
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) {
        return Status::InvalidArgument("invalid base64: '=' at offset " + std::to_string(i) +
                                       " before the last two characters");
      }
      ++padding;
    } else if (!IsAlphabetChar(c)) {
      return Status::InvalidArgument("invalid base64: " + DescribeChar(c) + " at offset " +
                                     std::to_string(i));
    } else if (padding > 0) {
      return Status::InvalidArgument("invalid base64: data character at offset " +
                                     std::to_string(i) + " after '=' padding");
    }
  }

  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  std::string out(text.size() / 4 * 3, '\0');
  std::size_t written = 0;
  for (std::size_t offset = 0; offset < text.size(); offset += kDecodePieceChars) {
    std::size_t piece = std::min(kDecodePieceChars, text.size() - offset);
    int piece_written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()) + written,
                                        in + offset, static_cast<int>(piece));
    if (piece_written < 0) {
      return Status::InvalidArgument("invalid base64: OpenSSL rejected the text at offset " +
                                     std::to_string(offset));
    }
    written += static_cast<std::size_t>(piece_written);
  }
  // EVP_DecodeBlock returns 3 bytes per group, including zero bytes for the '=' padding.
  out.resize(written - padding);
  return out;
}

}  // namespace tb
