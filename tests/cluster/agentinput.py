"""ATTACH_CONTAINER_INPUT after the first record: the I/O switchboard's input loop.

Each later record is a whole agent Call. DATA/STDIN is written to the process (an empty
record closes stdin without a tty and does nothing with one). CONTROL/TTY_INFO resizes
the pty, and CONTROL/HEARTBEAT is ignored. The request gets its response when its body
ends, when a record fails, or one second after the session's output ended.
"""

import time

import agentcalls
import recordio
from sessions import INPUT_GRACE_SECONDS


def run_input(request, session, reader, waker):
    """Apply input records until the body ends; return the (status, body) to send."""
    decoder, records = reader
    grace_deadline = None
    while True:
        for record in records:
            result = apply_input_record(session, record)
            if result is not None:
                return result
        records = []

        if grace_deadline is None and session.redirect_finished.is_set():
            grace_deadline = time.monotonic() + INPUT_GRACE_SECONDS
        if grace_deadline is not None:
            remaining = grace_deadline - time.monotonic()
            if remaining <= 0:
                # The output ended while this input was open: respond 200 anyway.
                return 200, ""
            data = request.read_body(timeout=remaining)
        else:
            data = request.read_body(wake_fd=waker.read_fd)
        if data is None:
            continue
        if data == b"":
            if decoder.has_partial_record():
                return 400, "Failed to decode the RecordIO request body: EOF inside a record"
            return 200, ""
        try:
            records = decoder.feed(data)
        except recordio.RecordIOError as error:
            return 400, "Failed to decode the RecordIO request body: %s" % error

def apply_input_record(session, record: bytes):
    """Apply one input record; return (status, body) to end the request, or None."""
    try:
        call = agentcalls.decode_call(record)
    except agentcalls.CallError as error:
        return 400, str(error)
    if call["type"] != "ATTACH_CONTAINER_INPUT":
        # NOTE: Mesos's switchboard aborts on such a record (a CHECK failure); the
        # emulator responds 400 instead.
        return 400, "Expecting 'type' to be ATTACH_CONTAINER_INPUT, got %s" % call["type"]
    attach = call.get("attach_container_input", {})
    error = agentcalls.validate_input_record(attach)
    if error is not None:
        return 400, error

    message = attach["process_io"]
    if message["type"] == "CONTROL":
        control = message["control"]
        if control["type"] == "TTY_INFO":
            size = control["tty_info"]["window_size"]
            try:
                session.set_window_size(size["rows"] & 0xFFFF, size["columns"] & 0xFFFF)
            except OSError as error:
                return 400, "Unable to set the window size: %s" % error.strerror
        return None

    data = message["data"]["data"]
    if not session.tty and not data:
        session.close_stdin()
        return None
    if not data:
        return None  # With a tty an empty record is not EOF; the client sends 0x04.
    try:
        session.write_stdin(data)
    except OSError as error:
        text = "Failed writing to stdin: Failed: %s" % (error.strerror or error)
        session.stdin_failure = text
        return 500, text
    return None
