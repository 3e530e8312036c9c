"""JSON to protobuf-shaped dicts, with the rules and error texts of stout's protobuf.hpp.

Mesos converts a JSON request body to a protobuf message before it validates it. This
module does the same for the messages the emulator reads, so that clients see the same
behaviour. Unknown fields are ignored and `null` means unset. Bytes fields are standard
base64. An unknown enum name drops an optional field and fails a required one. Integer
fields take JSON numbers or numeric strings. After parsing, missing required fields fail
with "Missing required fields: <paths>".
"""

import base64
import re


class ProtoError(ValueError):
    """A JSON value that does not convert to the message."""


class Field:
    def __init__(self, kind, required=False, repeated=False, enum=None, message=None):
        self.kind = kind  # string, bytes, bool, int, double, enum, message, any
        self.required = required
        self.repeated = repeated
        self.enum = enum
        self.message = message


class Message:
    """A message schema: a name and ordered fields. Fields may be added after creation
    so that recursive messages (ContainerID.parent) can refer to themselves."""

    def __init__(self, message_name, **fields):
        self.name = message_name
        self.fields = dict(fields)


INTEGER = re.compile(r"^\s*-?\d+\s*$")


def _parse_number_string(text, field_name):
    try:
        return float(text) if not INTEGER.match(text) else int(text)
    except ValueError:
        raise ProtoError("Failed to parse '%s' as a JSON number for field '%s'" % (text, field_name)) from None


def _json_kind(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _convert_scalar(field: Field, name: str, value):
    kind = field.kind
    if kind == "any":
        return value
    if isinstance(value, dict):
        if kind == "message":
            return parse_message(field.message, value)
        raise ProtoError("Not expecting a JSON object for field '%s'" % name)
    if kind == "message":
        raise ProtoError("Not expecting a JSON %s for field '%s'" % (_json_kind(value), name))
    if isinstance(value, bool):
        if kind == "bool":
            return value
        raise ProtoError("Not expecting a JSON boolean for field '%s'" % name)
    if isinstance(value, (int, float)):
        if kind == "int":
            return int(value)
        if kind == "double":
            return float(value)
        raise ProtoError("Not expecting a JSON number for field '%s'" % name)
    if isinstance(value, str):
        if kind == "string":
            return value
        if kind == "bytes":
            try:
                return stout_base64_decode(value)
            except ValueError as error:
                raise ProtoError("Failed to base64 decode bytes field '%s': %s" % (name, error)) from None
        if kind == "enum":
            if value in field.enum:
                return value
            if field.required:
                raise ProtoError("Failed to find enum for '%s'" % value)
            return _DROP
        if kind == "int":
            number = _parse_number_string(value, name)
            return int(number)
        if kind == "double":
            return float(_parse_number_string(value, name))
        if kind == "bool":
            if value in ("true", "false"):
                return value == "true"
            raise ProtoError("Failed to parse '%s' as a JSON boolean for field '%s'" % (value, name))
    raise ProtoError("Not expecting a JSON %s for field '%s'" % (_json_kind(value), name))


BASE64_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def stout_base64_decode(text: str) -> bytes:
    """Decode standard base64 as stout does: stop at the first '=', skip whitespace,
    accept missing padding, and reject any other character outside the alphabet."""
    alphabet_characters = []
    for character in text:
        if character == "=":
            break
        if character in " \t\n\r\v\f":
            continue
        if character not in BASE64_ALPHABET:
            raise ValueError("Invalid character '%s'" % character)
        alphabet_characters.append(character)
    if len(alphabet_characters) % 4 == 1:
        alphabet_characters.pop()  # A lone trailing character carries no whole byte.
    encoded = "".join(alphabet_characters)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


class _Drop:
    pass


_DROP = _Drop()


def parse_message(schema: Message, obj) -> dict:
    """Convert a JSON object to a dict of known fields; required fields are checked later."""
    if not isinstance(obj, dict):
        raise ProtoError("Expecting a JSON object")
    result = {}
    for name, value in obj.items():
        field = schema.fields.get(name)
        if field is None or value is None:
            continue
        if isinstance(value, list):
            if not field.repeated:
                raise ProtoError("Not expecting a JSON array for field '%s'" % name)
            items = []
            for item in value:
                if item is None:
                    continue
                converted = _convert_scalar(field, name, item)
                if converted is not _DROP:
                    items.append(converted)
            result[name] = items
            continue
        if field.repeated and field.kind != "any":
            # stout applies a single value to a repeated field as one element.
            converted = _convert_scalar(field, name, value)
            if converted is not _DROP:
                result[name] = [converted]
            continue
        converted = _convert_scalar(field, name, value)
        if converted is not _DROP:
            result[name] = converted
    return result


def missing_required(schema: Message, value: dict, prefix="") -> list:
    """Return the dotted paths of unset required fields, as InitializationErrorString lists them."""
    # Like protobuf's FindInitializationErrors: this message's own fields first, then
    # the set sub-messages in field order.
    missing = [prefix + name for name, field in schema.fields.items()
               if field.required and name not in value]
    for name, field in schema.fields.items():
        if name not in value or field.kind != "message":
            continue
        if field.repeated:
            for index, item in enumerate(value[name]):
                missing += missing_required(field.message, item, "%s%s[%d]." % (prefix, name, index))
        else:
            missing += missing_required(field.message, value[name], prefix + name + ".")
    return missing


def parse(schema: Message, obj) -> dict:
    """Convert and check required fields; raise ProtoError with Mesos's text."""
    message = parse_message(schema, obj)
    missing = missing_required(schema, message)
    if missing:
        raise ProtoError("Missing required fields: " + ", ".join(missing))
    return message


# -- Mesos v1 messages (only the fields the emulator reads are typed) ---------------------

ContainerID = Message("ContainerID", value=Field("string", required=True))
ContainerID.fields["parent"] = Field("message", message=ContainerID)

DurationInfo = Message("DurationInfo", nanoseconds=Field("int", required=True))

WindowSize = Message("WindowSize", rows=Field("int", required=True), columns=Field("int", required=True))
TTYInfo = Message("TTYInfo", window_size=Field("message", message=WindowSize))

SecretValue = Message("Secret.Value", data=Field("bytes", required=True))
Secret = Message("Secret", type=Field("enum", enum=("UNKNOWN", "REFERENCE", "VALUE")),
                 reference=Field("any"), value=Field("message", message=SecretValue))
Variable = Message("Environment.Variable", name=Field("string", required=True),
                   type=Field("enum", enum=("UNKNOWN", "VALUE", "SECRET")),
                   value=Field("string"), secret=Field("message", message=Secret))
Environment = Message("Environment", variables=Field("message", repeated=True, message=Variable))
CommandInfo = Message("CommandInfo", uris=Field("any", repeated=True),
                      environment=Field("message", message=Environment),
                      shell=Field("bool"), value=Field("string"),
                      arguments=Field("string", repeated=True), user=Field("string"))
LinuxInfo = Message("LinuxInfo", share_cgroups=Field("bool"))
ContainerInfo = Message("ContainerInfo", type=Field("enum", required=True, enum=("DOCKER", "MESOS")),
                        volumes=Field("any", repeated=True), hostname=Field("string"),
                        docker=Field("any"), mesos=Field("any"), network_infos=Field("any", repeated=True),
                        linux_info=Field("message", message=LinuxInfo),
                        tty_info=Field("message", message=TTYInfo))

Heartbeat = Message("Heartbeat", interval=Field("message", message=DurationInfo))
Control = Message("ProcessIO.Control", type=Field("enum", enum=("UNKNOWN", "TTY_INFO", "HEARTBEAT")),
                  tty_info=Field("message", message=TTYInfo),
                  heartbeat=Field("message", message=Heartbeat))
Data = Message("ProcessIO.Data", type=Field("enum", enum=("UNKNOWN", "STDIN", "STDOUT", "STDERR")),
               data=Field("bytes"))
ProcessIO = Message("ProcessIO", type=Field("enum", enum=("UNKNOWN", "DATA", "CONTROL")),
                    data=Field("message", message=Data), control=Field("message", message=Control))

AGENT_CALL_TYPES = (
    "UNKNOWN", "GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL", "LIST_FILES", "READ_FILE", "GET_STATE", "GET_CONTAINERS",
    "GET_FRAMEWORKS", "GET_EXECUTORS", "GET_OPERATIONS", "GET_TASKS", "GET_AGENT",
    "GET_RESOURCE_PROVIDERS", "LAUNCH_NESTED_CONTAINER", "WAIT_NESTED_CONTAINER",
    "KILL_NESTED_CONTAINER", "REMOVE_NESTED_CONTAINER", "LAUNCH_NESTED_CONTAINER_SESSION",
    "ATTACH_CONTAINER_INPUT", "ATTACH_CONTAINER_OUTPUT", "LAUNCH_CONTAINER", "WAIT_CONTAINER",
    "KILL_CONTAINER", "REMOVE_CONTAINER", "ADD_RESOURCE_PROVIDER_CONFIG",
    "UPDATE_RESOURCE_PROVIDER_CONFIG", "REMOVE_RESOURCE_PROVIDER_CONFIG",
    "MARK_RESOURCE_PROVIDER_GONE", "PRUNE_IMAGES",
)


def _with_container_id(name, **extra):
    return Message(name, container_id=Field("message", required=True, message=ContainerID), **extra)


LaunchNestedContainerSession = _with_container_id(
    "LaunchNestedContainerSession", command=Field("message", message=CommandInfo),
    container=Field("message", message=ContainerInfo))
AttachContainerInput = Message(
    "AttachContainerInput", type=Field("enum", enum=("UNKNOWN", "CONTAINER_ID", "PROCESS_IO")),
    container_id=Field("message", message=ContainerID), process_io=Field("message", message=ProcessIO))
GetContainers = Message("GetContainers", show_nested=Field("bool"), show_standalone=Field("bool"))

AgentCall = Message(
    "agent.Call",
    type=Field("enum", enum=AGENT_CALL_TYPES),
    get_containers=Field("message", message=GetContainers),
    launch_nested_container_session=Field("message", message=LaunchNestedContainerSession),
    attach_container_input=Field("message", message=AttachContainerInput),
    attach_container_output=Field("message", message=_with_container_id("AttachContainerOutput")),
    wait_container=Field("message", message=_with_container_id("WaitContainer")),
    wait_nested_container=Field("message", message=_with_container_id("WaitNestedContainer")),
    kill_container=Field("message", message=_with_container_id("KillContainer", signal=Field("int"))),
    kill_nested_container=Field("message", message=_with_container_id("KillNestedContainer",
                                                                      signal=Field("int"))),
    remove_container=Field("message", message=_with_container_id("RemoveContainer")),
    remove_nested_container=Field("message", message=_with_container_id("RemoveNestedContainer")),
)

MASTER_CALL_TYPES = (
    "UNKNOWN", "GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL", "LIST_FILES", "READ_FILE", "GET_STATE", "GET_AGENTS", "GET_FRAMEWORKS",
    "GET_EXECUTORS", "GET_OPERATIONS", "GET_TASKS", "GET_ROLES", "GET_WEIGHTS", "UPDATE_WEIGHTS",
    "GET_MASTER", "SUBSCRIBE", "RESERVE_RESOURCES", "UNRESERVE_RESOURCES", "CREATE_VOLUMES",
    "DESTROY_VOLUMES", "GROW_VOLUME", "SHRINK_VOLUME", "GET_MAINTENANCE_STATUS",
    "GET_MAINTENANCE_SCHEDULE", "UPDATE_MAINTENANCE_SCHEDULE", "START_MAINTENANCE",
    "STOP_MAINTENANCE", "DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "GET_QUOTA",
    "UPDATE_QUOTA", "SET_QUOTA", "REMOVE_QUOTA", "TEARDOWN", "MARK_AGENT_GONE",
)
MasterCall = Message("master.Call", type=Field("enum", enum=MASTER_CALL_TYPES))
