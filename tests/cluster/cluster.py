"""The cluster description: parsing, validation and the in-memory model.

The format is documented in README.md. Every id is deterministic: container ids not
given in the file are UUIDv5 values derived from the task id, so two runs of the same
file publish the same ids.
"""

import base64
import json
import re
import threading
import time
import uuid

import acl

TASK_STATES = (
    "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED",
    "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
    "TASK_UNREACHABLE", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN",
)
TERMINAL_STATES = {
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
    "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
}
DEFAULT_HEARTBEAT_SECONDS = 30.0
DEFAULT_TOKEN_LIFETIME_SECONDS = 5 * 24 * 3600
# nginx's proxy_read_timeout and client_body_timeout, which Admin Router keeps.
DEFAULT_ADMINROUTER_IDLE_SECONDS = 60.0
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://task-bastion.invalid/emulator")

# Mesos IDs may not contain control characters or path separators (common/validation.cpp).
INVALID_ID = re.compile(r"[\x00-\x1f\x7f/\\]")
# Container ids additionally exclude '.' and ' ' (slave/validation.cpp).
INVALID_CONTAINER_ID = re.compile(r"[\x00-\x1f\x7f/\\. ]")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClusterError(ValueError):
    """An invalid cluster description."""


def derived_uuid(*parts) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(parts)))


def container_id_string(container_id: dict) -> str:
    """Format a ContainerID as Mesos does in messages: ancestors first, joined by '.'."""
    if container_id.get("parent"):
        return container_id_string(container_id["parent"]) + "." + container_id["value"]
    return container_id["value"]


def root_container_value(container_id: dict) -> str:
    while container_id.get("parent"):
        container_id = container_id["parent"]
    return container_id["value"]


def container_id_chain(container_id: dict) -> tuple:
    """Return the values from the root down to `container_id` itself."""
    chain = []
    while container_id:
        chain.append(container_id["value"])
        container_id = container_id.get("parent")
    return tuple(reversed(chain))


def _require(condition, message):
    if not condition:
        raise ClusterError(message)


def _string(obj, key, where, default=None, required=False):
    value = obj.get(key, default)
    if value is None:
        _require(not required, "%s: %r is required" % (where, key))
        return None
    _require(isinstance(value, str) and value != "", "%s: %r must be a non-empty string" % (where, key))
    return value


def _number(obj, key, where, default, minimum_exclusive=0):
    value = obj.get(key, default)
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > minimum_exclusive,
             "%s: %r must be a number greater than %s" % (where, key, minimum_exclusive))
    return value


def _string_map(obj, key, where):
    value = obj.get(key, {})
    _require(isinstance(value, dict), "%s: %r must be an object of strings" % (where, key))
    for name, text in value.items():
        _require(isinstance(text, str), "%s: %r.%s must be a string" % (where, key, name))
    return dict(value)


class User:
    def __init__(self, spec, where):
        _require(isinstance(spec, dict), "%s must be an object" % where)
        self.uid = _string(spec, "uid", where, required=True)
        self.password = _string(spec, "password", where)
        self.public_key = _string(spec, "public_key", where)
        self.description = spec.get("description", self.uid)
        _require(self.password or self.public_key,
                 "%s: a user needs a password, a public_key (service account) or both" % where)
        self.groups = spec.get("groups", [])
        _require(isinstance(self.groups, list) and all(isinstance(g, str) and g for g in self.groups),
                 "%s: groups must be a list of gids" % where)

    @property
    def is_service(self) -> bool:
        """A user with a public key is a service account, as in the IAM."""
        return self.public_key is not None


SECURITY_MODES = ("strict", "permissive", "disabled")


def _grants(spec, users, groups):
    """Parse the top-level `grants` list into acl.Grant objects."""
    grants = spec.get("grants", [])
    _require(isinstance(grants, list), "grants must be a list")
    parsed = []
    for index, grant in enumerate(grants):
        where = "grants[%d]" % index
        _require(isinstance(grant, dict), "%s must be an object" % where)
        _require(("uid" in grant) != ("gid" in grant), "%s: give exactly one of uid and gid" % where)
        if "uid" in grant:
            kind, principal = "user", _string(grant, "uid", where, required=True)
            _require(principal in users, "%s: unknown uid %r" % (where, principal))
        else:
            kind, principal = "group", _string(grant, "gid", where, required=True)
            _require(principal in groups, "%s: unknown gid %r" % (where, principal))
        rid = _string(grant, "rid", where, required=True)
        actions = grant.get("actions", ["full"])
        _require(isinstance(actions, list) and actions and all(a in acl.ACTIONS for a in actions),
                 "%s: actions must be a non-empty list of %s" % (where, ", ".join(acl.ACTIONS)))
        parsed.append(acl.Grant(kind, principal, rid, actions))
    return parsed


class Agent:
    def __init__(self, spec, index):
        where = "agents[%d]" % index
        _require(isinstance(spec, dict), "%s must be an object" % where)
        self.id = _string(spec, "id", where, required=True)
        _require(not INVALID_ID.search(self.id), "%s: invalid agent id %r" % (where, self.id))
        self.hostname = _string(spec, "hostname", where, default="agent-%d" % index)
        # Set once the agent's HTTP server is bound.
        self.port = None

    @property
    def pid(self) -> str:
        return "slave(1)@127.0.0.1:%d" % self.port


class Framework:
    def __init__(self, spec, index):
        where = "frameworks[%d]" % index
        _require(isinstance(spec, dict), "%s must be an object" % where)
        self.id = _string(spec, "id", where, required=True)
        _require(not INVALID_ID.search(self.id), "%s: invalid framework id %r" % (where, self.id))
        self.name = _string(spec, "name", where, default="marathon")
        self.role = _string(spec, "role", where, default="*")
        self.user = _string(spec, "user", where, default="root")


class Task:
    """A task as the master publishes it; `runtime` is set while its process runs."""

    def __init__(self, spec, index, agents, frameworks, started_at):
        where = "tasks[%d]" % index
        _require(isinstance(spec, dict), "%s must be an object" % where)
        self.id = _string(spec, "id", where, required=True)
        _require(not INVALID_ID.search(self.id) and self.id not in (".", ".."),
                 "%s: invalid task id %r" % (where, self.id))
        where = "task %s" % self.id
        self.name = _string(spec, "name", where, default=self.id.split(".", 1)[0])
        self.agent_id = _string(spec, "agent", where, default=agents[0].id if len(agents) == 1 else None,
                                required=True)
        _require(self.agent_id in {a.id for a in agents}, "%s: unknown agent %r" % (where, self.agent_id))
        self.framework_id = _string(spec, "framework", where,
                                    default=frameworks[0].id if len(frameworks) == 1 else None, required=True)
        _require(self.framework_id in {f.id for f in frameworks},
                 "%s: unknown framework %r" % (where, self.framework_id))
        self.containerizer = spec.get("containerizer", "MESOS")
        _require(self.containerizer in ("MESOS", "DOCKER"),
                 "%s: containerizer must be \"MESOS\" or \"DOCKER\"" % where)
        self.pod = spec.get("pod", False)
        _require(isinstance(self.pod, bool), "%s: pod must be true or false" % where)
        _require(not (self.pod and self.containerizer == "DOCKER"),
                 "%s: a pod task runs under the MESOS containerizer" % where)
        self.hostname = _string(spec, "hostname", where, default=self.name)
        self.command = _string(spec, "command", where, default="sleep infinity")
        self.state = spec.get("state", "TASK_RUNNING")
        _require(self.state in TASK_STATES, "%s: unknown state %r" % (where, self.state))
        self.labels = _string_map(spec, "labels", where)
        self.env = _string_map(spec, "env", where)
        for name in self.env:
            _require(ENV_NAME.match(name), "%s: invalid environment variable name %r" % (where, name))
        self.has_container_id = spec.get("has_container_id", True)
        _require(isinstance(self.has_container_id, bool), "%s: has_container_id must be true or false" % where)
        self.user = _string(spec, "user", where, default="root")

        self.container_value = _string(spec, "container_id", where,
                                       default=derived_uuid("container", self.id))
        _require(not INVALID_CONTAINER_ID.search(self.container_value),
                 "%s: invalid container_id %r" % (where, self.container_value))
        if self.pod:
            self.executor_container_value = _string(spec, "executor_container_id", where,
                                                    default=derived_uuid("executor-container", self.id))
            _require(not INVALID_CONTAINER_ID.search(self.executor_container_value),
                     "%s: invalid executor_container_id %r" % (where, self.executor_container_value))
            self.executor_id = _string(spec, "executor_id", where, default="instance-" + self.id)
        else:
            self.executor_container_value = None
            self.executor_id = _string(spec, "executor_id", where)

        self.status_uuid = base64.b64encode(uuid.UUID(derived_uuid("status", self.id)).bytes).decode("ascii")
        self.started_at = started_at
        self.updated_at = started_at
        self.exit_status = None
        self.runtime = None
        # (state, timestamp) of every status update, oldest first.
        self.history = [(self.state, started_at)]

    def set_state(self, state: str):
        """Record a status update; the caller holds the cluster lock."""
        self.state = state
        self.updated_at = time.time()
        self.history.append((state, self.updated_at))

    @property
    def container_id(self) -> dict:
        """The ContainerID published in the task's statuses."""
        if self.pod:
            return {"value": self.container_value, "parent": {"value": self.executor_container_value}}
        return {"value": self.container_value}

    @property
    def root_container_value(self) -> str:
        return self.executor_container_value if self.pod else self.container_value

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def runs_process(self) -> bool:
        return self.state == "TASK_RUNNING" and self.containerizer == "MESOS"


class Cluster:
    """The whole cluster: users, masters, agents, frameworks and tasks.

    `lock` guards the mutable parts (task states, leader index).
    """

    def __init__(self, spec):
        _require(isinstance(spec, dict), "the cluster description must be a JSON object")
        self.lock = threading.RLock()
        self.started_at = time.time()

        users = spec.get("users", [])
        _require(isinstance(users, list), "users must be a list")
        self.users = {}
        for index, user_spec in enumerate(users):
            user = User(user_spec, "users[%d]" % index)
            _require(user.uid not in self.users, "users[%d]: duplicate uid %r" % (index, user.uid))
            self.users[user.uid] = user

        self.master_count = spec.get("masters", 1)
        _require(isinstance(self.master_count, int) and not isinstance(self.master_count, bool)
                 and self.master_count >= 1, "masters must be an integer >= 1")
        self.leader = spec.get("leader", 0)
        _require(self.leader is None or (isinstance(self.leader, int) and not isinstance(self.leader, bool)
                                         and 0 <= self.leader < self.master_count),
                 "leader must be null or an index below masters (%d)" % self.master_count)
        # Set once the master HTTP servers are bound.
        self.master_ports = []

        agents = spec.get("agents", [])
        _require(isinstance(agents, list) and agents, "agents must be a non-empty list")
        self.agents = {}
        for index, agent_spec in enumerate(agents):
            agent = Agent(agent_spec, index)
            _require(agent.id not in self.agents, "agents[%d]: duplicate id %r" % (index, agent.id))
            self.agents[agent.id] = agent

        frameworks = spec.get("frameworks", [])
        _require(isinstance(frameworks, list) and frameworks, "frameworks must be a non-empty list")
        self.frameworks = {}
        for index, framework_spec in enumerate(frameworks):
            framework = Framework(framework_spec, index)
            _require(framework.id not in self.frameworks,
                     "frameworks[%d]: duplicate id %r" % (index, framework.id))
            self.frameworks[framework.id] = framework

        tasks = spec.get("tasks", [])
        _require(isinstance(tasks, list), "tasks must be a list")
        self.tasks = {}
        containers = set()
        for index, task_spec in enumerate(tasks):
            # Distinct first-status times give /master/tasks a stable order.
            task = Task(task_spec, index, list(self.agents.values()), list(self.frameworks.values()),
                        self.started_at + index * 0.001)
            _require(task.id not in self.tasks, "tasks[%d]: duplicate id %r" % (index, task.id))
            for value in filter(None, (task.container_value, task.executor_container_value)):
                _require(value not in containers, "task %s: container id %s is used twice" % (task.id, value))
                containers.add(value)
            self.tasks[task.id] = task

        groups = spec.get("groups", [])
        _require(isinstance(groups, list), "groups must be a list")
        self.groups = {}
        for index, group in enumerate(groups):
            where = "groups[%d]" % index
            _require(isinstance(group, dict), "%s must be an object" % where)
            gid = _string(group, "gid", where, required=True)
            _require(gid not in self.groups, "%s: duplicate gid %r" % (where, gid))
            self.groups[gid] = group.get("description", gid)
        for user in self.users.values():
            for gid in user.groups:
                _require(gid in self.groups, "user %s: unknown group %r" % (user.uid, gid))
        self.policy = acl.Policy(_grants(spec, self.users, self.groups),
                                 {user.uid: set(user.groups) for user in self.users.values()})
        self.security = spec.get("security", "strict")
        _require(self.security in SECURITY_MODES,
                 "security must be one of %s" % ", ".join(SECURITY_MODES))

        self.heartbeat_interval_seconds = _number(spec, "heartbeat_interval_seconds", "cluster",
                                                  DEFAULT_HEARTBEAT_SECONDS)
        self.token_lifetime_seconds = _number(spec, "token_lifetime_seconds", "cluster",
                                              DEFAULT_TOKEN_LIFETIME_SECONDS)
        self.adminrouter_idle_timeout_seconds = _number(spec, "adminrouter_idle_timeout_seconds", "cluster",
                                                        DEFAULT_ADMINROUTER_IDLE_SECONDS)
        self.send_100_continue = spec.get("send_100_continue", True)
        _require(isinstance(self.send_100_continue, bool), "send_100_continue must be true or false")

        known = {"users", "masters", "leader", "agents", "frameworks", "tasks",
                 "heartbeat_interval_seconds", "token_lifetime_seconds", "send_100_continue",
                 "adminrouter_idle_timeout_seconds", "groups", "grants", "security"}
        unknown = sorted(set(spec) - known)
        _require(not unknown, "unknown cluster fields: %s" % ", ".join(unknown))

    @classmethod
    def load(cls, path: str) -> "Cluster":
        try:
            with open(path, encoding="utf-8") as handle:
                spec = json.load(handle)
        except OSError as error:
            raise ClusterError("cannot read cluster file %s: %s" % (path, error)) from None
        except ValueError as error:
            raise ClusterError("cluster file %s is not valid JSON: %s" % (path, error)) from None
        return cls(spec)

    def task_app_id(self, task) -> str:
        """The task's Marathon app id, as the bastion reads it: DCOS_SPACE, MARATHON_APP_ID, /name."""
        app_id = task.labels.get("DCOS_SPACE") or task.labels.get("MARATHON_APP_ID") or task.name
        return "/" + app_id.strip("/")

    def tasks_on_agent(self, agent_id: str) -> list:
        return [task for task in self.tasks.values() if task.agent_id == agent_id]

    def task_by_root_container(self, agent_id: str, root_value: str):
        """Return the live task whose root container (executor container for pods) has this value."""
        for task in self.tasks_on_agent(agent_id):
            if task.root_container_value == root_value and task.state == "TASK_RUNNING":
                return task
        return None
