// Base64 in the standard alphabet with padding (RFC 4648 section 4), the encoding Mesos uses for
// `bytes` fields in its JSON API (stout's protobuf JSON mapping).
//
// Both functions are pure and thread-safe. They wrap OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.

#ifndef TASK_BASTION_COMMON_BASE64_H_
#define TASK_BASTION_COMMON_BASE64_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace tb {

// Encodes arbitrary bytes. The result contains only A-Z a-z 0-9 + / and trailing '=', without
// line breaks, and has 4 * ceil(size / 3) characters.
std::string Base64Encode(std::string_view bytes);

// Decodes `text`, which must be a whole number of 4-character groups from the standard alphabet,
// with '=' only as padding at the end (at most two). Whitespace, the URL-safe alphabet and
// missing padding are rejected. Returns InvalidArgument naming the offending offset or length.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace tb

#endif  // TASK_BASTION_COMMON_BASE64_H_
