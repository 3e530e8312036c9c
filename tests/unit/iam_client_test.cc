#include "auth/iam_client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "tests/unit/fake_http_client.h"

namespace tb::auth {
namespace {

using ::tb::testing::FakeHttpClient;
using ::tb::testing::FakeResponse;
using ::tb::testing::HeaderValue;

constexpr const char* kIamUrl = "http://127.0.0.1:8101";
constexpr const char* kLoginUrl = "http://127.0.0.1:8101/acs/api/v1/auth/login";
constexpr const char* kPassword = "s3cret-pass";
constexpr const char* kToken = "eyJhbGciOiJSUzI1NiJ9.eyJ1aWQiOiJhbGljZSJ9.c2ln";

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

class IamClientTest : public ::testing::Test {
 protected:
  IamClientTest() : client_(http_, IamClientOptions{kIamUrl, std::chrono::milliseconds(5000)}) {}

  // Starts a login for alice and runs the fake until it is answered.
  void Login(std::string uid = "alice") {
    result_.reset();
    operation_ = client_.Login(uid, kPassword, [this](Result<std::string> result) {
      ++calls_;
      result_.emplace(std::move(result));
    });
    EXPECT_FALSE(result_.has_value()) << "done ran inside Login";
    http_.RunPending();
  }

  // Checks that no message reveals the password or the token.
  void ExpectNoSecretIn(const std::string& message) {
    EXPECT_FALSE(Contains(message, kPassword)) << message;
    EXPECT_FALSE(Contains(message, kToken)) << message;
  }

  FakeHttpClient http_;
  IamClient client_;
  std::unique_ptr<Operation> operation_;
  std::optional<Result<std::string>> result_;
  int calls_ = 0;
};

TEST_F(IamClientTest, SuccessReturnsToken) {
  http_.Add(FakeResponse::Http(200, std::string(R"({"token":")") + kToken + R"("})"));
  Login();
  ASSERT_TRUE(result_.has_value());
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(result_->value(), kToken);
  EXPECT_EQ(calls_, 1);
}

TEST_F(IamClientTest, SendsLoginRequest) {
  http_.Add(FakeResponse::Http(200, R"({"token":"t"})"));
  Login();
  ASSERT_EQ(http_.requests().size(), 1u);
  const HttpRequest& request = http_.request(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, kLoginUrl);
  EXPECT_EQ(HeaderValue(request, "Content-Type"), "application/json");
  EXPECT_EQ(HeaderValue(request, "Accept"), "application/json");
  EXPECT_EQ(request.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(nlohmann::json::parse(request.body),
            (nlohmann::json{{"uid", "alice"}, {"password", kPassword}}));
  EXPECT_FALSE(Contains(request.description, kPassword));
}

TEST_F(IamClientTest, BodyEscapesJsonCharacters) {
  http_.Add(FakeResponse::Http(200, R"({"token":"t"})"));
  Login("al\"ice\\");
  EXPECT_EQ(nlohmann::json::parse(http_.request(0).body)["uid"], "al\"ice\\");
}

TEST_F(IamClientTest, TrailingSlashInUrlIgnored) {
  IamClient client(http_, IamClientOptions{std::string(kIamUrl) + "/", std::chrono::seconds(5)});
  http_.Add(FakeResponse::Http(200, R"({"token":"t"})"));
  auto operation = client.Login("alice", kPassword, [](Result<std::string>) {});
  http_.RunPending();
  EXPECT_EQ(http_.request(0).url, kLoginUrl);
}

TEST_F(IamClientTest, TokenArrivingInPiecesJoined) {
  http_.set_body_chunk_bytes(3);
  http_.Add(FakeResponse::Http(200, std::string(R"({"token":")") + kToken + R"("})"));
  Login();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(result_->value(), kToken);
}

TEST_F(IamClientTest, WrongPasswordIsUnauthenticated) {
  http_.Add(FakeResponse::Http(
      401,
      R"({"title":"Unauthorized","description":"The login credentials are invalid.",)"
      R"("code":"ERR_INVALID_CREDENTIALS"})",
      {{"www-authenticate", "acsjwt"}}));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(result_->status().message(), "the IAM rejected the credentials for uid 'alice'");
}

TEST_F(IamClientTest, ServerErrorIsUnavailable) {
  http_.Add(FakeResponse::Http(
      500, R"({"title":"Internal","description":"database down","code":"ERR_X"})"));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(result_->status().message(),
                       std::string("the cluster IAM at ") + kLoginUrl + " answered HTTP 500"))
      << result_->status().message();
  EXPECT_TRUE(Contains(result_->status().message(), "ERR_X: database down"));
}

TEST_F(IamClientTest, HtmlErrorQuotesFirstLine) {
  http_.Add(FakeResponse::Http(502, "<html>Bad Gateway</html>\n<body>...</body>"));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(result_->status().message(), "answered HTTP 502: <html>Bad Gateway</html>"))
      << result_->status().message();
}

TEST_F(IamClientTest, ConnectionRefusedIsUnavailable) {
  http_.Add(FakeResponse::TransportError(Status::Unavailable("Couldn't connect to server")));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(result_->status().message(), std::string("the cluster IAM at ") + kLoginUrl +
                                             " is unreachable: Couldn't connect to server");
}

TEST_F(IamClientTest, TimeoutIsDeadlineExceeded) {
  http_.Add(FakeResponse::TransportError(Status::DeadlineExceeded("Operation timed out")));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(result_->status().message(),
            std::string("the cluster IAM at ") + kLoginUrl + " did not answer in 5 s");
}

TEST_F(IamClientTest, InvalidJsonIsUnavailable) {
  http_.Add(FakeResponse::Http(200, std::string(R"({"token":")") + kToken));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(result_->status().message(), kLoginUrl));
  EXPECT_TRUE(Contains(result_->status().message(), "invalid JSON"));
  ExpectNoSecretIn(result_->status().message());
}

TEST_F(IamClientTest, MissingTokenIsUnavailable) {
  for (const char* body : {R"({})", R"({"token":""})", R"({"token":5})", R"(["t"])"}) {
    http_.Add(FakeResponse::Http(200, body));
    Login();
    ASSERT_TRUE(result_.has_value()) << body;
    ASSERT_FALSE(result_->ok()) << body;
    EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
    EXPECT_TRUE(Contains(result_->status().message(), "without a token")) << body;
  }
}

TEST_F(IamClientTest, OversizedBodyIsUnavailable) {
  http_.set_body_chunk_bytes(4096);
  http_.Add(FakeResponse::Http(200, R"({"token":")" + std::string(100000, 'a') + R"("})"));
  Login();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(result_->status().message(), "larger than")) << result_->status().message();
}

TEST_F(IamClientTest, MessagesNeverContainPassword) {
  http_.Add(FakeResponse::Http(401, std::string("bad password ") + kPassword));
  Login();
  ExpectNoSecretIn(result_->status().message());
  http_.Add(FakeResponse::Http(400, std::string(R"({"description":"x"})")));
  Login();
  ExpectNoSecretIn(result_->status().message());
}

TEST_F(IamClientTest, DestroyingOperationCancels) {
  http_.Add(FakeResponse::Http(200, R"({"token":"t"})"));
  operation_ = client_.Login("alice", kPassword, [this](Result<std::string>) { ++calls_; });
  operation_.reset();
  http_.RunPending();
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(http_.live_calls(), 0u);
  EXPECT_EQ(http_.cancelled_calls(), 1u);
}

TEST_F(IamClientTest, DoneMayDestroyOperation) {
  http_.Add(FakeResponse::Http(200, R"({"token":"t"})"));
  operation_ = client_.Login("alice", kPassword, [this](Result<std::string> result) {
    ++calls_;
    operation_.reset();
  });
  http_.RunPending();
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(operation_, nullptr);
}

}  // namespace
}  // namespace tb::auth
