#include "auth/token_verifier.h"

#include <gtest/gtest.h>

#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;
using ::tb::testing::FakeClock;
using ::tb::testing::FakeResponse;
using ::tb::testing::JwkFor;
using ::tb::testing::RoutingHttpClient;
using ::tb::testing::SignedJwt;
using ::tb::testing::TestRsaKey;

constexpr const char* kJwksPath = "/acs/api/v1/auth/jwks";
constexpr std::chrono::seconds kRefetch{60};

class TokenVerifierTest : public ::testing::Test {
 protected:
  TokenVerifierTest()
      : http_([this](const HttpRequest& request) { return Answer(request); }),
        iam_(http_, IamClientOptions{"http://iam", std::chrono::seconds(5)}),
        verifier_(iam_, http_.loop(), clock_, TokenVerifierOptions{kRefetch}) {}

  FakeResponse Answer(const HttpRequest& request) {
    if (request.url.find(kJwksPath) == std::string::npos) return FakeResponse::Http(404, "");
    if (iam_down_) return FakeResponse::TransportError(Status::Unavailable("Connection refused"));
    std::vector<Json> keys;
    for (int index : published_) keys.push_back(JwkFor(TestRsaKey(index), Kid(index)));
    return FakeResponse::Http(200, Json{{"keys", keys}}.dump());
  }

  static std::string Kid(int index) { return "kid-" + std::to_string(index); }

  std::string TokenFor(int key, std::int64_t exp_offset = 3600, const std::string& uid = "alice") {
    return SignedJwt({{"alg", "RS256"}, {"typ", "JWT"}, {"kid", Kid(key)}},
                     {{"uid", uid}, {"exp", clock_.NowSeconds() + exp_offset}}, TestRsaKey(key));
  }

  Result<Token> Verify(const std::string& token) {
    std::optional<Result<Token>> result;
    auto operation = verifier_.Verify(token, [&](Result<Token> r) { result.emplace(std::move(r)); });
    EXPECT_FALSE(result.has_value()) << "done ran inside Verify";
    http_.RunPending();
    EXPECT_TRUE(result.has_value());
    return result ? std::move(*result) : Result<Token>(Status::Internal("no answer"));
  }

  std::size_t Fetches() const { return http_.CountRequests(kJwksPath); }

  FakeClock clock_;
  std::vector<int> published_ = {0};
  bool iam_down_ = false;
  RoutingHttpClient http_;
  IamClient iam_;
  TokenVerifier verifier_;
};

TEST_F(TokenVerifierTest, FetchesAtStartAndAcceptsValidToken) {
  verifier_.Start();
  http_.RunPending();
  EXPECT_EQ(Fetches(), 1u);
  Result<Token> token = Verify(TokenFor(0));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->uid(), "alice");
  EXPECT_EQ(token->AuthorizationHeader(), "token=" + TokenFor(0));
  EXPECT_EQ(Fetches(), 1u);
}

TEST_F(TokenVerifierTest, RotatedKeyAcceptedAfterRefetch) {
  verifier_.Start();
  http_.RunPending();
  clock_.Advance(kRefetch);
  published_ = {1, 0};
  Result<Token> token = Verify(TokenFor(1));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(Fetches(), 2u);
}

TEST_F(TokenVerifierTest, RefetchAtMostOncePerInterval) {
  verifier_.Start();
  http_.RunPending();
  clock_.Advance(kRefetch);
  // A key the IAM does not publish: one refetch, then rejections without fetching.
  Result<Token> first = Verify(TokenFor(2));
  EXPECT_EQ(first.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(first.status().message().find("\"kid-2\" is not in the IAM's key set"), std::string::npos)
      << first.status().message();
  EXPECT_EQ(Fetches(), 2u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Verify(TokenFor(2)).status().code(), StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(Fetches(), 2u);
  clock_.Advance(kRefetch);
  EXPECT_FALSE(Verify(TokenFor(2)).ok());
  EXPECT_EQ(Fetches(), 3u);
}

TEST_F(TokenVerifierTest, ForgedSignatureWithKnownKidRejected) {
  verifier_.Start();
  http_.RunPending();
  std::string forged = SignedJwt({{"alg", "RS256"}, {"kid", Kid(0)}},
                                 {{"uid", "root"}, {"exp", clock_.NowSeconds() + 60}}, TestRsaKey(3));
  Result<Token> result = Verify(forged);
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(result.status().message().find("signature does not verify"), std::string::npos);
}

TEST_F(TokenVerifierTest, ExpiredTokenRejectedWithoutFetch) {
  verifier_.Start();
  http_.RunPending();
  clock_.Advance(kRefetch);
  Result<Token> result = Verify(TokenFor(0, -10));
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(result.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(Fetches(), 1u);
}

TEST_F(TokenVerifierTest, MalformedTokenRejectedWithoutFetch) {
  Result<Token> result = Verify("eyJhbGciOiJub25lIn0.eyJ1aWQiOiJyb290In0.");
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(result.status().message().find("invalid token"), std::string::npos);
  EXPECT_EQ(Fetches(), 0u);
}

TEST_F(TokenVerifierTest, IamDownWithoutKeysIsUnavailable) {
  iam_down_ = true;
  verifier_.Start();
  http_.RunPending();
  Result<Token> result = Verify(TokenFor(0));
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("cannot verify the token: the cluster IAM at"),
            std::string::npos)
      << result.status().message();
  // Every attempt without keys fetches again, so the IAM's return is noticed at once.
  iam_down_ = false;
  EXPECT_TRUE(Verify(TokenFor(0)).ok());
}

TEST_F(TokenVerifierTest, IamDownKeepsKnownKeys) {
  verifier_.Start();
  http_.RunPending();
  iam_down_ = true;
  clock_.Advance(kRefetch);
  EXPECT_TRUE(Verify(TokenFor(0)).ok());
  // A token of a key the old set lacks cannot be judged while the IAM is down.
  Result<Token> unknown = Verify(TokenFor(1));
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(unknown.status().message().find("fetching the IAM's key set again failed"),
            std::string::npos)
      << unknown.status().message();
  // Within the refetch interval it is rejected with the old keys.
  EXPECT_EQ(Verify(TokenFor(1)).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, ConcurrentVerificationsShareOneFetch) {
  std::vector<std::optional<Result<Token>>> results(3);
  std::vector<std::unique_ptr<Operation>> operations;
  for (auto& result : results) {
    operations.push_back(verifier_.Verify(TokenFor(0), [&result](Result<Token> r) {
      result.emplace(std::move(r));
    }));
  }
  http_.RunPending();
  EXPECT_EQ(Fetches(), 1u);
  for (auto& result : results) {
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok());
  }
}

TEST_F(TokenVerifierTest, CancelledVerificationNotCalled) {
  bool called = false;
  auto operation = verifier_.Verify(TokenFor(0), [&](Result<Token>) { called = true; });
  operation.reset();
  http_.RunPending();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace tb::auth
