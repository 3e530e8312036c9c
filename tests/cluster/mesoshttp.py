"""HTTP conventions shared by the emulated Mesos master and agent (libprocess behaviour)."""

import json

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
APPLICATION_RECORDIO = "application/recordio"
MESSAGE_CONTENT_TYPE = "Message-Content-Type"
MESSAGE_ACCEPT = "Message-Accept"


def accepts_media_type(header_value, media_type: str) -> bool:
    """Match a media type against an Accept-style header as libprocess does.

    An absent header accepts everything. The candidates `type/subtype`, `type/*` and
    `*/*` are tried in that order; the first listed entry that matches decides, and it
    accepts unless it carries q=0.
    """
    parts = media_type.split("/")
    if len(parts) != 2:
        return False
    if header_value is None:
        return True
    value = header_value.replace(" ", "").replace("\t", "").replace("\n", "")
    for candidate in (media_type, parts[0] + "/*", "*/*"):
        for entry in filter(None, value.split(",")):
            tokens = [token for token in entry.split(";") if token]
            if not tokens or tokens[0].lower() != candidate.lower():
                continue
            q_values = [token.split("=", 1)[1] for token in tokens[1:]
                        if token.startswith("q=") and "=" in token]
            if len(q_values) != 1:
                return True
            try:
                return float(q_values[0]) > 0
            except ValueError:
                return False
    return False


def method_not_allowed(request, allowed=("POST",)):
    """405 with the body and Allow header libprocess's MethodNotAllowed builds."""
    body = "405 Method Not Allowed. Expecting one of { '%s' }, but received '%s'." % (
        "', '".join(allowed), request.method)
    request.respond(405, body, headers=[("Allow", ", ".join(allowed))])


def respond_json(request, value, status=200, jsonp=None):
    """Send compact JSON; with `jsonp` wrap it in a call as libprocess's OK(json, jsonp) does."""
    body = json.dumps(value, separators=(",", ":"))
    if jsonp:
        request.respond(status, "%s(%s);" % (jsonp, body), content_type="text/javascript")
    else:
        request.respond(status, body, content_type=APPLICATION_JSON)


def query_value(request, name):
    values = request.query.get(name)
    return values[0] if values else None
