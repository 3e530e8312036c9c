"""Tests of the emulator's Admin Router, its HTTPS mode and the faults added for cluster failures
(blackhole, status faults limited to a path or a call type).

They reuse the emulator process helpers of test_emulator.py. Run as root:
/usr/bin/python3 -m pytest tests/cluster -q
"""

import http.client
import json
import os
import ssl
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import rawhttp  # noqa: E402
import test_emulator as base  # noqa: E402
import testca  # noqa: E402
from rawhttp import RecordStream  # noqa: E402

IDLE_SECONDS = 0.6


def router_spec(heartbeat_seconds):
    return base.cluster_spec(adminrouter_idle_timeout_seconds=IDLE_SECONDS,
                             heartbeat_interval_seconds=heartbeat_seconds)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    """Agents send heartbeats less often than Admin Router's idle cut."""
    process = base.EmulatorProcess(tmp_path_factory.mktemp("quiet"), router_spec(30)).start()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """Agents send heartbeats more often than Admin Router's idle cut."""
    process = base.EmulatorProcess(tmp_path_factory.mktemp("busy"), router_spec(0.2)).start()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture(autouse=True)
def clear_faults(request):
    yield
    for name in ("quiet", "busy"):
        if name in request.fixturenames:
            request.getfixturevalue(name).control("POST", "/control/clear")


def login(process):
    return rawhttp.login(process.ports["adminrouter"], "demo", "demo")


def agent_path(agent=base.AGENT):
    return "/agent/%s/api/v1" % agent


def session_id():
    return {"value": str(uuid.uuid4()), "parent": {"value": base.SHELL_CONTAINER}}


def launch(process, token, command, container_id=None):
    """LNCS through Admin Router; returns (container id, connection, response head)."""
    container_id = container_id or session_id()
    body = {"type": "LAUNCH_NESTED_CONTAINER_SESSION",
            "launch_nested_container_session": {"container_id": container_id,
                                                 "command": {"shell": True, "value": command}}}
    connection = rawhttp.Connection(process.ports["adminrouter"])
    connection.request("POST", agent_path(), base.auth(token) + list(base.STREAM_HEADERS), body)
    return container_id, connection, connection.read_head()


def wait_call(process, token, container_id, timeout=10.0):
    return rawhttp.call(process.ports["adminrouter"], agent_path(),
                        {"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id}},
                        base.auth(token) + list(base.JSON_HEADERS), timeout=timeout)


# -- Admin Router routes -------------------------------------------------------------------


def test_routes_to_leader_agent_and_iam(busy):
    token = login(busy)
    response = rawhttp.call(busy.ports["adminrouter"], "/mesos/api/v1", {"type": "GET_TASKS"},
                            base.auth(token) + list(base.JSON_HEADERS))
    assert response.status == 200, response.text
    assert response.header("Connection") == "close"
    assert {t["task_id"]["value"] for t in response.json()["get_tasks"]["tasks"]} >= {base.SHELL_TASK}

    busy.control("POST", "/control/leader", {"index": 1})
    try:
        moved = rawhttp.call(busy.ports["adminrouter"], "/mesos/api/v1", {"type": "GET_TASKS"},
                             base.auth(token) + list(base.JSON_HEADERS))
    finally:
        busy.control("POST", "/control/leader", {"index": 0})
    assert moved.status == 200
    served = [r["server"] for r in busy.requests() if r["call"] == "GET_TASKS"]
    assert served[-2:] == ["master:0", "master:1"]

    container_id, connection, head = launch(busy, token, "hostname; exit 4")
    assert head.status == 200
    stdout, _, _ = RecordStream(connection, head).collect()
    connection.close()
    assert stdout == b"shell-host\n"
    result = wait_call(busy, token, container_id)
    assert result.json()["wait_container"]["exit_status"] == 4 << 8


def test_unknown_agent_and_missing_token(busy):
    token = login(busy)
    unknown = rawhttp.call(busy.ports["adminrouter"], agent_path("no-such-agent"), {"type": "GET_HEALTH"},
                           base.auth(token) + list(base.JSON_HEADERS))
    assert unknown.status == 404
    assert unknown.text == "404 Not Found: agent `no-such-agent` unknown.\n"
    anonymous = rawhttp.call(busy.ports["adminrouter"], "/mesos/api/v1", {"type": "GET_TASKS"},
                             list(base.JSON_HEADERS))
    assert anonymous.status == 401
    assert rawhttp.call(busy.ports["adminrouter"], "/elsewhere", None, method="GET").status == 404


def test_no_leader_is_503(busy):
    token = login(busy)
    busy.control("POST", "/control/leader", {"index": None})
    try:
        response = rawhttp.call(busy.ports["adminrouter"], "/mesos/api/v1", {"type": "GET_TASKS"},
                                base.auth(token) + list(base.JSON_HEADERS))
    finally:
        busy.control("POST", "/control/leader", {"index": 0})
    assert response.status == 503


def test_refused_agent_is_502(busy):
    token = login(busy)
    busy.control("POST", "/control/fault", {"kind": "refuse", "target": "agent:*"})
    response = rawhttp.call(busy.ports["adminrouter"], agent_path(), {"type": "GET_HEALTH"},
                            base.auth(token) + list(base.JSON_HEADERS))
    assert response.status == 502
    assert "502 Bad Gateway" in response.text


def test_streamed_input_through_router(busy):
    token = login(busy)
    container_id, connection, head = launch(busy, token, "cat; echo done")
    assert head.status == 200
    stream = RecordStream(connection, head)
    # The input stream's path goes through Admin Router too.
    sock = rawhttp.Connection(busy.ports["adminrouter"])
    sock.send_head("POST", agent_path(), base.auth(token) + [
        ("Content-Type", "application/recordio"), ("Message-Content-Type", "application/json"),
        ("Accept", "application/json"), ("Transfer-Encoding", "chunked")])
    records = [{"type": "ATTACH_CONTAINER_INPUT",
                "attach_container_input": {"type": "CONTAINER_ID", "container_id": container_id}}]
    for data in (b"through ", b"the router\n", b""):
        records.append({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
            "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {
                "type": "STDIN", "data": rawhttp.base64.b64encode(data).decode()}}}})
    for record in records:
        framed = rawhttp.recordio.encode(json.dumps(record).encode())
        sock.send(b"%x\r\n%s\r\n" % (len(framed), framed))
    sock.send(b"0\r\n\r\n")
    assert sock.response().status == 200
    stdout, _, _ = stream.collect()
    connection.close()
    assert stdout == b"through the router\ndone\n"


def test_client_close_destroys_session(busy):
    token = login(busy)
    container_id, connection, head = launch(busy, token, "echo ready; sleep 60")
    RecordStream(connection, head).until(lambda output, record: b"ready" in output)
    connection.close()
    base.wait_for(lambda: busy.session(container_id["value"])["state"] == "ended",
                  message="the session to end after the client left Admin Router")


# -- Admin Router idle cut ---------------------------------------------------------------


def test_heartbeats_keep_quiet_stream_open(busy):
    token = login(busy)
    container_id, connection, head = launch(busy, token, "sleep %s; echo late" % (IDLE_SECONDS * 4))
    stdout, _, records = RecordStream(connection, head).collect(timeout=15)
    connection.close()
    assert stdout == b"late\n"
    assert any(record["type"] == "CONTROL" for record in records)


def test_long_wait_gets_504_then_answer(busy):
    token = login(busy)
    container_id, connection, head = launch(busy, token, "sleep %s; exit 7" % (IDLE_SECONDS * 3))
    started = time.monotonic()
    first = wait_call(busy, token, container_id)
    assert first.status == 504
    assert "504 Gateway Time-out" in first.text
    assert IDLE_SECONDS * 0.9 < time.monotonic() - started < IDLE_SECONDS * 3
    RecordStream(connection, head).collect(timeout=15)
    connection.close()
    assert wait_call(busy, token, container_id).json()["wait_container"]["exit_status"] == 7 << 8


def test_silent_stream_cut_mid_body(quiet):
    token = login(quiet)
    container_id, connection, head = launch(quiet, token, "echo first; sleep 30")
    assert head.status == 200
    stream = RecordStream(connection, head)
    stream.until(lambda output, record: b"first" in output)
    with pytest.raises(rawhttp.StreamCut):
        stream.collect(timeout=10)
    connection.close()
    base.wait_for(lambda: quiet.session(container_id["value"])["state"] == "ended",
                  message="the session to end after the cut")


def test_idle_input_stream_closed(quiet):
    token = login(quiet)
    container_id, connection, head = launch(quiet, token, "sleep 30")
    sock = rawhttp.Connection(quiet.ports["adminrouter"])
    sock.send_head("POST", agent_path(), base.auth(token) + [
        ("Content-Type", "application/recordio"), ("Message-Content-Type", "application/json"),
        ("Accept", "application/json"), ("Transfer-Encoding", "chunked")])
    first = {"type": "ATTACH_CONTAINER_INPUT",
             "attach_container_input": {"type": "CONTAINER_ID", "container_id": container_id}}
    framed = rawhttp.recordio.encode(json.dumps(first).encode())
    sock.send(b"%x\r\n%s\r\n" % (len(framed), framed))
    started = time.monotonic()
    with pytest.raises(rawhttp.StreamCut):
        sock.read_head(timeout=10)
    assert time.monotonic() - started < IDLE_SECONDS * 5
    sock.close()
    connection.close()


# -- faults ------------------------------------------------------------------------------


def test_status_fault_limited_to_path_and_call(busy):
    token = login(busy)
    busy.control("POST", "/control/fault", {"kind": "status", "code": 404, "target": "agent:*",
                                           "call": "WAIT_CONTAINER", "count": 1,
                                           "body": "Container x cannot be found"})
    container_id, connection, head = launch(busy, token, "exit 2")
    assert head.status == 200  # the launch is another call type
    RecordStream(connection, head).collect()
    connection.close()
    missing = wait_call(busy, token, container_id)
    assert (missing.status, missing.text) == (404, "Container x cannot be found")
    assert wait_call(busy, token, container_id).json()["wait_container"]["exit_status"] == 2 << 8

    busy.control("POST", "/control/fault", {"kind": "status", "code": 503, "target": "adminrouter",
                                           "path": "/mesos/", "count": 1})
    assert rawhttp.call(busy.ports["adminrouter"], "/mesos/api/v1", {"type": "GET_TASKS"},
                        base.auth(token) + list(base.JSON_HEADERS)).status == 503
    bad = busy.control("POST", "/control/fault", {"kind": "latency", "ms": 1, "call": "GET_TASKS"})
    assert bad.status == 400


def test_blackhole_silences_open_stream(busy):
    token = login(busy)
    # Straight to the agent: Admin Router would cut the silent stream.
    launched = base.launch(busy, token, "echo first; sleep 30")
    launched.stream.until(lambda output, record: b"first" in output)
    busy.control("POST", "/control/fault", {"kind": "blackhole", "target": "agent:" + base.AGENT})
    with pytest.raises(TimeoutError):
        launched.stream.next(timeout=1.0)  # not even a heartbeat, which comes every 0.2 s
    connection = rawhttp.Connection(busy.agent)
    connection.request("POST", "/api/v1", base.auth(token) + list(base.JSON_HEADERS), {"type": "GET_HEALTH"})
    with pytest.raises(TimeoutError):
        connection.read_head(timeout=0.5)
    busy.control("POST", "/control/clear")
    connection.close()
    launched.connection.close()


# -- HTTPS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    pki = testca.make_test_pki(str(directory / "pki"))
    process = base.EmulatorProcess(directory, base.cluster_spec(), args=[
        "--tls-cert", pki["cert"], "--tls-key", pki["key"], "--tls-ca", pki["ca"]]).start()
    yield process, pki
    assert process.stop() == 0, process.log()


def https_call(url, path, body, headers, cafile):
    parsed = url.split("://", 1)[1]
    host, port = parsed.split(":")
    context = ssl.create_default_context(cafile=cafile)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), dict(headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_https_everywhere_but_control(tls):
    process, pki = tls
    assert process.ports["iam"].startswith("https://")
    assert process.ports["adminrouter"].startswith("https://")
    assert process.ports["control"].startswith("http://")
    status, body = https_call(process.ports["iam"], "/acs/api/v1/auth/login",
                              {"uid": "demo", "password": "demo"},
                              [("Content-Type", "application/json")], pki["ca"])
    assert status == 200
    token = json.loads(body)["token"]
    headers = [("Authorization", "token=" + token)] + list(base.JSON_HEADERS)
    status, body = https_call(process.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"}, headers,
                              pki["ca"])
    assert status == 200
    # Admin Router verifies the agents' certificates against the same CA.
    status, body = https_call(process.ports["adminrouter"], agent_path(), {"type": "GET_HEALTH"}, headers,
                              pki["ca"])
    assert (status, json.loads(body)["get_health"]) == (200, {"healthy": True})


def test_https_rejects_unrelated_ca(tls):
    process, pki = tls
    with pytest.raises(ssl.SSLCertVerificationError):
        https_call(process.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"}, [], pki["other_ca"])
