"""HTTP/1.1 server plumbing shared by the IAM, master, agent and control servers.

One thread per TCP connection, keep-alive, request bodies read incrementally (chunked or
Content-Length), responses either whole or chunked streams written from any thread.
Servers bind 127.0.0.1 only. A handler is a callable taking a `Request`. It must respond
with `Request.respond` or `Request.start_stream` before it returns.
"""

import email.utils
import http
import logging
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse

LOG = logging.getLogger("emulator.http")

MAX_HEAD_BYTES = 64 * 1024
MAX_CHUNK_SIZE_LINE = 1024
DEFAULT_READ_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
TLS_HANDSHAKE_TIMEOUT_SECONDS = 10.0

TEXT_PLAIN = "text/plain; charset=utf-8"


def reason_phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


class ClientGone(Exception):
    """The peer closed or reset the connection."""


class BodyError(Exception):
    """The request body framing is invalid (bad chunk size line, short body)."""


class Headers:
    """Ordered, case-insensitive, multi-valued HTTP header fields."""

    def __init__(self, items=()):
        self._items = list(items)

    def add(self, name: str, value: str):
        self._items.append((name, value))

    def get(self, name: str, default=None):
        lowered = name.lower()
        for key, value in self._items:
            if key.lower() == lowered:
                return value
        return default

    def get_all(self, name: str) -> list:
        lowered = name.lower()
        return [value for key, value in self._items if key.lower() == lowered]

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def items(self) -> list:
        return list(self._items)


class Connection:
    """A client socket with a read buffer and a write lock."""

    def __init__(self, sock: socket.socket, address):
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.write_lock = threading.Lock()
        self.closed = False

    def fill(self) -> bool:
        """Read once from the socket into the buffer; return False at EOF."""
        try:
            data = self.sock.recv(DEFAULT_READ_BYTES)
        except (ConnectionError, OSError):
            return False
        if not data:
            return False
        self.buffer += data
        return True

    def wait_readable(self, wake_fd=None, timeout=None) -> str:
        """Wait until the socket has data ("socket"), wake_fd is readable ("wake") or timeout ("timeout")."""
        if self.buffer:
            return "socket"
        fds = [self.sock]
        if wake_fd is not None:
            fds.append(wake_fd)
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            return "socket"  # A closed socket: the next recv reports EOF.
        if self.sock in readable:
            return "socket"
        if readable:
            return "wake"
        return "timeout"

    def read_line(self, limit: int):
        """Return one line without its CRLF, or None at EOF before a full line."""
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[:newline + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > limit:
                raise BodyError("line longer than %d bytes" % limit)
            if not self.fill():
                return None

    def send(self, data: bytes):
        """Write all of data; raise ClientGone when the peer is gone."""
        with self.write_lock:
            if self.closed:
                raise ClientGone("connection already closed")
            try:
                self.sock.sendall(data)
            except (ConnectionError, OSError) as error:
                raise ClientGone(str(error)) from error

    def abort(self):
        """Close the socket at once, both directions; pending writes fail."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class ChunkedStream:
    """A chunked response body that any thread may write to."""

    def __init__(self, request):
        self._request = request
        self._connection = request.connection
        self.finished = False
        self.broken = False

    def write(self, data: bytes) -> bool:
        """Send one chunk; return False when the client is gone. Empty data sends nothing."""
        if self.finished or self.broken:
            return False
        if not data:
            return True
        faults = self._request.server.faults
        if faults is not None and faults.blackhole(self._request.server.name) is not None:
            return True  # lost on the way, as to a host that left the network
        try:
            self._connection.send(b"%x\r\n" % len(data) + data + b"\r\n")
        except ClientGone:
            self.broken = True
            return False
        return True

    def finish(self) -> bool:
        """Send the terminal zero-length chunk."""
        if self.finished or self.broken:
            return False
        self.finished = True
        try:
            self._connection.send(b"0\r\n\r\n")
        except ClientGone:
            self.broken = True
            return False
        return True

    def cut(self):
        """Drop the connection without the terminal chunk, as a network failure would."""
        self.broken = True
        self._request.close_connection = True
        self._connection.abort()


class Request:
    """One parsed request and its response state."""

    def __init__(self, server, connection, method, target, version, headers):
        self.server = server
        self.connection = connection
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query_string = parsed.query
        self.query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.received_at = time.time()
        # Fields a handler adds for the request log, such as the call type.
        self.log_fields = {}
        self.status = None
        self.response_started = False
        self.response_complete = False
        self.close_connection = (version == "HTTP/1.0"
                                 or (headers.get("Connection") or "").lower() == "close")
        self._continue_sent = False
        self._body_state = None
        self._body_remaining = 0
        self._setup_body_framing()

    # -- request body ------------------------------------------------------------------

    def _setup_body_framing(self):
        transfer_encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        length = self.headers.get("Content-Length")
        if transfer_encoding:
            codings = [c.strip() for c in transfer_encoding.split(",") if c.strip()]
            if not codings or codings[-1] != "chunked":
                raise BodyError("unsupported Transfer-Encoding %r" % transfer_encoding)
            self._body_state = "size"
        elif length is not None:
            if not length.strip().isdigit():
                raise BodyError("invalid Content-Length %r" % length)
            self._body_remaining = int(length)
            self._body_state = "length" if self._body_remaining else "done"
        else:
            self._body_state = "done"

    @property
    def body_consumed(self) -> bool:
        return self._body_state == "done"

    @property
    def has_body(self) -> bool:
        return self._body_state != "done" or self._body_remaining > 0

    def _send_continue(self):
        expect = (self.headers.get("Expect") or "").lower()
        if expect != "100-continue" or self._continue_sent or self.response_started:
            return
        self._continue_sent = True
        if self.server.send_100_continue:
            self.connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _decode_buffered(self, max_bytes: int):
        """Make progress on buffered bytes: data, b"" at the end of the body, None for more input."""
        buffer = self.connection.buffer
        while True:
            state = self._body_state
            if state == "done":
                return b""
            if state == "length":
                if not buffer:
                    return None
                count = min(len(buffer), self._body_remaining, max_bytes)
                data = bytes(buffer[:count])
                del buffer[:count]
                self._body_remaining -= count
                if self._body_remaining == 0:
                    self._body_state = "done"
                return data
            if state in ("size", "trailer", "data_end"):
                newline = buffer.find(b"\n")
                if newline < 0:
                    if len(buffer) > MAX_CHUNK_SIZE_LINE:
                        raise BodyError("chunk size line longer than %d bytes" % MAX_CHUNK_SIZE_LINE)
                    return None
                line = bytes(buffer[:newline]).rstrip(b"\r")
                del buffer[:newline + 1]
                if state == "data_end":
                    if line:
                        raise BodyError("missing CRLF after chunk data")
                    self._body_state = "size"
                elif state == "trailer":
                    if not line:
                        self._body_state = "done"
                        return b""
                else:
                    size_text = line.split(b";", 1)[0].strip()
                    try:
                        size = int(size_text, 16)
                    except ValueError:
                        raise BodyError("invalid chunk size %r" % size_text[:40]) from None
                    if size < 0:
                        raise BodyError("invalid chunk size %r" % size_text[:40])
                    if size == 0:
                        self._body_state = "trailer"
                    else:
                        self._body_state = "data"
                        self._body_remaining = size
                continue
            if state == "data":
                if not buffer:
                    return None
                count = min(len(buffer), self._body_remaining, max_bytes)
                data = bytes(buffer[:count])
                del buffer[:count]
                self._body_remaining -= count
                if self._body_remaining == 0:
                    self._body_state = "data_end"
                return data
            raise AssertionError("unknown body state %r" % state)

    def read_body(self, max_bytes=DEFAULT_READ_BYTES, wake_fd=None, timeout=None):
        """Return the next body bytes, b"" at the end of the body, or None when woken or timed out.

        Raises ClientGone when the connection ends inside the body and BodyError on bad
        chunk framing.
        """
        self._send_continue()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            data = self._decode_buffered(max_bytes)
            if data is not None:
                self.server.throttle_read(len(data))
                return data
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = self.connection.wait_readable(wake_fd, remaining)
            if ready != "socket":
                return None
            if not self.connection.fill():
                raise ClientGone("connection closed inside the request body")

    def read_all(self, limit=16 * 1024 * 1024) -> bytes:
        """Read the whole body; raise BodyError above `limit` bytes."""
        parts = []
        total = 0
        while True:
            data = self.read_body()
            if not data:
                return b"".join(parts)
            total += len(data)
            if total > limit:
                raise BodyError("request body exceeds %d bytes" % limit)
            parts.append(data)

    # -- responses ---------------------------------------------------------------------

    def _head(self, status: int, headers) -> bytes:
        lines = ["HTTP/1.1 %d %s" % (status, reason_phrase(status)),
                 "Date: " + email.utils.formatdate(usegmt=True)]
        for name, value in headers:
            lines.append("%s: %s" % (name, value))
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, body=b"", content_type=TEXT_PLAIN, headers=()):
        """Send a complete response. A str body is sent as UTF-8."""
        if self.response_started:
            raise RuntimeError("response already started for %s %s" % (self.method, self.path))
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = list(headers)
        if body or content_type != TEXT_PLAIN:
            all_headers.append(("Content-Type", content_type))
        all_headers.append(("Content-Length", str(len(body))))
        if not self.body_consumed:
            # The rest of the body stays unread, so the connection cannot be reused.
            self.close_connection = True
        self.status = status
        self.response_started = True
        if status >= 400 and content_type.startswith(("text/plain", "application/json")):
            self.log_fields["error"] = body[:300].decode("utf-8", "replace")
        self.server.record_response(self)
        try:
            self.connection.send(self._head(status, all_headers) + body)
        finally:
            self.response_complete = True

    def start_stream(self, status: int, headers=()) -> ChunkedStream:
        """Send the response head with Transfer-Encoding: chunked and return the body stream."""
        if self.response_started:
            raise RuntimeError("response already started for %s %s" % (self.method, self.path))
        all_headers = list(headers) + [("Transfer-Encoding", "chunked")]
        self.status = status
        self.response_started = True
        self.server.record_response(self)
        stream = ChunkedStream(self)
        self.connection.send(self._head(status, all_headers))
        return stream


class HttpServer:
    """A threaded HTTP/1.1 server on 127.0.0.1.

    `name` identifies the server in logs and fault targets ("iam", "master:0",
    "agent:<id>", "control"). `faults` may be a faults.FaultRegistry; `request_log` a
    requestlog.RequestLog.
    """

    def __init__(self, name: str, handler, faults=None, request_log=None,
                 fault_body=None, send_100_continue=True, tls_context=None):
        self.name = name
        # An ssl.SSLContext for HTTPS (see TlsBridge), or None for plain HTTP.
        self.tls_context = tls_context
        self.handler = handler
        self.faults = faults
        self.request_log = request_log
        self.fault_body = fault_body
        self.send_100_continue = send_100_continue
        self.port = None
        self._listener = None
        self._accept_thread = None
        self._connections = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context is not None else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def bind(self):
        """Bind and listen on an ephemeral port (or the same port again after a refuse fault)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def start(self):
        """Start accepting connections; `bind` must have been called."""
        listener = self._listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="accept-" + self.name, daemon=True)
        self._accept_thread.start()

    def stop_listening(self):
        """Close the listening socket so that new connections are refused."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()

    def resume_listening(self):
        """Listen again on the same port after `stop_listening`."""
        if self._listener is not None or self._stopping.is_set():
            return
        self.bind()
        self.start()

    def stop(self):
        """Stop accepting and drop every open connection."""
        self._stopping.set()
        self.stop_listening()
        self.abort_connections()

    def abort_connections(self):
        """Reset every open connection."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.abort()

    def _accept_loop(self, listener):
        while not self._stopping.is_set():
            try:
                sock, address = listener.accept()
            except OSError:
                return  # The listener was closed by stop_listening or stop.
            if self.faults is not None and self.faults.should_drop(self.name):
                LOG.info("%s: dropping connection from %s (fault)", self.name, address)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            target = self._serve_connection if self.tls_context is None else self._serve_tls
            thread = threading.Thread(target=target, args=(sock, address),
                                      name="conn-" + self.name, daemon=True)
            thread.start()

    def _serve_tls(self, sock, address):
        """Complete the TLS handshake, then serve the plain-text side of a TlsBridge."""
        try:
            sock.settimeout(TLS_HANDSHAKE_TIMEOUT_SECONDS)
            tls = self.tls_context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as error:
            LOG.info("%s: TLS handshake with %s failed: %s", self.name, address, error)
            close_socket_quietly(sock)
            return
        inner, outer = socket.socketpair()
        threading.Thread(target=self._serve_connection, args=(inner, address),
                         name="conn-" + self.name, daemon=True).start()
        TlsBridge(tls, outer).run()

    def _read_request(self, connection):
        """Parse one request head; return None on a clean EOF before any byte."""
        line = connection.read_line(MAX_HEAD_BYTES)
        while line == b"":  # RFC 9112: ignore empty lines before a request line.
            line = connection.read_line(MAX_HEAD_BYTES)
        if line is None:
            return None
        parts = line.decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BodyError("invalid request line %r" % line[:100])
        method, target, version = parts
        headers = Headers()
        total = len(line)
        while True:
            header_line = connection.read_line(MAX_HEAD_BYTES)
            if header_line is None:
                raise ClientGone("connection closed inside the request head")
            if header_line == b"":
                break
            total += len(header_line)
            if total > MAX_HEAD_BYTES:
                raise BodyError("request head exceeds %d bytes" % MAX_HEAD_BYTES)
            if header_line[:1] in (b" ", b"\t"):
                raise BodyError("obsolete header line folding is not supported")
            name, separator, value = header_line.decode("latin-1").partition(":")
            if not separator or not name or name != name.strip():
                raise BodyError("invalid header line %r" % header_line[:100])
            headers.add(name, value.strip())
        return Request(self, connection, method, target, version, headers)

    def _serve_connection(self, sock, address):
        connection = Connection(sock, address)
        with self._lock:
            self._connections.add(connection)
        try:
            while not self._stopping.is_set():
                try:
                    request = self._read_request(connection)
                except BodyError as error:
                    self._reject_malformed(connection, str(error))
                    return
                if request is None:
                    return
                if self.faults is not None and self.faults.apply(self, request):
                    if not request.response_started:
                        return  # A silence fault ended: drop the connection.
                else:
                    self._dispatch(request)
                if request.close_connection or not request.body_consumed or connection.closed:
                    return
        except ClientGone:
            return
        except BodyError as error:
            LOG.info("%s: invalid request body from %s: %s", self.name, address, error)
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def _dispatch(self, request):
        try:
            self.handler(request)
        except ClientGone:
            request.close_connection = True
            return
        except BodyError as error:
            request.close_connection = True
            if not request.response_started:
                request.respond(400, "Invalid request body: %s" % error)
            return
        except Exception as error:  # A handler bug must not kill the server.
            LOG.exception("%s: handler failed for %s %s", self.name, request.method, request.target)
            request.close_connection = True
            if not request.response_started:
                request.respond(500, "Emulator internal error: %s" % error)
            return
        if not request.response_started:
            LOG.error("%s: handler sent no response for %s %s", self.name, request.method, request.target)
            request.close_connection = True
            request.respond(500, "Emulator internal error: no response")

    def _reject_malformed(self, connection, message):
        LOG.info("%s: malformed request from %s: %s", self.name, connection.address, message)
        body = ("Malformed HTTP request: %s" % message).encode("utf-8")
        head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (TEXT_PLAIN, len(body))).encode("latin-1")
        try:
            connection.send(head + body)
        except ClientGone:
            pass

    def record_response(self, request):
        """Write the request log line once the status is known."""
        if self.request_log is not None:
            self.request_log.write(self.name, request)

    def throttle_read(self, byte_count: int):
        """Delay body reads while a slow_read fault is active for this server."""
        if self.faults is None:
            return
        delay = self.faults.read_delay(self.name, byte_count)
        if delay > 0:
            time.sleep(delay)


class TlsBridge:
    """Copies bytes between a TLS connection and the plain-text socket the server reads.

    One thread does every read and write of the TLS socket: OpenSSL does not allow one
    connection to be used from two threads at once, while the servers read a connection in
    one thread and stream responses from others. The server side gets an ordinary socket, so
    its code (MSG_PEEK, shutdown for a cut stream) is the same as for plain HTTP. When the
    server closes its side, the TLS connection is closed without a close_notify, as a process
    that dies would; when the TLS client closes, the server side gets EOF.
    """

    BUFFER_LIMIT = 256 * 1024

    def __init__(self, tls, plain):
        self.tls = tls
        self.plain = plain

    def run(self):
        tls, plain = self.tls, self.plain
        up = bytearray()    # client to server
        down = bytearray()  # server to client
        tls_eof = plain_eof = plain_shut = False
        try:
            tls.setblocking(False)
            plain.setblocking(False)
            while True:
                if not tls_eof and len(up) < self.BUFFER_LIMIT:
                    tls_eof = self._read_tls(up)
                if not plain_eof and len(down) < self.BUFFER_LIMIT:
                    try:
                        data = plain.recv(READ_BYTES)
                        if data:
                            down += data
                        else:
                            plain_eof = True
                    except BlockingIOError:
                        pass
                    except OSError:
                        plain_eof = True
                if up:
                    try:
                        del up[:plain.send(up)]
                    except BlockingIOError:
                        pass
                    except OSError:
                        return
                if down:
                    try:
                        del down[:tls.send(down)]
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                        pass
                    except (OSError, ssl.SSLError):
                        return
                if tls_eof and not up and not plain_shut:
                    plain_shut = True
                    try:
                        plain.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                if plain_eof and not down:
                    return
                if tls.pending() and len(up) < self.BUFFER_LIMIT:
                    continue
                readable = []
                if not tls_eof and len(up) < self.BUFFER_LIMIT:
                    readable.append(tls)
                if not plain_eof and len(down) < self.BUFFER_LIMIT:
                    readable.append(plain)
                writable = []
                if up:
                    writable.append(plain)
                if down:
                    writable.append(tls)
                if not readable and not writable:
                    return
                select.select(readable, writable, [], 1.0)
        except (OSError, ValueError):
            return
        finally:
            close_socket_quietly(plain)
            close_socket_quietly(tls)

    def _read_tls(self, up) -> bool:
        """Move readable TLS bytes into `up`; return True at the client's EOF."""
        try:
            while len(up) < self.BUFFER_LIMIT:
                data = self.tls.recv(READ_BYTES)
                if not data:
                    return True
                up += data
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (OSError, ssl.SSLError):
            return True
        return False


def close_socket_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def close_quietly(fd):
    """Close a file descriptor, ignoring errors (it may already be closed)."""
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass
