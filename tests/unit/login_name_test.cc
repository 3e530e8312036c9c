#include "auth/login_name.h"

#include <gtest/gtest.h>

namespace tb::auth {
namespace {

constexpr const char* kExpectedForm = "expected <task> or <uid>@<task>";

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

TEST(LoginNameTest, TaskOnly) {
  Result<LoginName> name = ParseLoginName("web.1a2b");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->uid, "");
  EXPECT_EQ(name->task, "web.1a2b");
}

TEST(LoginNameTest, UidAndTask) {
  Result<LoginName> name = ParseLoginName("alice@web.1a2b");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->uid, "alice");
  EXPECT_EQ(name->task, "web.1a2b");
}

TEST(LoginNameTest, SplitsAtLastAt) {
  Result<LoginName> name = ParseLoginName("alice@example.com@web.1a2b");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->uid, "alice@example.com");
  EXPECT_EQ(name->task, "web.1a2b");
}

TEST(LoginNameTest, LengthAtMaximumAccepted) {
  std::string user = "u@" + std::string(kMaxLoginNameBytes - 2, 't');
  Result<LoginName> name = ParseLoginName(user);
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(name->task.size(), kMaxLoginNameBytes - 2);
}

TEST(LoginNameTest, LengthAboveMaximumRejected) {
  Result<LoginName> name = ParseLoginName(std::string(kMaxLoginNameBytes + 1, 't'));
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(name.status().message(),
                       "above the maximum of " + std::to_string(kMaxLoginNameBytes)))
      << name.status().message();
  EXPECT_TRUE(Contains(name.status().message(), kExpectedForm));
}

TEST(LoginNameTest, EmptyRejected) {
  Result<LoginName> name = ParseLoginName("");
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(name.status().message(), "the login name is empty; expected <task> or <uid>@<task>");
}

TEST(LoginNameTest, EmptyTaskRejected) {
  Result<LoginName> name = ParseLoginName("alice@");
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(name.status().message(), "no task after its last '@'"));
  EXPECT_TRUE(Contains(name.status().message(), kExpectedForm));
}

TEST(LoginNameTest, EmptyUidRejected) {
  Result<LoginName> name = ParseLoginName("@web.1");
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(name.status().message(), "no uid before its last '@'"));
  EXPECT_TRUE(Contains(name.status().message(), kExpectedForm));
}

TEST(LoginNameTest, ControlCharacterRejected) {
  for (std::string user : {std::string("web\n1"), std::string("web\x1b[2J"), std::string("a\x7f"),
                           std::string("we\0b", 4)}) {
    Result<LoginName> name = ParseLoginName(user);
    ASSERT_FALSE(name.ok()) << user;
    EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(name.status().message(), "control character")) << name.status().message();
    EXPECT_TRUE(Contains(name.status().message(), kExpectedForm));
  }
  EXPECT_TRUE(Contains(ParseLoginName("web\n1").status().message(), "0x0a at offset 3"));
}

TEST(LoginNameTest, NonAsciiAccepted) {
  Result<LoginName> name = ParseLoginName("jos\xc3\xa9@web.1");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->uid, "jos\xc3\xa9");
}

}  // namespace
}  // namespace tb::auth
