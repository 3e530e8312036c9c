"""Compatibility: paramiko (Debian's python3-paramiko) as a client library.

paramiko 2.12 has no API for the "signal" request, which test_compat_asyncssh.py covers. It
ignores "exit-signal", so a process killed by a signal reads back as exit status -1. The test for
that compares with OpenSSH's sshd, where paramiko reports the same.
"""

import hashlib
import os
import threading
import time

import paramiko
import pytest

from compat import (OpenSshServer, emulator_sessions, running_bastion, wait_new_session,
                    wait_session_ended)
from harness import wait_for


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def sshd():
    server = OpenSshServer()
    yield server
    server.stop()


def connect(bastion):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(bastion.host, port=bastion.port, username="demo@demo-shell", password="demo",
                   look_for_keys=False, allow_agent=False, timeout=30)
    return client


def connect_reference(sshd):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=sshd.reference_port, username="root",
                   key_filename=str(sshd.key), look_for_keys=False, allow_agent=False, timeout=30)
    return client


@pytest.fixture
def client(bastion):
    connection = connect(bastion)
    yield connection
    connection.close()


def read_until(channel, marker, timeout=30):
    """Reads the channel's stdout until `marker` appears; returns everything read."""
    data = b""
    deadline = time.monotonic() + timeout
    channel.settimeout(timeout)
    while marker not in data:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {marker!r}; got {data!r}")
        chunk = channel.recv(65536)
        if not chunk:
            raise EOFError(f"the channel ended before {marker!r}; got {data!r}")
        data += chunk
    return data


def run(client, command, **kwargs):
    _, stdout, stderr = client.exec_command(command, timeout=60, **kwargs)
    out, err = stdout.read(), stderr.read()
    return out, err, stdout.channel.recv_exit_status()


def test_exec_returns_streams_and_exit_status(client):
    out, err, status = run(client, "echo out; echo err >&2; exit 3")
    assert status == 3
    assert out == b"out\n"
    assert err == b"err\n"


def test_exit_signal_reads_as_minus_one_like_sshd(client, sshd, bastion):
    reference = connect_reference(sshd)
    try:
        expected = run(reference, "kill -TERM $$")
    finally:
        reference.close()
    actual = run(client, "kill -TERM $$")
    assert expected == (b"", b"", -1)
    assert actual == expected
    assert "ended by signal 15" in bastion.log_text()


def test_environment_passes_accepted_names(client):
    out, err, status = run(client, 'echo "$LANG ${TB_OTHER-unset}"',
                           environment={"LANG": "en_DK.UTF-8", "TB_OTHER": "x"})
    assert status == 0, err
    assert out == b"en_DK.UTF-8 unset\n"


def test_pty_with_resize(client):
    channel = client.get_transport().open_session()
    channel.get_pty(term="xterm", width=100, height=30)
    channel.exec_command("stty size; trap 'stty size; exit 0' WINCH; echo ready; "
                         "while :; do sleep 0.1; done")
    before = read_until(channel, b"ready")
    channel.resize_pty(width=90, height=20)
    after = read_until(channel, b"20 90")
    status = channel.recv_exit_status()
    assert before.replace(b"\r\n", b"\n").startswith(b"30 100\n")
    assert b"20 90" in after
    assert status == 0


def test_stdin_eof_ends_cat(client):
    channel = client.get_transport().open_session()
    channel.exec_command("cat; echo done")
    channel.sendall(b"abc\n")
    channel.shutdown_write()
    output = read_until(channel, b"done\n")
    assert channel.recv_exit_status() == 0
    assert output == b"abc\ndone\n"


def test_large_stdin_round_trip(client):
    data = os.urandom(4 << 20)
    channel = client.get_transport().open_session()
    channel.exec_command("cat")

    # Writing and reading at once: the data is more than the buffers between them hold.
    def send():
        channel.sendall(data)
        channel.shutdown_write()

    sender = threading.Thread(target=send)
    sender.start()
    received = bytearray()
    channel.settimeout(60)
    while chunk := channel.recv(1 << 20):
        received += chunk
    sender.join(timeout=60)
    assert channel.recv_exit_status() == 0
    assert len(received) == len(data)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()


def test_client_close_ends_container(client, cluster):
    known = set(emulator_sessions(cluster))
    transport = client.get_transport()
    channel = transport.open_session()
    channel.exec_command("yes")
    read_until(channel, b"y\ny\ny\n")
    container = wait_new_session(cluster, known)
    channel.close()
    # paramiko unlinks a channel when the server's close arrives; it has no public accessor.
    wait_for(lambda: transport._channels.get(channel.get_id()) is None, 30,
             "the bastion's close")
    wait_session_ended(cluster, container)
    out, _, status = run(client, "echo still-open")
    assert (out, status) == (b"still-open\n", 0)
