"""Shared pieces of the client compatibility tests (test_compat_*.py).

An OpenSSH sshd on 127.0.0.1 is the jump host and the reference server that the bastion is
compared with. One ssh_config file names both servers and the bastion, so each test's argv reads
like the command a user would type.
"""

import contextlib
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import Bastion, make_workdir, wait_for

SSHD = "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class OpenSshServer:
    """Debian's sshd on two 127.0.0.1 ports, logging in root with a key made for it.

    `jump_port` allows TCP forwarding, so it can be a ProxyJump host. `reference_port` has
    DisableForwarding, which is how the bastion treats forwarding, so tests compare the client's
    behaviour against both servers there.
    """

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tb-compat-sshd-"))
        self.key = self.dir / "client_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.dir / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        self.jump_port = free_port()
        self.reference_port = free_port()
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.jump_port}\nPort {self.reference_port}\nListenAddress 127.0.0.1\n"
            f"HostKey {self.dir / 'host_key'}\nPidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM yes\nStrictModes no\nPrintMotd no\n"
            "AcceptEnv LANG LC_*\nLogLevel INFO\n"
            f"Match LocalPort {self.reference_port}\n  DisableForwarding yes\n")
        Path("/run/sshd").mkdir(exist_ok=True)
        self.log_path = self.dir / "sshd.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                        stdout=self.log, stderr=self.log)

        def listening():
            if self.process.poll() is not None:
                raise RuntimeError("sshd exited: " + self.log_path.read_text())
            return port_accepts(self.jump_port) and port_accepts(self.reference_port)

        wait_for(listening, 30, "sshd to listen")

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running_bastion(cluster, server_config="", auth_config=""):
    """A bastion that reaches the cluster's masters and agents directly.

    The compatibility tests use it in place of conftest's `bastion`, which runs every test once
    per cluster layout, although how the bastion reaches the cluster does not change what a
    client receives.
    """
    workdir = make_workdir("tb-compat-bastion-")
    bastion = Bastion(cluster, workdir, server_config=server_config, auth_config=auth_config)
    try:
        yield bastion
    finally:
        bastion.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def write_ssh_config(path, bastion, sshd=None, task="demo-shell"):
    """Writes an ssh_config with the hosts `bastion` (as demo@<task>), `jump` and `reference`."""
    text = (
        "Host bastion\n"
        f"  HostName {bastion.host}\n  Port {bastion.port}\n  User demo@{task}\n"
        "  PubkeyAuthentication no\n")
    if sshd is not None:
        text += (
            "Host jump reference\n"
            f"  HostName 127.0.0.1\n  User root\n  IdentityFile {sshd.key}\n"
            "  IdentitiesOnly yes\n  BatchMode yes\n"
            f"Host jump\n  Port {sshd.jump_port}\n"
            f"Host reference\n  Port {sshd.reference_port}\n")
    text += (
        "Host *\n"
        "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n"
        "  ConnectTimeout 10\n  GSSAPIAuthentication no\n")
    Path(path).write_text(text)
    return str(path)


def read_until(stream, marker, timeout):
    """Reads a pipe until `marker` appears; returns everything read. Raises TimeoutError."""
    data = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while marker not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout} s waiting for {marker!r}; got {data!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EOFError(f"the stream ended before {marker!r}; got {data!r}")
        data += chunk
    return data


def emulator_sessions(cluster):
    """The emulator's sessions, live and ended, keyed by dotted container id."""
    return {s["container"]: s for s in cluster.control("/control/sessions")["sessions"]}


def wait_new_session(cluster, known, timeout=30):
    """Waits for a session that is not in `known` to run; returns its dotted container id."""
    def started():
        for container, session in emulator_sessions(cluster).items():
            if container not in known and session["state"] == "running":
                return container
        return None

    return wait_for(started, timeout, "a new session to run")


def wait_session_ended(cluster, container, timeout=30):
    """Waits until the emulator reports the session as ended, with no process left in it."""
    def ended():
        session = emulator_sessions(cluster)[container]
        return session["state"] == "ended" and not session["pids"]

    wait_for(ended, timeout, f"session {container} to end")
