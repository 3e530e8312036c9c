#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "server/config.h"

namespace tb::server {
namespace {

class AuthConfigTest : public ::testing::Test {
 protected:
  AuthConfigTest() {
    char name[] = "/tmp/tb-auth-config-XXXXXX";
    close(mkstemp(name));
    path_ = name;
  }
  ~AuthConfigTest() override { std::remove(path_.c_str()); }

  Result<Config> Load(const std::string& auth_lines) {
    std::ofstream(path_, std::ios::trunc) << "[auth]\n" << auth_lines;
    return LoadConfig(path_);
  }

  void ExpectError(const std::string& auth_lines, const std::string& fragment) {
    Result<Config> config = Load(auth_lines);
    ASSERT_FALSE(config.ok()) << auth_lines;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(fragment), std::string::npos)
        << config.status().message();
  }

  std::string path_;
};

TEST_F(AuthConfigTest, DefaultsWithoutTable) {
  Result<Config> config = Load("");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->authorization, "iam");
  EXPECT_EQ(config->max_startups, "10:30:100");
  EXPECT_EQ(config->free_failures, 3);
  EXPECT_EQ(config->failure_delay, std::chrono::milliseconds(500));
  EXPECT_EQ(config->max_failure_delay, std::chrono::seconds(10));
  EXPECT_EQ(config->jwks_min_refetch_interval, std::chrono::seconds(60));
}

TEST_F(AuthConfigTest, ReadsEveryKey) {
  Result<Config> config = Load(
      "authorization = \"none\"\n"
      "service_account_uid = \"task-bastion\"\n"
      "service_account_private_key = \"/etc/key.pem\"\n"
      "authorized_keys = \"/etc/keys\"\n"
      "authorized_keys_check_interval_seconds = 2\n"
      "jwks_min_refetch_interval_seconds = 30\n"
      "service_accounts_cache_seconds = 5\n"
      "max_startups = \"5:50:20\"\n"
      "free_failures = 1\n"
      "failure_delay_seconds = 0.25\n"
      "max_failure_delay_seconds = 4\n"
      "failure_window_seconds = 60\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->authorization, "none");
  EXPECT_EQ(config->service_account_uid, "task-bastion");
  EXPECT_EQ(config->service_account_private_key, "/etc/key.pem");
  EXPECT_EQ(config->authorized_keys, "/etc/keys");
  EXPECT_EQ(config->authorized_keys_check_interval, std::chrono::seconds(2));
  EXPECT_EQ(config->jwks_min_refetch_interval, std::chrono::seconds(30));
  EXPECT_EQ(config->service_accounts_cache, std::chrono::seconds(5));
  EXPECT_EQ(config->max_startups, "5:50:20");
  EXPECT_EQ(config->free_failures, 1);
  EXPECT_EQ(config->failure_delay, std::chrono::milliseconds(250));
  EXPECT_EQ(config->max_failure_delay, std::chrono::seconds(4));
  EXPECT_EQ(config->failure_window, std::chrono::seconds(60));
}

TEST_F(AuthConfigTest, InvalidValuesRejected) {
  ExpectError("authorization = \"maybe\"\n", "[auth] authorization: expected \"iam\" or \"none\"");
  ExpectError("max_startups = \"10:30\"\n", "max_startups: expected start:rate:full");
  ExpectError("service_account_uid = \"a\"\n", "must be given together");
  ExpectError("service_account_secret = \"/s.json\"\nservice_account_uid = \"a\"\n"
              "service_account_private_key = \"/k.pem\"\n",
              "give one of the two");
  ExpectError("failure_delay_seconds = 5\nmax_failure_delay_seconds = 1\n",
              "must not be below failure_delay_seconds");
  ExpectError("free_failures = -1\n", "[auth] free_failures");
  ExpectError("no_such_key = 1\n", "unknown key [auth] no_such_key");
}

}  // namespace
}  // namespace tb::server
