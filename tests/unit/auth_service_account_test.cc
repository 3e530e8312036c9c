#include "auth/service_account.h"

#include <gtest/gtest.h>

#include "auth/authorizer.h"
#include "tests/unit/auth_iam_fake.h"

namespace tb::auth {
namespace {

using Json = nlohmann::json;
using ::tb::testing::FakeClock;
using ::tb::testing::FakeIam;
using ::tb::testing::PrivatePem;
using ::tb::testing::PublicPem;
using ::tb::testing::RoutingHttpClient;
using ::tb::testing::TestRsaKey;

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

TEST(ServiceAccountSecretTest, ParsesDcosSecret) {
  Json secret = {{"scheme", "RS256"},
                 {"uid", "task-bastion"},
                 {"private_key", PrivatePem(TestRsaKey(1))},
                 {"login_endpoint", "https://master.mesos/acs/api/v1/auth/login"}};
  Result<ServiceAccountCredentials> credentials = ParseServiceAccountSecret(secret.dump(), "s.json");
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->uid, "task-bastion");
  EXPECT_EQ(credentials->source, "s.json");
  EXPECT_TRUE(EVP_PKEY_is_a(credentials->private_key.get(), "RSA"));
}

TEST(ServiceAccountSecretTest, RejectsBadSecrets) {
  std::string pem = PrivatePem(TestRsaKey(1));
  EvpPkey ec(EVP_EC_gen("P-256"));
  struct Case {
    Json secret;
    std::string error;
  };
  std::vector<Case> cases = {
      {Json::array(), "not a JSON object"},
      {{{"private_key", pem}}, "uid is missing"},
      {{{"uid", "a"}}, "private_key is missing"},
      {{{"uid", "a"}, {"scheme", "HS256"}, {"private_key", pem}}, "scheme must be \"RS256\""},
      {{{"uid", "a"}, {"private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n"}}, "not an unencrypted PEM"},
      {{{"uid", "a"}, {"private_key", PrivatePem(ec.get())}}, "not an RSA key"},
  };
  for (const Case& c : cases) {
    Result<ServiceAccountCredentials> credentials = ParseServiceAccountSecret(c.secret.dump(), "s.json");
    ASSERT_FALSE(credentials.ok()) << c.error;
    EXPECT_TRUE(Contains(credentials.status().message(), c.error)) << credentials.status().message();
    EXPECT_TRUE(Contains(credentials.status().message(), "s.json"));
    EXPECT_FALSE(Contains(credentials.status().message(), "PRIVATE KEY"));
  }
}

TEST(ServiceAccountSecretTest, MissingFileNamed) {
  Result<ServiceAccountCredentials> credentials = LoadServiceAccountSecret("/nonexistent/secret.json");
  EXPECT_EQ(credentials.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(credentials.status().message(), "/nonexistent/secret.json"));
}

class ServiceAccountTest : public ::testing::Test {
 protected:
  ServiceAccountTest()
      : iam_fake_(clock_),
        http_([this](const HttpRequest& request) { return iam_fake_.Answer(request); }),
        iam_(http_, IamClientOptions{"http://iam", std::chrono::seconds(5)}) {
    iam_fake_.service_keys["task-bastion"] = PublicPem(TestRsaKey(1));
    ServiceAccountCredentials credentials{"task-bastion", Share(EvpPkey(EVP_PKEY_dup(TestRsaKey(1)))),
                                          "test"};
    account_ = std::make_unique<ServiceAccount>(iam_, http_.loop(), clock_, credentials,
                                                ServiceAccountOptions());
  }
  ~ServiceAccountTest() override { account_.reset(); }

  Result<Token> GetToken() {
    std::optional<Result<Token>> result;
    auto operation = account_->GetToken([&](Result<Token> r) { result.emplace(std::move(r)); });
    http_.RunPending();
    EXPECT_TRUE(result.has_value());
    return result ? std::move(*result) : Result<Token>(Status::Internal("no answer"));
  }

  std::size_t Logins() const { return http_.CountRequests("/auth/login"); }

  FakeClock clock_;
  FakeIam iam_fake_;
  RoutingHttpClient http_;
  IamClient iam_;
  std::unique_ptr<ServiceAccount> account_;
};

TEST_F(ServiceAccountTest, LogsInWithShortLivedLoginToken) {
  Result<Token> token = GetToken();
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->uid(), "task-bastion");
  EXPECT_EQ(iam_fake_.login_token_claims["uid"], "task-bastion");
  EXPECT_EQ(iam_fake_.login_token_claims["exp"], clock_.NowSeconds() + 300);
}

TEST_F(ServiceAccountTest, TokenReusedUntilRenewal) {
  ASSERT_TRUE(GetToken().ok());
  ASSERT_TRUE(GetToken().ok());
  EXPECT_EQ(Logins(), 1u);
  // The renewal runs at 80% of the one-hour lifetime.
  ASSERT_EQ(http_.timer_delays(), (std::vector<std::chrono::milliseconds>{std::chrono::seconds(2880)}));
  clock_.Advance(std::chrono::seconds(2880));
  http_.RunTimers();
  EXPECT_EQ(Logins(), 2u);
  EXPECT_EQ(account_->current()->expires_at(), clock_.Now() + std::chrono::seconds(3600));
}

TEST_F(ServiceAccountTest, InvalidatedTokenReplaced) {
  Result<Token> first = GetToken();
  ASSERT_TRUE(first.ok());
  account_->Invalidate(*first);
  clock_.Advance(std::chrono::seconds(1));
  Result<Token> second = GetToken();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Logins(), 2u);
  EXPECT_NE(second->AuthorizationHeader(), first->AuthorizationHeader());
}

TEST_F(ServiceAccountTest, ExpiredTokenNotGiven) {
  iam_fake_.token_lifetime = std::chrono::seconds(10);
  ASSERT_TRUE(GetToken().ok());
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_FALSE(account_->current().has_value());
  ASSERT_TRUE(GetToken().ok());
  EXPECT_EQ(Logins(), 2u);
}

TEST_F(ServiceAccountTest, LoginFailureRetriedWithBackoff) {
  iam_fake_.down = true;
  Result<Token> token = GetToken();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(token.status().message(),
                       "the bastion's service account 'task-bastion' could not log in: the "
                       "cluster IAM at http://iam/acs/api/v1/auth/login is unreachable"))
      << token.status().message();
  EXPECT_EQ(http_.timer_delays(), (std::vector<std::chrono::milliseconds>{std::chrono::seconds(1)}));
  http_.RunTimers();
  EXPECT_EQ(http_.timer_delays(), (std::vector<std::chrono::milliseconds>{std::chrono::seconds(2)}));
  iam_fake_.down = false;
  http_.RunTimers();
  EXPECT_TRUE(account_->current().has_value());
}

TEST_F(ServiceAccountTest, RejectedKeyIsUnavailableNotUserError) {
  iam_fake_.service_keys["task-bastion"] = PublicPem(TestRsaKey(2));
  Result<Token> token = GetToken();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(token.status().message(), "rejected the credentials"));
}

TEST_F(ServiceAccountTest, WithServiceTokenRetriesOnceAfter401) {
  ASSERT_TRUE(GetToken().ok());
  int calls = 0;
  std::optional<Result<int>> result;
  std::function<std::unique_ptr<Operation>(const Token&, std::function<void(Result<int>)>)> call =
      [&](const Token&, std::function<void(Result<int>)> done) {
        ++calls;
        Result<int> answer = calls == 1 ? Result<int>(Status::Unauthenticated("HTTP 401"))
                                        : Result<int>(7);
        return PostCancellable(http_.loop(), [done, answer] { done(answer); });
      };
  auto operation = WithServiceToken<int>(*account_, http_.loop(), call,
                                         [&](Result<int> r) { result.emplace(std::move(r)); });
  http_.RunPending();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok());
  EXPECT_EQ(**result, 7);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Logins(), 2u);
}

// -- Authorizer ------------------------------------------------------------------------------

class AuthorizerTest : public ServiceAccountTest {
 protected:
  AuthorizerTest() : authorizer_(iam_, http_.loop(), *account_) {}

  Status Check(const std::string& uid, const std::string& app) {
    std::optional<Status> decision;
    auto operation = authorizer_.CheckExec({uid, "web.1", app}, [&](Status s) { decision = s; });
    http_.RunPending();
    EXPECT_TRUE(decision.has_value());
    return decision.value_or(Status::Internal("no decision"));
  }

  void GrantExec(const std::string& uid, const std::string& app, bool update = true) {
    for (const Permission& permission : ExecPermissions(app)) {
      if (!update && permission.action == "update") continue;
      iam_fake_.Grant(uid, permission.rid, permission.action);
    }
  }

  Authorizer authorizer_;
};

TEST_F(AuthorizerTest, AllPermissionsGranted) {
  GrantExec("bob", "/dev/web");
  EXPECT_TRUE(Check("bob", "/dev/web").ok());
}

TEST_F(AuthorizerTest, MissingUpdateNamed) {
  GrantExec("bob", "/dev/web", /*update=*/false);
  Status decision = Check("bob", "/dev/web");
  EXPECT_EQ(decision.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(decision.message(),
            "user 'bob' may not exec into task 'web.1' (app /dev/web): missing permission "
            "dcos:mesos:agent:container:app_id:/dev/web update");
}

TEST_F(AuthorizerTest, EverythingMissingListed) {
  Status decision = Check("eve", "/prod/db");
  EXPECT_EQ(decision.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(decision.message(), "missing permissions dcos:adminrouter:ops:mesos full, "
                                           "dcos:adminrouter:ops:slave full, "))
      << decision.message();
}

TEST_F(AuthorizerTest, SuperuserAllowed) {
  iam_fake_.superusers.insert("root");
  EXPECT_TRUE(Check("root", "/prod/db").ok());
}

TEST_F(AuthorizerTest, ParentGroupAndFullCount) {
  iam_fake_.Grant("bob", "dcos:adminrouter:ops:mesos", "full");
  iam_fake_.Grant("bob", "dcos:adminrouter:ops:slave", "full");
  iam_fake_.Grant("bob", "dcos:mesos:agent:nested_container_session:app_id:/dev", "create");
  iam_fake_.Grant("bob", "dcos:mesos:agent:container:app_id", "full");
  EXPECT_TRUE(Check("bob", "/dev/team/web").ok());
  EXPECT_FALSE(Check("bob", "/prod/db").ok());
}

TEST_F(AuthorizerTest, RidsDoubleEncodedInUrls) {
  GrantExec("bob", "/dev/web");
  ASSERT_TRUE(Check("bob", "/dev/web").ok());
  EXPECT_GT(http_.CountRequests("/acls/dcos:mesos:agent:container:app_id:%252Fdev%252Fweb/users/bob/update"), 0u);
  EXPECT_EQ(http_.CountRequests("%2Fdev"), 0u);  // never encoded only once
}

TEST_F(AuthorizerTest, IamDownIsUnavailableNotAllowed) {
  GrantExec("bob", "/dev/web");
  ASSERT_TRUE(GetToken().ok());
  iam_fake_.down = true;
  Status decision = Check("bob", "/dev/web");
  EXPECT_EQ(decision.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(decision.message(), "cannot check the permissions of user 'bob' for task "
                                           "'web.1': the cluster IAM at http://iam/"))
      << decision.message();
}

TEST_F(AuthorizerTest, IamErrorsDenyWithReason) {
  GrantExec("bob", "/dev/web");
  ASSERT_TRUE(GetToken().ok());
  iam_fake_.server_error = true;
  Status decision = Check("bob", "/dev/web");
  EXPECT_EQ(decision.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(decision.message(), "answered HTTP 503: ERR_X: busy")) << decision.message();
}

TEST_F(AuthorizerTest, RevokedServiceTokenRenewedOnce) {
  GrantExec("bob", "/dev/web");
  Result<Token> first = GetToken();
  ASSERT_TRUE(first.ok());
  iam_fake_.revoked_tokens.insert(first->AuthorizationHeader());
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(Check("bob", "/dev/web").ok());
  EXPECT_EQ(Logins(), 2u);
}

TEST_F(AuthorizerTest, CancelledCheckNotCalled) {
  bool called = false;
  auto operation = authorizer_.CheckExec({"bob", "web.1", "/dev/web"}, [&](Status) { called = true; });
  operation.reset();
  http_.RunPending();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace tb::auth
