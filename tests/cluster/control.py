"""The control API: inspection and fault injection for tests. Documented in README.md.

Errors are 4xx responses with a JSON body {"error": "<what is wrong>"}.
"""

import json
import logging
import signal

from faults import FaultError

LOG = logging.getLogger("emulator.control")


class ControlService:
    def __init__(self, cluster, agents, faults, authority):
        self.cluster = cluster
        self.agents = agents
        self.faults = faults
        self.authority = authority
        self.routes = {
            ("GET", "/control/health"): self._health,
            ("GET", "/control/sessions"): self._sessions,
            ("GET", "/control/tasks"): self._tasks,
            ("POST", "/control/tasks/kill"): self._kill_task,
            ("GET", "/control/faults"): self._list_faults,
            ("POST", "/control/fault"): self._add_fault,
            ("POST", "/control/clear"): self._clear,
            ("POST", "/control/leader"): self._set_leader,
            ("POST", "/control/iam/rotate_key"): self._rotate_key,
            ("POST", "/control/iam/token"): self._sign_token,
        }

    def handle(self, request):
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            if any(path == request.path for _, path in self.routes):
                self._error(request, 405, "method %s is not allowed on %s" % (request.method, request.path))
            else:
                self._error(request, 404, "unknown control path %s; see tests/cluster/README.md" % request.path)
            return
        handler(request)

    @staticmethod
    def _json(request, value, status=200):
        request.respond(status, json.dumps(value, indent=1), content_type="application/json")

    def _error(self, request, status, message):
        self._json(request, {"error": message}, status)

    def _body(self, request):
        """Return the JSON object body, or send 400 and return None."""
        raw = request.read_all(limit=1024 * 1024)
        try:
            value = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError) as error:
            self._error(request, 400, "body is not valid JSON: %s" % error)
            return None
        if not isinstance(value, dict):
            self._error(request, 400, "body must be a JSON object")
            return None
        return value

    def _health(self, request):
        self._json(request, {"ok": True})

    def _sessions(self, request):
        sessions = []
        for agent in self.agents.values():
            sessions.extend(agent.describe_sessions())
        self._json(request, {"sessions": sessions})

    def _tasks(self, request):
        tasks = []
        with self.cluster.lock:
            for task in self.cluster.tasks.values():
                runtime = task.runtime
                tasks.append({
                    "id": task.id, "agent": task.agent_id, "state": task.state,
                    "containerizer": task.containerizer, "pod": task.pod, "hostname": task.hostname,
                    "container_id": task.container_id,
                    "init_pid": runtime.init_pid if runtime else None,
                    "unshare_pid": runtime.unshare.pid if runtime and runtime.unshare else None,
                    "sandbox": runtime.sandbox if runtime else None,
                    "exit_status": task.exit_status,
                })
        self._json(request, {"tasks": tasks})

    def _kill_task(self, request):
        body = self._body(request)
        if body is None:
            return
        task = self.cluster.tasks.get(body.get("task"))
        if task is None:
            self._error(request, 404, "unknown task %r" % body.get("task"))
            return
        number = body.get("signal", signal.SIGKILL)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < signal.NSIG:
            self._error(request, 400, "signal must be a signal number between 1 and %d" % (signal.NSIG - 1))
            return
        if task.is_terminal:
            self._error(request, 409, "task %s is already %s" % (task.id, task.state))
            return
        try:
            self.agents[task.agent_id].kill_task(task, number)
        except OSError as error:
            self._error(request, 409, "cannot signal task %s: %s" % (task.id, error))
            return
        LOG.info("control: sent signal %d to task %s", number, task.id)
        self._json(request, {"task": task.id, "signal": number})

    def _list_faults(self, request):
        self._json(request, {"faults": self.faults.list()})

    def _add_fault(self, request):
        body = self._body(request)
        if body is None:
            return
        try:
            fault = self.faults.add(body)
        except FaultError as error:
            self._error(request, 400, str(error))
            return
        self._json(request, {"fault": fault})

    def _clear(self, request):
        self.faults.clear()
        self._json(request, {"faults": []})

    def _set_leader(self, request):
        body = self._body(request)
        if body is None:
            return
        if "index" not in body:
            self._error(request, 400, "index is required: a master index or null for no leader")
            return
        index = body["index"]
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                                  or not 0 <= index < self.cluster.master_count):
            self._error(request, 400, "index must be null or between 0 and %d" % (self.cluster.master_count - 1))
            return
        with self.cluster.lock:
            self.cluster.leader = index
        LOG.info("control: leader is now %s", index)
        self._json(request, {"leader": index})

    def _rotate_key(self, request):
        self.authority.rotate()
        LOG.info("control: IAM signing key rotated, new kid %s", self.authority.keys[0].kid)
        self._json(request, {"kid": self.authority.keys[0].kid})

    def _sign_token(self, request):
        """Sign arbitrary claims with the current IAM key, for tests of expired or odd tokens."""
        body = self._body(request)
        if body is None:
            return
        claims = body.get("claims")
        header = body.get("header")
        if not isinstance(claims, dict) or (header is not None and not isinstance(header, dict)):
            self._error(request, 400, "claims must be an object, and header an object when given")
            return
        key = self.authority.keys[0]
        if header is not None:
            header = dict(header)
            if header.get("kid") == "current":
                header["kid"] = key.kid
        self._json(request, {"token": key.sign(claims, header)})
