"""End-to-end: agents that die, vanish, restart or recover, and WAIT_CONTAINER failures.

The client must get every byte that arrived, then one reason on stderr and exit status 255
(or the true exit status when it can still be learned), within a bounded time. A session must
never hang and never report a made-up 0.
"""

import subprocess
import time

import pytest

from harness import cluster_with_bastion, ssh_env, standard_cluster, wait_for

AGENT = "agent:*"
SILENCE_SECONDS = 3


@pytest.fixture(scope="module")
def failing():
    def mesos_config(cluster):
        masters = ", ".join(f'"{url}"' for url in cluster.ports["masters"])
        return (f"masters = [{masters}]\n"
                f"output_silence_timeout_seconds = {SILENCE_SECONDS}\n"
                "launch_retry_timeout_seconds = 8\n"
                "wait_timeout_seconds = 5\n")

    with cluster_with_bastion(standard_cluster(heartbeat_seconds=1), "failing",
                              mesos_config=mesos_config) as running:
        yield running


@pytest.fixture
def cluster_and_bastion(failing):
    cluster, bastion = failing
    cluster.control("/control/clear", {})
    yield cluster, bastion
    cluster.control("/control/clear", {})


class Running:
    """An ssh client running in the background with its output in files."""

    def __init__(self, bastion, command, directory):
        self.out_path = directory / "out"
        self.err_path = directory / "err"
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", command),
                                        stdin=subprocess.DEVNULL, stdout=self.out,
                                        stderr=self.err, env=ssh_env())

    def wait_output(self, expected, timeout=30):
        wait_for(lambda: self.out_path.read_bytes() == expected, timeout, f"output {expected!r}")

    def finish(self, timeout):
        try:
            status = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.out.close()
            self.err.close()
        return status, self.out_path.read_bytes(), self.err_path.read_text()


def live_sessions(cluster):
    return [s for s in cluster.control("/control/sessions")["sessions"] if s["state"] == "running"]


def test_agent_killed_mid_session(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    running = Running(bastion, "echo partial; sleep 30", tmp_path)
    running.wait_output(b"partial\n")
    # The agent process dies: its port refuses connections and its connections close.
    cluster.control("/control/fault", {"kind": "refuse", "target": AGENT, "reset": True})
    killed = time.monotonic()
    status, stdout, stderr = running.finish(timeout=30)
    assert time.monotonic() - killed < 10
    assert status == 255
    assert stdout == b"partial\n"
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("task-bastion: lost the output stream from agent "), lines[0]
    assert "the command's result is unknown" in lines[0]


def test_agent_vanished_mid_session(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    running = Running(bastion, "echo partial; sleep 30", tmp_path)
    running.wait_output(b"partial\n")
    # The agent's host leaves the network: no byte, no heartbeat, no closed connection.
    cluster.control("/control/fault", {"kind": "blackhole", "target": AGENT})
    vanished = time.monotonic()
    status, stdout, stderr = running.finish(timeout=30)
    assert time.monotonic() - vanished < 10
    assert status == 255
    assert stdout == b"partial\n"
    assert f"was silent for {SILENCE_SECONDS} s" in stderr, stderr
    assert "the command's result is unknown" in stderr


def test_agent_restarting_before_launch(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "refuse", "target": AGENT, "reset": True})
    before = len(cluster.requests())
    running = Running(bastion, "echo after-restart", tmp_path)
    # The lookup reaches the master; the launch then finds the agent down, and is retried.
    wait_for(lambda: any(r["call"] == "GET_AGENTS" for r in cluster.requests()[before:]), 30,
             "the task lookup")
    time.sleep(1)
    cluster.control("/control/clear", {})
    status, stdout, stderr = running.finish(timeout=30)
    assert status == 0, stderr
    assert stdout == b"after-restart\n"


def test_agent_recovering_before_launch(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "status", "code": 503, "target": AGENT, "count": 3})
    before = len(cluster.requests())
    result = bastion.ssh("echo recovered; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == b"recovered\n"
    launches = [r["status"] for r in cluster.requests()[before:]
                if r["server"].startswith("agent:") and r["path"] == "/api/v1"
                and r.get("fault") == "status"]
    assert launches == [503, 503, 503]


def test_agent_recovering_too_long_named(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "status", "code": 503, "target": AGENT, "count": 1000})
    started = time.monotonic()
    result = bastion.ssh("echo never")
    assert time.monotonic() - started < 8 + 5
    assert result.returncode == 255
    message = result.stderr.decode()
    assert "is recovering (HTTP 503: Agent has not finished recovery)" in message, message
    assert " attempts in " in message, message


def test_wait_not_found_after_output(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "status", "code": 404, "target": AGENT,
                                       "call": "WAIT_CONTAINER", "count": 1,
                                       "body": "Container abc cannot be found"})
    result = bastion.ssh("echo out; exit 3")
    assert result.returncode == 255
    assert result.stdout == b"out\n"
    message = result.stderr.decode()
    assert "could not learn the exit status" in message, message
    assert "no longer knows the session's container" in message, message


def test_wait_gateway_timeouts_retried(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "status", "code": 504, "target": AGENT,
                                       "call": "WAIT_CONTAINER", "count": 2})
    result = bastion.ssh("echo out; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == b"out\n"


def test_agent_killed_leaves_no_session_processes(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    running = Running(bastion, "echo started; sleep 60 & wait", tmp_path)
    running.wait_output(b"started\n")
    sessions = live_sessions(cluster)
    assert len(sessions) == 1, sessions
    container = sessions[0]["container_id"]
    cluster.control("/control/fault", {"kind": "refuse", "target": AGENT, "reset": True})
    status, _, _ = running.finish(timeout=30)
    assert status == 255

    def ended():
        for session in cluster.control("/control/sessions")["sessions"]:
            if session["container_id"] == container:
                return session["state"] == "ended" and not session["pids"]
        return False

    wait_for(ended, 10, "the session's processes to be gone")


def test_task_being_killed_reported(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {
        "kind": "status", "code": 400, "target": AGENT, "call": "LAUNCH_NESTED_CONTAINER_SESSION",
        "body": "Parent container 0b6f is in 'DESTROYING' state"})
    result = bastion.ssh("echo never")
    assert result.returncode == 255
    assert result.stderr.decode().splitlines() == [
        "task-bastion: task demo-shell.11111111-1111-4111-8111-111111111111 is being killed"]


def test_ended_task_reported(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/tasks/kill", {"task": "dup-a.44444444-4444-4444-8444-444444444444"})
    wait_for(lambda: any(t["id"].startswith("dup-a") and t["state"] == "TASK_KILLED"
                         for t in cluster.control("/control/tasks")["tasks"]), 30, "the task to end")
    result = bastion.ssh("echo never", user="demo@dup-a")
    assert result.returncode == 255
    assert result.stderr.decode().splitlines() == [
        "task-bastion: no running task matches 'dup-a'; task "
        "dup-a.44444444-4444-4444-8444-444444444444 has ended (TASK_KILLED)"]
