"""The emulated DC/OS Admin Router on the master: a reverse proxy to the leading master, the
agents and the IAM, as dcos/dcos packages/adminrouter (nginx with OpenResty) configures it.

Routes:

    /mesos/<path>                  the leading master's /<path> (503 without a leader)
    /agent/<id><path>, /slave/...  that agent's <path>; an unknown id gets 404
                                   "404 Not Found: agent `<id>` unknown."
    /acs/api/v1/<path>             the IAM, path unchanged

/mesos and /agent require a valid token (401 as adminrouter.authenticate sends it). The
request body and the response are streamed, not buffered, in both directions, and the
proxy closes every connection after one request (Admin Router's `keepalive_timeout 0`).

Timeouts, as nginx's defaults of 60 s (`idle_timeout_seconds` here):
* while the client still sends the request body (an ATTACH_CONTAINER_INPUT stream), a gap
  of that length between two reads from the client closes both connections
  (client_body_timeout);
* once the request is sent, a gap of that length between two reads from the upstream
  (proxy_read_timeout) ends the request. It gets 504 Gateway Time-out when no response byte
  has been sent yet (a WAIT_CONTAINER long-poll). Otherwise the connection is closed mid-body
  (a silent LAUNCH_NESTED_CONTAINER_SESSION stream).
A client that closes its connection makes the proxy close the upstream one, so the agent
sees the disconnect and destroys the session's container.
"""

import logging
import re
import select
import socket
import ssl
import time

import adminrouter
from httpserver import ClientGone

LOG = logging.getLogger("emulator.adminrouter")

AGENT_PATH = re.compile(r"^/(?:slave|agent)/(?P<agent_id>[0-9a-zA-Z-]+)(?P<path>/.*)?$")
# Request headers the proxy does not pass on: hop-by-hop ones, and Accept-Encoding, which
# Admin Router clears for agent requests.
DROPPED_HEADERS = {"host", "connection", "keep-alive", "proxy-connection", "te", "upgrade",
                   "transfer-encoding", "content-length", "expect", "accept-encoding"}
READ_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0

ERROR_PAGE = ("<html>\r\n<head><title>%(status)d %(reason)s</title></head>\r\n<body>\r\n"
              "<center><h1>%(status)d %(reason)s</h1></center>\r\n<hr><center>openresty</center>\r\n"
              "</body>\r\n</html>\r\n")


def _error_page(request, status, reason):
    request.close_connection = True
    request.respond(status, ERROR_PAGE % {"status": status, "reason": reason}, content_type="text/html")


class AdminRouterService:
    """Routes and proxies requests; `iam_port` and the cluster's ports are set once bound."""

    def __init__(self, cluster, authority, idle_timeout_seconds, upstream_tls=None):
        self.cluster = cluster
        self.authority = authority
        self.idle_timeout = idle_timeout_seconds
        # An ssl.SSLContext for HTTPS to the upstreams, or None for plain HTTP.
        self.upstream_tls = upstream_tls
        self.iam_port = None

    def fault_body(self, code: int):
        reasons = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
        reason = reasons.get(code, "Error")
        return ERROR_PAGE % {"status": code, "reason": reason}, "text/html"

    def handle(self, request):
        path = request.path
        query = "?" + request.query_string if request.query_string else ""
        request.close_connection = True

        if path.startswith("/acs/api/v1"):
            self._proxy(request, "iam", self.iam_port, path + query)
            return

        if path.startswith("/mesos/") or path == "/mesos":
            if adminrouter.authenticate(request, self.authority) is None:
                return
            with self.cluster.lock:
                leader = self.cluster.leader
            if leader is None:
                # NOTE: Admin Router resolves the leader through Mesos-DNS (leader.mesos); which
                # status it returns while no leader is elected was not checked, 503 is assumed.
                _error_page(request, 503, "Service Temporarily Unavailable")
                return
            upstream_path = path[len("/mesos"):] or "/"
            self._proxy(request, "master:%d" % leader, self.cluster.master_ports[leader], upstream_path + query)
            return

        match = AGENT_PATH.match(path)
        if match is not None:
            if adminrouter.authenticate(request, self.authority) is None:
                return
            agent_id = match.group("agent_id")
            agent = self.cluster.agents.get(agent_id)
            if agent is None:
                request.respond(404, "404 Not Found: agent `%s` unknown.\n" % agent_id)
                return
            upstream_path = match.group("path") or "/"
            self._proxy(request, "agent:" + agent_id, agent.port, upstream_path + query)
            return

        request.respond(404, "")

    # -- proxying ------------------------------------------------------------------------

    def _connect(self, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_SECONDS)
        if self.upstream_tls is not None:
            sock = self.upstream_tls.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _upstream_head(self, request, port, target) -> bytes:
        lines = ["%s %s HTTP/1.1" % (request.method, target), "Host: 127.0.0.1:%d" % port]
        for name, value in request.headers.items():
            if name.lower() not in DROPPED_HEADERS:
                lines.append("%s: %s" % (name, value))
        chunked = "chunked" in (request.headers.get("Transfer-Encoding") or "").lower()
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif request.headers.get("Content-Length") is not None:
            lines.append("Content-Length: %s" % request.headers.get("Content-Length").strip())
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _proxy(self, request, upstream_name, port, target):
        try:
            upstream = self._connect(port)
        except (OSError, ssl.SSLError) as error:
            LOG.info("adminrouter: %s %s: cannot reach %s: %s", request.method, request.path, upstream_name, error)
            _error_page(request, 502, "Bad Gateway")
            return
        try:
            _Exchange(self, request, upstream, upstream_name, port, target).run()
        finally:
            try:
                upstream.close()
            except OSError:
                pass


class _Exchange:
    """One proxied request: the request body up, the response down, and the idle timers."""

    def __init__(self, service, request, upstream, upstream_name, port, target):
        self.service = service
        self.request = request
        self.upstream = upstream
        self.upstream_name = upstream_name
        self.port = port
        self.target = target
        self.chunked = "chunked" in (request.headers.get("Transfer-Encoding") or "").lower()
        self.body_done = not request.has_body
        self.response_bytes = 0
        self.status_line = bytearray()
        self.watch_client = True
        self.last_activity = time.monotonic()

    def run(self):
        request = self.request
        self.upstream.sendall(self.service._upstream_head(request, self.port, self.target))
        if self.body_done and self.chunked:
            self.upstream.sendall(b"0\r\n\r\n")
        while True:
            remaining = self.last_activity + self.service.idle_timeout - time.monotonic()
            if remaining <= 0:
                self._idle_timeout()
                return
            if not self.body_done and not self._upstream_pending():
                if not self._pump_request_body(remaining):
                    return
            elif not self._wait_upstream_or_client(remaining):
                return
            if self._upstream_readable() and not self._pump_response():
                return

    def _pump_request_body(self, remaining) -> bool:
        """Forward request body bytes; return False when the client went away."""
        try:
            data = self.request.read_body(wake_fd=self.upstream.fileno(), timeout=remaining)
        except ClientGone:
            LOG.info("adminrouter: client closed the request body to %s", self.upstream_name)
            self._close_client()
            return False
        if data is None:
            return True
        if data == b"":
            self.body_done = True
            if self.chunked:
                self._send_upstream(b"0\r\n\r\n")
        else:
            self._send_upstream(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        # Each read from the client restarts the body timer; the end of the body starts the
        # upstream read timer.
        self.last_activity = time.monotonic()
        return True

    def _send_upstream(self, data):
        try:
            self.upstream.sendall(data)
        except OSError:
            pass  # The upstream's response or its EOF reports the failure.

    def _wait_upstream_or_client(self, remaining) -> bool:
        """Wait for upstream bytes; return False when the client closed its connection."""
        if self._upstream_pending():
            return True
        client = self.request.connection.sock
        watched = [self.upstream, client] if self.watch_client else [self.upstream]
        try:
            readable, _, _ = select.select(watched, [], [], remaining)
        except (OSError, ValueError):
            return False
        if client in readable:
            try:
                peeked = client.recv(1, socket.MSG_PEEK)
            except OSError:
                peeked = b""
            if not peeked:
                LOG.info("adminrouter: client closed its connection; closing the one to %s",
                         self.upstream_name)
                self._close_client()
                return False
            # Bytes after the request: the connection closes after this response anyway, so
            # only the upstream is watched from now on.
            self.watch_client = False
        return True

    def _upstream_pending(self) -> bool:
        return isinstance(self.upstream, ssl.SSLSocket) and self.upstream.pending() > 0

    def _upstream_readable(self) -> bool:
        if self._upstream_pending():
            return True
        try:
            readable, _, _ = select.select([self.upstream], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _pump_response(self) -> bool:
        """Forward upstream bytes to the client; return False when the exchange is over."""
        try:
            data = self.upstream.recv(READ_BYTES)
        except ssl.SSLWantReadError:
            return True
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            if self.response_bytes == 0:
                _error_page(self.request, 502, "Bad Gateway")
            else:
                self._close_client()
            return False
        if self.response_bytes == 0 or len(self.status_line) < 64:
            self._note_status(data)
        self.response_bytes += len(data)
        self.last_activity = time.monotonic()
        try:
            self.request.connection.send(data)
        except ClientGone:
            return False
        return True

    def _note_status(self, data):
        """Record the upstream's status code in the request log once the status line is in."""
        if self.request.response_started:
            return
        self.status_line += data[:64]
        line = bytes(self.status_line).split(b"\r\n", 1)
        if len(line) < 2:
            return
        parts = line[0].split(b" ")
        self.request.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
        self.request.response_started = True
        self.request.close_connection = True
        self.request.server.record_response(self.request)

    def _idle_timeout(self):
        name = self.upstream_name
        if not self.body_done:
            LOG.info("adminrouter: no request body from the client for %.1f s; closing (%s)",
                     self.service.idle_timeout, name)
            self._close_client()
        elif self.response_bytes == 0:
            LOG.info("adminrouter: no response from %s for %.1f s; 504", name, self.service.idle_timeout)
            _error_page(self.request, 504, "Gateway Time-out")
        else:
            LOG.info("adminrouter: %s silent for %.1f s mid-response; closing", name, self.service.idle_timeout)
            self._close_client()

    def _close_client(self):
        self.request.close_connection = True
        if not self.request.response_started:
            # The request log and the server's dispatcher expect a status.
            self.request.status = 499
            self.request.response_started = True
            self.request.server.record_response(self.request)
        self.request.connection.abort()
