"""The emulated DC/OS IAM (Bouncer) under /acs/api/v1.

Unauthenticated: POST /auth/login (uid and password, or uid and a service login token),
GET /auth/jwks and GET /auth/providers.

With a token (Authorization: token=<jwt>) whose uid is a superuser or holds
dcos:adminrouter:acs full (401 without a valid token, 403 without the permission):
GET /users (?type=service for service accounts), /users/{uid}, /users/{uid}/groups,
/users/{uid}/permissions, /groups, /groups/{gid}, /groups/{gid}/users, /acls and
/acls/{rid}/users/{uid}/{action}, which answers {"allowed": bool} with the semantics of
acl.py (groups, full, dcos:superuser, parent groups).

A rid in a path is written with '/' as %252F: the path is percent-decoded once for
routing, as the web server in front of Bouncer does, and the rid segment once more. A
rid sent with a single %2F therefore splits into several path segments and matches no
route (404).

Errors are JSON objects with `title`, `description` and `code`, as Bouncer sends them.
NOTE: only ERR_INVALID_CREDENTIALS, ERR_MISSING_QUERY_PARAMETERS, ERR_UNKNOWN_USER_ID,
ERR_UNKNOWN_GROUP_ID and ERR_UNKNOWN_RESOURCE_ID are documented codes; the other codes
here are the emulator's own names, and the 400 status of the ERR_UNKNOWN_* answers is a
guess.
"""

import base64
import json
import logging
import re
import time
import urllib.parse

import acl
from adminrouter import extract_token
from httpserver import reason_phrase
from tokens import TokenError, load_public_key, verify_rs256

LOG = logging.getLogger("emulator.iam")

PREFIX = "/acs/api/v1"
# The IAM rejects service login tokens that live longer than this (DC/OS docs).
MAX_SERVICE_LOGIN_TOKEN_SECONDS = 600
LOGIN_PROVIDERS = {
    "dcos-users": {
        "authentication-type": "dcos-uid-password",
        "client-method": "dcos-usercredential-post-receive-authtoken",
        "config": {"start_flow_url": PREFIX + "/auth/login"},
        "description": "Default DC/OS login provider",
    },
    "dcos-services": {
        "authentication-type": "dcos-uid-servicekey",
        "client-method": "dcos-servicecredential-post-receive-authtoken",
        "config": {"start_flow_url": PREFIX + "/auth/login"},
        "description": "Default DC/OS login provider",
    },
}


class IamService:
    """The IAM server's request handling; `authority` issues and verifies auth tokens."""

    def __init__(self, cluster, authority):
        self.cluster = cluster
        self.authority = authority
        self.server = None
        self.routes = [
            ("POST", re.compile(r"^/auth/login$"), self._login),
            ("GET", re.compile(r"^/auth/login$"), self._login_without_query),
            ("GET", re.compile(r"^/auth/jwks$"), self._jwks),
            ("GET", re.compile(r"^/auth/providers$"), self._providers),
            ("GET", re.compile(r"^/users$"), self._users),
            ("GET", re.compile(r"^/users/(?P<uid>[^/]+)$"), self._user),
            ("GET", re.compile(r"^/users/(?P<uid>[^/]+)/groups$"), self._user_groups),
            ("GET", re.compile(r"^/users/(?P<uid>[^/]+)/permissions$"), self._user_permissions),
            ("GET", re.compile(r"^/groups$"), self._groups),
            ("GET", re.compile(r"^/groups/(?P<gid>[^/]+)$"), self._group),
            ("GET", re.compile(r"^/groups/(?P<gid>[^/]+)/users$"), self._group_users),
            ("GET", re.compile(r"^/acls$"), self._acls),
            ("GET", re.compile(r"^/acls/(?P<rid>[^/]+)/users/(?P<uid>[^/]+)/(?P<action>[^/]+)$"),
             self._check_permission),
        ]

    def fault_body(self, code: int):
        body = {"title": reason_phrase(code), "description": "Injected fault: HTTP %d" % code,
                "code": "ERR_SERVICE_UNAVAILABLE" if code == 503 else "ERR_INTERNAL"}
        return json.dumps(body), "application/json"

    def handle(self, request):
        if not request.path.startswith(PREFIX + "/"):
            self._error(request, 404, "Not Found", "Unknown path %s." % request.path, "ERR_NOT_FOUND")
            return
        # Decoded once, as the web server in front of Bouncer passes it on.
        subpath = urllib.parse.unquote(request.path[len(PREFIX):])
        methods = []
        for method, pattern, handler in self.routes:
            match = pattern.match(subpath)
            if not match:
                continue
            methods.append(method)
            if method == request.method:
                if not subpath.startswith("/auth/") and not self._caller_may_read(request):
                    return
                handler(request, **match.groupdict())
                return
        if methods:
            self._error(request, 405, "Method Not Allowed",
                        "Method %s is not allowed on %s; allowed: %s." % (request.method, request.path,
                                                                           ", ".join(methods)),
                        "ERR_METHOD_NOT_ALLOWED", headers=[("Allow", ", ".join(methods))])
            return
        self._error(request, 404, "Not Found", "Unknown path %s." % request.path, "ERR_NOT_FOUND")

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _json(request, status, value, headers=()):
        request.respond(status, json.dumps(value), content_type="application/json", headers=headers)

    def _error(self, request, status, title, description, code, headers=()):
        self._json(request, status, {"title": title, "description": description, "code": code}, headers)

    def _invalid_credentials(self, request, description):
        self._error(request, 401, "Unauthorized", description, "ERR_INVALID_CREDENTIALS",
                    headers=[("WWW-Authenticate", "acsjwt")])

    # -- /auth ---------------------------------------------------------------------------

    def _login(self, request):
        content_type = request.headers.get("Content-Type")
        body = request.read_all(limit=1024 * 1024)
        if content_type is None:
            self._error(request, 400, "Bad Request", "Request has no Content-Type header.",
                        "ERR_MISSING_CONTENT_TYPE")
            return
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            self._error(request, 400, "Bad Request",
                        "Bad Content-Type %r: the request body must be JSON (application/json)." % content_type,
                        "ERR_INVALID_CONTENT_TYPE")
            return
        try:
            login = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            self._error(request, 400, "Bad Request", "The request body is not valid JSON: %s." % error,
                        "ERR_INVALID_DATA")
            return
        if not isinstance(login, dict):
            self._error(request, 400, "Bad Request", "The request body must be a JSON object.", "ERR_INVALID_DATA")
            return
        for field in ("uid", "password", "token"):
            if field in login and not isinstance(login[field], str):
                self._error(request, 400, "Bad Request", "Field %r must be a string." % field, "ERR_INVALID_DATA")
                return

        uid = login.get("uid")
        request.log_fields["uid"] = uid
        if uid is None:
            self._error(request, 400, "Bad Request",
                        "Login needs uid and password, or uid and a service login token.", "ERR_INVALID_DATA")
            return
        user = self.cluster.users.get(uid)
        if "password" in login:
            if user is None or user.password is None or user.password != login["password"]:
                LOG.info("login failed for uid %r: invalid credentials", uid)
                self._invalid_credentials(request, "The login credentials are invalid.")
                return
        elif "token" in login:
            error = self._check_service_login_token(user, login["token"])
            if error is not None:
                LOG.info("service login failed for uid %r: %s", uid, error)
                self._invalid_credentials(request, "The service login token is invalid: %s." % error)
                return
        else:
            self._error(request, 400, "Bad Request",
                        "Login needs uid and password, or uid and a service login token.", "ERR_INVALID_DATA")
            return

        token = self.authority.issue(uid)
        info = base64.b64encode(json.dumps({"uid": uid, "description": user.description,
                                            "is_remote": False}).encode("utf-8")).decode("ascii")
        LOG.info("login succeeded for uid %r", uid)
        self._json(request, 200, {"token": token}, headers=[
            ("Set-Cookie", "dcos-acs-auth-cookie=%s; HttpOnly; Path=/" % token),
            ("Set-Cookie", "dcos-acs-info-cookie=%s; Path=/" % info),
        ])

    @staticmethod
    def _check_service_login_token(user, token):
        """Return why a service login token is not acceptable, or None."""
        if user is None or user.public_key is None:
            return "no service account with a public key has this uid"
        try:
            claims = verify_rs256(token, load_public_key(user.public_key))
        except (TokenError, ValueError) as error:
            return str(error)
        if claims["uid"] != user.uid:
            return "uid claim %r does not match the login uid" % claims["uid"]
        if claims["exp"] > time.time() + MAX_SERVICE_LOGIN_TOKEN_SECONDS:
            return "exp is more than %d seconds in the future" % MAX_SERVICE_LOGIN_TOKEN_SECONDS
        return None

    def _login_without_query(self, request):
        self._error(request, 400, "Bad Request", "Missing query parameters for the login flow.",
                    "ERR_MISSING_QUERY_PARAMETERS")

    def _jwks(self, request):
        self._json(request, 200, self.authority.jwks())

    def _providers(self, request):
        self._json(request, 200, LOGIN_PROVIDERS)


    # -- access to the non-auth endpoints --------------------------------------------------

    def _caller_may_read(self, request) -> bool:
        """Check the caller's token and permission; send 401 or 403 and return False if lacking."""
        token = extract_token(request.headers)
        if token is None:
            self._error(request, 401, "Unauthorized", "Authentication required: send a DC/OS auth token.",
                        "ERR_MISSING_AUTH_TOKEN", headers=[("WWW-Authenticate", "acsjwt")])
            return False
        try:
            uid = self.authority.verify(token)["uid"]
        except TokenError as error:
            self._error(request, 401, "Unauthorized", "Invalid authentication token: %s." % error,
                        "ERR_INVALID_AUTH_TOKEN", headers=[("WWW-Authenticate", "acsjwt")])
            return False
        request.log_fields["uid"] = uid
        if not self.cluster.policy.allowed(uid, "dcos:adminrouter:acs", "full"):
            self._error(request, 403, "Forbidden",
                        "uid %r may not read users and ACLs: it needs dcos:superuser or "
                        "dcos:adminrouter:acs full." % uid, "ERR_FORBIDDEN")
            return False
        return True

    # -- users and groups ------------------------------------------------------------------

    def _user_json(self, user) -> dict:
        value = {"uid": user.uid, "url": PREFIX + "/users/" + urllib.parse.quote(user.uid, safe="@"),
                 "description": user.description, "is_remote": False, "is_service": user.is_service,
                 "provider_type": "internal", "provider_id": ""}
        if user.public_key is not None:
            value["public_key"] = user.public_key
        return value

    def _group_json(self, gid) -> dict:
        return {"gid": gid, "url": PREFIX + "/groups/" + gid, "description": self.cluster.groups[gid],
                "provider_type": "internal"}

    def _known_user(self, request, uid):
        user = self.cluster.users.get(uid)
        if user is None:
            self._error(request, 400, "Bad Request", "User with uid `%s` not known." % uid, "ERR_UNKNOWN_USER_ID")
        return user

    def _users(self, request):
        kind = (request.query.get("type") or [None])[0]
        if kind not in (None, "service"):
            self._error(request, 400, "Bad Request", "Unknown user type %r." % kind, "ERR_INVALID_DATA")
            return
        users = [self._user_json(user) for user in self.cluster.users.values()
                 if user.is_service == (kind == "service")]
        self._json(request, 200, {"array": users})

    def _user(self, request, uid):
        user = self._known_user(request, uid)
        if user is not None:
            self._json(request, 200, self._user_json(user))

    def _user_groups(self, request, uid):
        user = self._known_user(request, uid)
        if user is None:
            return
        self._json(request, 200, {"array": [
            {"membershipurl": PREFIX + "/groups/%s/users/%s" % (gid, uid), "group": self._group_json(gid)}
            for gid in user.groups]})

    def _permission_json(self, grant, uid):
        encoded = grant.rid.replace("/", "%252F")
        entry = {"rid": grant.rid, "description": grant.rid, "aclurl": PREFIX + "/acls/" + encoded,
                 "actions": [{"name": action, "url": PREFIX + "/acls/%s/%s/%s/%s" % (
                     encoded, "users" if grant.principal_kind == "user" else "groups", grant.principal, action)}
                     for action in grant.actions]}
        if grant.principal_kind == "group":
            entry["gid"] = grant.principal
            entry["membershipurl"] = PREFIX + "/groups/%s/users/%s" % (grant.principal, uid)
        return entry

    def _user_permissions(self, request, uid):
        if self._known_user(request, uid) is None:
            return
        grants = self.cluster.policy.grants_of(uid)
        self._json(request, 200, {
            "direct": [self._permission_json(g, uid) for g in grants if g.principal_kind == "user"],
            "groups": [self._permission_json(g, uid) for g in grants if g.principal_kind == "group"]})

    def _groups(self, request):
        self._json(request, 200, {"array": [self._group_json(gid) for gid in self.cluster.groups]})

    def _known_group(self, request, gid):
        if gid not in self.cluster.groups:
            self._error(request, 400, "Bad Request", "Group with gid `%s` not known." % gid, "ERR_UNKNOWN_GROUP_ID")
            return False
        return True

    def _group(self, request, gid):
        if self._known_group(request, gid):
            self._json(request, 200, self._group_json(gid))

    def _group_users(self, request, gid):
        if not self._known_group(request, gid):
            return
        self._json(request, 200, {"array": [
            {"membershipurl": PREFIX + "/groups/%s/users/%s" % (gid, user.uid), "user": self._user_json(user)}
            for user in self.cluster.users.values() if gid in user.groups]})

    # -- ACLs --------------------------------------------------------------------------------

    def _acls(self, request):
        rids = sorted({grant.rid for grant in self.cluster.policy.grants})
        self._json(request, 200, {"array": [
            {"rid": rid, "url": PREFIX + "/acls/" + rid.replace("/", "%252F"), "description": rid}
            for rid in rids]})

    def _check_permission(self, request, rid, uid, action):
        # The rid segment is decoded a second time, as Bouncer does ("%252F" -> "%2F" -> "/").
        rid = urllib.parse.unquote(rid)
        if action not in acl.ACTIONS:
            self._error(request, 400, "Bad Request", "Unknown action %r." % action, "ERR_INVALID_DATA")
            return
        if self._known_user(request, uid) is None:
            return
        allowed = self.cluster.policy.allowed(uid, rid, action)
        LOG.info("ACL check: uid %r %s %s: %s", uid, rid, action, "allowed" if allowed else "denied")
        self._json(request, 200, {"allowed": allowed})
