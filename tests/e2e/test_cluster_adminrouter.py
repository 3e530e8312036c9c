"""End-to-end through the emulated Admin Router with its idle cut shortened from 60 s.

The agent's output heartbeats and the bastion's input heartbeats come more often than the
cut, as on a real cluster (30 s against 60 s), so long-quiet sessions stay open. The whole
end-to-end suite also runs in this layout (conftest.py); this module covers what needs the
short idle limit or faults.
"""

import subprocess
import time

import pytest

from harness import (adminrouter_mesos_config, cluster_with_bastion, ssh_env, standard_cluster,
                     wait_for)

IDLE_SECONDS = 1.5
HEARTBEAT_SECONDS = 0.5


@pytest.fixture(scope="module")
def routed():
    description = standard_cluster(heartbeat_seconds=HEARTBEAT_SECONDS)
    description["adminrouter_idle_timeout_seconds"] = IDLE_SECONDS
    with cluster_with_bastion(
            description, "ar",
            iam_url=lambda cluster: cluster.ports["adminrouter"],
            mesos_config=lambda cluster: adminrouter_mesos_config(
                cluster, f"heartbeat_interval_seconds = {HEARTBEAT_SECONDS}\n"
                         "launch_retry_timeout_seconds = 2\n")) as running:
        yield running


@pytest.fixture
def through_router(routed):
    cluster, bastion = routed
    cluster.control("/control/clear", {})
    yield cluster, bastion
    cluster.control("/control/clear", {})


def router_requests(cluster, since=0):
    return [r for r in cluster.requests()[since:] if r["server"] == "adminrouter"]


def test_calls_go_through_router(through_router):
    cluster, bastion = through_router
    before = len(cluster.requests())
    result = bastion.ssh("hostname", user="demo@demo-web")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"demo-web-host\n"
    paths = [r["path"] for r in router_requests(cluster, before)]
    assert "/acs/api/v1/auth/login" in paths, paths
    assert "/mesos/api/v1" in paths, paths
    agent = next(iter(cluster.ports["agents"]))
    assert f"/agent/{agent}/api/v1" in paths, paths
    # The pod task's container id has a parent (the executor's); the session's id keeps both.
    launches = [r for r in cluster.requests()[before:]
                if r["call"] == "LAUNCH_NESTED_CONTAINER_SESSION" and r["status"] == 200]
    assert len(launches) == 1, launches
    chain = launches[0]["container_id"]
    assert chain["parent"]["parent"]["value"], chain
    assert "parent" not in chain["parent"]["parent"], chain


def test_quiet_command_past_idle_cut_keeps_exit_status(through_router):
    _, bastion = through_router
    started = time.monotonic()
    result = bastion.ssh(f"sleep {IDLE_SECONDS * 4}; exit 7", timeout=60)
    assert result.returncode == 7, result.stderr
    assert time.monotonic() - started > IDLE_SECONDS * 4


def test_idle_shell_survives_many_idle_cuts(through_router):
    _, bastion = through_router
    # 20 idle windows of the proxy stand for 20 minutes behind a 60 s cut.
    idle_seconds = IDLE_SECONDS * 20
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", tty=True),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ssh_env())
    try:
        process.stdin.write(b"echo ready-$((6*7))\n")
        process.stdin.flush()
        time.sleep(idle_seconds)
        process.stdin.write(b"echo alive-$((7*8)); exit 3\n")
        process.stdin.flush()
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert b"ready-42" in stdout, stdout
    assert b"alive-56" in stdout, (stdout, stderr)
    assert process.returncode == 3, stderr


def test_unknown_agent_named_in_message(through_router):
    cluster, bastion = through_router
    agent = next(iter(cluster.ports["agents"]))
    cluster.control("/control/fault", {
        "kind": "status", "code": 404, "target": "adminrouter", "path": "/agent/", "count": 1,
        "body": f"404 Not Found: agent `{agent}` unknown.\n"})
    result = bastion.ssh("echo never")
    assert result.returncode == 255
    message = result.stderr.decode()
    assert "Admin Router does not know the task's agent" in message, message
    assert f"agent `{agent}` unknown" in message, message


def test_leader_moving_behind_router(through_router):
    cluster, bastion = through_router
    before = len(cluster.requests())
    cluster.control("/control/leader", {"index": None})
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo elected"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ssh_env())
    try:
        wait_for(lambda: any(r["path"] == "/mesos/api/v1" and r["status"] == 503
                             for r in router_requests(cluster, before)), 30,
                 "503 from Admin Router")
    finally:
        cluster.control("/control/leader", {"index": 0})
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout == b"elected\n"
