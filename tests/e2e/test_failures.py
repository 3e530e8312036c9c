"""End-to-end failures: cluster parts down or cut mid-session, clients that vanish.

These tests inject faults, so they run against a cluster and a bastion of their own.
"""

import shutil
import signal
import subprocess

import pytest

from harness import Bastion, Cluster, make_workdir, ssh_env, standard_cluster, wait_for

AGENT = "agent:*"


@pytest.fixture(scope="module")
def faulty():
    description = standard_cluster()
    description["tasks"].append({"id": "starting.77777777-7777-4777-8777-777777777777",
                                 "has_container_id": False})
    cluster_dir = make_workdir("tb-e2e-faults-cluster-")
    bastion_dir = make_workdir("tb-e2e-faults-bastion-")
    cluster = Cluster(description, cluster_dir)
    # Short retry bounds, because unreachable masters and agents are retried until they pass.
    masters = ", ".join(f'"{url}"' for url in cluster.ports["masters"])
    bastion = Bastion(cluster, bastion_dir,
                      mesos_config=f"masters = [{masters}]\nlookup_timeout_seconds = 3\n"
                                   "launch_retry_timeout_seconds = 2\n")
    yield cluster, bastion
    bastion.stop()
    cluster.stop()
    shutil.rmtree(cluster_dir, ignore_errors=True)
    shutil.rmtree(bastion_dir, ignore_errors=True)


@pytest.fixture
def cluster_and_bastion(faulty):
    cluster, bastion = faulty
    cluster.control("/control/clear", {})
    yield cluster, bastion
    cluster.control("/control/clear", {})


def stderr_lines(result):
    return [line for line in result.stderr.decode(errors="replace").splitlines() if line]


def test_agent_unreachable(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "refuse", "target": AGENT})
    result = bastion.ssh("echo never")
    assert result.returncode == 255
    assert result.stdout == b""
    lines = stderr_lines(result)
    assert len(lines) == 1, lines
    assert "agent" in lines[0], lines[0]
    assert cluster.ports["agents"][next(iter(cluster.ports["agents"]))] in lines[0], lines[0]


def test_master_unreachable(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    cluster.control("/control/fault", {"kind": "refuse", "target": "master:*"})
    result = bastion.ssh("echo never")
    assert result.returncode == 255
    lines = stderr_lines(result)
    assert len(lines) == 1, lines
    assert "no Mesos master answered" in lines[0]
    assert cluster.ports["masters"][0] in lines[0]


def test_agent_recovering_is_reported(cluster_and_bastion):
    cluster, bastion = cluster_and_bastion
    # Still recovering after the bastion's launch retries (2 s here) have run out.
    cluster.control("/control/fault", {"kind": "status", "code": 503, "target": AGENT,
                                       "count": 1000})
    result = bastion.ssh("echo never")
    assert result.returncode == 255
    assert b"503" in result.stderr


def test_task_still_starting(cluster_and_bastion):
    _, bastion = cluster_and_bastion
    result = bastion.ssh("true", user="demo@starting")
    assert result.returncode == 255
    assert b"is still starting; try again" in result.stderr


def test_stream_cut_mid_session_keeps_output_then_255(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    out = open(tmp_path / "out", "wb")
    err = open(tmp_path / "err", "wb")
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo partial; sleep 30"),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=ssh_env())
    wait_for(lambda: (tmp_path / "out").read_bytes() == b"partial\n", 30, "partial output")
    cut = cluster.control("/control/fault", {"kind": "cut_stream", "target": AGENT})
    assert cut["fault"]["streams_cut"] >= 1, cut
    status = process.wait(timeout=20)
    out.close()
    err.close()
    assert status == 255
    assert (tmp_path / "out").read_bytes() == b"partial\n"
    message = (tmp_path / "err").read_text()
    assert "stream" in message, message


def test_killed_client_ends_nested_container(cluster_and_bastion, tmp_path):
    cluster, bastion = cluster_and_bastion
    out = open(tmp_path / "out", "wb")
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo started; sleep 300"),
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.DEVNULL, env=ssh_env())
    wait_for(lambda: (tmp_path / "out").read_bytes() == b"started\n", 30, "the command to start")
    live = [s for s in cluster.control("/control/sessions")["sessions"]
            if s["state"] == "running"]
    assert len(live) == 1, live
    container = live[0]["container_id"]
    process.send_signal(signal.SIGKILL)
    process.wait()

    def ended():
        for session in cluster.control("/control/sessions")["sessions"]:
            if session["container_id"] == container:
                return session["state"] == "ended" and not session["pids"]
        return False

    wait_for(ended, 15, "the nested container to be destroyed")
