#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/base64.h"
#include "tests/unit/auth_iam_fake.h"

namespace tb::auth {
namespace {

using ::tb::testing::FakeClock;
using ::tb::testing::FakeIam;
using ::tb::testing::PublicPem;
using ::tb::testing::RoutingHttpClient;
using ::tb::testing::TestRsaKey;

// The same ssh-keygen test keys as public_key_test and key_registry_test.
constexpr const char* kEd25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIHLOAPW0fiUQGGXTM/ZB2ehGZ01DfhszguHBOr/+e/89";
constexpr const char* kRsa =
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDBgbNXzn7zQH5Ph4KpmeQfO64ATZNhyL3N4ZbA9AstRiVRihYGaA+g4wnfPDf7"
    "rauc03H2jfnzEH/aqQIi5qXJ5WcAnb4e1Nxl7NE+ujP1BPSJBsMW0h8BMsJ2Ek5AyX3/UCJne5DXIWn8Oxl9GFRqvpX7"
    "wWhzNybqpB0foWWjZalcBo8s7/zyoPFUzcaFt2l3qjnrDlGqj26GYQ+wRhM2T3eadAk6XUa48rr0hMXNl8t8Bj2oWZHF"
    "6FfRTcjPgvh7jWQrluYuEwVJc+CJTgnptfFI9NyzuMXlOlGU+W2II4CDfZcEkhjFugjxp1ykBNPmefXgROH41v2Trarm"
    "j5dT";
constexpr const char* kRsaPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwYGzV85+80B+T4eCqZnk\n"
    "HzuuAE2TYci9zeGWwPQLLUYlUYoWBmgPoOMJ3zw3+62rnNNx9o358xB/2qkCIual\n"
    "yeVnAJ2+HtTcZezRProz9QT0iQbDFtIfATLCdhJOQMl9/1AiZ3uQ1yFp/DsZfRhU\n"
    "ar6V+8Foczcm6qQdH6Flo2WpXAaPLO/88qDxVM3Ghbdpd6o56w5Rqo9uhmEPsEYT\n"
    "Nk93mnQJOl1GuPK69ITFzZfLfAY9qFmRxehX0U3Iz4L4e41kK5bmLhMFSXPgiU4J\n"
    "6bXxSPTcs7jF5TpRlPltiCOAg32XBJIYxboI8adcpATT5nn14ETh+Nb9k62q5o+X\n"
    "UwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

SshPublicKey Key(const char* base64, const char* type) {
  SshPublicKey key;
  key.type = type;
  key.blob = *Base64Decode(base64);
  key.fingerprint = SshFingerprint(key.blob);
  return key;
}

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest()
      : iam_fake_(clock_),
        http_([this](const HttpRequest& request) { return iam_fake_.Answer(request); }),
        iam_(http_, IamClientOptions{"http://iam", std::chrono::seconds(5)}),
        verifier_(iam_, http_.loop(), clock_, TokenVerifierOptions{}) {
    char name[] = "/tmp/tb-authenticator-keys-XXXXXX";
    close(mkstemp(name));
    registry_path_ = name;
    std::ofstream(registry_path_) << "uid=\"alice\" ssh-ed25519 " << kEd25519 << "\n"
                                  << "uid=\"shared-1\" ssh-ed25519 " << kEd25519 << "\n"
                                  << "uid=\"carol\" ssh-rsa " << kRsa << "\n";
    registry_ = std::make_unique<KeyRegistry>(registry_path_, clock_, std::chrono::seconds(1));
    EXPECT_TRUE(registry_->Load().ok());

    iam_fake_.passwords["demo"] = "demo-pass";
    iam_fake_.service_keys["task-bastion"] = PublicPem(TestRsaKey(1));
    ServiceAccountCredentials credentials{"task-bastion", Share(EvpPkey(EVP_PKEY_dup(TestRsaKey(1)))),
                                          "test"};
    account_ = std::make_unique<ServiceAccount>(iam_, http_.loop(), clock_, credentials,
                                                ServiceAccountOptions());
    authenticator_ = std::make_unique<Authenticator>(iam_, http_.loop(), clock_, verifier_,
                                                     registry_.get(), account_.get(),
                                                     AuthenticatorOptions{});
  }
  ~AuthenticatorTest() override {
    authenticator_.reset();
    account_.reset();
    std::remove(registry_path_.c_str());
  }

  Result<Identity> Password(const std::string& uid, const std::string& password) {
    return Run(authenticator_->CheckPassword(uid, password, "password", Capture()));
  }
  Result<Identity> PublicKey(const std::string& uid, const SshPublicKey& key, bool signed_request) {
    return Run(authenticator_->CheckPublicKey(uid, key, signed_request, Capture()));
  }

  std::function<void(Result<Identity>)> Capture() {
    result_.reset();
    return [this](Result<Identity> r) { result_.emplace(std::move(r)); };
  }
  Result<Identity> Run(std::unique_ptr<Operation> operation) {
    EXPECT_FALSE(result_.has_value()) << "done ran inside the call";
    http_.RunPending();
    EXPECT_TRUE(result_.has_value());
    return result_ ? std::move(*result_) : Result<Identity>(Status::Internal("no answer"));
  }

  FakeClock clock_;
  FakeIam iam_fake_;
  RoutingHttpClient http_;
  IamClient iam_;
  TokenVerifier verifier_;
  std::string registry_path_;
  std::unique_ptr<KeyRegistry> registry_;
  std::unique_ptr<ServiceAccount> account_;
  std::unique_ptr<Authenticator> authenticator_;
  std::optional<Result<Identity>> result_;
};

TEST_F(AuthenticatorTest, PasswordLogsInWithIam) {
  Result<Identity> identity = Password("demo", "demo-pass");
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "demo");
  EXPECT_EQ(identity->method, "password");
  ASSERT_TRUE(identity->cluster_token.has_value());
  EXPECT_EQ(identity->cluster_token->uid(), "demo");
}

TEST_F(AuthenticatorTest, WrongPasswordRejected) {
  Result<Identity> identity = Password("demo", "guess");
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, PasswordWithoutUidRejected) {
  Result<Identity> identity = Password("", "demo-pass");
  EXPECT_EQ(identity.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(identity.status().message(), "<uid>@<task>"));
  EXPECT_EQ(http_.requests().size(), 0u);
}

TEST_F(AuthenticatorTest, OversizedPasswordNotSent) {
  Result<Identity> identity = Password("demo", std::string(kMaxJwtBytes + 1, 'x'));
  EXPECT_EQ(identity.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(http_.requests().size(), 0u);
}

TEST_F(AuthenticatorTest, TokenAsPasswordGivesItsUid) {
  std::string token = iam_fake_.IssueToken("alice", std::chrono::seconds(600));
  Result<Identity> identity = Password("", token);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "alice");
  EXPECT_EQ(identity->method, "token");
  EXPECT_EQ(identity->cluster_token->AuthorizationHeader(), "token=" + token);
  EXPECT_EQ(http_.CountRequests("/auth/login"), 0u);
}

TEST_F(AuthenticatorTest, TokenOfOtherUidRejected) {
  std::string token = iam_fake_.IssueToken("alice", std::chrono::seconds(600));
  Result<Identity> identity = Password("demo", token);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(identity.status().message(), "the token is for uid 'alice', not for 'demo'"));
}

TEST_F(AuthenticatorTest, RegistryKeyForUidAccepted) {
  Result<Identity> identity = PublicKey("alice", Key(kEd25519, "ssh-ed25519"), true);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "alice");
  EXPECT_EQ(identity->key_source, "key registry");
  EXPECT_EQ(identity->key_fingerprint, "SHA256:NfJboGyuHT8jWHQvzaR/Yuf+fjarIrcNvVMDryO8gSc");
  ASSERT_TRUE(identity->cluster_token.has_value());
  EXPECT_EQ(identity->cluster_token->uid(), "task-bastion");
}

TEST_F(AuthenticatorTest, ProbeGetsNoToken) {
  Result<Identity> identity = PublicKey("alice", Key(kEd25519, "ssh-ed25519"), false);
  ASSERT_TRUE(identity.ok());
  EXPECT_FALSE(identity->cluster_token.has_value());
  EXPECT_EQ(http_.CountRequests("/auth/login"), 0u);
}

TEST_F(AuthenticatorTest, KeyOfAnotherUidRejected) {
  iam_fake_.regular_users.insert("dave");
  Result<Identity> identity = PublicKey("dave", Key(kEd25519, "ssh-ed25519"), true);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(identity.status().message(), "is not registered for uid 'dave' (the key "
                                                    "registry lists it for another uid)"))
      << identity.status().message();
}

TEST_F(AuthenticatorTest, ServiceAccountKeyAccepted) {
  iam_fake_.service_keys["ci"] = kRsaPem;
  Result<Identity> identity = PublicKey("ci", Key(kRsa, "ssh-rsa"), true);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "ci");
  EXPECT_EQ(identity->key_source, "IAM service account");
}

TEST_F(AuthenticatorTest, OtherServiceAccountsKeyRejected) {
  iam_fake_.service_keys["ci"] = PublicPem(TestRsaKey(2));
  Result<Identity> identity = PublicKey("ci", Key(kRsa, "ssh-rsa"), true);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, UnknownUidRejected) {
  Result<Identity> identity = PublicKey("ghost", Key(kRsa, "ssh-rsa"), false);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, PlainTaskFormUsesSingleRegistryOwner) {
  Result<Identity> identity = PublicKey("", Key(kRsa, "ssh-rsa"), true);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "carol");
}

TEST_F(AuthenticatorTest, PlainTaskFormRejectsSharedKey) {
  Result<Identity> identity = PublicKey("", Key(kEd25519, "ssh-ed25519"), true);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(identity.status().message(), "several uids ('alice', 'shared-1')"));
}

TEST_F(AuthenticatorTest, ServiceAccountListCached) {
  std::ofstream(registry_path_, std::ios::trunc) << "";
  clock_.Advance(std::chrono::seconds(2));
  iam_fake_.service_keys["ci"] = kRsaPem;
  Result<Identity> identity = PublicKey("", Key(kRsa, "ssh-rsa"), false);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->uid, "ci");
  ASSERT_TRUE(PublicKey("", Key(kRsa, "ssh-rsa"), false).ok());
  EXPECT_EQ(http_.CountRequests("/users?type=service"), 1u);
  clock_.Advance(std::chrono::seconds(60));
  ASSERT_TRUE(PublicKey("", Key(kRsa, "ssh-rsa"), false).ok());
  EXPECT_EQ(http_.CountRequests("/users?type=service"), 2u);
}

TEST_F(AuthenticatorTest, IamDownDeniesServiceAccountKeyAsUnavailable) {
  iam_fake_.down = true;
  Result<Identity> identity = PublicKey("ci", Key(kRsa, "ssh-rsa"), true);
  EXPECT_EQ(identity.status().code(), StatusCode::kUnavailable);
}

TEST_F(AuthenticatorTest, RegistryKeyWorksWhileIamDown) {
  account_->Start();
  http_.RunPending();
  iam_fake_.down = true;
  Result<Identity> identity = PublicKey("alice", Key(kEd25519, "ssh-ed25519"), true);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
}

TEST_F(AuthenticatorTest, NoServiceAccountNoPublicKeys) {
  Authenticator without(iam_, http_.loop(), clock_, verifier_, registry_.get(), nullptr,
                        AuthenticatorOptions{});
  EXPECT_FALSE(without.accepts_public_keys());
  Result<Identity> identity =
      Run(without.CheckPublicKey("alice", Key(kEd25519, "ssh-ed25519"), true, Capture()));
  EXPECT_EQ(identity.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb::auth
