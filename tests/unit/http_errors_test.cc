#include "common/http_errors.h"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(HttpErrorsTest, DurationTextWholeSeconds) {
  EXPECT_EQ(DurationText(std::chrono::milliseconds(5000)), "5 s");
  EXPECT_EQ(DurationText(std::chrono::milliseconds(0)), "0 s");
}

TEST(HttpErrorsTest, DurationTextMilliseconds) {
  EXPECT_EQ(DurationText(std::chrono::milliseconds(1500)), "1500 ms");
}

TEST(HttpErrorsTest, TransportReasonStripsDescription) {
  Status error = Status::Unavailable("master http://m1/api/v1 GET_TASKS: Connection refused");
  EXPECT_EQ(TransportReason(error, "master http://m1/api/v1 GET_TASKS"), "Connection refused");
}

TEST(HttpErrorsTest, TransportReasonKeepsOtherMessages) {
  Status error = Status::Unavailable("Connection refused");
  EXPECT_EQ(TransportReason(error, "master http://m1/api/v1 GET_TASKS"), "Connection refused");
  EXPECT_EQ(TransportReason(error, ""), "Connection refused");
}

TEST(HttpErrorsTest, FirstLineCutsAtNewline) {
  EXPECT_EQ(FirstLine("No leader elected\r\nmore"), "No leader elected");
  EXPECT_EQ(FirstLine(""), "");
}

TEST(HttpErrorsTest, FirstLineTruncatesAtMaximum) {
  EXPECT_EQ(FirstLine("abcdef", 3), "abc...");
  EXPECT_EQ(FirstLine("abc", 3), "abc");
}

TEST(HttpErrorsTest, FirstLineReplacesControlCharacters) {
  EXPECT_EQ(FirstLine("a\x1b[2Jb\x7f"), "a?[2Jb?");
}

}  // namespace
}  // namespace tb
