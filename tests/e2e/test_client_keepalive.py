"""Keepalives to the client: a client that stops replying is disconnected and its nested
container ends, as sshd does with ClientAliveInterval and ClientAliveCountMax."""

import signal
import subprocess

import pytest

from harness import cluster_with_bastion, ssh_env, standard_cluster, wait_for


@pytest.fixture(scope="module")
def quick_keepalive():
    with cluster_with_bastion(standard_cluster(), "keepalive", server_config=(
            "client_alive_interval_seconds = 0.5\nclient_alive_count_max = 2\n")) as running:
        yield running


def running_sessions(cluster):
    return [s for s in cluster.control("/control/sessions")["sessions"] if s["state"] == "running"]


def test_live_client_kept_across_keepalives(quick_keepalive):
    _, bastion = quick_keepalive
    # Eight keepalive intervals: a client that replies to them stays connected.
    result = bastion.ssh("sleep 4; echo still-here")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"still-here\n"


def test_stopped_client_disconnected_and_container_ended(quick_keepalive, tmp_path):
    cluster, bastion = quick_keepalive
    out = open(tmp_path / "out", "wb")
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo started; sleep 300"),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
                               env=ssh_env())
    try:
        wait_for(lambda: (tmp_path / "out").read_bytes() == b"started\n", 30, "the command")
        live = running_sessions(cluster)
        assert len(live) == 1, live
        container = live[0]["container_id"]
        # A stopped client reads nothing and replies to no keepalive, like a dead peer.
        process.send_signal(signal.SIGSTOP)

        def ended():
            for session in cluster.control("/control/sessions")["sessions"]:
                if session["container_id"] == container:
                    return session["state"] == "ended" and not session["pids"]
            return False

        wait_for(ended, 20, "the nested container of the silent client to end")
        wait_for(lambda: "did not answer" in bastion.log_text(), 10, "the disconnect log line")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        out.close()
