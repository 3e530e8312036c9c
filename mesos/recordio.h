// RecordIO: the framing of Mesos streaming calls (stout recordio.hpp, Mesos docs/recordio.md).
//
// Format:
//   record      = record-size LF record-data
//   record-size = 1*DIGIT      ; decimal byte count of record-data, no sign, no whitespace
// Records follow each other with no separator. A size of 0 is an empty record. The agent sends
// a ProcessIO JSON message per record on the LAUNCH_NESTED_CONTAINER_SESSION response, and the
// bastion sends an agent Call per record on the ATTACH_CONTAINER_INPUT request body.
//
// Chunking contract: HTTP chunks (and proxies that re-chunk) split the stream anywhere, also
// inside the size digits. RecordIoDecoder::Feed takes the bytes as they arrive, keeps the
// incomplete tail, and appends every record the new bytes complete: none, one or several.
//
// Maximum: a size above `max_record_bytes` (default kDefaultMaxRecordBytes, 4 MiB) is an error,
// detected as soon as the digits read so far exceed it. The decoder never allocates for a size
// before the bytes arrive: a record's buffer grows with the data received, so a peer that
// announces a large record and then stalls costs no more memory than it sent. The agent's I/O
// switchboard reads at most 64 KiB per record (about 87 KiB as base64 JSON), so the default
// leaves ample room while bounding what one session can make the bastion buffer.
//
// Errors. After any of these the decoder is failed: every later Feed and Finish returns the same
// error, and Feed appends no more records.
//   InvalidArgument    the size field is empty ("\n" where digits belong), contains a byte other
//                      than 0-9, or does not fit in 64 bits.
//   ResourceExhausted  the size exceeds max_record_bytes.
// Records completed before the offending byte in the same Feed call are still appended.
//
// End of stream: Finish() reports whether the stream ended on a record boundary. LevelDB's log
// reader treats a torn record at the end of a file as a clean end, because its writer may have
// crashed in the middle of a write and the records before it are all that matter. Here the
// opposite holds: an agent stream that stops inside a record means the connection was lost,
// so the process's output and result are unknown and the session must end with an error, never
// with a success.
//
// Not thread-safe; one decoder belongs to one stream.

#ifndef TASK_BASTION_MESOS_RECORDIO_H_
#define TASK_BASTION_MESOS_RECORDIO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tb::mesos {

// Returns "<decimal size of data>\n<data>".
std::string EncodeRecord(std::string_view data);

class RecordIoDecoder {
 public:
  static constexpr std::size_t kDefaultMaxRecordBytes = 4 << 20;

  explicit RecordIoDecoder(std::size_t max_record_bytes = kDefaultMaxRecordBytes);

  // Consumes `chunk` (any size, split anywhere) and appends each completed record to `*records`.
  // Returns OK, or the error that failed the decoder (see the file comment). REQUIRES: records
  // is not null.
  Status Feed(std::string_view chunk, std::vector<std::string>* records);

  // Returns OK if the bytes fed so far end exactly after a record (or no bytes were fed).
  // Returns Unavailable when the stream ended inside a size field or record data, and the stored
  // error when the decoder failed earlier. Does not change the decoder.
  Status Finish() const;

  bool failed() const { return state_ == State::kFailed; }

 private:
  enum class State { kSize, kData, kFailed };

  Status Fail(Status status);

  const std::size_t max_record_bytes_;
  State state_ = State::kSize;
  Status error_;                     // the failure, when state_ == kFailed
  std::uint64_t stream_offset_ = 0;  // bytes consumed so far, for error messages
  std::size_t size_digits_ = 0;      // digits read of the current size field
  std::uint64_t record_size_ = 0;    // value of the current size field
  std::string record_;               // data received of the current record
};

}  // namespace tb::mesos

#endif  // TASK_BASTION_MESOS_RECORDIO_H_
