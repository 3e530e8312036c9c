"""Media type negotiation, decoding and validation of agent v1 Calls, with the texts of
Mesos's slave/http.cpp, slave/validation.cpp, common/validation.cpp and the I/O
switchboard."""

import json

import protojson
import recordio
from mesoshttp import (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO, MESSAGE_ACCEPT,
                       MESSAGE_CONTENT_TYPE, accepts_media_type, method_not_allowed)

# slave/constants.hpp MAX_CONTAINER_ID_LENGTH, and NAME_MAX for any Mesos ID.
MAX_CONTAINER_ID_LENGTH = 242
NAME_MAX = 255


class CallError(ValueError):
    """A call that fails decoding or validation; the text is the 400 body."""


def decode_call(body: bytes) -> dict:
    """JSON bytes to a validated agent Call dict; raise CallError."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CallError("Failed to parse body into JSON: %s" % error) from None
    try:
        call = protojson.parse(protojson.AgentCall, value)
    except protojson.ProtoError as error:
        raise CallError(str(error)) from None
    message = validate_call(call)
    if message is not None:
        raise CallError("Failed to validate agent::Call: " + message)
    return call


def validate_id(value: str):
    if value == "":
        return "ID must not be empty"
    if len(value) > NAME_MAX:
        return "ID must not be greater than %d characters" % NAME_MAX
    if value in (".", ".."):
        return "'%s' is disallowed" % value
    if any(ord(c) < 0x20 or ord(c) == 0x7f or c in "/\\" for c in value):
        return "'%s' contains invalid characters" % value
    return None


def validate_container_id(container_id: dict):
    value = container_id.get("value", "")
    error = validate_id(value)
    if error is not None:
        return error
    if len(value) > MAX_CONTAINER_ID_LENGTH:
        return "'ContainerID.value' '%s' exceeds the maximum length (%d)" % (value, MAX_CONTAINER_ID_LENGTH)
    if "." in value or " " in value:
        return "'ContainerID.value' '%s' contains invalid characters" % value
    if "parent" in container_id:
        error = validate_container_id(container_id["parent"])
        if error is not None:
            return "'ContainerID.parent' is invalid: " + error
    return None


def _validate_environment(environment: dict):
    for variable in environment.get("variables", []):
        kind = variable.get("type", "VALUE")
        name = variable["name"]
        if kind == "SECRET":
            if "secret" not in variable:
                return "Environment variable '%s' of type 'SECRET' must have a secret set" % name
            if "value" in variable:
                return "Environment variable '%s' of type 'SECRET' must not have a value set" % name
        elif kind == "VALUE":
            if "value" not in variable:
                return "Environment variable '%s' of type 'VALUE' must have a value set" % name
            if "secret" in variable:
                return "Environment variable '%s' of type 'VALUE' must not have a secret set" % name
        else:
            return "Environment variable of type 'UNKNOWN' is not allowed"
    return None


def _validate_container_info(container: dict):
    if container.get("type") == "DOCKER" and "docker" not in container:
        return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
    return None


def _validate_nested_id(call: dict, field: str, require_parent: bool):
    if field not in call:
        return "Expecting '%s' to be present" % field
    container_id = call[field]["container_id"]
    error = validate_container_id(container_id)
    if error is not None:
        return "'%s.container_id' is invalid: %s" % (field, error)
    if require_parent and "parent" not in container_id:
        return "Expecting '%s.container_id.parent' to be present" % field
    return None


def validate_call(call: dict):
    """Return the validation error text of an agent Call, or None."""
    kind = call.get("type")
    if kind is None:
        return "Expecting 'type' to be present"

    if kind == "LAUNCH_NESTED_CONTAINER_SESSION":
        if "launch_nested_container_session" not in call:
            return "Expecting 'launch_nested_container_session' to be present"
        launch = call["launch_nested_container_session"]
        error = validate_container_id(launch["container_id"])
        if error is not None:
            return "'launch_nested_container_session.container_id' is invalid: " + error
        if "parent" not in launch["container_id"]:
            return "Expecting 'launch_nested_container_session.container_id.parent' to be present"
        if "command" in launch:
            error = _validate_environment(launch["command"].get("environment", {}))
            if error is not None:
                return "'launch_nested_container_session.command' is invalid: " + error
        if "container" in launch:
            container = launch["container"]
            error = _validate_container_info(container)
            if error is not None:
                return "'launch_nested_container_session.container' is invalid: " + error
            if container.get("linux_info", {}).get("share_cgroups", True) is False:
                return ("'launch_nested_container_session.container.linux_info' is invalid: "
                        "'share_cgroups' cannot be set to 'false' for nested container sessions")
        return None

    if kind == "ATTACH_CONTAINER_INPUT":
        if "attach_container_input" not in call:
            return "Expecting 'attach_container_input' to be present"
        attach = call["attach_container_input"]
        if "type" not in attach:
            return "Expecting 'attach_container_input.type' to be present"
        if attach["type"] == "UNKNOWN":
            return "'attach_container_input.type' is unknown"
        if attach["type"] == "CONTAINER_ID":
            error = validate_container_id(attach.get("container_id", {}))
            if error is not None:
                return "'attach_container_input.container_id' is invalid: " + error
        return None

    if kind in ("ATTACH_CONTAINER_OUTPUT", "WAIT_CONTAINER", "KILL_CONTAINER", "REMOVE_CONTAINER"):
        return _validate_nested_id(call, kind.lower(), require_parent=False)
    if kind in ("WAIT_NESTED_CONTAINER", "KILL_NESTED_CONTAINER", "REMOVE_NESTED_CONTAINER"):
        return _validate_nested_id(call, kind.lower(), require_parent=True)
    return None


def validate_input_record(attach: dict):
    """Validate a later ATTACH_CONTAINER_INPUT record as the switchboard does; return the error or None."""
    kind = attach.get("type", "UNKNOWN")
    if kind in ("UNKNOWN", "CONTAINER_ID"):
        return "Expecting 'attach_container_input.type' to be 'PROCESS_IO' instead of: '%s'" % kind
    if "process_io" not in attach:
        return "Expecting 'attach_container_input.process_io' to be present"

    message = attach["process_io"]
    if "type" not in message:
        return "Expecting 'process_io.type' to be present"
    if message["type"] == "UNKNOWN":
        return "'process_io.type' is unknown"
    if message["type"] == "CONTROL":
        return _validate_control(message)

    if "data" not in message:
        return "Expecting 'process_io.data' to be present"
    data = message["data"]
    if "type" not in data:
        return "Expecting 'process_io.data.type' to be present"
    if data["type"] != "STDIN":
        return "Expecting 'process_io.data.type' to be 'STDIN'"
    if "data" not in data:
        return "Expecting 'process_io.data.data' to be present"
    return None


def _validate_control(message: dict):
    if "control" not in message:
        return "Expecting 'process_io.control' to be present"
    control = message["control"]
    if "type" not in control:
        return "Expecting 'process_io.control.type' to be present"
    if control["type"] == "UNKNOWN":
        return "'process_io.control.type' is unknown"

    if control["type"] == "TTY_INFO":
        if "tty_info" not in control:
            return "Expecting 'process_io.control.tty_info' to be present"
        if "window_size" not in control["tty_info"]:
            return "Expecting 'tty_info.window_size' to be present"
        return None

    if "heartbeat" not in control:
        return "Expecting 'process_io.control.heartbeat' to be present"
    return None


class MediaTypes:
    """The negotiated encodings of one call."""

    def __init__(self, content, accept, message_content=None, message_accept=None):
        self.content = content
        self.accept = accept
        self.message_content = message_content
        self.message_accept = message_accept

    @property
    def streaming_request(self) -> bool:
        return self.content == APPLICATION_RECORDIO

    @property
    def streaming_response(self) -> bool:
        return self.accept == APPLICATION_RECORDIO


def negotiate(request):
    """Check the request's media type headers; send the error response and return None on an error."""
    if request.method != "POST":
        method_not_allowed(request)
        return None

    content_type = request.headers.get("Content-Type")
    if content_type is None:
        request.respond(400, "Expecting 'Content-Type' to be present")
        return None
    if content_type not in (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO):
        request.respond(415, "Expecting 'Content-Type' of %s or %s or %s"
                        % (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO))
        return None

    message_content = request.headers.get(MESSAGE_CONTENT_TYPE)
    if content_type == APPLICATION_RECORDIO:
        if message_content is None:
            request.respond(400, "Expecting '%s' to be set for streaming requests" % MESSAGE_CONTENT_TYPE)
            return None
        if message_content not in (APPLICATION_JSON, APPLICATION_PROTOBUF):
            request.respond(415, "Expecting '%s' of %s or %s"
                            % (MESSAGE_CONTENT_TYPE, APPLICATION_JSON, APPLICATION_PROTOBUF))
            return None
    elif message_content is not None:
        request.respond(415, "Expecting '%s' to be not set for non-streaming requests" % MESSAGE_CONTENT_TYPE)
        return None

    accept_header = request.headers.get("Accept")
    if accepts_media_type(accept_header, APPLICATION_JSON):
        accept = APPLICATION_JSON
    elif accepts_media_type(accept_header, APPLICATION_PROTOBUF):
        accept = APPLICATION_PROTOBUF
    elif accepts_media_type(accept_header, APPLICATION_RECORDIO):
        accept = APPLICATION_RECORDIO
    else:
        request.respond(406, "Expecting 'Accept' to allow %s or %s or %s"
                        % (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO))
        return None

    message_accept = None
    message_accept_header = request.headers.get(MESSAGE_ACCEPT)
    if accept == APPLICATION_RECORDIO:
        if accepts_media_type(message_accept_header, APPLICATION_JSON):
            message_accept = APPLICATION_JSON
        elif accepts_media_type(message_accept_header, APPLICATION_PROTOBUF):
            message_accept = APPLICATION_PROTOBUF
        else:
            request.respond(406, "Expecting '%s' to allow %s or %s"
                            % (MESSAGE_ACCEPT, APPLICATION_JSON, APPLICATION_PROTOBUF))
            return None
    elif message_accept_header is not None:
        request.respond(406, "Expecting '%s' to be not set for non-streaming responses" % MESSAGE_ACCEPT)
        return None

    # NOTE: real agents also speak protobuf; the emulator only JSON, so it rejects
    # protobuf with an explicit message instead of misreading it.
    if APPLICATION_PROTOBUF in (content_type, message_content):
        request.respond(415, "The cluster emulator only decodes application/json request bodies")
        return None
    if APPLICATION_PROTOBUF in (accept, message_accept):
        request.respond(406, "The cluster emulator only encodes application/json responses")
        return None
    return MediaTypes(content_type, accept, message_content, message_accept)

def read_call(request, media):
    """Read the call (for a streaming body only its first record); return (call, decoder)."""
    if not media.streaming_request:
        body = request.read_all()
        try:
            return decode_call(body), None
        except CallError as error:
            request.respond(400, str(error))
            return None, None

    decoder = recordio.Decoder()
    while True:
        data = request.read_body()
        if not data:
            request.respond(400, "Received EOF while reading request body")
            return None, None
        try:
            records = decoder.feed(data)
        except recordio.RecordIOError as error:
            request.respond(400, "Failed to decode the RecordIO request body: %s" % error)
            return None, None
        if records:
            break
    try:
        call = decode_call(records[0])
    except CallError as error:
        request.respond(400, str(error))
        return None, None
    return call, (decoder, records[1:])
