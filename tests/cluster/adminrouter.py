"""Token and permission checks in the style of DC/OS Admin Router, used by the master and
agent servers.

Admin Router takes the token from `Authorization: token=<jwt>`, then from
`Authorization: Bearer <jwt>`, then from the `dcos-acs-auth-cookie` cookie. It responds
401 with an HTML page and `WWW-Authenticate: acsjwt` (DC/OS Enterprise) when the token
is missing or invalid.
"""

import http.cookies
import logging

from tokens import TokenError

LOG = logging.getLogger("emulator.auth")

FORBIDDEN_PAGE = (
    "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
    "<center><h1>403 Forbidden</h1></center>\r\n"
    "<p>%s</p>\r\n</body>\r\n</html>\r\n")

UNAUTHORIZED_PAGE = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n"
    "<p>%s</p>\r\n</body>\r\n</html>\r\n")


def extract_token(headers):
    """Return the token a request carries, or None."""
    authorization = headers.get("Authorization")
    if authorization:
        if authorization.startswith("token="):
            return authorization[len("token="):].strip()
        if authorization.startswith("Bearer "):
            return authorization[len("Bearer "):].strip()
        return None
    cookie_header = headers.get("Cookie")
    if cookie_header:
        cookies = http.cookies.SimpleCookie()
        try:
            cookies.load(cookie_header)
        except http.cookies.CookieError:
            return None
        if "dcos-acs-auth-cookie" in cookies:
            return cookies["dcos-acs-auth-cookie"].value
    return None


def authenticate(request, authority):
    """Return the uid of a valid token, or send 401 and return None.

    NOTE: Admin Router checks `exp` only when the claim is present. The emulator
    requires the claim, because every token its IAM issues has one.
    """
    token = extract_token(request.headers)
    if token is None:
        reason = "missing token: send Authorization: token=<DC/OS auth token>"
    else:
        try:
            claims = authority.verify(token)
            request.log_fields["uid"] = claims["uid"]
            return claims["uid"]
        except TokenError as error:
            reason = "invalid token: %s" % error
    LOG.info("%s: 401 for %s %s: %s", request.server.name, request.method, request.path, reason)
    request.respond(401, UNAUTHORIZED_PAGE % reason, content_type="text/html",
                    headers=[("WWW-Authenticate", "acsjwt")])
    return None


def authorize(request, cluster, uid, rid, action, html=True):
    """Return True when `uid` holds `action` on `rid`; otherwise send 403 and return False.

    `html` selects Admin Router's HTML page; Mesos itself answers 403 with an empty body.
    Nothing is checked with security "disabled".
    """
    if cluster.security == "disabled" or cluster.policy.allowed(uid, rid, action):
        return True
    reason = "uid %r lacks %s %s" % (uid, rid, action)
    request.log_fields["error"] = reason
    LOG.info("%s: 403 for %s %s: %s", request.server.name, request.method, request.path, reason)
    if html:
        request.respond(403, FORBIDDEN_PAGE % reason, content_type="text/html")
    else:
        request.respond(403, "")
    return False
