"""Start the cluster emulator and the bastion for end-to-end tests, and run the real ssh client.

Everything binds 127.0.0.1 on ephemeral ports. Processes are stopped in teardown; waits poll for
an event with a deadline and never assert on elapsed time.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# TB_BUILD_DIR selects another build tree, so several builds can be tested side by side.
BASTION = Path(os.environ.get("TB_BUILD_DIR", ROOT / "build")) / "task-bastion"
EMULATOR = ROOT / "tests" / "cluster" / "emulator.py"
PYTHON = "/usr/bin/python3"

SSH_OPTIONS = [
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "StrictHostKeyChecking=no",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=10",
    "-o", "PubkeyAuthentication=no",
    "-o", "GSSAPIAuthentication=no",
]


ASKPASS = Path(__file__).resolve().parent / "askpass.sh"


def ssh_env(password="demo"):
    """Environment that makes ssh answer password and keyboard-interactive prompts itself.

    SSH_ASKPASS_REQUIRE=force (OpenSSH 8.4 and later) uses the askpass program even when a
    terminal is present, so tests control the client's stdin and tty exactly.
    """
    env = dict(os.environ)
    env.update({"SSH_ASKPASS": str(ASKPASS), "SSH_ASKPASS_REQUIRE": "force",
                "DISPLAY": env.get("DISPLAY", ":0"), "TB_TEST_PASSWORD": password,
                "TB_TEST_USER": "demo"})
    return env


def wait_for(predicate, timeout, what):
    """Poll `predicate` until it returns a true value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Cluster:
    """The emulator running one cluster description."""

    def __init__(self, description, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cluster_file = self.workdir / "cluster.json"
        self.cluster_file.write_text(json.dumps(description, indent=1))
        self.ports_file = self.workdir / "ports.json"
        self.log_file = self.workdir / "requests.jsonl"
        self.stderr = open(self.workdir / "emulator.log", "wb")
        self.process = subprocess.Popen(
            [PYTHON, str(EMULATOR), "--cluster", str(self.cluster_file),
             "--ports-file", str(self.ports_file), "--state-dir", str(self.workdir / "state"),
             "--log-file", str(self.log_file)],
            stdout=self.stderr, stderr=self.stderr)

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError("the emulator exited; see " + str(self.workdir / "emulator.log"))
            return self.ports_file.exists() and self.ports_file.stat().st_size > 0

        wait_for(ready, 60, "the cluster emulator's ports file")
        self.ports = json.loads(self.ports_file.read_text())

    def control(self, path, body=None):
        """POST (or GET without a body) to the emulator's control API; returns parsed JSON."""
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.ports["control"] + path, data=data,
                                         method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def requests(self):
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


class Bastion:
    """build/task-bastion configured for a Cluster, listening on an ephemeral port."""

    def __init__(self, cluster, workdir, extra_config=""):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file = self.workdir / "task-bastion.toml"
        masters = ", ".join(json.dumps(url) for url in cluster.ports["masters"])
        self.config_file.write_text(
            "[server]\n"
            f"host_keys = [{json.dumps(str(self.workdir / 'host_key'))}]\n"
            "workers = 2\n"
            "[iam]\n"
            f"url = {json.dumps(cluster.ports['iam'])}\n"
            "[mesos]\n"
            f"masters = [{masters}]\n"
            "[log]\nlevel = \"debug\"\n" + extra_config)
        self.ready_file = self.workdir / "ready"
        self.log_path = self.workdir / "bastion.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(BASTION), "--config", str(self.config_file), "--listen", "127.0.0.1:0",
             "--ready-file", str(self.ready_file)],
            stdout=self.log, stderr=self.log)

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError("task-bastion exited; see " + str(self.log_path))
            return self.ready_file.exists() and self.ready_file.read_text().strip()

        address = wait_for(ready, 30, "task-bastion's ready file")
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)

    def ssh_command(self, user, command=None, tty=None, options=()):
        """The argv of an OpenSSH client call; the password comes from ssh_env()."""
        argv = ["ssh", "-p", str(self.port), *SSH_OPTIONS, *options]
        if tty is True:
            argv.append("-tt")
        elif tty is False:
            argv.append("-T")
        argv.append(f"{user}@{self.host}")
        if command is not None:
            argv.append(command)
        return argv

    def ssh(self, command=None, user="demo@demo-shell", input=b"", tty=None, options=(),
            timeout=120, stdin=None, password="demo"):
        """Run ssh and return the CompletedProcess (bytes)."""
        argv = self.ssh_command(user, command, tty, options)
        env = ssh_env(password)
        if stdin is not None:
            return subprocess.run(argv, stdin=stdin, capture_output=True, timeout=timeout, env=env)
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env)

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def standard_cluster(heartbeat_seconds=1):
    """A cluster with the tasks the end-to-end tests use."""
    agent = "7c1e0c4a-0000-4a4a-9f9f-000000000001-S0"
    framework = "7c1e0c4a-0000-4a4a-9f9f-000000000001-0000"

    def task(task_id, **extra):
        base = {"id": task_id, "name": task_id.split(".")[0], "agent": agent,
                "framework": framework, "containerizer": "MESOS", "pod": False,
                "hostname": task_id.split(".")[0] + "-host"}
        base.update(extra)
        return base

    return {
        "users": [{"uid": "demo", "password": "demo"}, {"uid": "alice@example.com",
                                                        "password": "wonderland"}],
        "masters": 1,
        "agents": [{"id": agent, "hostname": "agent-0"}],
        "frameworks": [{"id": framework, "name": "marathon", "role": "*"}],
        "heartbeat_interval_seconds": heartbeat_seconds,
        "tasks": [
            task("demo-shell.11111111-1111-4111-8111-111111111111",
                 labels={"DCOS_SPACE": "/demo/shell"}),
            task("demo-web.22222222-2222-4222-8222-222222222222", pod=True,
                 labels={"DCOS_SPACE": "/demo/web"}),
            task("demo-docker.33333333-3333-4333-8333-333333333333", containerizer="DOCKER"),
            task("dup-a.44444444-4444-4444-8444-444444444444"),
            task("dup-b.55555555-5555-4555-8555-555555555555"),
            task("done.66666666-6666-4666-8666-666666666666", state="TASK_FINISHED"),
        ],
    }


def make_workdir(prefix):
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp")))
