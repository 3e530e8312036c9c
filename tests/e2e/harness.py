"""Start the cluster emulator and the bastion for end-to-end tests, and run the real ssh client.

Everything binds 127.0.0.1 on ephemeral ports. Processes are stopped in teardown; waits poll for
an event with a deadline and never assert on elapsed time.
"""

import contextlib
import json
import os
import re
import shutil
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

    def __init__(self, description, workdir, emulator_args=()):
        """`emulator_args` are extra emulator.py flags, such as --tls-cert."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.description = description
        for user in description.get("users", []):
            register_secret(user.get("password", ""))
        self.cluster_file = self.workdir / "cluster.json"
        self.cluster_file.write_text(json.dumps(description, indent=1))
        self.ports_file = self.workdir / "ports.json"
        self.log_file = self.workdir / "requests.jsonl"
        self.stderr = open(self.workdir / "emulator.log", "wb")
        self.process = subprocess.Popen(
            [PYTHON, str(EMULATOR), "--cluster", str(self.cluster_file),
             "--ports-file", str(self.ports_file), "--state-dir", str(self.workdir / "state"),
             "--log-file", str(self.log_file), *emulator_args],
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
        for path in (self.workdir / "emulator.log", self.log_file):
            assert_no_secrets(path)


class Bastion:
    """build/task-bastion configured for a Cluster, listening on an ephemeral port."""

    def __init__(self, cluster, workdir, extra_config="", server_config="", mesos_config=None,
                 iam_url=None, auth_config="", iam_config="", log_level="debug"):
        """`server_config` is TOML lines for the [server] table; `extra_config` follows the
        [log] table and may open further tables. `mesos_config`, when given, replaces the
        lines of the [mesos] table (by default the cluster's masters), and `iam_url` the IAM's
        URL, and `iam_config` adds lines to the [iam] table. `log_level` is [log] level. `auth_config` is TOML lines for
        the [auth] table; when the cluster has the
        bastion's service account (BASTION_UID) and the lines do not name one, its secret is
        written to the work directory and configured."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file = self.workdir / "task-bastion.toml"
        if mesos_config is None:
            masters = ", ".join(json.dumps(url) for url in cluster.ports["masters"])
            mesos_config = f"masters = [{masters}]\n"
        self.config_file.write_text(
            "[server]\n"
            f"host_keys = [{json.dumps(str(self.workdir / 'host_key'))}]\n"
            "workers = 2\n" + server_config +
            "[iam]\n"
            f"url = {json.dumps(iam_url or cluster.ports['iam'])}\n" + iam_config +
            "[auth]\n" + self._service_account_lines(cluster, auth_config) + auth_config +
            "[mesos]\n" + mesos_config +
            f"[log]\nlevel = \"{log_level}\"\n" + extra_config)
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

    def _service_account_lines(self, cluster, auth_config):
        users = getattr(cluster, "description", {}).get("users", [])
        named = "service_account_secret" in auth_config or "service_account_uid" in auth_config
        if named or not any(u["uid"] == BASTION_UID for u in users):
            return ""
        secret = self.workdir / "service-account.json"
        secret.write_text(json.dumps(service_account_secret()))
        secret.chmod(0o600)
        return f"service_account_secret = {json.dumps(str(secret))}\n"

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
        assert_no_secrets(self.log_path)


# Every password, token and private key the suite uses must stay out of every log, at every
# level. Bastion.stop() and Cluster.stop() check their logs against these.
SECRETS = set()
# A compact JWT: header and payload are JSON objects, so both begin with "eyJ".
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


def register_secret(text):
    """Add a secret for the log checks; short ones ("demo") also occur as user names."""
    if text and len(text) >= 6:
        SECRETS.add(text)


def find_secrets(text):
    """Return descriptions of the secrets found in `text`."""
    found = ["a JWT: " + match.group(0)[:12] + "..." for match in JWT_PATTERN.finditer(text)]
    if "PRIVATE KEY" in text:
        found.append("a PEM private key")
    found += ["the secret %r" % (secret[:3] + "...") for secret in SECRETS if secret in text]
    return found


def assert_no_secrets(path):
    path = Path(path)
    if not path.exists():
        return
    leaks = find_secrets(path.read_text(errors="replace"))
    assert not leaks, f"secrets in {path}: {leaks}"


# The bastion's own service account in the test clusters, and its RSA key pair, made once per
# test process.
BASTION_UID = "task-bastion"
_service_key = None


def service_key():
    global _service_key
    if _service_key is None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        _service_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _service_key


def service_account_secret():
    """The bastion's service-account secret, laid out as DC/OS stores one."""
    from cryptography.hazmat.primitives import serialization
    pem = service_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
    for line in pem.splitlines()[1:-1]:
        register_secret(line)
    return {"scheme": "RS256", "uid": BASTION_UID, "private_key": pem,
            "login_endpoint": "https://master.mesos/acs/api/v1/auth/login"}


def public_pem(private_key):
    from cryptography.hazmat.primitives import serialization
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def exec_grants(principal, app="", kind="uid", update=True):
    """The grants DC/OS documents for task exec, on `app` ("" for every app)."""
    app_part = ":" + app if app else ""
    grants = [
        {kind: principal, "rid": "dcos:adminrouter:ops:mesos", "actions": ["full"]},
        {kind: principal, "rid": "dcos:adminrouter:ops:slave", "actions": ["full"]},
        {kind: principal, "rid": "dcos:mesos:agent:nested_container_session:app_id" + app_part,
         "actions": ["create"]},
        {kind: principal, "rid": "dcos:mesos:agent:container:app_id" + app_part,
         "actions": ["read", "update"] if update else ["read"]},
    ]
    return grants


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
                                                        "password": "wonderland"},
                  {"uid": BASTION_UID, "public_key": public_pem(service_key()),
                   "description": "task-bastion's service account"}],
        # demo and alice may exec into every app; the bastion's account reads users and ACLs.
        "grants": exec_grants("demo") + exec_grants("alice@example.com") + [
            {"uid": BASTION_UID, "rid": "dcos:superuser", "actions": ["full"]}],
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


def adminrouter_mesos_config(cluster, extra=""):
    """[mesos] lines that reach the cluster through its emulated Admin Router."""
    return (f'layout = "adminrouter"\n'
            f'dcos_url = {json.dumps(cluster.ports["adminrouter"])}\n' + extra)


def make_workdir(prefix):
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp")))


@contextlib.contextmanager
def cluster_with_bastion(description, name, **bastion_options):
    """Start a Cluster for `description` and a Bastion in front of it; stop both on exit.

    `bastion_options` go to Bastion; an option given as a callable is called with the running
    cluster first (for values that depend on its ports).
    Both work directories are removed afterwards, and the cluster stops even when the bastion
    fails to start.
    """
    cluster_dir = make_workdir(f"tb-e2e-{name}-cluster-")
    bastion_dir = make_workdir(f"tb-e2e-{name}-bastion-")
    cluster = Cluster(description, cluster_dir)
    try:
        options = {key: value(cluster) if callable(value) else value
                   for key, value in bastion_options.items()}
        bastion = Bastion(cluster, bastion_dir, **options)
        try:
            yield cluster, bastion
        finally:
            bastion.stop()
    finally:
        cluster.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
        shutil.rmtree(bastion_dir, ignore_errors=True)
