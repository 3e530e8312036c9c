"""The emulated DC/OS IAM (Bouncer) under /acs/api/v1.

Implemented: POST /auth/login (uid and password, or uid and a service login token),
GET /auth/jwks and GET /auth/providers. Routes live in one table of (method, path
pattern, handler), so user, group and ACL endpoints can be added as more rows.

Errors are JSON objects with `title`, `description` and `code`, as Bouncer sends them.
NOTE: only ERR_INVALID_CREDENTIALS and ERR_MISSING_QUERY_PARAMETERS are documented codes;
the other codes here are the emulator's own names.
"""

import base64
import json
import logging
import re
import time

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
        ]

    def fault_body(self, code: int):
        body = {"title": reason_phrase(code), "description": "Injected fault: HTTP %d" % code,
                "code": "ERR_SERVICE_UNAVAILABLE" if code == 503 else "ERR_INTERNAL"}
        return json.dumps(body), "application/json"

    def handle(self, request):
        if not request.path.startswith(PREFIX + "/"):
            self._error(request, 404, "Not Found", "Unknown path %s." % request.path, "ERR_NOT_FOUND")
            return
        subpath = request.path[len(PREFIX):]
        methods = []
        for method, pattern, handler in self.routes:
            match = pattern.match(subpath)
            if not match:
                continue
            methods.append(method)
            if method == request.method:
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

