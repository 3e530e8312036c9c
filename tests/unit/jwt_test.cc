#include "auth/jwt.h"

#include <gtest/gtest.h>

#include <openssl/hmac.h>

#include "auth/base64url.h"
#include "auth/token.h"
#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;
using ::tb::testing::FakeClock;
using ::tb::testing::JwtWithSignature;
using ::tb::testing::PublicPem;
using ::tb::testing::SignedJwt;
using ::tb::testing::TestRsaKey;

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

class JwtTest : public ::testing::Test {
 protected:
  Json Header() const { return {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "k1"}}; }
  Json Claims(std::int64_t exp_offset = 3600) const {
    return {{"uid", "alice"}, {"exp", clock_.NowSeconds() + exp_offset}};
  }
  std::string MakeToken(const Json& header, const Json& claims) {
    return SignedJwt(header, claims, TestRsaKey(0));
  }

  // Parses, verifies with key 0 and checks the claims, as a token login does.
  Result<TokenClaims> Check(const std::string& token) {
    Result<Jwt> jwt = ParseJwt(token);
    if (!jwt.ok()) return jwt.status();
    Status signature = VerifyRs256(*jwt, TestRsaKey(0));
    if (!signature.ok()) return signature;
    return CheckClaims(*jwt, clock_.Now());
  }

  void ExpectRejected(const std::string& token, const std::string& fragment) {
    Result<TokenClaims> result = Check(token);
    ASSERT_FALSE(result.ok()) << fragment;
    EXPECT_TRUE(Contains(result.status().message(), fragment)) << result.status().message();
    EXPECT_FALSE(Contains(result.status().message(), token)) << "the message quotes the token";
  }

  FakeClock clock_;
};

// -- base64url ------------------------------------------------------------------------------

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int length = 0; length < 70; ++length) {
    Result<std::string> decoded = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(decoded.ok()) << length << ": " << decoded.status().ToString();
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(length * 37 + 250));
  }
}

TEST(Base64UrlTest, UsesUrlAlphabetWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
}

TEST(Base64UrlTest, RejectsOtherForms) {
  for (const char* text : {"-_8=", "+/8", "ab cd", "a", "abcde", "ab\n", "ab.c"}) {
    Result<std::string> decoded = Base64UrlDecode(text);
    EXPECT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(Base64UrlTest, RejectsNonCanonicalTrailingBits) {
  // "QQ" is "A"; "QR" decodes to the same byte with a non-zero unused bit.
  EXPECT_EQ(*Base64UrlDecode("QQ"), "A");
  Result<std::string> decoded = Base64UrlDecode("QR");
  ASSERT_FALSE(decoded.ok());
  EXPECT_TRUE(Contains(decoded.status().message(), "non-canonical"));
}

// -- shape -------------------------------------------------------------------------------

TEST_F(JwtTest, LooksLikeJwtTellsTokensFromPasswords) {
  EXPECT_TRUE(LooksLikeJwt(MakeToken(Header(), Claims())));
  EXPECT_TRUE(LooksLikeJwt("eyJhbGciOiJub25lIn0.eyJ1aWQiOiJhIn0."));  // alg none, no signature
  EXPECT_FALSE(LooksLikeJwt("hunter2"));
  EXPECT_FALSE(LooksLikeJwt("eyJhbGciOiJSUzI1NiJ9.e30"));
  EXPECT_FALSE(LooksLikeJwt("eyJ a.b.c"));
  EXPECT_FALSE(LooksLikeJwt("abc.def.ghi"));
}

TEST_F(JwtTest, ValidTokenAccepted) {
  Result<TokenClaims> claims = Check(MakeToken(Header(), Claims()));
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->uid, "alice");
  EXPECT_EQ(claims->expires_at, clock_.Now() + std::chrono::seconds(3600));
}

TEST_F(JwtTest, KidAndMissingTypAccepted) {
  Result<Jwt> jwt = ParseJwt(MakeToken(Json{{"alg", "RS256"}, {"kid", "abc"}}, Claims()));
  ASSERT_TRUE(jwt.ok()) << jwt.status().ToString();
  EXPECT_EQ(jwt->kid, "abc");
}

TEST_F(JwtTest, OversizedTokenRejected) {
  Json claims = Claims();
  claims["padding"] = std::string(kMaxJwtBytes, 'x');
  std::string token = MakeToken(Header(), claims);
  ASSERT_GT(token.size(), kMaxJwtBytes);
  ExpectRejected(token, "more than the maximum of " + std::to_string(kMaxJwtBytes));
}

TEST_F(JwtTest, WrongNumberOfPartsRejected) {
  std::string token = MakeToken(Header(), Claims());
  ExpectRejected(token.substr(0, token.rfind('.')), "three dot-separated parts");
  ExpectRejected(token + ".x", "three dot-separated parts");
  ExpectRejected("eyJhbGciOiJSUzI1NiJ9..c2ln", "empty part");
}

TEST_F(JwtTest, MalformedPartsRejected) {
  std::string payload = Base64UrlEncode(Claims().dump());
  ExpectRejected("e30=." + payload + ".c2ln", "token header: invalid base64url");
  ExpectRejected(Base64UrlEncode("{not json") + "." + payload + ".c2ln",
                 "token header: invalid JSON at byte");
  ExpectRejected(Base64UrlEncode("[1]") + "." + payload + ".c2ln", "token header: not a JSON object");
  ExpectRejected(Base64UrlEncode(Header().dump()) + "." + Base64UrlEncode("\"uid\"") + ".c2ln",
                 "token payload: not a JSON object");
}

TEST_F(JwtTest, DuplicateMemberRejected) {
  std::string header = R"({"alg":"RS256","alg":"none"})";
  ExpectRejected(Base64UrlEncode(header) + "." + Base64UrlEncode(Claims().dump()) + ".c2ln",
                 "duplicate member \"alg\"");
  std::string claims = R"({"uid":"alice","exp":9999999999,"uid":"root"})";
  ExpectRejected(Base64UrlEncode(Header().dump()) + "." + Base64UrlEncode(claims) + ".c2ln",
                 "duplicate member \"uid\"");
}

TEST_F(JwtTest, AlgNoneRejected) {
  ExpectRejected(JwtWithSignature({{"alg", "none"}}, Claims(), ""), "token has an empty part");
  ExpectRejected(JwtWithSignature({{"alg", "none"}}, Claims(), "x"),
                 "alg must be RS256, got \"none\"");
}

TEST_F(JwtTest, Hs256WithPublicKeyAsSecretRejected) {
  // The classic confusion attack: HMAC-SHA256 keyed with the IAM's public key PEM.
  std::string pem = PublicPem(TestRsaKey(0));
  std::string input = Base64UrlEncode(Json{{"alg", "HS256"}, {"typ", "JWT"}}.dump()) + "." +
                      Base64UrlEncode(Claims().dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), pem.data(), static_cast<int>(pem.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  std::string token = input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), length));
  ExpectRejected(token, "alg must be RS256, got \"HS256\"");
}

TEST_F(JwtTest, OtherHeaderDefectsRejected) {
  ExpectRejected(MakeToken(Json{{"typ", "JWT"}}, Claims()), "alg is missing");
  ExpectRejected(MakeToken(Json{{"alg", "RS512"}}, Claims()), "alg must be RS256");
  ExpectRejected(MakeToken(Json{{"alg", "RS256"}, {"typ", "JWE"}}, Claims()), "typ must be");
  ExpectRejected(MakeToken(Json{{"alg", "RS256"}, {"crit", {"exp"}}}, Claims()), "crit");
  ExpectRejected(MakeToken(Json{{"alg", "RS256"}, {"kid", 5}}, Claims()), "kid is not a string");
}

TEST_F(JwtTest, SignatureOfOtherKeyRejected) {
  ExpectRejected(SignedJwt(Header(), Claims(), TestRsaKey(1)), "signature does not verify");
}

TEST_F(JwtTest, TamperedPayloadRejected) {
  std::string token = MakeToken(Header(), Claims());
  std::size_t first = token.find('.');
  std::size_t second = token.find('.', first + 1);
  Json claims = Claims();
  claims["uid"] = "root";
  std::string forged = token.substr(0, first + 1) + Base64UrlEncode(claims.dump()) +
                       token.substr(second);
  ExpectRejected(forged, "signature does not verify");
}

TEST_F(JwtTest, VerifyNeedsRsaKey) {
  Result<Jwt> jwt = ParseJwt(MakeToken(Header(), Claims()));
  ASSERT_TRUE(jwt.ok());
  EvpPkey ec(EVP_EC_gen("P-256"));
  Status status = VerifyRs256(*jwt, ec.get());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

// -- claims ------------------------------------------------------------------------------

TEST_F(JwtTest, ExpiredTokenRejected) {
  ExpectRejected(MakeToken(Header(), Claims(-1)), "token for uid \"alice\" expired");
  ExpectRejected(MakeToken(Header(), Claims(0)), "expired");  // exp must lie in the future
}

TEST_F(JwtTest, NotYetValidTokenRejected) {
  Json claims = Claims();
  claims["nbf"] = clock_.NowSeconds() + kNotBeforeSkew.count() + 1;
  ExpectRejected(MakeToken(Header(), claims), "not valid yet");
  claims["nbf"] = clock_.NowSeconds() + kNotBeforeSkew.count();
  EXPECT_TRUE(Check(MakeToken(Header(), claims)).ok());
}

TEST_F(JwtTest, ClaimDefectsRejected) {
  ExpectRejected(MakeToken(Header(), Json{{"exp", clock_.NowSeconds() + 60}}), "uid is missing");
  ExpectRejected(MakeToken(Header(), Json{{"uid", ""}, {"exp", clock_.NowSeconds() + 60}}),
                 "uid is missing");
  ExpectRejected(MakeToken(Header(), Json{{"uid", 7}, {"exp", clock_.NowSeconds() + 60}}),
                 "uid is missing");
  ExpectRejected(MakeToken(Header(), Json{{"uid", "alice"}}), "exp is missing");
  ExpectRejected(MakeToken(Header(), Json{{"uid", "alice"}, {"exp", "tomorrow"}}), "exp is not a number");
  ExpectRejected(MakeToken(Header(), Json{{"uid", "alice"}, {"exp", true}}), "exp is not a number");
  ExpectRejected(MakeToken(Header(), Json{{"uid", "alice"}, {"exp", 1e300}}), "exp is out of range");
}

TEST_F(JwtTest, FractionalExpAccepted) {
  Json claims = {{"uid", "alice"}, {"exp", clock_.NowSeconds() + 10.5}};
  Result<TokenClaims> result = Check(MakeToken(Header(), claims));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->expires_at, clock_.Now() + std::chrono::seconds(10));
}

// -- signing and Token ---------------------------------------------------------------------

TEST_F(JwtTest, SignRs256VerifiesWithPublicKey) {
  Result<std::string> token = SignRs256(Claims(), TestRsaKey(0));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  Result<Jwt> jwt = ParseJwt(*token);
  ASSERT_TRUE(jwt.ok()) << jwt.status().ToString();
  EXPECT_EQ(jwt->header, (Json{{"alg", "RS256"}, {"typ", "JWT"}}));
  EXPECT_TRUE(VerifyRs256(*jwt, TestRsaKey(0)).ok());
}

TEST_F(JwtTest, TokenNeverPrintsJwt) {
  std::string jwt = MakeToken(Header(), Claims());
  Result<Token> token = TokenFromLoginAnswer(jwt);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->uid(), "alice");
  EXPECT_EQ(token->AuthorizationHeader(), "token=" + jwt);
  std::ostringstream streamed;
  streamed << *token;
  for (const std::string& text : {token->ToString(), streamed.str(), fmt::format("{}", *token)}) {
    EXPECT_FALSE(Contains(text, jwt.substr(0, 20))) << text;
    EXPECT_TRUE(Contains(text, "uid 'alice' expiring 2023-11-14T23:13:20Z")) << text;
  }
}

TEST_F(JwtTest, UnreadableLoginAnswerRejected) {
  Result<Token> token = TokenFromLoginAnswer("not-a-jwt");
  EXPECT_EQ(token.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb::auth
