"""A small raw-socket HTTP/1.1 client for the emulator's tests.

It exposes what http.client hides: the exact status line and headers, chunk framing,
whether a stream ended with the terminal chunk or was cut, and request bodies written
incrementally as RecordIO records.
"""

import base64
import json
import socket
import time
import urllib.parse

import recordio


class StreamCut(Exception):
    """The connection closed before the terminal chunk."""


def split_url(url: str):
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname, parsed.port


class Response:
    def __init__(self, status, reason, headers, body=b""):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_names(self):
        return [key.lower() for key, _ in self.headers]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Connection:
    """One TCP connection to a server; requests are sent and read explicitly."""

    def __init__(self, url: str, timeout=10.0):
        self.host, self.port = split_url(url)
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.buffer = bytearray()
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        self.sock.sendall(data)

    def send_head(self, method, path, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port)]
        lines += ["%s: %s" % (name, value) for name, value in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def request(self, method, path, headers=(), body=None):
        """Send a request with a Content-Length body (or none)."""
        headers = list(headers)
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode("utf-8")
            headers.append(("Content-Length", str(len(body))))
        self.send_head(method, path, headers)
        if body:
            self.send(body)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from %s:%d before the deadline" % (self.host, self.port))
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from %s:%d before the deadline" % (self.host, self.port)) from None
        except ConnectionResetError:
            data = b""
        if not data:
            return False
        self.buffer += data
        return True

    def _line(self, deadline):
        while True:
            index = self.buffer.find(b"\r\n")
            if index >= 0:
                line = bytes(self.buffer[:index])
                del self.buffer[:index + 2]
                return line
            if not self._fill(deadline):
                raise StreamCut("connection closed while reading a line")

    def _exact(self, count, deadline):
        while len(self.buffer) < count:
            if not self._fill(deadline):
                raise StreamCut("connection closed after %d of %d bytes" % (len(self.buffer), count))
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def read_head(self, timeout=None, skip_continue=True) -> Response:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            status_line = self._line(deadline).decode("latin-1")
            version, status, reason = (status_line.split(" ", 2) + [""])[:3]
            headers = []
            while True:
                line = self._line(deadline).decode("latin-1")
                if not line:
                    break
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
            response = Response(int(status), reason, headers)
            if response.status == 100 and skip_continue:
                continue
            return response

    def read_body(self, response, timeout=None) -> bytes:
        """Read a whole Content-Length or chunked body."""
        deadline = time.monotonic() + (timeout or self.timeout)
        if (response.header("Transfer-Encoding") or "").lower() == "chunked":
            parts = []
            while True:
                chunk = self.read_chunk(deadline)
                if chunk is None:
                    break
                parts.append(chunk)
            return b"".join(parts)
        length = int(response.header("Content-Length") or 0)
        return self._exact(length, deadline)

    def read_chunk(self, deadline):
        """Return the next chunk's data, or None after the terminal chunk; StreamCut if cut."""
        size_line = self._line(deadline)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            while self._line(deadline):
                pass
            return None
        data = self._exact(size, deadline)
        if self._exact(2, deadline) != b"\r\n":
            raise AssertionError("chunk data not followed by CRLF")
        return data

    def response(self, timeout=None) -> Response:
        response = self.read_head(timeout)
        response.body = self.read_body(response, timeout)
        return response


def call(url, path, body, headers=(), method="POST", timeout=10.0) -> Response:
    """One request on a fresh connection; returns the whole response."""
    connection = Connection(url, timeout)
    try:
        connection.request(method, path, headers, body)
        return connection.response(timeout)
    finally:
        connection.close()


def login(iam_url, uid, password) -> str:
    response = call(iam_url, "/acs/api/v1/auth/login", {"uid": uid, "password": password},
                    [("Content-Type", "application/json")])
    assert response.status == 200, response.text
    return response.json()["token"]


class RecordStream:
    """The ProcessIO records of a streaming response, read as they arrive."""

    def __init__(self, connection, response):
        self.connection = connection
        self.response = response
        self.decoder = recordio.Decoder()
        self.pending = []
        self.ended = False  # Terminal chunk seen.
        self.raw_chunks = []

    def next(self, timeout=10.0):
        """Return the next record as a dict, or None at the terminal chunk; StreamCut if cut."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.ended:
                return None
            chunk = self.connection.read_chunk(deadline)
            if chunk is None:
                self.ended = True
                if self.decoder.has_partial_record():
                    raise AssertionError("stream ended inside a record")
                return None
            self.raw_chunks.append(chunk)
            self.pending.extend(self.decoder.feed(chunk))
        return json.loads(self.pending.pop(0))

    def collect(self, timeout=10.0):
        """Read to the end; return (stdout bytes, stderr bytes, records)."""
        deadline = time.monotonic() + timeout
        records = []
        while True:
            record = self.next(max(0.01, deadline - time.monotonic()))
            if record is None:
                break
            records.append(record)
        return split_output(records) + (records,)

    def until(self, predicate, timeout=10.0):
        """Read records until `predicate(stdout_so_far, record)` holds; return the records read."""
        deadline = time.monotonic() + timeout
        records = []
        output = b""
        while True:
            record = self.next(max(0.01, deadline - time.monotonic()))
            if record is None:
                raise AssertionError("stream ended before the expected record; output %r" % output)
            records.append(record)
            if record["type"] == "DATA":
                output += base64.b64decode(record["data"]["data"])
            if predicate(output, record):
                return records


def split_output(records):
    stdout, stderr = b"", b""
    for record in records:
        if record["type"] != "DATA":
            continue
        data = base64.b64decode(record["data"]["data"])
        if record["data"]["type"] == "STDOUT":
            stdout += data
        else:
            stderr += data
    return stdout, stderr


class InputStream:
    """An ATTACH_CONTAINER_INPUT request whose chunked body is written record by record."""

    def __init__(self, agent_url, token, container_id, headers=None, first_record=None):
        self.connection = Connection(agent_url)
        if headers is None:
            headers = [("Content-Type", "application/recordio"), ("Message-Content-Type", "application/json"),
                       ("Accept", "application/json"), ("Transfer-Encoding", "chunked")]
        if token is not None:
            headers = [("Authorization", "token=" + token)] + list(headers)
        self.connection.send_head("POST", "/api/v1", headers)
        if first_record is None:
            first_record = {"type": "ATTACH_CONTAINER_INPUT",
                            "attach_container_input": {"type": "CONTAINER_ID", "container_id": container_id}}
        if first_record is not False:
            self.send_record(first_record)

    def send_raw(self, data: bytes):
        """Send bytes as one chunk (a record may span chunks)."""
        if data:
            self.connection.send(b"%x\r\n" % len(data) + data + b"\r\n")

    def send_record(self, call: dict):
        self.send_raw(recordio.encode(json.dumps(call).encode("utf-8")))

    def send_process_io(self, process_io: dict):
        self.send_record({"type": "ATTACH_CONTAINER_INPUT",
                          "attach_container_input": {"type": "PROCESS_IO", "process_io": process_io}})

    def send_stdin(self, data: bytes):
        self.send_process_io({"type": "DATA", "data": {"type": "STDIN",
                                                      "data": base64.b64encode(data).decode("ascii")}})

    def send_window_size(self, rows, columns):
        self.send_process_io({"type": "CONTROL", "control": {"type": "TTY_INFO", "tty_info": {
            "window_size": {"rows": rows, "columns": columns}}}})

    def send_heartbeat(self):
        self.send_process_io({"type": "CONTROL", "control": {"type": "HEARTBEAT", "heartbeat": {
            "interval": {"nanoseconds": 30000000000}}}})

    def end(self):
        """End the chunked body (without any EOF record)."""
        self.connection.send(b"0\r\n\r\n")

    def response(self, timeout=10.0) -> Response:
        try:
            return self.connection.response(timeout)
        finally:
            self.connection.close()
