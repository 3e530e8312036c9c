"""Compatibility: PuTTY's plink (Debian's putty-tools) in batch mode and interactively.

plink types the -pw password at the bastion's keyboard-interactive prompt and prints the
prompt's header lines to stderr, so stderr checks look for the command's own output in it. It
exits with 128 when the server reports exit-signal, against OpenSSH's sshd too.
"""

import hashlib
import json
import os
import subprocess

import paramiko
import pytest

from compat import OpenSshServer, running_bastion
from harness import ssh_env, wait_for
from tmux import TmuxPane

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


def fingerprint(private_key_path):
    """The SHA256 fingerprint of a host key, as plink's -hostkey takes it."""
    output = subprocess.run(["ssh-keygen", "-l", "-f", str(private_key_path)],
                            capture_output=True, text=True, check=True).stdout
    return output.split()[1]


def make_ppk(private_key_path, ppk_path):
    subprocess.run(["puttygen", str(private_key_path), "-O", "private", "-o", str(ppk_path)],
                   check=True, capture_output=True)
    return str(ppk_path)


def plink_bastion(bastion, *args, auth=("-pw", "demo"), user="demo@demo-shell"):
    return ["plink", "-ssh", "-batch", "-noagent", "-P", str(bastion.port), "-l", user, *auth,
            "-hostkey", fingerprint(bastion.workdir / "host_key"), bastion.host, *args]


def plink_reference(sshd, ppk, *args):
    return ["plink", "-ssh", "-batch", "-noagent", "-P", str(sshd.reference_port), "-l", "root",
            "-i", ppk, "-hostkey", fingerprint(sshd.dir / "host_key"), "127.0.0.1", *args]


def run(argv, input=b""):
    return subprocess.run(argv, input=input, capture_output=True, timeout=60)


def test_batch_command_keeps_streams_and_status(bastion):
    result = run(plink_bastion(bastion, "echo out; echo err >&2; exit 3"))
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr.endswith(b"err\n")


def test_batch_stdin_reaches_command(bastion):
    result = run(plink_bastion(bastion, "cat; echo done"), input=b"line\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"line\ndone\n"


def test_batch_large_stdin_round_trip(bastion):
    # Several windows' worth each way; PuTTY also sends winadj@putty.projects.tartarus.org
    # requests, which need a reply.
    data = os.urandom(4 << 20)
    result = run(plink_bastion(bastion, "cat"), input=data)
    assert result.returncode == 0, result.stderr[-500:]
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("command", ["exit 0", "exit 1", "exit 255", "kill -TERM $$",
                                     "kill -KILL $$"])
def test_batch_exit_status_like_sshd(bastion, sshd, tmp_path, command):
    ppk = make_ppk(sshd.key, tmp_path / "root.ppk")
    expected = run(plink_reference(sshd, ppk, command))
    actual = run(plink_bastion(bastion, command))
    assert actual.returncode == expected.returncode, (actual.stderr, expected.stderr)
    assert actual.stdout == expected.stdout == b""


def test_t_interactive_shell_through_tmux(bastion):
    pane = TmuxPane(columns=100, rows=30)
    try:
        argv = plink_bastion(bastion, "-t", "-no-antispoof")
        pane.run_interactive(argv, ssh_env())
        wait_for(lambda: pane.capture().rstrip().endswith(("$", "#")), 60, "a shell prompt")
        pane.send("tty; echo $((6*7))")
        wait_for(lambda: "42" in pane.capture().split("echo $((6*7))")[-1], 30, "42")
        screen = pane.capture()
        pane.send("exit 5")
        status = pane.wait_exit(60)
    finally:
        pane.close()
    assert "/dev/pts/" in screen
    assert status == 5


# --- Key login ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_login(cluster, tmp_path_factory):
    """A bastion whose key registry lists a new ed25519 key for demo; yields it and the .ppk."""
    directory = tmp_path_factory.mktemp("keys")
    user_key = directory / "user_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(user_key)],
                   check=True)
    registry = directory / "authorized_keys"
    registry.write_text('uid="demo" ' + (directory / "user_key.pub").read_text())
    ppk = make_ppk(user_key, directory / "user_key.ppk")
    with running_bastion(cluster, auth_config=f"authorized_keys = {json.dumps(str(registry))}\n"
                         ) as bastion:
        yield bastion, ppk


def offered_methods(bastion):
    transport = paramiko.Transport((bastion.host, bastion.port))
    try:
        transport.start_client(timeout=30)
        transport.auth_none("demo@demo-shell")
    except paramiko.BadAuthenticationType as error:
        return error.allowed_types
    finally:
        transport.close()
    return []


def test_key_login_with_ppk(key_login):
    bastion, ppk = key_login
    methods = offered_methods(bastion)
    if "publickey" not in methods:
        pytest.skip(f"the bastion does not offer publickey authentication (offers {methods})")
    result = run(plink_bastion(bastion, "hostname; exit 4", auth=("-i", ppk)))
    assert result.returncode == 4, result.stderr
    assert result.stdout == b"demo-shell-host\n"
    assert b"Keyboard-interactive" not in result.stderr
