#include "server/log_text.h"

#include <string>

#include <gtest/gtest.h>

namespace tb::server {
namespace {

TEST(LogSafeTest, PlainTextUnchanged) { EXPECT_EQ(LogSafe("demo@web.1a2b"), "demo@web.1a2b"); }

TEST(LogSafeTest, NewlineCannotForgeLine) {
  EXPECT_EQ(LogSafe("demo\n2026-12-04 info FAKE"), "demo\\x0a2026-12-04 info FAKE");
}

TEST(LogSafeTest, QuotesAndBackslashesEscaped) {
  EXPECT_EQ(LogSafe("we\"b\\"), "we\\x22b\\x5c");
}

TEST(LogSafeTest, EscapeSequenceEscaped) { EXPECT_EQ(LogSafe("\x1b[31m"), "\\x1b[31m"); }

TEST(LogSafeTest, LongTextCutWithSize) {
  std::string name(70005, 'a');
  std::string safe = LogSafe(name, 16);
  EXPECT_EQ(safe, std::string(16, 'a') + "...(70005 bytes)");
}

TEST(LogSafeTest, TextAtLimitNotCut) {
  EXPECT_EQ(LogSafe(std::string(16, 'b'), 16), std::string(16, 'b'));
}

}  // namespace
}  // namespace tb::server
