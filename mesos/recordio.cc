#include "mesos/recordio.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

namespace tb::mesos {

namespace {

std::string DescribeByte(char c) {
  unsigned char byte = static_cast<unsigned char>(c);
  char text[16];
  if (byte >= 0x21 && byte < 0x7f) {
    std::snprintf(text, sizeof(text), "'%c'", c);
  } else {
    std::snprintf(text, sizeof(text), "byte 0x%02x", byte);
  }
  return text;
}

}  // namespace

std::string EncodeRecord(std::string_view data) {
  std::string out = std::to_string(data.size());
  out.reserve(out.size() + 1 + data.size());
  out.push_back('\n');
  out.append(data);
  return out;
}

RecordIoDecoder::RecordIoDecoder(std::size_t max_record_bytes)
    : max_record_bytes_(max_record_bytes) {}

Status RecordIoDecoder::Fail(Status status) {
  state_ = State::kFailed;
  error_ = std::move(status);
  record_.clear();
  record_.shrink_to_fit();
  return error_;
}

Status RecordIoDecoder::Feed(std::string_view chunk, std::vector<std::string>* records) {
  if (failed()) return error_;

  while (!chunk.empty()) {
    if (state_ == State::kSize) {
      const char c = chunk.front();
      if (c == '\n') {
        if (size_digits_ == 0) {
          return Fail(Status::InvalidArgument("RecordIO record size is empty at stream byte " +
                                              std::to_string(stream_offset_)));
        }
        chunk.remove_prefix(1);
        ++stream_offset_;
        size_digits_ = 0;
        if (record_size_ == 0) {
          records->emplace_back();
        } else {
          state_ = State::kData;
        }
        continue;
      }

      if (c < '0' || c > '9') {
        return Fail(Status::InvalidArgument("RecordIO record size contains " + DescribeByte(c) +
                                            " at stream byte " + std::to_string(stream_offset_) +
                                            "; expected a decimal digit or LF"));
      }
      const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
      if (record_size_ > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
        return Fail(Status::InvalidArgument("RecordIO record size at stream byte " +
                                            std::to_string(stream_offset_) +
                                            " does not fit in 64 bits"));
      }
      record_size_ = record_size_ * 10 + digit;
      // Checked per digit so that an oversized size fails before its LF arrives.
      if (record_size_ > max_record_bytes_) {
        return Fail(Status::ResourceExhausted(
            "RecordIO record of at least " + std::to_string(record_size_) +
            " bytes exceeds the maximum of " + std::to_string(max_record_bytes_) +
            " bytes (size field at stream byte " + std::to_string(stream_offset_) + ")"));
      }
      ++size_digits_;
      chunk.remove_prefix(1);
      ++stream_offset_;
      continue;
    }

    // State::kData: record_size_ > 0 and record_ contains fewer bytes than that.
    const std::size_t missing = static_cast<std::size_t>(record_size_) - record_.size();
    const std::size_t take = std::min(missing, chunk.size());
    if (record_.empty() && take == missing) {
      records->emplace_back(
          chunk.substr(0, take));  // whole record in this chunk: no copy to record_
    } else {
      record_.append(chunk.substr(0, take));
      if (record_.size() == record_size_) {
        records->push_back(std::move(record_));
        record_.clear();
      }
    }
    chunk.remove_prefix(take);
    stream_offset_ += take;
    if (take == missing) {
      state_ = State::kSize;
      record_size_ = 0;
    }
  }
  return Status::Ok();
}

Status RecordIoDecoder::Finish() const {
  switch (state_) {
    case State::kFailed:
      return error_;
    case State::kSize:
      if (size_digits_ == 0) return Status::Ok();
      return Status::Unavailable(
          "RecordIO stream ended inside a record size field at stream byte " +
          std::to_string(stream_offset_));
    case State::kData:
      return Status::Unavailable("RecordIO stream ended inside a record: received " +
                                 std::to_string(record_.size()) + " of " +
                                 std::to_string(record_size_) + " bytes");
  }
  return Status::Internal("RecordIO decoder in an unknown state");
}

}  // namespace tb::mesos
