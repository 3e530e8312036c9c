"""Tests of the cluster emulator against the Mesos exec protocol and the DC/OS IAM.

They start emulator.py as a subprocess on ephemeral 127.0.0.1 ports and talk to it with
rawhttp, a raw-socket client. Waits are on events with deadlines, never fixed sleeps.
Run as root: /usr/bin/python3 -m pytest tests/cluster -q
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import rawhttp  # noqa: E402
import recordio  # noqa: E402
from rawhttp import InputStream, RecordStream  # noqa: E402

AGENT = "7e1d2c3b-0000-4a4a-9f9f-000000000001-S0"
FRAMEWORK = "7e1d2c3b-0000-4a4a-9f9f-000000000001-0000"
SHELL_TASK = "shell.11111111-2222-3333-4444-555555555555"
SHELL_CONTAINER = "aaaaaaaa-0000-4000-8000-000000000001"
POD_TASK = "pod.instance-66666666-7777-8888-9999-000000000000.main"
POD_CONTAINER = "bbbbbbbb-0000-4000-8000-000000000002"
POD_EXECUTOR_CONTAINER = "cccccccc-0000-4000-8000-000000000003"
DOCKER_TASK = "docker.22222222-3333-4444-5555-666666666666"
DOCKER_CONTAINER = "dddddddd-0000-4000-8000-000000000004"
VICTIM_TASK = "victim.33333333-4444-5555-6666-777777777777"
VICTIM_CONTAINER = "eeeeeeee-0000-4000-8000-000000000005"
HEARTBEAT_SECONDS = 0.3

JSON_HEADERS = [("Content-Type", "application/json"), ("Accept", "application/json")]
STREAM_HEADERS = [("Content-Type", "application/json"), ("Accept", "application/recordio"),
                  ("Message-Accept", "application/json")]


def cluster_spec(**overrides):
    spec = {
        "users": [{"uid": "demo", "password": "demo"}],
        "grants": [{"uid": "demo", "rid": "dcos:superuser", "actions": ["full"]}],
        "masters": 2,
        "leader": 0,
        "agents": [{"id": AGENT, "hostname": "agent-0"}],
        "frameworks": [{"id": FRAMEWORK, "name": "marathon", "role": "*"}],
        "heartbeat_interval_seconds": HEARTBEAT_SECONDS,
        "tasks": [
            {"id": SHELL_TASK, "name": "shell", "hostname": "shell-host", "container_id": SHELL_CONTAINER,
             "labels": {"DCOS_SPACE": "/test/shell"}, "env": {"TASK_VARIABLE": "from-task"}},
            {"id": POD_TASK, "name": "main", "pod": True, "hostname": "pod-host",
             "container_id": POD_CONTAINER, "executor_container_id": POD_EXECUTOR_CONTAINER},
            {"id": DOCKER_TASK, "name": "docker", "containerizer": "DOCKER", "container_id": DOCKER_CONTAINER},
            {"id": VICTIM_TASK, "name": "victim", "hostname": "victim-host", "container_id": VICTIM_CONTAINER},
            {"id": "done.44444444-5555-6666-7777-888888888888", "name": "done", "state": "TASK_FINISHED"},
            {"id": "young.55555555-6666-7777-8888-999999999999", "name": "young", "has_container_id": False},
        ],
    }
    spec.update(overrides)
    return spec


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll `predicate` until it returns a true value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, message))
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class EmulatorProcess:
    """emulator.py run as a subprocess with its own directory."""

    def __init__(self, directory, spec, env=None, args=()):
        self.env = dict(os.environ, **(env or {}))
        self.args = list(args)  # extra emulator.py flags, such as --tls-cert
        self.directory = str(directory)
        self.cluster_file = os.path.join(self.directory, "cluster.json")
        self.ports_file = os.path.join(self.directory, "ports.json")
        self.log_file = os.path.join(self.directory, "requests.jsonl")
        self.state_dir = os.path.join(self.directory, "state")
        self.stderr_path = os.path.join(self.directory, "emulator.log")
        with open(self.cluster_file, "w") as handle:
            json.dump(spec, handle)
        self.process = None
        self.ports = None

    def start(self):
        stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "emulator.py"), "--cluster", self.cluster_file,
             "--ports-file", self.ports_file, "--log-file", self.log_file, "--state-dir", self.state_dir,
             *self.args],
            stdout=subprocess.DEVNULL, stderr=stderr, env=self.env)
        stderr.close()
        wait_for(lambda: os.path.exists(self.ports_file) or self.process.poll() is not None, timeout=30,
                 message="the ports file")
        if self.process.poll() is not None:
            raise AssertionError("emulator exited with %s:\n%s" % (self.process.returncode, self.log()))
        with open(self.ports_file) as handle:
            self.ports = json.load(handle)
        return self

    def log(self) -> str:
        with open(self.stderr_path) as handle:
            return handle.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    @property
    def agent(self) -> str:
        return self.ports["agents"][AGENT]

    def control(self, method, path, body=None):
        return rawhttp.call(self.ports["control"], path, body, [("Content-Type", "application/json")],
                            method=method)

    def sessions(self) -> list:
        return self.control("GET", "/control/sessions").json()["sessions"]

    def session(self, container_value):
        for session in self.sessions():
            if session["container_id"]["value"] == container_value:
                return session
        return None

    def tasks(self) -> dict:
        return {task["id"]: task for task in self.control("GET", "/control/tasks").json()["tasks"]}

    def requests(self) -> list:
        with open(self.log_file) as handle:
            return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator"), cluster_spec()).start()
    yield process
    pids = [pid for session in process.sessions() for pid in session["pids"] + [session["launcher_pid"]]
            if pid]
    for task in process.tasks().values():
        pids += [pid for pid in (task["init_pid"], task["unshare_pid"]) if pid]
    assert process.stop() == 0, process.log()
    assert [pid for pid in pids if pid_alive(pid)] == []


@pytest.fixture(scope="module")
def token(emulator):
    return rawhttp.login(emulator.ports["iam"], "demo", "demo")


@pytest.fixture(autouse=True)
def clear_faults(request):
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").control("POST", "/control/clear")


def auth(token):
    return [("Authorization", "token=" + token)]


def agent_call(emulator, token, body, headers=JSON_HEADERS):
    return rawhttp.call(emulator.agent, "/api/v1", body, auth(token) + list(headers))


def master_call(emulator, token, body, index=0, headers=JSON_HEADERS):
    return rawhttp.call(emulator.ports["masters"][index], "/api/v1", body, auth(token) + list(headers))


def new_session_id(parent=None):
    return {"value": str(uuid.uuid4()), "parent": parent or {"value": SHELL_CONTAINER}}


class Launched:
    """An LNCS request whose response stream is open."""

    def __init__(self, container_id, connection, response):
        self.container_id = container_id
        self.connection = connection
        self.response = response
        self.stream = RecordStream(connection, response) if response.status == 200 else None


def launch(emulator, token, command, tty=False, shell=True, arguments=None, env=None, parent=None,
           headers=STREAM_HEADERS, container_id=None, container=None):
    container_id = container_id or new_session_id(parent)
    command_info = {"shell": shell, "value": command}
    if arguments is not None:
        command_info["arguments"] = arguments
    if env:
        command_info["environment"] = {"variables": [{"name": k, "type": "VALUE", "value": v}
                                                     for k, v in env.items()]}
    body = {"type": "LAUNCH_NESTED_CONTAINER_SESSION",
            "launch_nested_container_session": {"container_id": container_id, "command": command_info}}
    if container is not None:
        body["launch_nested_container_session"]["container"] = container
    elif tty:
        body["launch_nested_container_session"]["container"] = {"type": "MESOS", "tty_info": {}}
    connection = rawhttp.Connection(emulator.agent)
    connection.request("POST", "/api/v1", auth(token) + list(headers), body)
    response = connection.read_head()
    if response.status != 200:
        response.body = connection.read_body(response)
        connection.close()
    return Launched(container_id, connection, response)


def wait_container(emulator, token, container_id, kind="WAIT_CONTAINER"):
    field = kind.lower()
    return agent_call(emulator, token, {"type": kind, field: {"container_id": container_id}})


def run(emulator, token, command, **options):
    """Launch, read the whole output, WAIT; return (stdout, stderr, records, exit status)."""
    launched = launch(emulator, token, command, **options)
    assert launched.response.status == 200, launched.response.text
    stdout, stderr, records = launched.stream.collect()
    launched.connection.close()
    result = wait_container(emulator, token, launched.container_id)
    assert result.status == 200, result.text
    return stdout, stderr, records, result.json()["wait_container"].get("exit_status")


# -- IAM ---------------------------------------------------------------------------------

def test_login_token_verifies_with_jwks(emulator):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    token = rawhttp.login(emulator.ports["iam"], "demo", "demo")
    header_b64, claims_b64, signature_b64 = token.split(".")

    def decode(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    header = json.loads(decode(header_b64))
    claims = json.loads(decode(claims_b64))
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert claims["uid"] == "demo"
    assert claims["exp"] > time.time() + 4 * 24 * 3600

    jwks = rawhttp.call(emulator.ports["iam"], "/acs/api/v1/auth/jwks", None, method="GET").json()
    key = jwks["keys"][0]
    assert key["kid"] == header["kid"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    public_key = rsa.RSAPublicNumbers(int.from_bytes(decode(key["e"]), "big"),
                                      int.from_bytes(decode(key["n"]), "big")).public_key()
    public_key.verify(decode(signature_b64), (header_b64 + "." + claims_b64).encode(),
                      padding.PKCS1v15(), hashes.SHA256())


def test_login_wrong_password_is_401(emulator):
    response = rawhttp.call(emulator.ports["iam"], "/acs/api/v1/auth/login", {"uid": "demo", "password": "x"},
                            [("Content-Type", "application/json")])
    assert response.status == 401
    assert response.header("WWW-Authenticate") == "acsjwt"
    body = response.json()
    assert body["code"] == "ERR_INVALID_CREDENTIALS"
    assert set(body) == {"title", "description", "code"}


def test_login_content_type_rules(emulator):
    url = emulator.ports["iam"]
    body = json.dumps({"uid": "demo", "password": "demo"})
    missing = rawhttp.call(url, "/acs/api/v1/auth/login", body)
    assert missing.status == 400
    assert "Content-Type" in missing.json()["description"]
    form = rawhttp.call(url, "/acs/api/v1/auth/login", body,
                        [("Content-Type", "application/x-www-form-urlencoded")])
    assert form.status == 400
    not_json = rawhttp.call(url, "/acs/api/v1/auth/login", "{", [("Content-Type", "application/json")])
    assert not_json.status == 400


# -- master ------------------------------------------------------------------------------

def test_master_requires_valid_token(emulator, token):
    url = emulator.ports["masters"][0]
    for headers in ([], [("Authorization", "token=not.a.jwt")],
                    [("Authorization", "token=" + token[:-4] + "AAAA")]):
        response = rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"}, headers + JSON_HEADERS)
        assert response.status == 401
        assert response.header("WWW-Authenticate") == "acsjwt"
    ok = rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"}, [("Authorization", "Bearer " + token)] + JSON_HEADERS)
    assert ok.status == 200


def test_get_tasks_shape(emulator, token):
    response = master_call(emulator, token, {"type": "GET_TASKS"})
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    body = response.json()
    assert body["type"] == "GET_TASKS"
    tasks = {task["task_id"]["value"]: task for task in body["get_tasks"]["tasks"]}
    completed = {task["task_id"]["value"] for task in body["get_tasks"]["completed_tasks"]}
    assert "done.44444444-5555-6666-7777-888888888888" in completed

    shell = tasks[SHELL_TASK]
    assert shell["state"] == "TASK_RUNNING"
    assert shell["agent_id"] == {"value": AGENT}
    assert shell["framework_id"] == {"value": FRAMEWORK}
    assert "executor_id" not in shell
    assert shell["container"]["type"] == "MESOS"
    assert shell["labels"] == {"labels": [{"key": "DCOS_SPACE", "value": "/test/shell"}]}
    assert shell["statuses"][0]["container_status"]["container_id"] == {"value": SHELL_CONTAINER}

    pod = tasks[POD_TASK]
    assert pod["statuses"][0]["container_status"]["container_id"] == {
        "value": POD_CONTAINER, "parent": {"value": POD_EXECUTOR_CONTAINER}}
    assert pod["executor_id"]["value"]

    assert tasks[DOCKER_TASK]["container"]["type"] == "DOCKER"
    young = tasks["young.55555555-6666-7777-8888-999999999999"]
    assert "container_id" not in young["statuses"][0]["container_status"]


def test_get_agents_and_state(emulator, token):
    agents = master_call(emulator, token, {"type": "GET_AGENTS"}).json()["get_agents"]["agents"]
    port = int(emulator.agent.rsplit(":", 1)[1])
    assert len(agents) == 1
    assert agents[0]["pid"] == "slave(1)@127.0.0.1:%d" % port
    assert agents[0]["agent_info"]["hostname"] == "agent-0"
    assert agents[0]["agent_info"]["port"] == port
    assert agents[0]["agent_info"]["id"] == {"value": AGENT}

    state = master_call(emulator, token, {"type": "GET_STATE"}).json()
    assert state["type"] == "GET_STATE"
    assert state["get_state"]["get_agents"]["agents"][0]["pid"] == agents[0]["pid"]
    assert SHELL_TASK in {t["task_id"]["value"] for t in state["get_state"]["get_tasks"]["tasks"]}


def test_non_leader_redirects(emulator, token):
    leader_port = int(emulator.ports["masters"][0].rsplit(":", 1)[1])
    follower = emulator.ports["masters"][1]
    cases = [("POST", "/api/v1", "/master/api/v1"), ("GET", "/state?jsonp=x", "/master/state?jsonp=x"),
             ("GET", "/master/tasks?task_id=a", "/master/tasks?task_id=a")]
    for method, path, location_path in cases:
        response = rawhttp.call(follower, path, "not even json", auth(token) + [("Content-Type", "text/plain")],
                                method=method)
        assert response.status == 307
        assert response.header("Location") == "//127.0.0.1:%d%s" % (leader_port, location_path)

    unauthenticated = rawhttp.call(follower, "/api/v1", {"type": "GET_TASKS"}, JSON_HEADERS)
    assert unauthenticated.status == 401
    probe = rawhttp.call(follower, "/master/redirect", None, auth(token), method="GET")
    assert probe.header("Location") == "//127.0.0.1:%d" % leader_port


def test_leader_change_and_no_leader(emulator, token):
    try:
        assert emulator.control("POST", "/control/leader", {"index": 1}).status == 200
        follower_port = int(emulator.ports["masters"][1].rsplit(":", 1)[1])
        redirected = master_call(emulator, token, {"type": "GET_TASKS"}, index=0)
        assert redirected.status == 307
        assert redirected.header("Location") == "//127.0.0.1:%d/master/api/v1" % follower_port
        assert master_call(emulator, token, {"type": "GET_TASKS"}, index=1).status == 200

        emulator.control("POST", "/control/leader", {"index": None})
        none = master_call(emulator, token, {"type": "GET_TASKS"}, index=1)
        assert none.status == 503
        assert none.text == "No leader elected"
    finally:
        emulator.control("POST", "/control/leader", {"index": 0})


def test_master_header_codes(emulator, token):
    url = emulator.ports["masters"][0]
    get = rawhttp.call(url, "/api/v1", None, auth(token), method="GET")
    assert get.status == 405
    assert get.header("Allow") == "POST"
    missing = rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"}, auth(token))
    assert missing.status == 400
    assert missing.text == "Expecting 'Content-Type' to be present"
    charset = rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"},
                           auth(token) + [("Content-Type", "application/json; charset=utf-8")])
    assert charset.status == 415
    accept = rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"},
                          auth(token) + [("Content-Type", "application/json"), ("Accept", "text/html")])
    assert accept.status == 406
    assert accept.text == "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"
    no_type = rawhttp.call(url, "/api/v1", {"type": "NO_SUCH_CALL"}, auth(token) + JSON_HEADERS)
    assert no_type.status == 400
    assert no_type.text == "Failed to validate master::Call: Expecting 'type' to be present"


def test_legacy_endpoints(emulator, token):
    url = emulator.ports["masters"][0]
    for path in ("/master/tasks?task_id=" + SHELL_TASK, "/tasks?task_id=" + SHELL_TASK):
        tasks = rawhttp.call(url, path, None, auth(token), method="GET").json()["tasks"]
        assert [task["id"] for task in tasks] == [SHELL_TASK]
        assert tasks[0]["slave_id"] == AGENT
        assert tasks[0]["executor_id"] == ""
        assert tasks[0]["statuses"][0]["container_status"]["container_id"] == {"value": SHELL_CONTAINER}
        assert tasks[0]["labels"] == [{"key": "DCOS_SPACE", "value": "/test/shell"}]

    ascending = rawhttp.call(url, "/tasks?order=asc&limit=2", None, auth(token), method="GET").json()["tasks"]
    assert [task["id"] for task in ascending] == [SHELL_TASK, POD_TASK]
    offset = rawhttp.call(url, "/tasks?order=asc&limit=1&offset=1", None, auth(token), method="GET").json()
    assert [task["id"] for task in offset["tasks"]] == [POD_TASK]

    slaves = rawhttp.call(url, "/slaves", None, auth(token), method="GET").json()["slaves"]
    assert slaves[0]["pid"].startswith("slave(1)@127.0.0.1:")
    state = rawhttp.call(url, "/master/state", None, auth(token), method="GET").json()
    framework_tasks = {task["id"] for task in state["frameworks"][0]["tasks"]}
    assert SHELL_TASK in framework_tasks
    assert "done.44444444-5555-6666-7777-888888888888" in {t["id"] for t in state["frameworks"][0]["completed_tasks"]}


# -- agent: headers and validation -------------------------------------------------------------

def test_agent_header_codes(emulator, token):
    wait = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": new_session_id()}}
    cases = [
        ("GET", [], None, 405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."),
        ("POST", [("Accept", "application/json")], wait, 400, "Expecting 'Content-Type' to be present"),
        ("POST", [("Content-Type", "application/json; charset=utf-8")], wait, 415,
         "Expecting 'Content-Type' of application/json or application/x-protobuf or application/recordio"),
        ("POST", JSON_HEADERS + [("Message-Content-Type", "application/json")], wait, 415,
         "Expecting 'Message-Content-Type' to be not set for non-streaming requests"),
        ("POST", [("Content-Type", "application/json"), ("Accept", "text/plain")], wait, 406,
         "Expecting 'Accept' to allow application/json or application/x-protobuf or application/recordio"),
        ("POST", JSON_HEADERS + [("Message-Accept", "application/json")], wait, 406,
         "Expecting 'Message-Accept' to be not set for non-streaming responses"),
        ("POST", [("Content-Type", "application/json"), ("Accept", "application/recordio")], wait, 406,
         "Streaming response is not supported for WAIT_CONTAINER call"),
        ("POST", [("Content-Type", "application/recordio"), ("Accept", "application/json")], wait, 400,
         "Expecting 'Message-Content-Type' to be set for streaming requests"),
        ("POST", [("Content-Type", "application/recordio"), ("Message-Content-Type", "text/plain")], wait, 415,
         "Expecting 'Message-Content-Type' of application/json or application/x-protobuf"),
    ]
    for method, headers, body, status, text in cases:
        response = rawhttp.call(emulator.agent, "/api/v1", body, auth(token) + headers, method=method)
        assert (response.status, response.text) == (status, text)

    input_as_json = agent_call(emulator, token, {"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "CONTAINER_ID", "container_id": new_session_id()}})
    assert input_as_json.status == 415
    assert input_as_json.text == "Expecting 'Content-Type' to be application/recordio for ATTACH_CONTAINER_INPUT call"

    streaming_launch = InputStream(emulator.agent, token, None, first_record={
        "type": "LAUNCH_NESTED_CONTAINER_SESSION",
        "launch_nested_container_session": {"container_id": new_session_id()}})
    streaming_launch.end()
    response = streaming_launch.response()
    assert response.status == 415
    assert response.text == ("Streaming 'Content-Type' application/recordio is not supported for "
                             "LAUNCH_NESTED_CONTAINER_SESSION call")


def test_agent_requires_token(emulator):
    response = rawhttp.call(emulator.agent, "/api/v1", {"type": "GET_HEALTH"}, JSON_HEADERS)
    assert response.status == 401
    assert response.header("WWW-Authenticate") == "acsjwt"


def test_launch_validation_errors(emulator, token):
    no_parent = launch(emulator, token, "true", container_id={"value": str(uuid.uuid4())})
    assert no_parent.response.status == 400
    assert no_parent.response.text == ("Failed to validate agent::Call: Expecting "
                                       "'launch_nested_container_session.container_id.parent' to be present")

    unknown_root = launch(emulator, token, "true", parent={"value": "no-such-root"})
    assert (unknown_root.response.status, unknown_root.response.text) == (400, "Root container no-such-root not found")

    docker = launch(emulator, token, "true", parent={"value": DOCKER_CONTAINER})
    assert (docker.response.status, docker.response.text) == (400, "Nested containers are not supported")

    docker_type = launch(emulator, token, "true", container={"type": "DOCKER", "docker": {"image": "x"}})
    assert (docker_type.response.status, docker_type.response.text) == (
        400, "The provided ContainerInfo is not supported")

    missing_parent = launch(emulator, token, "true",
                            parent={"value": "nope", "parent": {"value": POD_EXECUTOR_CONTAINER}})
    assert missing_parent.response.status == 400
    assert missing_parent.response.text == "Parent container %s.nope does not exist" % POD_EXECUTOR_CONTAINER

    bad_value = agent_call(emulator, token, {"type": "LAUNCH_NESTED_CONTAINER_SESSION",
                                             "launch_nested_container_session": {"container_id": {"parent": {}}}},
                           headers=STREAM_HEADERS)
    assert bad_value.status == 400
    assert bad_value.text.startswith("Missing required fields: launch_nested_container_session.container_id.value")


def test_launch_same_id_again_is_202(emulator, token):
    first = launch(emulator, token, "sleep 30")
    assert first.response.status == 200
    second = launch(emulator, token, "true", container_id=first.container_id)
    assert second.response.status == 202
    first.connection.close()
    wait_for(lambda: (emulator.session(first.container_id["value"]) or {}).get("state") == "ended",
             message="the first session to end")


# -- agent: sessions -------------------------------------------------------------------

def test_output_framing_and_exit_status(emulator, token):
    launched = launch(emulator, token, "printf out; printf err >&2; exit 3")
    response = launched.response
    assert response.status == 200
    assert response.header("Content-Type") == "application/recordio"
    assert response.header("Message-Content-Type") == "application/json"
    assert response.header("Transfer-Encoding") == "chunked"
    stdout, stderr, records = launched.stream.collect()
    assert launched.stream.ended
    assert (stdout, stderr) == (b"out", b"err")

    raw = b"".join(launched.stream.raw_chunks)
    offset = 0
    while offset < len(raw):
        newline = raw.index(b"\n", offset)
        length = int(raw[offset:newline])
        record = json.loads(raw[newline + 1:newline + 1 + length])
        offset = newline + 1 + length
        if record["type"] == "DATA":
            assert record["data"]["data"] != ""
            assert base64.b64decode(record["data"]["data"], validate=True)
    assert offset == len(raw)

    result = wait_container(emulator, token, launched.container_id)
    assert result.json() == {"type": "WAIT_CONTAINER", "wait_container": {"exit_status": 768}}
    nested = wait_container(emulator, token, launched.container_id, kind="WAIT_NESTED_CONTAINER")
    assert nested.json() == {"type": "WAIT_NESTED_CONTAINER", "wait_nested_container": {"exit_status": 768}}


def test_heartbeats_on_output(emulator, token):
    launched = launch(emulator, token, "sleep 30")
    records = launched.stream.until(lambda output, record: record["type"] == "CONTROL", timeout=5)
    heartbeat = records[-1]
    assert heartbeat == {"type": "CONTROL", "control": {"type": "HEARTBEAT", "heartbeat": {
        "interval": {"nanoseconds": int(HEARTBEAT_SECONDS * 1e9)}}}}
    launched.connection.close()


def test_session_environment_and_hostname(emulator, token):
    stdout, _, _, status = run(emulator, token,
                               'hostname; pwd; echo "$TASK_VARIABLE $EXTRA $MESOS_TASK_ID"; echo $MESOS_SANDBOX',
                               env={"EXTRA": "from-call", "TASK_VARIABLE": "overridden"})
    lines = stdout.decode().splitlines()
    sandbox = os.path.join(emulator.state_dir, "sandboxes", SHELL_TASK)
    assert lines == ["shell-host", sandbox, "overridden from-call " + SHELL_TASK, sandbox]
    assert status == 0

    pod_stdout, _, _, _ = run(emulator, token, "hostname",
                              parent={"value": POD_CONTAINER, "parent": {"value": POD_EXECUTOR_CONTAINER}})
    assert pod_stdout == b"pod-host\n"


def test_session_sees_only_task_processes(emulator, token):
    stdout, _, _, _ = run(emulator, token, "ps -e -o pid=,comm=")
    processes = [line.split(None, 1) for line in stdout.decode().splitlines()]
    assert processes[0] == ["1", "python3"]
    assert "sleep" in {name for _, name in processes}


def test_command_without_shell_uses_argv(emulator, token):
    stdout, _, _, status = run(emulator, token, "echo", shell=False, arguments=["echo", "a  b", "c"])
    assert (stdout, status) == (b"a  b c\n", 0)
    _, stderr, _, missing = run(emulator, token, "no-such-binary", shell=False, arguments=["no-such-binary"])
    assert stderr == b"Failed to execute 'no-such-binary': No such file or directory\n"
    assert missing == 256


def test_stdin_eof_without_tty(emulator, token):
    launched = launch(emulator, token, "cat; echo done >&2")
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_stdin(b"hello ")
    stdin.send_heartbeat()
    stdin.send_stdin(b"world")
    stdin.send_stdin(b"")
    stdin.end()
    assert stdin.response().status == 200
    stdout, stderr, _ = launched.stream.collect()
    assert (stdout, stderr) == (b"hello world", b"done\n")
    assert wait_container(emulator, token, launched.container_id).json()["wait_container"]["exit_status"] == 0


def test_record_split_across_chunks(emulator, token):
    launched = launch(emulator, token, "cat")
    stdin = InputStream(emulator.agent, token, launched.container_id)
    record = recordio.encode(json.dumps({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN", "data": "c3BsaXQ="}}}}).encode())
    eof = recordio.encode(json.dumps({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN", "data": ""}}}}).encode())
    for piece in (record[:1], record[1:5], record[5:40], record[40:] + eof[:3], eof[3:]):
        stdin.send_raw(piece)
    stdin.end()
    assert stdin.response().status == 200
    stdout, _, _ = launched.stream.collect()
    assert stdout == b"split"


def test_tty_merges_output_and_resizes(emulator, token):
    launched = launch(emulator, token, "stty size; echo out; echo err >&2; read line; stty size",
                      tty=True, env={"TERM": "xterm"})
    assert launched.response.status == 200
    launched.stream.until(lambda output, record: b"err" in output)
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_window_size(40, 120)
    stdin.send_stdin(b"go\n")
    stdin.end()
    assert stdin.response().status == 200
    rest, stderr, records = launched.stream.collect()
    assert stderr == b""
    assert all(r["data"]["type"] == "STDOUT" for r in records if r["type"] == "DATA")
    assert rest.endswith(b"40 120\r\n")
    assert b"go\r\n" in rest  # The pty echoes input.


def test_tty_output_uses_crlf(emulator, token):
    stdout, stderr, _, status = run(emulator, token, "echo one; echo two >&2; echo $TERM", tty=True,
                                    env={"TERM": "vt100"})
    assert (stdout, stderr, status) == (b"one\r\ntwo\r\nvt100\r\n", b"", 0)


def test_tty_eof_is_eot_not_empty_record(emulator, token):
    launched = launch(emulator, token, "cat; echo cat-ended", tty=True)
    first = InputStream(emulator.agent, token, launched.container_id)
    first.send_stdin(b"abc\n")
    first.send_stdin(b"")
    first.end()
    assert first.response().status == 200
    launched.stream.until(lambda output, record: output.count(b"abc\r\n") == 2)
    assert emulator.session(launched.container_id["value"])["state"] == "running"

    second = InputStream(emulator.agent, token, launched.container_id)
    second.send_stdin(b"\x04")
    second.end()
    assert second.response().status == 200
    rest, _, _ = launched.stream.collect()
    assert b"cat-ended" in rest
    assert wait_container(emulator, token, launched.container_id).json()["wait_container"]["exit_status"] == 0


def test_tty_ctrl_c_sends_sigint(emulator, token):
    launched = launch(emulator, token, "echo ready; exec sleep 60", tty=True)
    launched.stream.until(lambda output, record: b"ready" in output)
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_stdin(b"\x03")
    launched.stream.collect()
    assert stdin.response().status == 200
    result = wait_container(emulator, token, launched.container_id).json()
    assert result["wait_container"]["exit_status"] == signal.SIGINT


def test_window_size_on_non_tty_session_is_400(emulator, token):
    launched = launch(emulator, token, "sleep 30")
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_window_size(24, 80)
    response = stdin.response()
    assert (response.status, response.text) == (400, "Unable to set the window size: Inappropriate ioctl for device")
    launched.connection.close()


def test_second_input_is_409(emulator, token):
    launched = launch(emulator, token, "cat")
    first = InputStream(emulator.agent, token, launched.container_id)
    first.send_stdin(b"x")
    launched.stream.until(lambda output, record: output == b"x")
    second = InputStream(emulator.agent, token, launched.container_id)
    second.end()
    response = second.response()
    assert (response.status, response.text) == (409, "Multiple input connections are not allowed")
    first.send_stdin(b"")
    first.end()
    assert first.response().status == 200
    launched.stream.collect()


def test_input_errors_for_unknown_containers(emulator, token):
    unknown = new_session_id()
    stdin = InputStream(emulator.agent, token, unknown)
    stdin.end()
    response = stdin.response()
    key = "%s.%s" % (SHELL_CONTAINER, unknown["value"])
    assert (response.status, response.text) == (500, "Unknown container %s" % key)

    root = {"value": "x", "parent": {"value": "no-such-root"}}
    stdin = InputStream(emulator.agent, token, root)
    stdin.end()
    response = stdin.response()
    assert (response.status, response.text) == (404, "Container no-such-root.x cannot be found")

    empty = InputStream(emulator.agent, token, None, first_record={
        "type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {"type": "CONTAINER_ID"}})
    empty.end()
    response = empty.response()
    assert response.status == 400
    assert response.text == ("Failed to validate agent::Call: 'attach_container_input.container_id' "
                             "is invalid: ID must not be empty")

    no_records = InputStream(emulator.agent, token, None, first_record=False)
    no_records.end()
    response = no_records.response()
    assert (response.status, response.text) == (400, "Received EOF while reading request body")


def test_open_input_gets_200_after_grace(emulator, token):
    launched = launch(emulator, token, "read line; echo got $line")
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_stdin(b"it\n")
    launched.stream.until(lambda output, record: output == b"got it\n")
    output_seen_at = time.monotonic()

    # The body is never ended: the switchboard responds 200 about 1 s after the output ends.
    response = stdin.response(timeout=10)
    answered_at = time.monotonic()
    assert response.status == 200
    assert answered_at - output_seen_at >= 0.5

    stdout, _, _ = launched.stream.collect()
    assert stdout == b""
    assert launched.stream.ended


def test_stdin_write_after_close_is_500(emulator, token):
    launched = launch(emulator, token, "exec 0<&-; echo ready; exec sleep 60")
    launched.stream.until(lambda output, record: b"ready" in output)
    stdin = InputStream(emulator.agent, token, launched.container_id)
    stdin.send_stdin(b"data")
    response = stdin.response()
    assert (response.status, response.text) == (500, "Failed writing to stdin: Failed: Broken pipe")
    launched.stream.collect()
    result = wait_container(emulator, token, launched.container_id).json()["wait_container"]
    assert result["exit_status"] == signal.SIGKILL
    assert result["reason"] == "REASON_IO_SWITCHBOARD_EXITED"


def test_kill_and_wait(emulator, token):
    launched = launch(emulator, token, "echo ready; exec sleep 60")
    launched.stream.until(lambda output, record: b"ready" in output)
    kill = agent_call(emulator, token, {"type": "KILL_CONTAINER", "kill_container": {
        "container_id": launched.container_id, "signal": signal.SIGTERM}})
    assert kill.status == 200
    launched.stream.collect()
    assert wait_container(emulator, token, launched.container_id).json()["wait_container"]["exit_status"] == 15

    unknown = new_session_id()
    response = agent_call(emulator, token, {"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": unknown}})
    assert response.status == 404
    assert response.text == "Container '%s.%s' cannot be found (or is already killed)" % (
        SHELL_CONTAINER, unknown["value"])
    waited = wait_container(emulator, token, unknown)
    assert (waited.status, waited.text) == (404, "Container %s.%s cannot be found" % (SHELL_CONTAINER,
                                                                                      unknown["value"]))


def test_disconnect_destroys_session(emulator, token):
    launched = launch(emulator, token, "sleep 60 & echo ready; wait")
    launched.stream.until(lambda output, record: b"ready" in output)
    session = emulator.session(launched.container_id["value"])
    pids = session["pids"]
    assert len(pids) >= 2
    launched.connection.close()
    wait_for(lambda: emulator.session(launched.container_id["value"])["state"] == "ended",
             message="the session to end after the disconnect")
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert wait_container(emulator, token, launched.container_id).json()["wait_container"]["exit_status"] == 9


def test_background_child_killed_at_exit(emulator, token):
    stdout, _, _, status = run(emulator, token, "sleep 60 & echo $!")
    assert status == 0
    sessions = [s for s in emulator.sessions() if s["state"] == "ended"]
    assert sessions
    inner_pid = int(stdout)
    task_processes = subprocess.run(["nsenter", "-t", str(emulator.tasks()[SHELL_TASK]["init_pid"]), "-p", "-m",
                                     "ps", "-e", "-o", "pid="], capture_output=True, text=True).stdout.split()
    assert str(inner_pid) not in task_processes


def test_legacy_accept_streams_recordio(emulator, token):
    launched = launch(emulator, token, "echo legacy", headers=JSON_HEADERS)
    assert launched.response.status == 200
    assert launched.response.header("Content-Type") == "application/json"
    assert "message-content-type" not in launched.response.header_names()
    stdout, _, _ = launched.stream.collect()
    assert stdout == b"legacy\n"


def test_expect_100_continue(emulator, token):
    launched = launch(emulator, token, "cat")
    connection = rawhttp.Connection(emulator.agent)
    connection.send_head("POST", "/api/v1", auth(token) + [
        ("Content-Type", "application/recordio"), ("Message-Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked"), ("Expect", "100-continue")])
    interim = connection.read_head(skip_continue=False)
    assert interim.status == 100
    for call in ({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
            "type": "CONTAINER_ID", "container_id": launched.container_id}},
            {"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
                "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN", "data": ""}}}}):
        data = recordio.encode(json.dumps(call).encode())
        connection.send(b"%x\r\n" % len(data) + data + b"\r\n")
    connection.send(b"0\r\n\r\n")
    assert connection.response().status == 200
    launched.stream.collect()


# -- tasks, faults, request log ------------------------------------------------------------

def test_task_death_ends_sessions(emulator, token):
    parent = {"value": VICTIM_CONTAINER}
    launched = launch(emulator, token, "echo ready; sleep 60", parent=parent)
    launched.stream.until(lambda output, record: b"ready" in output)
    assert emulator.control("POST", "/control/tasks/kill", {"task": VICTIM_TASK, "signal": 9}).status == 200
    launched.stream.collect()
    wait_for(lambda: emulator.tasks()[VICTIM_TASK]["state"] == "TASK_KILLED", message="TASK_KILLED")
    tasks = master_call(emulator, token, {"type": "GET_TASKS"}).json()["get_tasks"]
    assert VICTIM_TASK in {t["task_id"]["value"] for t in tasks["completed_tasks"]}
    wait_for(lambda: wait_container(emulator, token, launched.container_id).status == 404,
             message="WAIT to return 404 after the task ended")
    again = launch(emulator, token, "true", parent=parent)
    assert (again.response.status, again.response.text) == (400, "Root container %s not found" % VICTIM_CONTAINER)


def test_fault_refuse_and_clear(emulator, token):
    assert emulator.control("POST", "/control/fault", {"target": "agent:" + AGENT, "kind": "refuse"}).status == 200
    with pytest.raises(ConnectionRefusedError):
        rawhttp.Connection(emulator.agent)
    emulator.control("POST", "/control/clear")
    assert agent_call(emulator, token, {"type": "GET_HEALTH"}).status == 200


def test_fault_status_next_calls(emulator, token):
    emulator.control("POST", "/control/fault", {"target": "agent:" + AGENT, "kind": "status", "code": 503,
                                                "count": 1})
    first = agent_call(emulator, token, {"type": "GET_HEALTH"})
    assert (first.status, first.text) == (503, "Agent has not finished recovery")
    assert agent_call(emulator, token, {"type": "GET_HEALTH"}).status == 200

    emulator.control("POST", "/control/fault", {"target": "master:0", "kind": "status", "code": 503})
    assert master_call(emulator, token, {"type": "GET_TASKS"}).status == 503
    bad = emulator.control("POST", "/control/fault", {"kind": "explode"})
    assert bad.status == 400
    assert "unknown fault kind" in bad.json()["error"]


def test_fault_cut_stream(emulator, token):
    launched = launch(emulator, token, "echo ready; sleep 60")
    launched.stream.until(lambda output, record: b"ready" in output)
    cut = emulator.control("POST", "/control/fault", {"target": "agent:" + AGENT, "kind": "cut_stream"})
    assert cut.json()["fault"]["streams_cut"] == 1
    with pytest.raises(rawhttp.StreamCut):
        launched.stream.collect()
    wait_for(lambda: emulator.session(launched.container_id["value"])["state"] == "ended",
             message="the cut session to end")


def test_fault_silence_until_clear(emulator, token):
    emulator.control("POST", "/control/fault", {"target": "iam", "kind": "silence"})
    connection = rawhttp.Connection(emulator.ports["iam"])
    connection.request("GET", "/acs/api/v1/auth/jwks")
    with pytest.raises(TimeoutError):
        connection.read_head(timeout=0.3)
    emulator.control("POST", "/control/clear")
    with pytest.raises(rawhttp.StreamCut):
        connection.read_head(timeout=5)
    connection.close()


def test_request_log_redacts_secrets(emulator, token):
    run(emulator, token, "true")
    entries = emulator.requests()
    launches = [e for e in entries if e["call"] == "LAUNCH_NESTED_CONTAINER_SESSION" and e["status"] == 200]
    assert launches
    entry = launches[-1]
    assert entry["server"] == "agent:" + AGENT
    assert entry["headers"]["Authorization"] == "token=<redacted>"
    assert entry["container_id"]["parent"] == {"value": SHELL_CONTAINER}
    with open(emulator.log_file) as handle:
        text = handle.read()
    assert token not in text
    assert '"password"' not in text

    unknown = new_session_id()
    wait_container(emulator, token, unknown)
    errors = [e for e in emulator.requests() if e["container_id"] == unknown]
    assert errors[-1]["status"] == 404
    assert errors[-1]["error"].startswith("Container ")


# -- separate emulators --------------------------------------------------------------------

def test_expired_token_is_rejected(tmp_path):
    process = EmulatorProcess(tmp_path, cluster_spec(tasks=[], masters=1, token_lifetime_seconds=1)).start()
    try:
        short = rawhttp.login(process.ports["iam"], "demo", "demo")
        url = process.ports["masters"][0]

        def rejected():
            return rawhttp.call(url, "/api/v1", {"type": "GET_TASKS"}, auth(short) + JSON_HEADERS).status == 401

        wait_for(rejected, timeout=5, interval=0.1, message="the token to expire")
    finally:
        assert process.stop() == 0


def test_shutdown_leaves_no_processes(tmp_path):
    process = EmulatorProcess(tmp_path, cluster_spec(masters=1)).start()
    token = rawhttp.login(process.ports["iam"], "demo", "demo")
    launched = launch(process, token, "sleep 60 & echo ready; sleep 60", tty=True)
    launched.stream.until(lambda output, record: b"ready" in output)
    session = process.session(launched.container_id["value"])
    pids = session["pids"] + [session["launcher_pid"]]
    for task in process.tasks().values():
        pids += [pid for pid in (task["init_pid"], task["unshare_pid"]) if pid]
    assert len(pids) >= 6
    assert process.stop() == 0
    assert [pid for pid in pids if pid_alive(pid)] == []
    with pytest.raises(rawhttp.StreamCut):
        launched.stream.collect()
    leftover = subprocess.run(["pgrep", "-f", process.state_dir], capture_output=True, text=True).stdout
    assert leftover == ""


@pytest.mark.parametrize("mode", ["pids", "proc"])
def test_containment_fallbacks(tmp_path, mode):
    spec = cluster_spec(masters=1, tasks=cluster_spec()["tasks"][:1])
    process = EmulatorProcess(tmp_path, spec, env={"TASK_BASTION_EMULATOR_CONTAINMENT": mode}).start()
    try:
        token = rawhttp.login(process.ports["iam"], "demo", "demo")
        stdout, _, _, status = run(process, token, "sleep 60 & echo $!")
        assert status == 0
        session = process.sessions()[0]
        assert session["containment"] == mode
        init_pid = str(process.tasks()[SHELL_TASK]["init_pid"])
        inside = subprocess.run(["nsenter", "-t", init_pid, "-p", "-m", "ps", "-e", "-o", "pid="],
                                capture_output=True, text=True).stdout.split()
        assert stdout.decode().strip() not in inside

        launched = launch(process, token, "sleep 60 & echo ready; wait")
        launched.stream.until(lambda output, record: b"ready" in output)
        pids = process.session(launched.container_id["value"])["pids"]
        assert len(pids) >= 2
        launched.connection.close()
        wait_for(lambda: process.session(launched.container_id["value"])["state"] == "ended",
                 message="the session to end after the disconnect")
        assert [pid for pid in pids if pid_alive(pid)] == []
    finally:
        assert process.stop() == 0


def test_invalid_cluster_file_is_rejected(tmp_path):
    spec = cluster_spec()
    spec["tasks"][0]["agent"] = "no-such-agent"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "emulator.py"), "--cluster", str(path),
                             "--ports-file", str(tmp_path / "ports.json")], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "unknown agent 'no-such-agent'" in result.stderr
