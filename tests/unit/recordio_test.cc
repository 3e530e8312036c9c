#include "mesos/recordio.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

namespace tb::mesos {
namespace {

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

class RecordIoTest : public ::testing::Test {
 protected:
  // Feeds `chunk` to decoder_ and returns the records it completed.
  std::vector<std::string> Feed(std::string_view chunk) {
    std::vector<std::string> records;
    last_status_ = decoder_.Feed(chunk, &records);
    return records;
  }

  RecordIoDecoder decoder_;
  Status last_status_;
};

TEST(RecordIoEncodeTest, PrefixesDecimalLength) {
  EXPECT_EQ(EncodeRecord("hello"), "5\nhello");
  EXPECT_EQ(EncodeRecord(""), "0\n");
  EXPECT_EQ(EncodeRecord(std::string(1234, 'x')), "1234\n" + std::string(1234, 'x'));
}

TEST_F(RecordIoTest, DecodesProtocolExample) {
  const std::string json = R"({"type":"DATA","data":{"type":"STDOUT","data":"aGVsbG8K"}})";
  std::vector<std::string> records = Feed("58\n" + json);
  ASSERT_TRUE(last_status_.ok()) << last_status_.ToString();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], json);
  EXPECT_TRUE(decoder_.Finish().ok());
}

TEST_F(RecordIoTest, SeveralRecordsInOneChunk) {
  std::vector<std::string> records =
      Feed(EncodeRecord("a") + EncodeRecord("bc") + EncodeRecord("def"));
  ASSERT_TRUE(last_status_.ok());
  EXPECT_EQ(records, (std::vector<std::string>{"a", "bc", "def"}));
}

TEST_F(RecordIoTest, SplitInsideLengthPrefix) {
  const std::string data(123, 'q');
  EXPECT_TRUE(Feed("1").empty());
  EXPECT_TRUE(Feed("2").empty());
  EXPECT_TRUE(Feed("3").empty());
  EXPECT_TRUE(Feed("\n").empty());
  std::vector<std::string> records = Feed(data);
  ASSERT_TRUE(last_status_.ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], data);
}

TEST_F(RecordIoTest, SplitInsideData) {
  EXPECT_TRUE(Feed("6\nabc").empty());
  std::vector<std::string> records = Feed("def4\nwx");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], "abcdef");
  records = Feed("yz");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], "wxyz");
  EXPECT_TRUE(decoder_.Finish().ok());
}

TEST_F(RecordIoTest, EmptyChunkIsNoOp) {
  EXPECT_TRUE(Feed("").empty());
  EXPECT_TRUE(last_status_.ok());
  EXPECT_TRUE(decoder_.Finish().ok());
}

TEST_F(RecordIoTest, ZeroLengthIsEmptyRecord) {
  std::vector<std::string> records = Feed("0\n0\n1\nx");
  ASSERT_TRUE(last_status_.ok());
  EXPECT_EQ(records, (std::vector<std::string>{"", "", "x"}));
}

TEST_F(RecordIoTest, LeadingZerosAccepted) {
  std::vector<std::string> records = Feed("003\nabc");
  ASSERT_TRUE(last_status_.ok());
  EXPECT_EQ(records, std::vector<std::string>{"abc"});
}

TEST_F(RecordIoTest, BinaryDataKeptIntact) {
  std::string data(
      "\0\n\xff"
      "12\n",
      6);
  std::vector<std::string> records = Feed(EncodeRecord(data));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], data);
}

TEST(RecordIoLimitTest, RecordAtMaximumAccepted) {
  RecordIoDecoder decoder;
  const std::string data(RecordIoDecoder::kDefaultMaxRecordBytes, 'm');
  std::vector<std::string> records;
  ASSERT_TRUE(decoder.Feed(EncodeRecord(data), &records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].size(), RecordIoDecoder::kDefaultMaxRecordBytes);
}

TEST(RecordIoLimitTest, RecordAboveMaximumRejected) {
  RecordIoDecoder decoder;
  std::vector<std::string> records;
  const std::string size = std::to_string(RecordIoDecoder::kDefaultMaxRecordBytes + 1);
  Status status = decoder.Feed(size + "\n", &records);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(status.message(),
                       "exceeds the maximum of " +
                           std::to_string(RecordIoDecoder::kDefaultMaxRecordBytes) + " bytes"))
      << status.message();
  EXPECT_TRUE(decoder.failed());
  EXPECT_TRUE(records.empty());
}

TEST(RecordIoLimitTest, OversizedLengthRejectedBeforeNewline) {
  RecordIoDecoder decoder(100);
  std::vector<std::string> records;
  EXPECT_TRUE(decoder.Feed("10", &records).ok());
  EXPECT_TRUE(decoder.Feed("0", &records).ok());  // exactly the maximum so far
  Status status = decoder.Feed("0", &records);    // 1000: over it, no LF yet
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(status.message(), "at least 1000 bytes")) << status.message();
}

TEST(RecordIoLimitTest, CustomMaximumApplies) {
  RecordIoDecoder decoder(4);
  std::vector<std::string> records;
  ASSERT_TRUE(decoder.Feed("4\nabcd", &records).ok());
  EXPECT_EQ(decoder.Feed("5\nabcde", &records).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(records, std::vector<std::string>{"abcd"});
}

TEST(RecordIoLimitTest, LengthOverflowRejected) {
  // With no practical maximum the size field can only fail by not fitting in 64 bits.
  RecordIoDecoder decoder(std::numeric_limits<std::size_t>::max());
  std::vector<std::string> records;
  const std::string max = std::to_string(std::numeric_limits<std::uint64_t>::max());
  Status status = decoder.Feed(max + "0\n", &records);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "does not fit in 64 bits")) << status.message();
}

TEST_F(RecordIoTest, NonDigitLengthRejected) {
  Feed("12a\n");
  EXPECT_EQ(last_status_.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(last_status_.message(), "'a' at stream byte 2")) << last_status_.message();
}

TEST_F(RecordIoTest, SignedLengthRejected) {
  Feed("-1\n");
  EXPECT_EQ(last_status_.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(last_status_.message(), "'-' at stream byte 0")) << last_status_.message();
}

TEST_F(RecordIoTest, WhitespaceInLengthRejected) {
  Feed("5 \nhello");
  EXPECT_EQ(last_status_.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(last_status_.message(), "byte 0x20")) << last_status_.message();
}

TEST_F(RecordIoTest, EmptyLengthRejected) {
  std::vector<std::string> records = Feed("1\nx\nmore");
  EXPECT_EQ(records, std::vector<std::string>{"x"});  // completed before the error
  EXPECT_EQ(last_status_.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(last_status_.message(), "record size is empty at stream byte 3"))
      << last_status_.message();
}

TEST_F(RecordIoTest, StaysFailedAfterError) {
  Feed("x");
  ASSERT_FALSE(last_status_.ok());
  const Status first = last_status_;
  EXPECT_TRUE(decoder_.failed());

  std::vector<std::string> records = Feed("1\na");
  EXPECT_TRUE(records.empty());
  EXPECT_EQ(last_status_.code(), first.code());
  EXPECT_EQ(last_status_.message(), first.message());
  EXPECT_EQ(decoder_.Finish().message(), first.message());
}

TEST_F(RecordIoTest, TruncatedRecordIsError) {
  Feed("10\nabc");
  ASSERT_TRUE(last_status_.ok());
  Status status = decoder_.Finish();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(status.message(), "received 3 of 10 bytes")) << status.message();
  EXPECT_FALSE(decoder_.failed());  // Finish does not change the decoder
}

TEST_F(RecordIoTest, TruncatedLengthIsError) {
  Feed("1\na12");
  Status status = decoder_.Finish();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(status.message(), "inside a record size field")) << status.message();
}

TEST_F(RecordIoTest, EndAfterLengthLineIsError) {
  Feed("4\n");
  Status status = decoder_.Finish();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(status.message(), "received 0 of 4 bytes")) << status.message();
}

TEST(RecordIoRandomTest, RandomChunkSizesDecodeSameRecords) {
  std::mt19937 random(20240611);
  std::vector<std::string> expected;
  std::string stream;
  for (int i = 0; i < 500; ++i) {
    std::size_t size = random() % 3 == 0 ? 0 : random() % 3000;
    if (i % 97 == 0) size = 70000;  // larger than one switchboard read
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(random());
    expected.push_back(data);
    stream += EncodeRecord(data);
  }

  for (int round = 0; round < 20; ++round) {
    RecordIoDecoder decoder;
    std::vector<std::string> records;
    std::size_t offset = 0;
    while (offset < stream.size()) {
      std::size_t chunk = 1 + random() % (round % 2 == 0 ? 7 : 9000);
      chunk = std::min(chunk, stream.size() - offset);
      ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(offset, chunk), &records).ok());
      offset += chunk;
    }
    EXPECT_TRUE(decoder.Finish().ok());
    ASSERT_EQ(records.size(), expected.size()) << "round " << round;
    EXPECT_TRUE(records == expected) << "round " << round;
  }
}

}  // namespace
}  // namespace tb::mesos
