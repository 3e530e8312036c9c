"""RecordIO framing as Mesos uses it on its streaming HTTP calls.

A record is its length in bytes as unsigned decimal digits, one LF byte, then exactly
that many bytes of data:

    record      = record-size LF record-data
    record-size = 1*DIGIT

No separator follows the data. Record boundaries are unrelated to HTTP chunk
boundaries, so the decoder buffers across feeds. Like stout's decoder, it rejects a
length that is not base-10 digits and then stays failed.
"""

# A length line longer than this cannot be a valid unsigned 64-bit decimal number.
MAX_LENGTH_DIGITS = 20


class RecordIOError(ValueError):
    """Malformed RecordIO input."""


def encode(data: bytes) -> bytes:
    """Frame one record."""
    return str(len(data)).encode("ascii") + b"\n" + data


class Decoder:
    """Incremental RecordIO decoder: feed bytes, get the complete records."""

    def __init__(self, max_record_bytes: int = 64 * 1024 * 1024):
        self._buffer = bytearray()
        self._pending_length = None
        self._failed = None
        self.max_record_bytes = max_record_bytes

    def feed(self, data: bytes) -> list:
        """Return the records completed by `data`; raise RecordIOError on bad framing."""
        if self._failed is not None:
            raise RecordIOError(self._failed)

        self._buffer += data
        records = []
        while True:
            if self._pending_length is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > MAX_LENGTH_DIGITS:
                        self._fail("record length line is longer than %d bytes" % MAX_LENGTH_DIGITS)
                    break
                header = bytes(self._buffer[:newline])
                if not header or not header.isdigit() or len(header) > MAX_LENGTH_DIGITS:
                    self._fail("invalid record length %r: expected decimal digits" % header[:40])
                length = int(header)
                if length > self.max_record_bytes:
                    self._fail("record length %d exceeds the maximum of %d bytes"
                               % (length, self.max_record_bytes))
                del self._buffer[:newline + 1]
                self._pending_length = length

            if len(self._buffer) < self._pending_length:
                break
            records.append(bytes(self._buffer[:self._pending_length]))
            del self._buffer[:self._pending_length]
            self._pending_length = None
        return records

    def has_partial_record(self) -> bool:
        """Return True when buffered bytes do not yet form a complete record."""
        return bool(self._buffer) or self._pending_length is not None

    def _fail(self, message: str):
        self._failed = message
        raise RecordIOError(message)
