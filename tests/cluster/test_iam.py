"""Tests of the emulated IAM's users, groups and ACL endpoints, and of the permission checks
the emulated masters and agents make (strict security mode).

Run as root: /usr/bin/python3 -m pytest tests/cluster -q
"""

import json
import os
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import acl  # noqa: E402
import rawhttp  # noqa: E402
from test_emulator import (AGENT, JSON_HEADERS, SHELL_CONTAINER, STREAM_HEADERS,  # noqa: E402
                           EmulatorProcess, cluster_spec)
from tokens import SigningKey  # noqa: E402

SERVICE_KEY = SigningKey()
ACS = "/acs/api/v1"


def iam_spec():
    spec = cluster_spec(masters=1)
    spec["users"] = [
        {"uid": "demo", "password": "demo"},
        {"uid": "admin", "password": "admin-pass"},
        {"uid": "dev", "password": "dev-pass", "groups": ["developers"]},
        {"uid": "reader", "password": "reader-pass"},
        {"uid": "nobody", "password": "nobody-pass"},
        {"uid": "alice@example.com", "password": "wonderland"},
        {"uid": "robot", "public_key": SERVICE_KEY.public_pem(), "description": "CI robot"},
    ]
    spec["groups"] = [{"gid": "developers", "description": "dev team"}]
    test_app = "dcos:mesos:agent:%s:app_id:/test"
    spec["grants"] = [
        {"uid": "admin", "rid": "dcos:superuser", "actions": ["full"]},
        {"uid": "demo", "rid": "dcos:superuser", "actions": ["full"]},
        {"gid": "developers", "rid": "dcos:adminrouter:ops:mesos", "actions": ["full"]},
        {"gid": "developers", "rid": "dcos:adminrouter:ops:slave", "actions": ["full"]},
        {"gid": "developers", "rid": test_app % "nested_container_session", "actions": ["create"]},
        {"gid": "developers", "rid": test_app % "container", "actions": ["read", "update"]},
        {"uid": "reader", "rid": "dcos:adminrouter:ops:mesos", "actions": ["full"]},
        {"uid": "reader", "rid": "dcos:adminrouter:ops:slave", "actions": ["full"]},
        {"uid": "reader", "rid": "dcos:mesos:agent:nested_container_session:app_id", "actions": ["create"]},
        {"uid": "reader", "rid": "dcos:mesos:agent:container:app_id:/test/shell", "actions": ["read"]},
    ]
    return spec


@pytest.fixture(scope="module")
def iam(tmp_path_factory):
    process = EmulatorProcess(tmp_path_factory.mktemp("iam"), iam_spec()).start()
    yield process
    assert process.stop() == 0, process.log()


def login(iam, uid, password):
    return rawhttp.login(iam.ports["iam"], uid, password)


@pytest.fixture(scope="module")
def admin_token(iam):
    return login(iam, "admin", "admin-pass")


def get(iam, path, token=None):
    headers = [("Authorization", "token=" + token)] if token else []
    return rawhttp.call(iam.ports["iam"], ACS + path, None, headers, method="GET")


def allowed(iam, token, rid, uid, action):
    response = get(iam, "/acls/%s/users/%s/%s" % (rid.replace("/", "%252F"), uid, action), token)
    assert response.status == 200, response.text
    return response.json()["allowed"]


# -- acl.py ------------------------------------------------------------------------------

@pytest.mark.parametrize("grant, rid, covered", [
    ("a:b:app_id:/dev", "a:b:app_id:/dev", True),
    ("a:b:app_id:/dev", "a:b:app_id:/dev/web", True),
    ("a:b:app_id:/dev", "a:b:app_id:/devops", False),
    ("a:b:app_id", "a:b:app_id:/prod/db", True),
    ("a:b:app_id:/dev/web", "a:b:app_id:/dev", False),
    ("a:b", "a:bc", False),
])
def test_grant_covers(grant, rid, covered):
    assert acl.grant_covers(grant, rid) is covered


# -- users and groups --------------------------------------------------------------------

def test_user_endpoints_need_a_token(iam):
    response = get(iam, "/users")
    assert response.status == 401
    assert response.header("WWW-Authenticate") == "acsjwt"
    assert get(iam, "/users", "not.a.token").status == 401


def test_user_endpoints_need_permission(iam):
    response = get(iam, "/users", login(iam, "nobody", "nobody-pass"))
    assert response.status == 403
    assert response.json()["code"] == "ERR_FORBIDDEN"


def test_list_users_and_service_accounts(iam, admin_token):
    users = get(iam, "/users", admin_token).json()["array"]
    assert "robot" not in [user["uid"] for user in users]
    assert {"demo", "dev", "alice@example.com"} <= {user["uid"] for user in users}
    services = get(iam, "/users?type=service", admin_token).json()["array"]
    assert [user["uid"] for user in services] == ["robot"]
    assert services[0]["is_service"] is True
    assert services[0]["public_key"] == SERVICE_KEY.public_pem()


def test_get_user(iam, admin_token):
    user = get(iam, "/users/alice@example.com", admin_token).json()
    assert user["uid"] == "alice@example.com"
    assert user["is_service"] is False
    assert "public_key" not in user
    unknown = get(iam, "/users/ghost", admin_token)
    assert unknown.status == 400
    assert unknown.json()["code"] == "ERR_UNKNOWN_USER_ID"


def test_groups_and_memberships(iam, admin_token):
    groups = get(iam, "/users/dev/groups", admin_token).json()["array"]
    assert [entry["group"]["gid"] for entry in groups] == ["developers"]
    members = get(iam, "/groups/developers/users", admin_token).json()["array"]
    assert [entry["user"]["uid"] for entry in members] == ["dev"]
    assert get(iam, "/groups/nope", admin_token).json()["code"] == "ERR_UNKNOWN_GROUP_ID"


def test_user_permissions_lists_direct_and_group_grants(iam, admin_token):
    permissions = get(iam, "/users/dev/permissions", admin_token).json()
    assert permissions["direct"] == []
    rids = {entry["rid"] for entry in permissions["groups"]}
    assert "dcos:mesos:agent:container:app_id:/test" in rids
    entry = [e for e in permissions["groups"] if e["rid"] == "dcos:mesos:agent:container:app_id:/test"][0]
    assert entry["aclurl"].endswith("app_id:%252Ftest")
    assert entry["gid"] == "developers"


# -- ACL checks --------------------------------------------------------------------------

def test_acl_check_direct_group_full_and_superuser(iam, admin_token):
    shell = "dcos:mesos:agent:container:app_id:/test/shell"
    assert allowed(iam, admin_token, shell, "reader", "read") is True
    assert allowed(iam, admin_token, shell, "reader", "update") is False
    assert allowed(iam, admin_token, shell, "dev", "update") is True  # group grant on the parent
    assert allowed(iam, admin_token, "dcos:mesos:agent:container:app_id:/prod/db", "dev", "read") is False
    assert allowed(iam, admin_token, "dcos:adminrouter:ops:slave", "dev", "update") is True  # full
    assert allowed(iam, admin_token, "dcos:anything:at:all", "admin", "delete") is True  # superuser
    assert allowed(iam, admin_token, "dcos:adminrouter:ops:slave", "nobody", "read") is False


def test_acl_check_bare_rid_covers_every_app(iam, admin_token):
    rid = "dcos:mesos:agent:nested_container_session:app_id:/any/app"
    assert allowed(iam, admin_token, rid, "reader", "create") is True


def test_acl_check_needs_double_encoded_rid(iam, admin_token):
    single = get(iam, "/acls/dcos:mesos:agent:container:app_id:%2Ftest%2Fshell/users/reader/read",
                 admin_token)
    assert single.status == 404


def test_acl_check_unknown_user_and_action(iam, admin_token):
    unknown = get(iam, "/acls/dcos:superuser/users/ghost/full", admin_token)
    assert unknown.status == 400
    assert unknown.json()["code"] == "ERR_UNKNOWN_USER_ID"
    assert get(iam, "/acls/dcos:superuser/users/dev/fly", admin_token).status == 400


# -- logins and tokens -------------------------------------------------------------------

def test_service_account_login_with_login_token(iam):
    login_token = SERVICE_KEY.sign({"uid": "robot", "exp": int(time.time()) + 120})
    response = rawhttp.call(iam.ports["iam"], ACS + "/auth/login", {"uid": "robot", "token": login_token},
                            [("Content-Type", "application/json")])
    assert response.status == 200, response.text
    long_lived = SERVICE_KEY.sign({"uid": "robot", "exp": int(time.time()) + 3600})
    rejected = rawhttp.call(iam.ports["iam"], ACS + "/auth/login", {"uid": "robot", "token": long_lived},
                            [("Content-Type", "application/json")])
    assert rejected.status == 401


def test_key_rotation_adds_new_kid_first(iam):
    before = get(iam, "/auth/jwks").json()["keys"]
    rotated = iam.control("POST", "/control/iam/rotate_key", {}).json()["kid"]
    after = get(iam, "/auth/jwks").json()["keys"]
    assert after[0]["kid"] == rotated
    assert [key["kid"] for key in after[1:]] == [key["kid"] for key in before]
    token = login(iam, "demo", "demo")
    header = json.loads(rawhttp_b64(token.split(".")[0]))
    assert header["kid"] == rotated


def test_control_signs_arbitrary_claims(iam):
    token = iam.control("POST", "/control/iam/token", {"claims": {"uid": "demo", "exp": 1}}).json()["token"]
    response = rawhttp.call(iam.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"},
                            [("Authorization", "token=" + token)] + JSON_HEADERS)
    assert response.status == 401
    assert "expired" in response.text


def rawhttp_b64(part):
    import base64
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- enforcement by masters and agents ----------------------------------------------------

def launch_call(container_value=None):
    return {"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": {
        "container_id": {"value": container_value or str(uuid.uuid4()), "parent": {"value": SHELL_CONTAINER}},
        "command": {"value": "echo hi"}}}


def agent_status(iam, token, body, headers=STREAM_HEADERS):
    response = rawhttp.call(iam.ports["agents"][AGENT], "/api/v1", body,
                            [("Authorization", "token=" + token)] + list(headers))
    return response


def test_master_needs_adminrouter_ops_mesos(iam):
    nobody = login(iam, "nobody", "nobody-pass")
    response = rawhttp.call(iam.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"},
                            [("Authorization", "token=" + nobody)] + JSON_HEADERS)
    assert response.status == 403
    assert "dcos:adminrouter:ops:mesos" in response.text
    reader = login(iam, "reader", "reader-pass")
    ok = rawhttp.call(iam.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"},
                      [("Authorization", "token=" + reader)] + JSON_HEADERS)
    assert ok.status == 200


def test_agent_needs_adminrouter_ops_slave(iam):
    response = agent_status(iam, login(iam, "nobody", "nobody-pass"), launch_call())
    assert response.status == 403
    assert "dcos:adminrouter:ops:slave" in response.text


def test_agent_launch_needs_app_permissions(iam):
    # /test/shell: reader holds create (bare rid) and read; dev holds them through its group.
    for uid, password in (("reader", "reader-pass"), ("dev", "dev-pass")):
        response = agent_status(iam, login(iam, uid, password), launch_call())
        assert response.status == 200, (uid, response.status, response.text)


def test_agent_attach_input_needs_update(iam):
    reader = login(iam, "reader", "reader-pass")
    body = {"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "CONTAINER_ID", "container_id": {"value": "x", "parent": {"value": SHELL_CONTAINER}}}}
    headers = [("Content-Type", "application/recordio"), ("Message-Content-Type", "application/json"),
               ("Accept", "application/json")]
    from recordio import encode
    response = rawhttp.call(iam.ports["agents"][AGENT], "/api/v1", encode(json.dumps(body).encode()),
                            [("Authorization", "token=" + reader)] + headers)
    assert response.status == 403
    assert any(entry["status"] == 403 and entry["call"] == "ATTACH_CONTAINER_INPUT" for entry in iam.requests())


def test_permissive_and_disabled_modes(tmp_path):
    for mode, master_status, agent_status_code in (("permissive", 200, 200), ("disabled", 200, 200)):
        spec = iam_spec()
        spec["security"] = mode
        spec["tasks"] = spec["tasks"][:1]
        os.makedirs(tmp_path / mode)
        process = EmulatorProcess(tmp_path / mode, spec).start()
        try:
            if mode == "permissive":
                # Admin Router's grants still count; Mesos checks nothing.
                token = login(process, "reader", "reader-pass")
            else:
                token = login(process, "nobody", "nobody-pass")
            response = rawhttp.call(process.ports["masters"][0], "/api/v1", {"type": "GET_TASKS"},
                                    [("Authorization", "token=" + token)] + JSON_HEADERS)
            assert response.status == master_status
            launched = agent_status(process, token, launch_call())
            assert launched.status == agent_status_code
        finally:
            assert process.stop() == 0
