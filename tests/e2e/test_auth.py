"""End-to-end: every way to log in, per-task authorization, failing closed, and the limits
on guessing, with the real OpenSSH client against the bastion and the emulated IAM.

The module runs its own cluster (the standard one plus users, groups and tasks in /dev and
/prod) and its own bastions, so that failure counters and faults stay out of other tests.
"""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from harness import (ASKPASS, BASTION_UID, Bastion, Cluster, exec_grants, make_workdir, public_pem,
                     register_secret, service_key, standard_cluster, wait_for)

AGENT = "7c1e0c4a-0000-4a4a-9f9f-000000000001-S0"
DEV_TASK = "devweb.aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
PROD_TASK = "proddb.bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
PASSWORDS = {
    "bob": "bob-Dev-p4ss",
    "nobody": "n0body-p4ss",
    "reader": "reader-0nly-p4ss",
    "root-user": "r00t-user-p4ss",
    "gina": "gina-Gr0up-p4ss",
    "alice@example.com": "wonderland",
}
WRONG_PASSWORD = "Wr0ng-guess-x"
for _secret in list(PASSWORDS.values()) + [WRONG_PASSWORD]:
    register_secret(_secret)


def auth_cluster(robot_pem):
    description = standard_cluster()
    agent = description["agents"][0]["id"]
    framework = description["frameworks"][0]["id"]
    for task_id, app in ((DEV_TASK, "/dev/web"), (PROD_TASK, "/prod/db")):
        description["tasks"].append({
            "id": task_id, "name": task_id.split(".")[0], "agent": agent, "framework": framework,
            "hostname": task_id.split(".")[0] + "-host", "labels": {"DCOS_SPACE": app}})
    description["users"] += [
        {"uid": uid, "password": password} for uid, password in PASSWORDS.items()
        if uid not in ("alice@example.com",)]
    for user in description["users"]:
        if user["uid"] == "gina":
            user["groups"] = ["devs"]
    description["users"].append({"uid": "robot", "public_key": robot_pem})
    description["groups"] = [{"gid": "devs", "description": "developers"}]
    description["grants"] += (
        exec_grants("bob", "/dev") + exec_grants("reader", update=False)
        + exec_grants("devs", "/dev", kind="gid") + exec_grants("robot")
        + [{"uid": "root-user", "rid": "dcos:superuser", "actions": ["full"]}])
    return description


def ssh_keygen(path):
    """Make an ed25519 key pair at `path`; return the public key's base64 field."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return (path.parent / (path.name + ".pub")).read_text().split()[1]


class Keys:
    """SSH key pairs for the tests: alice's registered key, carol's, and the robot account's."""

    def __init__(self, directory):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.dir = directory
        self.alice = directory / "alice"
        self.alice_public = ssh_keygen(self.alice)
        self.stranger = directory / "stranger"
        ssh_keygen(self.stranger)
        robot_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.robot = directory / "robot"
        pem = robot_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        self.robot.write_text(pem)
        self.robot.chmod(0o600)
        for line in pem.splitlines()[1:-1]:
            register_secret(line)
        self.robot_pem = public_pem(robot_key)
        self.registry = directory / "authorized_keys"
        self.registry.write_text(
            "# the bastion's key registry\n"
            f'uid="alice@example.com" ssh-ed25519 {self.alice_public} alice\n'
            "this line is broken\n")


@pytest.fixture(scope="module")
def env():
    workdir = make_workdir("tb-e2e-auth-")
    keys_dir = workdir / "keys"
    keys_dir.mkdir()
    keys = Keys(keys_dir)
    cluster = Cluster(auth_cluster(keys.robot_pem), workdir / "cluster")
    try:
        bastion = start_bastion(cluster, workdir, keys)
    except BaseException:
        cluster.stop()
        raise
    yield cluster, bastion, keys
    bastion.stop()
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def start_bastion(cluster, workdir, keys):
    # At trace level, so that the check of the logs for secrets covers every level.
    bastion = Bastion(cluster, workdir / "bastion", iam_config="timeout_seconds = 1\n",
                      log_level="trace", auth_config=(
        f"authorized_keys = {json.dumps(str(keys.registry))}\n"
        "authorized_keys_check_interval_seconds = 0.2\n"
        "jwks_min_refetch_interval_seconds = 0.5\n"
        "service_accounts_cache_seconds = 0.5\n"
        # Guessing tests have a bastion of their own; here failures are never delayed.
        "free_failures = 1000\n"))
    try:
        wait_for(lambda: "service account 'task-bastion' logged in" in bastion.log_text(), 30,
                 "the bastion's service account to log in")
    except BaseException:
        bastion.stop()
        raise
    return bastion


@pytest.fixture
def clean(env):
    cluster, bastion, keys = env
    cluster.control("/control/clear", {})
    yield cluster, bastion, keys
    cluster.control("/control/clear", {})


def ssh(bastion, user, command="echo ok", password=None, iam_user=None, methods="password",
        identity=None, tty=False, log_level="ERROR", bind=None, options=(), timeout=60, stdin=b"",
        prompts=1):
    """Run the OpenSSH client with only the given authentication methods enabled."""
    argv = ["ssh", "-p", str(bastion.port), "-o", "UserKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", f"LogLevel={log_level}",
            "-o", "ConnectTimeout=10", "-o", "GSSAPIAuthentication=no",
            "-o", f"PreferredAuthentications={methods}", "-o", f"NumberOfPasswordPrompts={prompts}",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    argv += ["-o", "PubkeyAuthentication=yes", "-i", str(identity)] if identity else \
        ["-o", "PubkeyAuthentication=no"]
    if bind:
        argv += ["-b", bind]
    argv += list(options)
    argv += ["-tt"] if tty else ["-T"]
    argv += [f"{user}@{bastion.host}", command]
    environment = dict(os.environ, SSH_ASKPASS=str(ASKPASS), SSH_ASKPASS_REQUIRE="force",
                       DISPLAY=os.environ.get("DISPLAY", ":0"),
                       TB_TEST_PASSWORD=password or "", TB_TEST_USER=iam_user or "")
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=environment)


def login_token(cluster, uid, password):
    import urllib.request
    request = urllib.request.Request(cluster.ports["iam"] + "/acs/api/v1/auth/login",
                                     data=json.dumps({"uid": uid, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["token"]
    register_secret(token)
    return token


def signed_token(cluster, claims, header=None):
    body = {"claims": claims}
    if header is not None:
        body["header"] = header
    token = cluster.control("/control/iam/token", body)["token"]
    register_secret(token)
    return token


def token_ready(bastion, token):
    """Log in with `token` once per worker, so that each has the IAM's current key set before
    a test breaks the IAM."""
    for _ in range(2):
        assert_ok(ssh(bastion, "devweb", password=token))


def stderr(result):
    return result.stderr.decode(errors="replace")


def assert_ok(result, output=b"ok\n"):
    assert result.returncode == 0, stderr(result)
    assert result.stdout == output


def assert_denied_login(result):
    assert result.returncode == 255
    assert result.stdout == b""
    assert "Permission denied" in stderr(result), stderr(result)


# -- each row of the login table, with a right and a wrong credential ---------------------

def test_plain_task_with_registered_key(clean):
    _, bastion, keys = clean
    assert_ok(ssh(bastion, "demo-shell", identity=keys.alice, methods="publickey"))
    assert_denied_login(ssh(bastion, "demo-shell", identity=keys.stranger, methods="publickey"))
    log = bastion.log_text()
    assert "uid=alice@example.com authenticated from" in log
    assert "with publickey (key SHA256:" in log


def test_plain_task_keyboard_interactive_asks_uid_and_password(clean):
    _, bastion, _ = clean
    # bob's grants cover /dev, so he logs in to his /dev task.
    assert_ok(ssh(bastion, "devweb", password=PASSWORDS["bob"], iam_user="bob",
                  methods="keyboard-interactive"))
    assert_denied_login(ssh(bastion, "devweb", password=WRONG_PASSWORD, iam_user="bob",
                            methods="keyboard-interactive"))


def test_plain_task_with_token_as_password(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    assert_ok(ssh(bastion, "devweb", password=token))
    forged = token[:-8] + ("AAAAAAAA" if not token.endswith("AAAAAAAA") else "BBBBBBBB")
    assert_denied_login(ssh(bastion, "devweb", password=forged))
    assert "uid=bob authenticated from" in bastion.log_text()
    assert "with token for task 'devweb'" in bastion.log_text()


def test_token_pasted_at_iam_user_prompt(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    # Users paste a token at the first prompt; it is taken as the token, never as a uid.
    assert_ok(ssh(bastion, "devweb", iam_user=token, password="",
                  methods="keyboard-interactive"))
    log = bastion.log_text()
    assert "uid=bob authenticated from" in log
    assert token.split(".")[0] + "." + token.split(".")[1] not in log


def test_uid_form_with_password(clean):
    _, bastion, _ = clean
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"]))
    assert_denied_login(ssh(bastion, "bob@devweb", password=WRONG_PASSWORD))


def test_uid_form_with_keyboard_interactive(clean):
    _, bastion, _ = clean
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], methods="keyboard-interactive"))
    assert_denied_login(ssh(bastion, "bob@devweb", password=WRONG_PASSWORD,
                            methods="keyboard-interactive"))


def test_uid_form_with_registered_key(clean):
    _, bastion, keys = clean
    assert_ok(ssh(bastion, "alice@example.com@demo-shell", identity=keys.alice, methods="publickey"))
    assert_denied_login(ssh(bastion, "alice@example.com@demo-shell", identity=keys.stranger,
                            methods="publickey"))


def test_uid_form_with_service_account_key(clean):
    _, bastion, keys = clean
    assert_ok(ssh(bastion, "robot@demo-shell", identity=keys.robot, methods="publickey"))
    assert "(key SHA256:" in bastion.log_text()
    assert "from the IAM service account" in bastion.log_text()
    assert_denied_login(ssh(bastion, "robot@demo-shell", identity=keys.stranger, methods="publickey"))


def test_plain_task_with_service_account_key(clean):
    _, bastion, keys = clean
    assert_ok(ssh(bastion, "demo-shell", identity=keys.robot, methods="publickey"))
    assert "uid=robot authenticated from" in bastion.log_text()


def test_key_of_another_uid_rejected(clean):
    _, bastion, keys = clean
    assert_denied_login(ssh(bastion, "bob@devweb", identity=keys.alice, methods="publickey"))
    assert_denied_login(ssh(bastion, "bob@devweb", identity=keys.robot, methods="publickey"))
    assert "is not registered for uid 'bob' (the key registry lists it for another uid)" in \
        bastion.log_text()


def test_registry_reread_when_changed(clean):
    _, bastion, keys = clean
    assert_denied_login(ssh(bastion, "bob@devweb", identity=keys.stranger, methods="publickey"))
    stranger = (keys.dir / "stranger.pub").read_text().split()[1]
    original = keys.registry.read_text()
    try:
        keys.registry.write_text(original + f'uid="bob" ssh-ed25519 {stranger} bob\n')
        wait_for(lambda: ssh(bastion, "bob@devweb", identity=keys.stranger,
                             methods="publickey").returncode == 0, 10, "the new registry line")
    finally:
        keys.registry.write_text(original)
    assert "line 3: unknown key type" in bastion.log_text()


def test_expired_token_rejected(clean):
    cluster, bastion, _ = clean
    token = signed_token(cluster, {"uid": "bob", "exp": int(time.time()) - 5},
                         header={"alg": "RS256", "typ": "JWT", "kid": "current"})
    assert_denied_login(ssh(bastion, "devweb", password=token))
    assert "token for uid \"bob\" expired" in bastion.log_text()


def test_token_of_key_not_in_jwks_rejected(clean):
    _, bastion, _ = clean
    from harness import service_key as other_key  # any RSA key the IAM does not publish
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    import base64

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "attacker"}).encode())
    claims = b64(json.dumps({"uid": "root-user", "exp": int(time.time()) + 600}).encode())
    signature = other_key().sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    token = f"{header}.{claims}.{b64(signature)}"
    register_secret(token)
    assert_denied_login(ssh(bastion, "devweb", password=token))
    assert "\"attacker\" is not in the IAM's key set" in bastion.log_text()


def test_alg_none_token_rejected(clean):
    _, bastion, _ = clean
    import base64

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    token = b64(b'{"alg":"none"}') + "." + b64(json.dumps(
        {"uid": "root-user", "exp": int(time.time()) + 600}).encode()) + ".AAAA"
    assert_denied_login(ssh(bastion, "devweb", password=token))
    assert "alg must be RS256, got \"none\"" in bastion.log_text()


def test_token_after_key_rotation_accepted(clean):
    cluster, bastion, _ = clean
    rotated = cluster.control("/control/iam/rotate_key", {})["kid"]
    time.sleep(0.6)  # the refetch interval of this bastion is 0.5 s
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    assert_ok(ssh(bastion, "devweb", password=token))
    assert f"(kid {rotated}," in bastion.log_text() or f"(kid {rotated})" in bastion.log_text()


# -- authorization ------------------------------------------------------------------------

def test_dev_grants_reach_dev_not_prod(clean):
    _, bastion, _ = clean
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], command="hostname"),
              b"devweb-host\n")
    denied = ssh(bastion, "bob@proddb", password=PASSWORDS["bob"], command="hostname")
    assert denied.returncode == 255
    assert denied.stdout == b""
    message = stderr(denied)
    assert f"user 'bob' may not exec into task '{PROD_TASK}' (app /prod/db): missing permissions" \
        in message
    assert "dcos:mesos:agent:nested_container_session:app_id:/prod/db create" in message
    log = bastion.log_text()
    assert f"uid=bob task={PROD_TASK}: rejected: PermissionDenied: user 'bob' may not exec" in log


def test_read_only_user_refused_pty_with_permission_named(clean):
    _, bastion, _ = clean
    result = ssh(bastion, "reader@devweb", password=PASSWORDS["reader"], command="tty", tty=True)
    assert result.returncode == 255
    assert "missing permission dcos:mesos:agent:container:app_id:/dev/web update" in stderr(result)


def test_superuser_reaches_everything(clean):
    _, bastion, _ = clean
    for task, host in (("devweb", b"devweb-host\n"), ("proddb", b"proddb-host\n"),
                       ("demo-shell", b"demo-shell-host\n")):
        assert_ok(ssh(bastion, f"root-user@{task}", password=PASSWORDS["root-user"],
                      command="hostname"), host)


def test_group_grants_count(clean):
    _, bastion, _ = clean
    assert_ok(ssh(bastion, "gina@devweb", password=PASSWORDS["gina"], command="hostname"),
              b"devweb-host\n")
    denied = ssh(bastion, "gina@proddb", password=PASSWORDS["gina"], command="hostname")
    assert denied.returncode == 255
    assert "user 'gina' may not exec" in stderr(denied)


def test_cluster_enforces_too(clean):
    cluster, bastion, _ = clean
    # The bastion called the agent with bob's own token, and the agent checked it.
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"]))
    launches = [entry for entry in cluster.requests()
                if entry.get("call") == "LAUNCH_NESTED_CONTAINER_SESSION" and entry.get("uid") == "bob"]
    assert launches and launches[-1]["status"] == 200
    # Public-key users reach the cluster with the bastion's own account.
    _, _, keys = clean
    assert_ok(ssh(bastion, "demo-shell", identity=keys.alice, methods="publickey"))
    launches = [entry for entry in cluster.requests()
                if entry.get("call") == "LAUNCH_NESTED_CONTAINER_SESSION"]
    assert launches[-1]["uid"] == BASTION_UID


def test_cluster_403_named_like_bastion_denial(env):
    """With authorization = "none" the cluster alone decides, and its 403 names user and task."""
    cluster, _, _ = env
    workdir = make_workdir("tb-e2e-auth-none-")
    bastion = Bastion(cluster, workdir, auth_config='authorization = "none"\n')
    try:
        # bob may use the master and agents but not /prod/db: the agent refuses the launch.
        agent = ssh(bastion, "bob@proddb", password=PASSWORDS["bob"])
        assert agent.returncode == 255
        assert f"user 'bob' may not exec into task '{PROD_TASK}': the agent denied " \
            "LAUNCH_NESTED_CONTAINER_SESSION (HTTP 403)" in stderr(agent), stderr(agent)
        assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"]))
        assert "public-key logins are not offered" in bastion.log_text()
    finally:
        bastion.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_master_403_named(env):
    cluster, _, _ = env
    workdir = make_workdir("tb-e2e-auth-none-")
    bastion = Bastion(cluster, workdir, auth_config='authorization = "none"\n')
    try:
        result = ssh(bastion, "nobody@devweb", password=PASSWORDS["nobody"])
        assert result.returncode == 255
        assert "user 'nobody' may not exec into task 'devweb': GET_TASKS: the master at" in \
            stderr(result), stderr(result)
        assert "denied access (HTTP 403)" in stderr(result)
    finally:
        bastion.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- failing closed -----------------------------------------------------------------------

def test_iam_down_denies_logins_and_checks_with_reason(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    token_ready(bastion, token)
    cluster.control("/control/fault", {"kind": "refuse", "target": "iam", "reset": True})
    result = ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], log_level="INFO")
    assert_denied_login(result)
    assert f"the cluster IAM at {cluster.ports['iam']}/acs/api/v1/auth/login is unreachable" in \
        stderr(result)
    # The token is checked against the cached key set, but the permission check needs the IAM.
    checked = ssh(bastion, "devweb", password=token)
    assert checked.returncode == 255
    assert "cannot check the permissions of user 'bob'" in stderr(checked)
    assert f"the cluster IAM at {cluster.ports['iam']}/acs/api/v1/acls/" in stderr(checked)


def test_iam_slow_times_out_and_others_keep_working(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    token_ready(bastion, token)
    env = dict(os.environ, SSH_ASKPASS=str(ASKPASS), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0",
               TB_TEST_PASSWORD=PASSWORDS["bob"], TB_TEST_USER="")
    running = subprocess.Popen(
        ["ssh", "-p", str(bastion.port), "-o", "UserKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password", "-T", f"bob@devweb@{bastion.host}",
         "echo started; sleep 4; echo alive"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert running.stdout.readline() == b"started\n"
        cluster.control("/control/fault", {"kind": "latency", "ms": 2500, "target": "iam"})
        result = ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], log_level="INFO")
        assert_denied_login(result)
        assert "did not answer in 1 s" in stderr(result), stderr(result)
        checked = ssh(bastion, "devweb", password=token)
        assert checked.returncode == 255
        assert "did not answer in 1 s" in stderr(checked)
        out, err = running.communicate(timeout=30)
        assert running.returncode == 0, err
        assert out == b"alive\n"
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    cluster.control("/control/clear", {})
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"]))


def test_iam_garbage_denies_with_reason(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    token_ready(bastion, token)
    cluster.control("/control/fault", {"kind": "status", "code": 200, "body": "<html>oops",
                                       "target": "iam", "count": 1000})
    result = ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], log_level="INFO")
    assert_denied_login(result)
    assert "answered HTTP 200 with invalid JSON" in stderr(result)
    checked = ssh(bastion, "devweb", password=token)
    assert checked.returncode == 255
    assert "cannot check the permissions of user 'bob'" in stderr(checked)
    assert "invalid JSON" in stderr(checked)


def test_iam_5xx_denies_permission_check(clean):
    cluster, bastion, _ = clean
    token = login_token(cluster, "bob", PASSWORDS["bob"])
    token_ready(bastion, token)
    cluster.control("/control/fault", {"kind": "status", "code": 503, "target": "iam",
                                       "path": "/acs/api/v1/acls", "count": 1000})
    checked = ssh(bastion, "devweb", password=token)
    assert checked.returncode == 255
    assert "answered HTTP 503" in stderr(checked)


# -- guessing and abuse -------------------------------------------------------------------

@pytest.fixture
def guarded(env):
    """A bastion of its own with short failure delays, so that counters start at zero."""
    cluster, _, _ = env
    workdir = make_workdir("tb-e2e-auth-guard-")
    bastion = Bastion(cluster, workdir, server_config="max_auth_tries = 5\n", auth_config=(
        "free_failures = 3\nfailure_delay_seconds = 0.05\nmax_failure_delay_seconds = 0.2\n"
        'max_startups = "3:100:3"\n'))
    yield cluster, bastion
    bastion.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_no_credentials_and_none_method_rejected(guarded):
    _, bastion = guarded
    result = ssh(bastion, "bob@devweb", methods="none", options=("-o", "BatchMode=yes"))
    assert_denied_login(result)
    assert "publickey" in stderr(result)
    assert "password" in stderr(result)
    result = ssh(bastion, "bob@devweb", methods="publickey,password,keyboard-interactive",
                 options=("-o", "BatchMode=yes"))
    assert_denied_login(result)


def test_fifty_wrong_passwords_counted_and_delayed(guarded):
    _, bastion = guarded
    attempts = 0
    while attempts < 50:
        result = ssh(bastion, "bob@devweb", password=WRONG_PASSWORD, prompts=5)
        assert_denied_login(result)
        attempts += 5
    log = bastion.log_text()
    rejected = [line for line in log.splitlines() if "password attempt" in line and "rejected" in line]
    assert len(rejected) == 50
    assert "failures from 127.0.0.1: 50, for uid \"bob\": 50" in log
    assert "failure reply delayed 200 ms" in log
    assert "too many authentication failures (5)" in log
    assert WRONG_PASSWORD not in log

    # A correct login from another address gets its reply at once.
    started = time.monotonic()
    assert_ok(ssh(bastion, "bob@devweb", password=PASSWORDS["bob"], bind="127.0.0.2"))
    elapsed = time.monotonic() - started
    log = bastion.log_text()
    assert "uid=bob authenticated from 127.0.0.2:" in log
    second = [line for line in log.splitlines() if "from 127.0.0.2" in line and "delayed" in line]
    assert second == []
    assert elapsed < 30


def test_connection_floods_dropped_early(guarded):
    _, bastion = guarded
    sockets = []
    try:
        for _ in range(3):
            sockets.append(socket.create_connection((bastion.host, bastion.port), timeout=10))
        wait_for(lambda: bastion.log_text().count("accepted from") >= 3, 10, "three connections")
        extra = socket.create_connection((bastion.host, bastion.port), timeout=10)
        extra.settimeout(10)
        assert extra.recv(100) == b""  # closed without the SSH banner
        extra.close()
        assert "unauthenticated connections reach [auth] max_startups 3:100:3" in bastion.log_text()
    finally:
        for sock in sockets:
            sock.close()
    wait_for(lambda: ssh(bastion, "bob@devweb", password=PASSWORDS["bob"]).returncode == 0, 20,
             "a login after the flood")


def test_login_grace_time_closes_idle_connection(env):
    cluster, _, _ = env
    workdir = make_workdir("tb-e2e-auth-grace-")
    bastion = Bastion(cluster, workdir, server_config="login_grace_time_seconds = 1\n")
    try:
        with socket.create_connection((bastion.host, bastion.port), timeout=10) as sock:
            sock.settimeout(10)
            banner = sock.recv(100)
            assert banner.startswith(b"SSH-2.0-")
            started = time.monotonic()
            while sock.recv(100):
                pass
            assert time.monotonic() - started < 9
        assert "not authenticated within the login grace time of 1 s" in bastion.log_text()
    finally:
        bastion.stop()
        shutil.rmtree(workdir, ignore_errors=True)
