#include "common/base64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace tb {
namespace {

struct Vector {
  const char* bytes;
  const char* text;
};

// RFC 4648 section 10.
constexpr Vector kRfc4648Vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64Test, EncodesRfc4648Vectors) {
  for (const Vector& v : kRfc4648Vectors) {
    EXPECT_EQ(Base64Encode(v.bytes), v.text) << "bytes: " << v.bytes;
  }
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  for (const Vector& v : kRfc4648Vectors) {
    Result<std::string> decoded = Base64Decode(v.text);
    ASSERT_TRUE(decoded.ok()) << v.text << ": " << decoded.status().ToString();
    EXPECT_EQ(*decoded, v.bytes);
  }
}

TEST(Base64Test, RoundTripsEveryByteValueAndLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t length = 0; length <= bytes.size(); ++length) {
    std::string input = bytes.substr(0, length);
    std::string text = Base64Encode(input);
    EXPECT_EQ(text.size(), (length + 2) / 3 * 4);
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, input) << "length " << length;
  }
}

TEST(Base64Test, RoundTripsInputLargerThanOnePiece) {
  // Larger than the 3 MiB pieces the encoder hands to OpenSSL, with a length that needs padding.
  std::mt19937 random(42);
  std::string input(7 << 20, '\0');
  for (char& c : input) c = static_cast<char>(random());
  std::string text = Base64Encode(input);
  EXPECT_EQ(text.size(), (input.size() + 2) / 3 * 4);
  EXPECT_EQ(text.substr(text.size() - 2), "==");
  Result<std::string> decoded = Base64Decode(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == input);
}

TEST(Base64Test, DecodesNulBytes) {
  Result<std::string> decoded = Base64Decode("AAAA");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, std::string(3, '\0'));
}

TEST(Base64Test, LengthNotMultipleOfFourRejected) {
  Result<std::string> decoded = Base64Decode("Zg=");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("length 3 is not a multiple of 4"), std::string::npos)
      << decoded.status().message();
}

TEST(Base64Test, MissingPaddingRejected) {
  Result<std::string> decoded = Base64Decode("Zg");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
}

TEST(Base64Test, CharacterOutsideAlphabetRejected) {
  Result<std::string> decoded = Base64Decode("Zm9v!A==");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("'!' at offset 4"), std::string::npos)
      << decoded.status().message();
}

TEST(Base64Test, UrlSafeAlphabetRejected) {
  Result<std::string> decoded = Base64Decode("-_-_");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("'-' at offset 0"), std::string::npos);
}

TEST(Base64Test, WhitespaceRejected) {
  // OpenSSL's EVP_DecodeBlock alone would skip the surrounding blanks.
  for (const char* text : {" Zm9v   ", "Zm9v\n\n\n\n", "Zm\n9vA=="}) {
    Result<std::string> decoded = Base64Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  }
  Result<std::string> decoded = Base64Decode("Zm\n9vA==");
  EXPECT_NE(decoded.status().message().find("byte 0x0a at offset 2"), std::string::npos)
      << decoded.status().message();
}

TEST(Base64Test, PaddingBeforeEndRejected) {
  Result<std::string> decoded = Base64Decode("Zg==Zm9v");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("'=' at offset 2"), std::string::npos)
      << decoded.status().message();
}

TEST(Base64Test, ThreePaddingCharactersRejected) {
  Result<std::string> decoded = Base64Decode("Z===");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("'=' at offset 1"), std::string::npos);
}

TEST(Base64Test, DataAfterPaddingRejected) {
  Result<std::string> decoded = Base64Decode("Zg=a");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("after '=' padding"), std::string::npos)
      << decoded.status().message();
}

}  // namespace
}  // namespace tb
