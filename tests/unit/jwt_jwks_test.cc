#include "auth/jwks.h"

#include <gtest/gtest.h>

#include "auth/base64url.h"
#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;
using ::tb::testing::JwkFor;
using ::tb::testing::SignedJwt;
using ::tb::testing::TestRsaKey;

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

Json KeySetJson(std::vector<Json> keys) { return Json{{"keys", std::move(keys)}}; }

Jwt ParsedToken(const Json& header, EVP_PKEY* key) {
  Result<Jwt> jwt = ParseJwt(SignedJwt(header, {{"uid", "alice"}, {"exp", 4000000000}}, key));
  EXPECT_TRUE(jwt.ok()) << jwt.status().ToString();
  return *jwt;
}

TEST(JwksTest, ParsesKeysInOrder) {
  Result<KeySet> set = ParseJwks(
      KeySetJson({JwkFor(TestRsaKey(0), "new"), JwkFor(TestRsaKey(1), "old")}).dump());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 2u);
  EXPECT_EQ(set->keys[0].kid, "new");
  EXPECT_EQ(set->keys[0].bits, 2048);
  EXPECT_EQ(set->Find("old"), &set->keys[1]);
  EXPECT_EQ(set->Find("none"), nullptr);
  EXPECT_TRUE(set->skipped.empty());
}

TEST(JwksTest, KeyFromJwkVerifiesTokens) {
  Result<KeySet> set = ParseJwks(KeySetJson({JwkFor(TestRsaKey(0), "k")}).dump());
  ASSERT_TRUE(set.ok());
  Jwt jwt = ParsedToken({{"alg", "RS256"}, {"kid", "k"}}, TestRsaKey(0));
  EXPECT_TRUE(VerifyWithKeySet(jwt, *set).ok());
}

TEST(JwksTest, UnknownKidIsNotFound) {
  Result<KeySet> set = ParseJwks(KeySetJson({JwkFor(TestRsaKey(0), "k")}).dump());
  ASSERT_TRUE(set.ok());
  Status status = VerifyWithKeySet(ParsedToken({{"alg", "RS256"}, {"kid", "rotated"}}, TestRsaKey(1)), *set);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(status.message(), "\"rotated\" is not in the IAM's key set"));
}

TEST(JwksTest, TokenWithoutKidTriesEveryKey) {
  Result<KeySet> set = ParseJwks(
      KeySetJson({JwkFor(TestRsaKey(0), "a"), JwkFor(TestRsaKey(1), "b")}).dump());
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(VerifyWithKeySet(ParsedToken({{"alg", "RS256"}}, TestRsaKey(1)), *set).ok());
  Status forged = VerifyWithKeySet(ParsedToken({{"alg", "RS256"}}, TestRsaKey(2)), *set);
  EXPECT_EQ(forged.code(), StatusCode::kUnauthenticated);
}

TEST(JwksTest, KeyOfKidMustMatchSignature) {
  Result<KeySet> set = ParseJwks(
      KeySetJson({JwkFor(TestRsaKey(0), "a"), JwkFor(TestRsaKey(1), "b")}).dump());
  ASSERT_TRUE(set.ok());
  Status status = VerifyWithKeySet(ParsedToken({{"alg", "RS256"}, {"kid", "a"}}, TestRsaKey(1)), *set);
  EXPECT_EQ(status.code(), StatusCode::kUnauthenticated);
}

TEST(JwksTest, UnusableEntriesSkippedWithReason) {
  Json ec = {{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}, {"kid", "ec"}};
  Json hs = JwkFor(TestRsaKey(0), "hs");
  hs["alg"] = "HS256";
  Json enc = JwkFor(TestRsaKey(0), "enc");
  enc["use"] = "enc";
  Json bad_n = JwkFor(TestRsaKey(0), "bad");
  bad_n["n"] = "not base64url!";
  Json leading_zero = JwkFor(TestRsaKey(0), "zero");
  leading_zero["n"] = Base64UrlEncode(std::string(1, '\0') + *Base64UrlDecode(leading_zero["n"].get<std::string>()));
  Result<KeySet> set = ParseJwks(
      KeySetJson({ec, hs, enc, bad_n, leading_zero, 7, JwkFor(TestRsaKey(1), "good")}).dump());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "good");
  ASSERT_EQ(set->skipped.size(), 6u);
  EXPECT_TRUE(Contains(set->skipped[0], "keys[0]: kty \"EC\" is not RSA"));
  EXPECT_TRUE(Contains(set->skipped[1], "alg is not RS256"));
  EXPECT_TRUE(Contains(set->skipped[2], "use is not sig"));
  EXPECT_TRUE(Contains(set->skipped[3], "invalid base64url"));
  EXPECT_TRUE(Contains(set->skipped[4], "leading zero"));
  EXPECT_TRUE(Contains(set->skipped[5], "not an object"));
}

TEST(JwksTest, SmallModulusSkipped) {
  EvpPkey small(EVP_RSA_gen(1024));
  Result<KeySet> set = ParseJwks(
      KeySetJson({JwkFor(small.get(), "small"), JwkFor(TestRsaKey(0), "ok")}).dump());
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->skipped.size(), 1u);
  EXPECT_TRUE(Contains(set->skipped[0], "modulus of 1024 bits is outside " +
                                            std::to_string(kMinRsaBits)));
}

TEST(JwksTest, SetWithoutUsableKeyRejected) {
  Result<KeySet> set = ParseJwks(KeySetJson({{{"kty", "oct"}, {"k", "c2VjcmV0"}}}).dump());
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(set.status().message(), "no usable RS256 key"));
}

TEST(JwksTest, MalformedSetsRejected) {
  for (const char* text : {"", "[]", "{\"keys\": {}}", "{\"other\": []}", "{\"keys\": [], \"keys\": []}"}) {
    EXPECT_FALSE(ParseJwks(text).ok()) << text;
  }
  std::vector<Json> many(kMaxJwks + 1, JwkFor(TestRsaKey(0), "k"));
  Result<KeySet> set = ParseJwks(KeySetJson(many).dump());
  ASSERT_FALSE(set.ok());
  EXPECT_TRUE(Contains(set.status().message(), "more than the maximum"));
}

TEST(JwksTest, EvenExponentRejected) {
  Result<EvpPkey> key = RsaPublicKeyFromJwk(JwkFor(TestRsaKey(0), "k")["n"].get<std::string>(), "Ag");
  ASSERT_FALSE(key.ok());
  EXPECT_TRUE(Contains(key.status().message(), "odd exponent"));
}

}  // namespace
}  // namespace tb::auth
