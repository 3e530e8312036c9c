"""End-to-end: three Mesos masters, a leader that moves, no leader, and every master down.

The bastion lists all three masters and has a short lookup bound, so the failure cases end
quickly.
"""

import json
import subprocess
import time

import pytest

from harness import cluster_with_bastion, ssh_env, standard_cluster, wait_for

LOOKUP_TIMEOUT_SECONDS = 4


@pytest.fixture(scope="module")
def three_masters():
    description = standard_cluster()
    description["masters"] = 3
    description["leader"] = 1
    def mesos_config(cluster):
        masters = ", ".join(json.dumps(url) for url in cluster.ports["masters"])
        return (f"masters = [{masters}]\n"
                f"lookup_timeout_seconds = {LOOKUP_TIMEOUT_SECONDS}\n"
                "call_timeout_seconds = 2\n")

    with cluster_with_bastion(description, "masters", mesos_config=mesos_config) as running:
        yield running


@pytest.fixture
def masters(three_masters):
    cluster, bastion = three_masters
    cluster.control("/control/clear", {})
    cluster.control("/control/leader", {"index": 1})
    yield cluster, bastion
    cluster.control("/control/clear", {})
    cluster.control("/control/leader", {"index": 1})


def served_calls(cluster, since):
    """(server, call, status) of the master requests logged after index `since`."""
    return [(r["server"], r["call"], r["status"]) for r in cluster.requests()[since:]
            if r["server"].startswith("master:")]


def test_leader_moving_between_lookups(masters):
    cluster, bastion = masters
    for leader in (1, 2, 0, 2):
        cluster.control("/control/leader", {"index": leader})
        before = len(cluster.requests())
        result = bastion.ssh("hostname")
        assert result.returncode == 0, (leader, result.stderr)
        assert result.stdout == b"demo-shell-host\n"
        calls = served_calls(cluster, before)
        assert (f"master:{leader}", "GET_TASKS", 200) in calls, calls
        assert (f"master:{leader}", "GET_AGENTS", 200) in calls, calls
        # Masters listed before the leader redirect to it.
        assert all(status in (200, 307) for _, _, status in calls), calls


def test_leader_moving_during_lookup(masters):
    cluster, bastion = masters
    cluster.control("/control/leader", {"index": 0})
    # Master 0 delays both lookup calls, so the leader can move between them.
    cluster.control("/control/fault", {"kind": "latency", "ms": 1500, "target": "master:0",
                                       "count": 2})
    before = len(cluster.requests())
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo moved"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ssh_env())
    wait_for(lambda: ("master:0", "GET_TASKS", 200) in served_calls(cluster, before), 30,
             "GET_TASKS answered by master 0")
    cluster.control("/control/leader", {"index": 2})
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout == b"moved\n"
    calls = served_calls(cluster, before)
    # A non-leader redirects before it parses the call, so the log has no call type for it.
    assert ("master:0", None, 307) in calls, calls
    assert ("master:2", "GET_AGENTS", 200) in calls, calls


def test_no_leader_then_elected(masters):
    cluster, bastion = masters
    cluster.control("/control/leader", {"index": None})
    before = len(cluster.requests())
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo elected"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ssh_env())
    # Wait until every master has returned 503 at least once, then elect one.
    wait_for(lambda: {server for server, _, status in served_calls(cluster, before)
                      if status == 503} == {"master:0", "master:1", "master:2"}, 30,
             "503 from every master")
    cluster.control("/control/leader", {"index": 2})
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout == b"elected\n"


def test_masters_recovering_are_retried(masters):
    cluster, bastion = masters
    # Every master returns 503 "Master has not finished recovery" for its next two requests.
    for index in range(3):
        cluster.control("/control/fault", {"kind": "status", "code": 503,
                                           "target": f"master:{index}", "count": 2})
    result = bastion.ssh("echo recovered")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"recovered\n"


def test_all_masters_down_fails_within_bound(masters):
    cluster, bastion = masters
    cluster.control("/control/fault", {"kind": "refuse", "target": "master:*"})
    started = time.monotonic()
    result = bastion.ssh("echo never", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert f"no Mesos master answered within {LOOKUP_TIMEOUT_SECONDS} s" in lines[0], lines[0]
    for url in cluster.ports["masters"]:
        assert url + "/api/v1" in lines[0], lines[0]
    # The bound covers the lookup; login and the SSH handshake add a little.
    assert elapsed < LOOKUP_TIMEOUT_SECONDS + 5, elapsed


def test_all_masters_silent_fails_within_bound(masters):
    cluster, bastion = masters
    cluster.control("/control/fault", {"kind": "silence", "target": "master:*"})
    started = time.monotonic()
    result = bastion.ssh("echo never", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    message = result.stderr.decode()
    assert "no Mesos master answered" in message, message
    assert "no answer in" in message, message
    assert elapsed < LOOKUP_TIMEOUT_SECONDS + 5, elapsed
