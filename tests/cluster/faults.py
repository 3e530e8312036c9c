"""Fault injection for the IAM, master and agent servers.

A fault is a JSON object with `kind`, an optional `target` and kind-specific fields:

    refuse      close the listener: new connections are refused until the fault is cleared;
                with `reset: true` also reset the open connections, as a server that died
                would (otherwise a client's idle keep-alive connection is still served)
    drop        accept connections and reset them at once
    silence     read requests and never respond until the fault is cleared
    latency     delay every request by `ms` milliseconds before handling it
    status      respond to the next `count` requests (default 1) with `code` and the server's
                own text for that code (or `body`)
    slow_read   read request bodies at `bytes_per_second`
    cut_stream  one-shot: close every open LAUNCH_NESTED_CONTAINER_SESSION stream on the
                target agents without the terminal chunk (the agent then destroys the
                session, as Mesos does when the connection breaks)
    blackhole   the server's host is gone from the network without closing anything: open
                response streams send nothing more (data and heartbeats are dropped), and
                new requests are never answered, until the fault is cleared

`target` is "iam", "master:<index>", "agent:<agent id>", "master:*", "agent:*",
"adminrouter" or absent (every one of these servers). `count`, where given, limits a fault
to that many requests (or connections for drop); it then expires. `path`, where given,
limits latency, silence and status faults to requests whose path starts with it (such as
"/mesos/" or "/agent/" on the Admin Router). `call`, where given, limits a status fault to
agent requests of that v1 call type (such as "WAIT_CONTAINER"); it applies after the agent
has parsed the call.
"""

import itertools
import logging
import threading
import time

LOG = logging.getLogger("emulator.faults")

KINDS = ("refuse", "drop", "silence", "latency", "status", "slow_read", "cut_stream", "blackhole")


class FaultError(ValueError):
    """An invalid fault description."""


def _matches(target, server_name: str) -> bool:
    if target is None:
        return True
    if target.endswith(":*"):
        return server_name.startswith(target[:-1])
    return target == server_name


class FaultRegistry:
    """The active faults and the servers they apply to."""

    def __init__(self):
        self._faults = []
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._servers = {}
        # Incremented by clear(); silenced requests wait for it to change.
        self._clear_generation = 0
        # Called with the list of agent server names for a cut_stream fault; returns
        # how many streams were cut.
        self.cut_streams = None

    def register_server(self, server):
        self._servers[server.name] = server

    def list(self) -> list:
        with self._changed:
            return [dict(fault) for fault in self._faults]

    def add(self, spec) -> dict:
        """Validate and activate a fault; return its stored form (with an id)."""
        fault = self._validate(spec)
        targets = [name for name in self._servers if _matches(fault["target"], name)]
        if not targets:
            raise FaultError("fault target %r matches no server; known servers: %s"
                             % (fault["target"], ", ".join(sorted(self._servers))))

        if fault["kind"] == "cut_stream":
            agents = [name for name in targets if name.startswith("agent:")]
            if not agents:
                raise FaultError("cut_stream needs an agent target, got %r" % fault["target"])
            cut = self.cut_streams(agents) if self.cut_streams else 0
            LOG.info("fault cut_stream on %s: %d streams cut", ", ".join(agents), cut)
            return dict(fault, streams_cut=cut)

        with self._changed:
            fault["id"] = next(self._ids)
            self._faults.append(fault)
            self._changed.notify_all()

        if fault["kind"] == "refuse":
            for name in targets:
                self._servers[name].stop_listening()
                if fault.get("reset"):
                    self._servers[name].abort_connections()
        LOG.info("fault added: %s", fault)
        return dict(fault)

    def clear(self):
        """Remove every fault and listen again where a refuse fault closed a listener."""
        with self._changed:
            refused = [fault for fault in self._faults if fault["kind"] == "refuse"]
            self._faults = []
            self._clear_generation += 1
            self._changed.notify_all()
        for fault in refused:
            for name, server in self._servers.items():
                if _matches(fault["target"], name):
                    try:
                        server.resume_listening()
                    except OSError as error:
                        LOG.error("cannot listen again on %s port %s: %s", name, server.port, error)
        LOG.info("faults cleared")

    def _validate(self, spec) -> dict:
        if not isinstance(spec, dict):
            raise FaultError("a fault must be a JSON object")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError("unknown fault kind %r; expected one of %s" % (kind, ", ".join(KINDS)))
        target = spec.get("target")
        if target is not None and not isinstance(target, str):
            raise FaultError("fault target must be a string such as \"agent:<id>\"")
        path = spec.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise FaultError("fault path must be a string that starts with /")
        fault = {"kind": kind, "target": target, "path": path}
        call = spec.get("call")
        if call is not None:
            if kind != "status" or not isinstance(call, str) or not call:
                raise FaultError("call is a v1 call type such as \"WAIT_CONTAINER\", for status faults only")
            fault["call"] = call

        count = spec.get("count")
        if count is not None:
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise FaultError("count must be a positive integer, got %r" % (count,))
        if kind == "status" and count is None:
            count = 1
        fault["count"] = count
        if kind == "refuse":
            reset = spec.get("reset", False)
            if not isinstance(reset, bool):
                raise FaultError("refuse: reset must be true or false")
            fault["reset"] = reset

        if kind == "latency":
            ms = spec.get("ms")
            if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
                raise FaultError("latency needs ms, a number of milliseconds >= 0")
            fault["ms"] = ms
        elif kind == "status":
            code = spec.get("code")
            if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
                raise FaultError("status needs code, an HTTP status between 100 and 599")
            fault["code"] = code
            body = spec.get("body")
            if body is not None and not isinstance(body, str):
                raise FaultError("status body must be a string")
            fault["body"] = body
        elif kind == "slow_read":
            rate = spec.get("bytes_per_second")
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate <= 0:
                raise FaultError("slow_read needs bytes_per_second > 0")
            fault["bytes_per_second"] = rate
        return fault

    def _take(self, kind: str, server_name: str, path=None, call=None):
        """Return the first matching fault of `kind`, counting one use of it."""
        with self._changed:
            for fault in self._faults:
                if fault["path"] is not None and (path is None or not path.startswith(fault["path"])):
                    continue
                if fault.get("call") != call:
                    continue
                if fault["kind"] == kind and _matches(fault["target"], server_name):
                    if fault["count"] is not None:
                        fault["count"] -= 1
                        if fault["count"] <= 0:
                            self._faults.remove(fault)
                    return dict(fault)
        return None

    def blackhole(self, server_name: str):
        """The active blackhole fault of this server, or None."""
        with self._changed:
            for fault in self._faults:
                if fault["kind"] == "blackhole" and _matches(fault["target"], server_name):
                    return dict(fault)
        return None

    def apply_call(self, server, request, call_type: str) -> bool:
        """Apply a status fault limited to `call_type`; return True when it sent the response."""
        status = self._take("status", server.name, request.path, call_type)
        if status is None:
            return False
        request.log_fields["fault"] = "status"
        body, content_type = server.fault_body(status["code"]) if server.fault_body else (
            "%d %s." % (status["code"], "Fault"), "text/plain; charset=utf-8")
        if status.get("body") is not None:
            body = status["body"]
        request.close_connection = True
        request.respond(status["code"], body, content_type=content_type)
        return True

    def should_drop(self, server_name: str) -> bool:
        return self._take("drop", server_name) is not None

    def read_delay(self, server_name: str, byte_count: int) -> float:
        with self._changed:
            for fault in self._faults:
                if fault["kind"] == "slow_read" and _matches(fault["target"], server_name):
                    return byte_count / fault["bytes_per_second"]
        return 0.0

    def apply(self, server, request) -> bool:
        """Apply request faults; return True when a fault took the request over.

        A taken-over request either has a response (status fault) or none, and then the
        caller drops the connection (silence fault).
        """
        latency = self._take("latency", server.name, request.path)
        if latency is not None:
            time.sleep(latency["ms"] / 1000.0)

        silence = self._take("silence", server.name, request.path) or self.blackhole(server.name)
        if silence is not None:
            request.log_fields["fault"] = "silence"
            LOG.info("%s: silencing %s %s", server.name, request.method, request.target)
            with self._changed:
                generation = self._clear_generation
                while generation == self._clear_generation and not server.stopping:
                    self._changed.wait(1.0)
            return True

        status = self._take("status", server.name, request.path)
        if status is not None:
            request.log_fields["fault"] = "status"
            body, content_type = server.fault_body(status["code"]) if server.fault_body else (
                "%d %s." % (status["code"], "Fault"), "text/plain; charset=utf-8")
            if status.get("body") is not None:
                body = status["body"]
            request.close_connection = True
            request.respond(status["code"], body, content_type=content_type)
            return True
        return False
