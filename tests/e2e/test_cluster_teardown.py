"""End-to-end teardown: a killed client and a stopped bastion end their nested containers, and
the emulator shows no process of the session left in the task's namespaces.
"""

import shutil
import signal
import subprocess

import pytest

from harness import Bastion, Cluster, make_workdir, ssh_env, standard_cluster, wait_for


@pytest.fixture(scope="module")
def cluster():
    workdir = make_workdir("tb-e2e-teardown-cluster-")
    running = Cluster(standard_cluster(), workdir)
    yield running
    running.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def start_session(bastion, cluster, tmp_path, command="echo started; sleep 300 & wait"):
    """An ssh client whose command runs (with a background child); returns it and its session."""
    out_path = tmp_path / "out"
    out = open(out_path, "wb")
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", command),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                               env=ssh_env())
    wait_for(lambda: out_path.read_bytes() == b"started\n", 30, "the command to start")
    out.close()
    sessions = [s for s in cluster.control("/control/sessions")["sessions"]
                if s["state"] == "running"]
    assert len(sessions) == 1, sessions
    assert len(sessions[0]["pids"]) >= 2, sessions[0]  # the shell and its background sleep
    return process, sessions[0]


def session_gone(cluster, container):
    """The session ended and none of its processes is left."""
    for session in cluster.control("/control/sessions")["sessions"]:
        if session["container_id"] == container:
            return session["state"] == "ended" and not session["pids"]
    return False


def task_processes(cluster, task_prefix="demo-shell"):
    """Command lines of the processes in the task's PID namespace."""
    task = next(t for t in cluster.control("/control/tasks")["tasks"] if t["id"].startswith(task_prefix))
    listing = subprocess.run(["nsenter", "-t", str(task["init_pid"]), "-p", "-m", "ps", "-e", "-o", "args="],
                             capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in listing.splitlines() if line.strip()]


def test_killed_client_ends_container_within_5_s(cluster, tmp_path):
    bastion = Bastion(cluster, tmp_path / "bastion")
    try:
        process, session = start_session(bastion, cluster, tmp_path)
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for(lambda: session_gone(cluster, session["container_id"]), 5,
                 "the nested container to be destroyed")
    finally:
        bastion.stop()
    assert not any("sleep 300" in line for line in task_processes(cluster))


def test_bastion_shutdown_ends_container(cluster, tmp_path):
    bastion = Bastion(cluster, tmp_path / "bastion")
    try:
        process, session = start_session(bastion, cluster, tmp_path)
        bastion.process.send_signal(signal.SIGTERM)
        assert bastion.process.wait(timeout=20) == 0
        status = process.wait(timeout=20)
        stderr = process.stderr.read().decode(errors="replace")
    finally:
        bastion.stop()
    # The client sees its connection closed; the bastion does not yet send a reason first.
    assert status == 255, stderr
    wait_for(lambda: session_gone(cluster, session["container_id"]), 5,
             "the nested container to be destroyed")
    assert not any("sleep 300" in line for line in task_processes(cluster))
