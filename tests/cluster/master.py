"""The emulated Mesos masters: the v1 operator API and the legacy read-only endpoints.

Every master checks, in the order of Mesos's master/http.cpp: token authentication
and the permission dcos:adminrouter:ops:mesos full (Admin Router style), leadership (a non-leader responds 307 with a protocol-relative
Location, or 503 `No leader elected`), method (405), Content-Type (400, 415), body
(400), validation (400), then Accept last (406).

libprocess routes `/api/v1` to `/master/api/v1` (and `/state` to `/master/state`, and so
on) before the handler sees it, so a redirect names the `/master/...` path.
"""

import json
import logging

import adminrouter
import protojson
from cluster import TERMINAL_STATES
from httpserver import reason_phrase
from mesoshttp import (APPLICATION_JSON, APPLICATION_PROTOBUF, accepts_media_type, method_not_allowed,
                       query_value, respond_json)

LOG = logging.getLogger("emulator.master")

MESOS_VERSION = "1.11.0"
# master/constants.hpp TASK_LIMIT: the default `limit` of /master/tasks.
TASK_LIMIT = 100
API_PATHS = ("/api/v1", "/master/api/v1")
LEGACY_PATHS = {
    "/state": "state", "/master/state": "state", "/state.json": "state", "/master/state.json": "state",
    "/tasks": "tasks", "/master/tasks": "tasks", "/tasks.json": "tasks", "/master/tasks.json": "tasks",
    "/slaves": "slaves", "/master/slaves": "slaves",
    "/frameworks": "frameworks", "/master/frameworks": "frameworks",
}
IMPLEMENTED_CALLS = ("GET_HEALTH", "GET_VERSION", "GET_MASTER", "GET_STATE", "GET_AGENTS",
                     "GET_FRAMEWORKS", "GET_EXECUTORS", "GET_TASKS")
TASK_RESOURCES = (("cpus", 0.1), ("mem", 32.0), ("disk", 0.0), ("gpus", 0.0))
AGENT_RESOURCES = (("cpus", 4.0), ("mem", 15360.0), ("disk", 100000.0), ("gpus", 0.0))
AGENT_CAPABILITIES = ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER",
                      "RESIZE_VOLUME", "AGENT_OPERATION_FEEDBACK", "AGENT_DRAINING", "TASK_RESOURCE_LIMITS")


def _resources_v1(resources, allocation_role=None):
    result = []
    for name, value in resources:
        resource = {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "*"}
        if allocation_role is not None:
            resource["allocation_info"] = {"role": allocation_role}
        result.append(resource)
    return result


def _resources_legacy(resources):
    return {name: value for name, value in resources}


def _nanoseconds(seconds: float) -> dict:
    return {"nanoseconds": int(seconds * 1e9)}


class MasterService:
    """One master; `index` is its position in the masters list."""

    def __init__(self, cluster, index, authority):
        self.cluster = cluster
        self.index = index
        self.authority = authority
        self.server = None

    @property
    def master_id(self) -> str:
        return "emulated-master-%d" % self.index

    def fault_body(self, code: int):
        if code == 503:
            return "Master has not finished recovery", "text/plain; charset=utf-8"
        return "%d %s." % (code, reason_phrase(code)), "text/plain; charset=utf-8"

    # -- routing -----------------------------------------------------------------------

    def handle(self, request):
        path = request.path
        known = path in API_PATHS or path in LEGACY_PATHS or path in ("/redirect", "/master/redirect") \
            or path.startswith("/redirect/") or path.startswith("/master/redirect/")
        if not known:
            request.respond(404, "")
            return
        uid = adminrouter.authenticate(request, self.authority)
        if uid is None:
            return
        # Admin Router's permission for /mesos, checked by the emulated master in its place.
        if not adminrouter.authorize(request, self.cluster, uid, "dcos:adminrouter:ops:mesos", "full"):
            return

        with self.cluster.lock:
            leader = self.cluster.leader
        if path in ("/redirect", "/master/redirect") or path.startswith(("/redirect/", "/master/redirect/")):
            self._redirect(request, leader)
            return
        if leader != self.index:
            self._redirect(request, leader)
            return

        if path in API_PATHS:
            self._api(request)
        else:
            self._legacy(request, LEGACY_PATHS[path])

    def _redirect(self, request, leader):
        """Respond as Master::Http::redirect does: 503 without a leader, else 307 to the leader."""
        if leader is None:
            request.respond(503, "No leader elected")
            return
        base = "//127.0.0.1:%d" % self.cluster.master_ports[leader]
        path = request.path
        if path in ("/redirect", "/master/redirect"):
            location = base
        elif path.startswith(("/redirect/", "/master/redirect/")):
            request.respond(404, "")  # Loop guard, as in Mesos.
            return
        else:
            if not path.startswith("/master/"):
                path = "/master" + path
            location = base + path + ("?" + request.query_string if request.query_string else "")
        request.respond(307, b"", content_type="text/plain; charset=utf-8", headers=[("Location", location)])

    # -- v1 API --------------------------------------------------------------------------

    def _api(self, request):
        if request.method != "POST":
            method_not_allowed(request)
            return
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            request.respond(400, "Expecting 'Content-Type' to be present")
            return
        body = request.read_all()
        if content_type == APPLICATION_PROTOBUF:
            # NOTE: a real master decodes protobuf; the emulator only JSON.
            request.respond(400, "Failed to parse body into Call protobuf: the cluster emulator only "
                                 "decodes application/json")
            return
        if content_type != APPLICATION_JSON:
            request.respond(415, "Expecting 'Content-Type' of %s or %s" % (APPLICATION_JSON, APPLICATION_PROTOBUF))
            return
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            request.respond(400, "Failed to parse body into JSON: %s" % error)
            return
        try:
            call = protojson.parse(protojson.MasterCall, value)
        except protojson.ProtoError as error:
            request.respond(400, "Failed to convert JSON into Call protobuf: %s" % error)
            return
        if "type" not in call:
            request.respond(400, "Failed to validate master::Call: Expecting 'type' to be present")
            return
        kind = call["type"]
        request.log_fields["call"] = kind

        accept = request.headers.get("Accept")
        if not accepts_media_type(accept, APPLICATION_JSON):
            if accepts_media_type(accept, APPLICATION_PROTOBUF):
                request.respond(406, "The cluster emulator only encodes application/json responses")
            else:
                request.respond(406, "Expecting 'Accept' to allow '%s' or '%s'"
                                % (APPLICATION_PROTOBUF, APPLICATION_JSON))
            return

        if kind == "UNKNOWN":
            request.respond(501, "501 Not Implemented.")
            return
        if kind not in IMPLEMENTED_CALLS:
            # NOTE: a real master implements every call type; the emulator only these.
            request.respond(501, "The cluster emulator does not implement %s" % kind)
            return
        with self.cluster.lock:
            payload = self._call_payload(kind)
        respond_json(request, {"type": kind, kind.lower(): payload})

    def _call_payload(self, kind: str) -> dict:
        if kind == "GET_HEALTH":
            return {"healthy": True}
        if kind == "GET_VERSION":
            return {"version_info": {"version": MESOS_VERSION}}
        if kind == "GET_MASTER":
            return {"master_info": self._master_info(), "start_time": self.cluster.started_at,
                    "elected_time": self.cluster.started_at}
        if kind == "GET_TASKS":
            return self._get_tasks()
        if kind == "GET_AGENTS":
            return self._get_agents()
        if kind == "GET_FRAMEWORKS":
            return self._get_frameworks()
        if kind == "GET_EXECUTORS":
            return self._get_executors()
        return {"get_tasks": self._get_tasks(), "get_executors": self._get_executors(),
                "get_frameworks": self._get_frameworks(), "get_agents": self._get_agents()}

    def _master_info(self) -> dict:
        port = self.cluster.master_ports[self.index]
        return {"id": self.master_id, "ip": 16777343, "port": port, "pid": "master@127.0.0.1:%d" % port,
                "hostname": "127.0.0.1", "version": MESOS_VERSION,
                "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": port}}

    def _status_v1(self, task, state, timestamp) -> dict:
        status = {"task_id": {"value": task.id}, "state": state, "source": "SOURCE_EXECUTOR",
                  "agent_id": {"value": task.agent_id}, "timestamp": timestamp, "uuid": task.status_uuid}
        if task.executor_id:
            status["executor_id"] = {"value": task.executor_id}
        container_status = {"network_infos": [{"ip_addresses": [{"protocol": "IPv4",
                                                                 "ip_address": "127.0.0.1"}]}]}
        if task.has_container_id:
            container_status = {"container_id": task.container_id, **container_status}
            runtime = task.runtime
            if runtime is not None and runtime.init_pid is not None and state == "TASK_RUNNING":
                container_status["executor_pid"] = runtime.init_pid
        status["container_status"] = container_status
        return status

    def _container_info(self, task) -> dict:
        if task.containerizer == "DOCKER":
            return {"type": "DOCKER", "docker": {"image": "nginx:stable", "network": "HOST",
                                                 "privileged": False, "force_pull_image": False}}
        return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "debian:12"}}}}

    def _task_v1(self, task) -> dict:
        framework = self.cluster.frameworks[task.framework_id]
        result = {
            "name": task.name,
            "task_id": {"value": task.id},
            "framework_id": {"value": task.framework_id},
            "agent_id": {"value": task.agent_id},
            "state": task.state,
            "resources": _resources_v1(TASK_RESOURCES, framework.role),
            "statuses": [self._status_v1(task, state, timestamp) for state, timestamp in task.history],
            "status_update_state": task.state,
            "status_update_uuid": task.status_uuid,
            "container": self._container_info(task),
            "user": task.user,
        }
        if task.executor_id:
            result["executor_id"] = {"value": task.executor_id}
        if task.labels:
            result["labels"] = {"labels": [{"key": k, "value": v} for k, v in task.labels.items()]}
        return result

    def _get_tasks(self) -> dict:
        tasks, unreachable, completed = [], [], []
        for task in self.cluster.tasks.values():
            entry = self._task_v1(task)
            if task.state == "TASK_UNREACHABLE":
                unreachable.append(entry)
            elif task.state in TERMINAL_STATES:
                completed.append(entry)
            else:
                tasks.append(entry)
        return {"tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed}

    def _agent_info(self, agent) -> dict:
        return {"hostname": agent.hostname, "port": agent.port, "id": {"value": agent.id},
                "resources": _resources_v1(AGENT_RESOURCES), "attributes": []}

    def _get_agents(self) -> dict:
        agents = []
        for agent in self.cluster.agents.values():
            agents.append({
                "agent_info": self._agent_info(agent),
                "active": True,
                "deactivated": False,
                "version": MESOS_VERSION,
                "pid": agent.pid,
                "registered_time": _nanoseconds(self.cluster.started_at),
                "total_resources": _resources_v1(AGENT_RESOURCES),
                "allocated_resources": [],
                "offered_resources": [],
                "capabilities": [{"type": name} for name in AGENT_CAPABILITIES],
            })
        return {"agents": agents, "recovered_agents": []}

    def _framework_info(self, framework) -> dict:
        return {"user": framework.user, "name": framework.name, "id": {"value": framework.id},
                "roles": [framework.role], "checkpoint": True, "failover_timeout": 604800.0,
                "hostname": "127.0.0.1", "capabilities": [{"type": "MULTI_ROLE"}]}

    def _get_frameworks(self) -> dict:
        frameworks = [{"framework_info": self._framework_info(framework), "active": True, "connected": True,
                       "recovered": False, "registered_time": _nanoseconds(self.cluster.started_at)}
                      for framework in self.cluster.frameworks.values()]
        return {"frameworks": frameworks, "completed_frameworks": []}

    def _get_executors(self) -> dict:
        executors = []
        for task in self.cluster.tasks.values():
            if task.pod and not task.is_terminal:
                executors.append({"agent_id": {"value": task.agent_id},
                                  "executor_info": {"type": "DEFAULT",
                                                    "executor_id": {"value": task.executor_id},
                                                    "framework_id": {"value": task.framework_id}}})
        return {"executors": executors, "orphan_executors": []}

    # -- legacy endpoints ------------------------------------------------------------------

    def _legacy(self, request, endpoint):
        jsonp = query_value(request, "jsonp")
        with self.cluster.lock:
            if endpoint == "tasks":
                value = self._legacy_tasks(request)
            elif endpoint == "slaves":
                value = {"slaves": [self._legacy_slave(agent) for agent in self.cluster.agents.values()],
                         "recovered_slaves": []}
            elif endpoint == "frameworks":
                value = {"frameworks": [self._legacy_framework(f) for f in self.cluster.frameworks.values()],
                         "completed_frameworks": [], "unregistered_frameworks": []}
            else:
                value = self._legacy_state()
        respond_json(request, value, jsonp=jsonp)

    def _legacy_status(self, task, state, timestamp) -> dict:
        status = {"state": state, "timestamp": timestamp}
        container_status = self._status_v1(task, state, timestamp)["container_status"]
        status["container_status"] = container_status
        return status

    def _legacy_task(self, task) -> dict:
        framework = self.cluster.frameworks[task.framework_id]
        result = {
            "id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "executor_id": task.executor_id or "",
            "slave_id": task.agent_id,
            "state": task.state,
            "resources": _resources_legacy(TASK_RESOURCES),
            "role": framework.role,
            "statuses": [self._legacy_status(task, state, timestamp) for state, timestamp in task.history],
            "user": task.user,
        }
        if task.labels:
            result["labels"] = [{"key": k, "value": v} for k, v in task.labels.items()]
        result["container"] = self._container_info(task)
        return result

    def _legacy_tasks(self, request) -> dict:
        """GET /master/tasks with task_id, framework_id, limit, offset and order as Mesos parses them."""
        limit = _parse_int(query_value(request, "limit"), TASK_LIMIT)
        offset = _parse_int(query_value(request, "offset"), 0)
        # Mesos converts these ints to size_t, so a negative value means "huge".
        if limit < 0:
            limit = 2 ** 63
        if offset < 0:
            offset = 2 ** 63
        ascending = query_value(request, "order") == "asc"
        task_id = query_value(request, "task_id")
        framework_id = query_value(request, "framework_id")
        tasks = [task for task in self.cluster.tasks.values()
                 if (task_id is None or task.id == task_id)
                 and (framework_id is None or task.framework_id == framework_id)]
        tasks.sort(key=lambda task: task.history[0][1], reverse=not ascending)
        return {"tasks": [self._legacy_task(task) for task in tasks[offset:offset + limit]]}

    def _legacy_slave(self, agent) -> dict:
        return {"id": agent.id, "pid": agent.pid, "hostname": agent.hostname, "port": agent.port,
                "registered_time": self.cluster.started_at, "resources": _resources_legacy(AGENT_RESOURCES),
                "used_resources": _resources_legacy((name, 0.0) for name, _ in AGENT_RESOURCES),
                "offered_resources": _resources_legacy((name, 0.0) for name, _ in AGENT_RESOURCES),
                "reserved_resources": {}, "unreserved_resources": _resources_legacy(AGENT_RESOURCES),
                "attributes": {}, "active": True, "deactivated": False, "version": MESOS_VERSION,
                "capabilities": list(AGENT_CAPABILITIES)}

    def _legacy_framework(self, framework) -> dict:
        tasks = [t for t in self.cluster.tasks.values() if t.framework_id == framework.id]
        return {
            "id": framework.id, "name": framework.name, "user": framework.user, "role": framework.role,
            "roles": [framework.role], "active": True, "connected": True, "recovered": False,
            "hostname": "127.0.0.1", "registered_time": self.cluster.started_at, "checkpoint": True,
            "failover_timeout": 604800.0, "capabilities": ["MULTI_ROLE"],
            "tasks": [self._legacy_task(t) for t in tasks
                      if t.state not in TERMINAL_STATES and t.state != "TASK_UNREACHABLE"],
            "unreachable_tasks": [self._legacy_task(t) for t in tasks if t.state == "TASK_UNREACHABLE"],
            "completed_tasks": [self._legacy_task(t) for t in tasks if t.state in TERMINAL_STATES],
            "executors": [], "completed_executors": [],
        }

    def _legacy_state(self) -> dict:
        info = self._master_info()
        leader_port = self.cluster.master_ports[self.cluster.leader]
        return {
            "version": MESOS_VERSION, "id": self.master_id, "pid": info["pid"], "hostname": "127.0.0.1",
            "leader": "master@127.0.0.1:%d" % leader_port,
            "leader_info": {"id": "emulated-master-%d" % self.cluster.leader, "pid": "master@127.0.0.1:%d" % leader_port,
                            "port": leader_port, "hostname": "127.0.0.1"},
            "start_time": self.cluster.started_at, "elected_time": self.cluster.started_at,
            "activated_slaves": len(self.cluster.agents), "deactivated_slaves": 0, "unreachable_slaves": 0,
            "slaves": [self._legacy_slave(agent) for agent in self.cluster.agents.values()],
            "recovered_slaves": [],
            "frameworks": [self._legacy_framework(f) for f in self.cluster.frameworks.values()],
            "completed_frameworks": [], "orphan_tasks": [], "unregistered_frameworks": [],
        }


def _parse_int(text, default: int) -> int:
    """numify<int> semantics: a malformed value means the default."""
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        return default
