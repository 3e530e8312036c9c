// Base64url without padding (RFC 4648 section 5, as JWTs and JWKs use it; RFC 7515 section 2).
//
// Built on common/base64.h (OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock): the two alphabets differ
// only in '-' and '_' for '+' and '/', and base64url drops the '=' padding.

#ifndef TASK_BASTION_AUTH_BASE64URL_H_
#define TASK_BASTION_AUTH_BASE64URL_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace tb::auth {

std::string Base64UrlEncode(std::string_view bytes);

// Decodes canonical unpadded base64url. Rejects, with InvalidArgument naming the offset or the
// length: '=', '+', '/', whitespace and any other character outside the alphabet, a length of
// 4n+1, and unused trailing bits that are not zero (so each byte string has one encoding).
Result<std::string> Base64UrlDecode(std::string_view text);

}  // namespace tb::auth

#endif  // TASK_BASTION_AUTH_BASE64URL_H_
