#include "auth/key_registry.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/base64.h"
#include "tests/unit/auth_fakes.h"

namespace tb::auth {
namespace {

using ::tb::testing::FakeClock;

constexpr const char* kEd25519 =
    "AAAAC3NzaC1lZDI1NTE5AAAAIHLOAPW0fiUQGGXTM/ZB2ehGZ01DfhszguHBOr/+e/89";
constexpr const char* kRsa =
    "AAAAB3NzaC1yc2EAAAADAQABAAABAQDBgbNXzn7zQH5Ph4KpmeQfO64ATZNhyL3N4ZbA9AstRiVRihYGaA+g4wnfPDf7"
    "rauc03H2jfnzEH/aqQIi5qXJ5WcAnb4e1Nxl7NE+ujP1BPSJBsMW0h8BMsJ2Ek5AyX3/UCJne5DXIWn8Oxl9GFRqvpX7"
    "wWhzNybqpB0foWWjZalcBo8s7/zyoPFUzcaFt2l3qjnrDlGqj26GYQ+wRhM2T3eadAk6XUa48rr0hMXNl8t8Bj2oWZHF"
    "6FfRTcjPgvh7jWQrluYuEwVJc+CJTgnptfFI9NyzuMXlOlGU+W2II4CDfZcEkhjFugjxp1ykBNPmefXgROH41v2Trarm"
    "j5dT";

std::string Line(const std::string& options, const char* type, const char* key,
                 const std::string& comment = "") {
  return options + (options.empty() ? "" : " ") + type + " " + key +
         (comment.empty() ? "" : " " + comment) + "\n";
}

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

TEST(KeyRegistryParseTest, ReadsUidTypeKeyAndLine) {
  ParsedRegistry parsed = ParseKeyRegistry(
      "# keys of the team\n\n" +
      Line("uid=\"alice@example.com\"", "ssh-ed25519", kEd25519, "alice's laptop") +
      "   " + Line("uid=\"ci\",no-port-forwarding,no-agent-forwarding", "ssh-rsa", kRsa));
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0];
  ASSERT_EQ(parsed.entries.size(), 2u);
  EXPECT_EQ(parsed.entries[0].uid, "alice@example.com");
  EXPECT_EQ(parsed.entries[0].type, "ssh-ed25519");
  EXPECT_EQ(parsed.entries[0].blob, *Base64Decode(kEd25519));
  EXPECT_EQ(parsed.entries[0].fingerprint, "SHA256:NfJboGyuHT8jWHQvzaR/Yuf+fjarIrcNvVMDryO8gSc");
  EXPECT_EQ(parsed.entries[0].line, 3);
  EXPECT_EQ(parsed.entries[1].uid, "ci");
  EXPECT_EQ(parsed.entries[1].line, 4);
}

TEST(KeyRegistryParseTest, QuotedValueWithEscapeAndCrlf) {
  ParsedRegistry parsed =
      ParseKeyRegistry("UID=\"we\\\"ird, name\" ssh-ed25519 " + std::string(kEd25519) + "\r\n");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0];
  ASSERT_EQ(parsed.entries.size(), 1u);
  EXPECT_EQ(parsed.entries[0].uid, "we\"ird, name");
}

TEST(KeyRegistryParseTest, BadLinesReportedWithNumberAndSkipped) {
  struct Case {
    std::string line;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Line("", "ssh-ed25519", kEd25519), "the uid=\"...\" option is missing"},
      {Line("no-pty", "ssh-ed25519", kEd25519), "option \"no-pty\" is not supported"},
      {Line("uid=\"a\",restrict", "ssh-ed25519", kEd25519), "option \"restrict\" is not supported"},
      {Line("uid=\"a\",from=\"10.0.0.0/8\"", "ssh-ed25519", kEd25519), "option \"from\""},
      {Line("uid=\"a\",command=\"ls\"", "ssh-ed25519", kEd25519), "option \"command\""},
      {Line("uid=\"a\",uid=\"b\"", "ssh-ed25519", kEd25519), "uid is given twice"},
      {Line("uid=\"\"", "ssh-ed25519", kEd25519), "uid has no value"},
      {Line("uid=a", "ssh-ed25519", kEd25519), "the value must be in double quotes"},
      {Line("uid=\"a", "ssh-ed25519", kEd25519), "unknown key type"},
      {Line("uid=\"a\"", "ssh-dss", kEd25519), "unknown key type \"ssh-dss\""},
      {Line("uid=\"a\"", "ssh-ed25519", "AAAA!!!"), "invalid base64"},
      {Line("uid=\"a\"", "ssh-rsa", kEd25519), "the key is of type \"ssh-ed25519\", not ssh-rsa"},
      {"uid=\"a\" ssh-ed25519\n", "the key is missing"},
  };
  std::string text = "# header\n";
  for (const Case& c : cases) text += c.line;
  text += Line("uid=\"good\"", "ssh-ed25519", kEd25519);

  ParsedRegistry parsed = ParseKeyRegistry(text);
  ASSERT_EQ(parsed.entries.size(), 1u);
  EXPECT_EQ(parsed.entries[0].uid, "good");
  EXPECT_EQ(parsed.entries[0].line, static_cast<int>(cases.size()) + 2);
  ASSERT_EQ(parsed.errors.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::string prefix = "line " + std::to_string(i + 2) + ": ";
    EXPECT_TRUE(parsed.errors[i].starts_with(prefix)) << parsed.errors[i];
    EXPECT_TRUE(Contains(parsed.errors[i], cases[i].error)) << parsed.errors[i];
  }
}

class KeyRegistryFileTest : public ::testing::Test {
 protected:
  KeyRegistryFileTest() {
    char name[] = "/tmp/tb-key-registry-XXXXXX";
    int fd = mkstemp(name);
    close(fd);
    path_ = name;
  }
  ~KeyRegistryFileTest() override { std::remove(path_.c_str()); }

  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
    // A rewrite within the file system's timestamp granularity may keep mtime and size; a new
    // inode through a rename is what editors do and is always seen.
    std::string temporary = path_ + ".new";
    std::ofstream(temporary) << text;
    std::rename(temporary.c_str(), path_.c_str());
  }

  FakeClock clock_;
  std::string path_;
};

TEST_F(KeyRegistryFileTest, UidsForKeyListsEveryOwner) {
  Write(Line("uid=\"alice\"", "ssh-ed25519", kEd25519) + Line("uid=\"bob\"", "ssh-ed25519", kEd25519) +
        Line("uid=\"alice\"", "ssh-ed25519", kEd25519));
  KeyRegistry registry(path_, clock_, std::chrono::seconds(1));
  ASSERT_TRUE(registry.Load().ok());
  EXPECT_EQ(registry.UidsForKey(*Base64Decode(kEd25519)), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_TRUE(registry.UidsForKey(*Base64Decode(kRsa)).empty());
}

TEST_F(KeyRegistryFileTest, ChangedFileReread) {
  Write(Line("uid=\"alice\"", "ssh-ed25519", kEd25519));
  KeyRegistry registry(path_, clock_, std::chrono::seconds(1));
  ASSERT_TRUE(registry.Load().ok());
  Write(Line("uid=\"carol\"", "ssh-ed25519", kEd25519));
  // Within the check interval the old keys still count.
  EXPECT_EQ(registry.UidsForKey(*Base64Decode(kEd25519)), (std::vector<std::string>{"alice"}));
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(registry.UidsForKey(*Base64Decode(kEd25519)), (std::vector<std::string>{"carol"}));
}

TEST_F(KeyRegistryFileTest, RemovedFileKeepsPreviousKeys) {
  Write(Line("uid=\"alice\"", "ssh-ed25519", kEd25519));
  KeyRegistry registry(path_, clock_, std::chrono::seconds(1));
  ASSERT_TRUE(registry.Load().ok());
  std::remove(path_.c_str());
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(registry.UidsForKey(*Base64Decode(kEd25519)), (std::vector<std::string>{"alice"}));
}

TEST_F(KeyRegistryFileTest, MissingFileFailsLoad) {
  std::remove(path_.c_str());
  KeyRegistry registry(path_, clock_, std::chrono::seconds(1));
  Status status = registry.Load();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(status.message(), path_));
}

TEST_F(KeyRegistryFileTest, NoPathMeansNoKeys) {
  KeyRegistry registry("", clock_, std::chrono::seconds(1));
  EXPECT_TRUE(registry.Load().ok());
  EXPECT_TRUE(registry.UidsForKey(*Base64Decode(kEd25519)).empty());
}

}  // namespace
}  // namespace tb::auth
