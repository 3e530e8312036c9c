#include "mesos/process_io.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace tb::mesos {
namespace {

using Kind = ProcessIoRecord::Kind;

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

TEST(ProcessIoTest, StdoutDataDecoded) {
  Result<ProcessIoRecord> record =
      ParseProcessIo(R"({"type":"DATA","data":{"type":"STDOUT","data":"aGVsbG8K"}})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kStdout);
  EXPECT_EQ(record->data, "hello\n");
}

TEST(ProcessIoTest, StderrBinaryDataDecoded) {
  const std::string bytes("\0\x01\xfe\xff", 4);
  Result<ProcessIoRecord> record = ParseProcessIo(
      R"({"type":"DATA","data":{"type":"STDERR","data":")" + Base64Encode(bytes) + R"("}})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kStderr);
  EXPECT_EQ(record->data, bytes);
}

TEST(ProcessIoTest, MissingDataIsEmptyOutput) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"type":"DATA","data":{"type":"STDOUT"}})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kStdout);
  EXPECT_EQ(record->data, "");
}

TEST(ProcessIoTest, Heartbeat) {
  Result<ProcessIoRecord> record = ParseProcessIo(
      R"({"type":"CONTROL","control":{"type":"HEARTBEAT","heartbeat":{"interval":{"nanoseconds":30000000000}}}})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kHeartbeat);
  EXPECT_EQ(record->data, "");
}

TEST(ProcessIoTest, OtherControlIgnored) {
  Result<ProcessIoRecord> record = ParseProcessIo(
      R"({"type":"CONTROL","control":{"type":"TTY_INFO","tty_info":{"window_size":{"rows":1,"columns":2}}}})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kOtherControl);
}

TEST(ProcessIoTest, UnknownRecordTypeIgnored) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"type":"SOMETHING_NEW"})");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->kind, Kind::kOtherControl);
}

TEST(ProcessIoTest, UnknownStreamTypeRejected) {
  Result<ProcessIoRecord> record =
      ParseProcessIo(R"({"type":"DATA","data":{"type":"STDIN","data":"eA=="}})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      Contains(record.status().message(), "process_io.data.type: unexpected stream 'STDIN'"))
      << record.status().message();
}

TEST(ProcessIoTest, MissingStreamTypeRejected) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"type":"DATA","data":{"data":"eA=="}})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(record.status().message(), "process_io.data.type: missing");
}

TEST(ProcessIoTest, InvalidBase64Rejected) {
  Result<ProcessIoRecord> record =
      ParseProcessIo(R"({"type":"DATA","data":{"type":"STDOUT","data":"not base64!"}})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(record.status().message(), "process_io.data.data: invalid base64"))
      << record.status().message();
}

TEST(ProcessIoTest, NonStringDataRejected) {
  Result<ProcessIoRecord> record =
      ParseProcessIo(R"({"type":"DATA","data":{"type":"STDOUT","data":12}})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().message(), "process_io.data.data: expected a string, got number");
}

TEST(ProcessIoTest, DataWithoutObjectRejected) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"type":"DATA"})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().message(), "process_io.data: missing");
}

TEST(ProcessIoTest, MissingTypeRejected) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"data":{"type":"STDOUT","data":""}})");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(record.status().message(), "process_io.type: missing");
}

TEST(ProcessIoTest, InvalidJsonRejectedWithoutQuotingIt) {
  Result<ProcessIoRecord> record = ParseProcessIo(R"({"type":"DATA","data":{"type":"STDOUT",)");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(record.status().message(), "process_io: invalid JSON at byte"))
      << record.status().message();
  EXPECT_FALSE(Contains(record.status().message(), "STDOUT"));
}

TEST(ProcessIoTest, NonObjectRejected) {
  Result<ProcessIoRecord> record = ParseProcessIo("[1,2]");
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().message(), "process_io: expected an object, got array");
}

}  // namespace
}  // namespace tb::mesos
