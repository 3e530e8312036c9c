"""The request log: one JSON object per line for every request the emulator responds to.

Each line contains:

* time (Unix seconds), server, method, path (with the query), headers and status;
* call (the v1 call type) and container_id (the JSON ContainerID the call names);
* uid (of the token or login), fault (when a fault produced the response) and error
  (the start of a 4xx or 5xx response's text), when they apply.

Secrets never reach the log: the values of Authorization, Cookie and Set-Cookie are
replaced, and no request body is logged (login passwords travel in the body).
"""

import json
import logging
import threading

LOG = logging.getLogger("emulator.requestlog")

REDACTED_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
REDACTED = "<redacted>"


def redact_headers(headers) -> dict:
    """Return the headers as a dict with secret values replaced; repeated names are joined."""
    result = {}
    for name, value in headers.items():
        if name.lower() in REDACTED_HEADERS:
            # Keep the scheme so tests can check that a token was sent as "token=".
            if name.lower() == "authorization" and value.startswith("token="):
                value = "token=" + REDACTED
            elif name.lower() == "authorization" and " " in value:
                value = value.split(" ", 1)[0] + " " + REDACTED
            else:
                value = REDACTED
        if name in result:
            result[name] = result[name] + ", " + value
        else:
            result[name] = value
    return result


class RequestLog:
    """Appends request records to a file; safe to call from any thread."""

    def __init__(self, path):
        self._path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, server_name: str, request):
        record = {
            "time": round(request.received_at, 6),
            "server": server_name,
            "method": request.method,
            "path": request.target,
            "headers": redact_headers(request.headers),
            "call": request.log_fields.get("call"),
            "container_id": request.log_fields.get("container_id"),
            "status": request.status,
        }
        if request.log_fields.get("uid") is not None:
            record["uid"] = request.log_fields["uid"]
        if "fault" in request.log_fields:
            record["fault"] = request.log_fields["fault"]
        if "error" in request.log_fields:
            record["error"] = request.log_fields["error"]
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        LOG.debug("%s", line)
        if self._file is None:
            return
        with self._lock:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except (OSError, ValueError) as error:
                LOG.error("cannot write request log %s: %s", self._path, error)

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
