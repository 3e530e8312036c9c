"""Differential test: the same commands through task-bastion and through OpenSSH's own sshd.

For each case the client's stdout, stderr and exit status must be the same on both servers. The
sshd is started by the test on 127.0.0.1 with its own configuration and a key made for it. The
commands avoid what differs on purpose between the two: host names and the login shell's
flavour. In pty modes they also avoid input that only ends with stdin EOF, because sshd does not
pass EOF into a pty while the bastion sends Ctrl-D as `dcos task exec` does.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import SSH_OPTIONS, ssh_env, wait_for

SSHD = "/usr/sbin/sshd"

PLAIN, TTY, INTERACTIVE, INTERACTIVE_TTY = "plain", "tty", "interactive", "interactive+tty"

# (mode, command, stdin bytes). Plain and tty modes get /dev/null as stdin.
CASES = [
    (PLAIN, "echo hello", None),
    (PLAIN, "echo out; echo err >&2; exit 3", None),
    (PLAIN, "exit 0", None),
    (PLAIN, "exit 255", None),
    (PLAIN, "kill -TERM $$", None),
    (PLAIN, "kill -KILL $$", None),
    (PLAIN, "printf '\\000\\001\\377\\n'", None),
    (PLAIN, "seq 100000", None),
    (PLAIN, "cat", None),
    (PLAIN, "/nonexistent/program", None),
    (TTY, "echo hello", None),
    (TTY, "echo out; echo err >&2; exit 4", None),
    (TTY, "kill -TERM $$", None),
    (TTY, "seq 20000", None),
    (TTY, "test -t 0 && test -t 1 && echo both-ttys", None),
    (INTERACTIVE, "cat", b"line one\nline two\n"),
    (INTERACTIVE, "wc -c", os.urandom(1 << 20)),
    (INTERACTIVE, "cat; exit 7", b"\x00\x01binary\xff"),
    (INTERACTIVE, "read x; echo got $x; exit 2", b"hello\n"),
    (INTERACTIVE, "head -c 5; kill -TERM $$", b"0123456789"),
    (INTERACTIVE, "sort -r", b"a\nc\nb\n"),
    (INTERACTIVE_TTY, "read x; echo got $x", b"hello\n"),
    (INTERACTIVE_TTY, "read x; exit 9", b"bye\n"),
    (INTERACTIVE_TTY, "read x; kill -TERM $$", b"now\n"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd():
    workdir = Path(tempfile.mkdtemp(prefix="tb-sshd-"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(workdir / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(workdir / "client_key")], check=True)
    shutil.copy(workdir / "client_key.pub", workdir / "authorized_keys")
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\n"
        f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {workdir / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM yes\nStrictModes no\nPrintMotd no\n"
        "AcceptEnv LANG LC_*\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    log = open(workdir / "sshd.log", "wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)

    def listening():
        if process.poll() is not None:
            raise RuntimeError("sshd exited: " + (workdir / "sshd.log").read_text())
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, 30, "sshd to listen")
    yield {"port": port, "key": str(workdir / "client_key")}
    process.terminate()
    process.wait(timeout=10)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def run(argv, mode, stdin_bytes, env):
    if stdin_bytes is None:
        with open(os.devnull, "rb") as devnull:
            result = subprocess.run(argv, stdin=devnull, capture_output=True, timeout=120,
                                    env=env)
    else:
        result = subprocess.run(argv, input=stdin_bytes, capture_output=True, timeout=120,
                                env=env)
    return result.stdout, result.stderr, result.returncode


def mode_flags(mode):
    return ["-tt"] if mode in (TTY, INTERACTIVE_TTY) else ["-T"]


@pytest.mark.parametrize("mode, command, stdin_bytes", CASES,
                         ids=[f"{m}:{c[:30]}" for m, c, _ in CASES])
def test_same_result_as_openssh_sshd(bastion, sshd, mode, command, stdin_bytes):
    # sshd runs commands with the login shell (bash here); the agent runs them with /bin/sh
    # and argv[0] "sh", as Mesos does. Run sh with that argv[0] on the sshd side too.
    wrapped = "exec sh -c " + "'" + command.replace("'", "'\\''") + "'"
    # ssh takes the first value given for an option, so this list replaces SSH_OPTIONS' ban
    # on public keys.
    options = []
    for flag, value in zip(SSH_OPTIONS[::2], SSH_OPTIONS[1::2]):
        if not value.startswith("PubkeyAuthentication"):
            options += [flag, value]
    reference_argv = ["ssh", "-p", str(sshd["port"]), *options, "-i", sshd["key"],
                      "-o", "BatchMode=yes",
                      *mode_flags(mode), "root@127.0.0.1", wrapped]
    bastion_argv = bastion.ssh_command("demo@demo-shell", command, options=mode_flags(mode))
    expected = run(reference_argv, mode, stdin_bytes, dict(os.environ))
    actual = run(bastion_argv, mode, stdin_bytes, ssh_env())
    assert actual[2] == expected[2], (actual, expected)
    assert actual[0] == expected[0]
    assert actual[1] == expected[1]
