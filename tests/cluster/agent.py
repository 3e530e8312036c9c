"""The emulated Mesos agent: the v1 operator API at /api/v1 (alias /slave(1)/api/v1).

The checks run in the order of Mesos's slave/http.cpp (`Http::api` and `Http::_api`),
after Admin Router style token authentication:

1. 405 for a method other than POST;
2. Content-Type present (400) and exactly one of the three media types (415);
   Message-Content-Type required for application/recordio bodies, forbidden otherwise;
3. Accept (406), then Message-Accept for streaming responses, forbidden otherwise (406);
4. body decoding and validation (400), the first record only for a streaming body;
5. a streaming body only for ATTACH_CONTAINER_INPUT and a streaming response only for
   LAUNCH_NESTED_CONTAINER_SESSION and ATTACH_CONTAINER_OUTPUT (415, 406).

Launch errors use the texts of the composing containerizer (docker,mesos), as on DC/OS.
"""

import errno
import logging
import os
import select
import signal
import socket
import threading

import adminrouter
import agentcalls
import agentinput
from cluster import container_id_chain, container_id_string
from httpserver import ClientGone, reason_phrase
from mesoshttp import APPLICATION_JSON, APPLICATION_RECORDIO, MESSAGE_CONTENT_TYPE, respond_json
from sessions import LaunchError, OutputStream, Session
from tasks import TaskRuntime, TaskStartError

LOG = logging.getLogger("emulator.agent")

API_PATHS = ("/api/v1", "/slave(1)/api/v1")
SESSION_END_TIMEOUT_SECONDS = 10.0


class AgentService:
    """One agent: its HTTP API, its task containers and their exec sessions."""

    def __init__(self, cluster, agent_info, authority, containment, state_dir):
        self.cluster = cluster
        self.agent_info = agent_info
        self.authority = authority
        self.containment = containment
        self.state_dir = state_dir
        self.lock = threading.RLock()
        # Task id -> TaskRuntime of the running MESOS tasks on this agent.
        self.runtimes = {}
        # Container id string -> Session, live and ended, while the task lives (Mesos
        # checkpoints nested terminations until the top-level container is destroyed).
        self.sessions = {}
        # Task id -> Event set when a task without a process (DOCKER) is killed.
        self.task_ended = {}
        self.server = None
        # The emulator's FaultRegistry, for status faults limited to one call type.
        self.faults = None

    # -- tasks -------------------------------------------------------------------------

    def start_tasks(self):
        """Start the process trees of this agent's running MESOS tasks (main thread only)."""
        for task in self.cluster.tasks_on_agent(self.agent_info.id):
            self.task_ended[task.id] = threading.Event()
            if not task.runs_process:
                continue
            runtime = TaskRuntime(task, self.agent_info, self.state_dir, self._task_exited)
            runtime.start()
            task.runtime = runtime
            self.runtimes[task.id] = runtime

    def stop_tasks(self):
        """Destroy every session and kill every task; wait for them to end."""
        with self.lock:
            sessions = [s for s in self.sessions.values() if not s.ended.is_set()]
            runtimes = list(self.runtimes.values())
        for session in sessions:
            session.destroy("emulator shutdown")
        for runtime in runtimes:
            runtime.signal(signal.SIGKILL)
        for runtime in runtimes:
            if not runtime.wait(SESSION_END_TIMEOUT_SECONDS):
                LOG.error("task %s did not end after SIGKILL", runtime.task.id)
        for session in sessions:
            if not session.ended.wait(SESSION_END_TIMEOUT_SECONDS):
                LOG.error("session %s did not end", session.key)

    def kill_task(self, task, number: int):
        """Signal a task's command (control API); a task without a process just ends."""
        runtime = self.runtimes.get(task.id)
        if runtime is not None:
            runtime.signal(number)
            return
        with self.cluster.lock:
            if task.is_terminal:
                return
            task.set_state("TASK_KILLED")
        self.task_ended[task.id].set()

    def _task_exited(self, runtime, raw_status: int):
        task = runtime.task
        if os.WIFEXITED(raw_status) and os.WEXITSTATUS(raw_status) == 0:
            state = "TASK_FINISHED"
        elif runtime.killed_by_request:
            state = "TASK_KILLED"
        else:
            state = "TASK_FAILED"
        with self.cluster.lock:
            task.exit_status = raw_status
            task.set_state(state)
        LOG.info("task %s is now %s", task.id, state)
        self.task_ended[task.id].set()

        # Nested containers go with their root container; once they ended, their
        # checkpointed terminations go too, so WAIT returns 404 afterwards.
        with self.lock:
            sessions = [s for s in self.sessions.values() if s.task is task]
        for session in sessions:
            session.destroy("task ended")
        for session in sessions:
            session.ended.wait(SESSION_END_TIMEOUT_SECONDS)
        with self.lock:
            for session in sessions:
                self.sessions.pop(session.key, None)
            self.runtimes.pop(task.id, None)

    def session_ended(self, session):
        """Called by a session once it ended; its record stays for WAIT while the task lives."""
        LOG.info("agent %s: session %s ended", self.agent_info.id, session.key)

    def cut_streams(self) -> int:
        """Fault injection: drop every open launch stream without its terminal chunk."""
        with self.lock:
            sessions = list(self.sessions.values())
        count = 0
        for session in sessions:
            with session.lock:
                outputs = [output for output in session.outputs if output.is_launch]
            for output in outputs:
                output.cut()
                session.output_lost(output)
                count += 1
        return count

    # -- container lookups -------------------------------------------------------------

    def _task_for_root(self, root_value: str):
        """The running task whose executor (root) container has this id, like Slave::getExecutor."""
        return self.cluster.task_by_root_container(self.agent_info.id, root_value)

    def _task_container(self, chain: tuple):
        """Return the task when `chain` names one of its live top-level or task containers."""
        task = self._task_for_root(chain[0])
        if task is None:
            return None
        if chain == (task.root_container_value,):
            return task
        if task.pod and chain == (task.executor_container_value, task.container_value):
            return task
        return None

    def _live_session(self, key: str):
        session = self.sessions.get(key)
        if session is None or session.ended.is_set():
            return None
        return session

    # -- HTTP entry ----------------------------------------------------------------------

    def fault_body(self, code: int):
        if code == 503:
            return "Agent has not finished recovery", "text/plain; charset=utf-8"
        return "%d %s." % (code, reason_phrase(code)), "text/plain; charset=utf-8"

    def handle(self, request):
        if request.path not in API_PATHS:
            request.respond(404, "")
            return
        uid = adminrouter.authenticate(request, self.authority)
        if uid is None:
            return
        # Admin Router's permission for /agent, checked by the emulated agent in its place.
        if not adminrouter.authorize(request, self.cluster, uid, "dcos:adminrouter:ops:slave", "full"):
            return
        media = agentcalls.negotiate(request)
        if media is None:
            return
        call, reader = agentcalls.read_call(request, media)
        if call is None:
            return
        request.log_fields["call"] = call["type"]
        if not self._authorize_call(request, uid, call):
            return
        if self.faults is not None and self.faults.apply_call(self.server, request, call["type"]):
            return
        self._dispatch(request, call, media, reader)

    # Mesos's own checks in strict mode (the DC/OS permissions for `dcos task exec`): the
    # calls an exec session makes, and what each needs on the task's app id.
    CALL_PERMISSIONS = {
        "LAUNCH_NESTED_CONTAINER_SESSION": (("dcos:mesos:agent:nested_container_session:app_id", "create"),
                                            ("dcos:mesos:agent:container:app_id", "read")),
        "ATTACH_CONTAINER_OUTPUT": (("dcos:mesos:agent:container:app_id", "read"),),
        "ATTACH_CONTAINER_INPUT": (("dcos:mesos:agent:container:app_id", "update"),),
    }

    def _authorize_call(self, request, uid, call) -> bool:
        """Send 403 (Mesos style, empty body) when `uid` lacks a permission the call needs."""
        needed = self.CALL_PERMISSIONS.get(call["type"])
        if needed is None or self.cluster.security != "strict":
            return True
        body = call.get(call["type"].lower()) or {}
        container_id = body.get("container_id")
        if not isinstance(container_id, dict) or "value" not in container_id:
            return True  # validation rejects the malformed call
        task = self._task_for_root(container_id_chain(container_id)[0])
        if task is None:
            return True  # the handler responds to an unknown container
        app_id = self.cluster.task_app_id(task)
        for prefix, action in needed:
            rid = "%s:%s" % (prefix, app_id)
            if not adminrouter.authorize(request, self.cluster, uid, rid, action, html=False):
                return False
        return True

    def _dispatch(self, request, call, media, reader):
        kind = call["type"]
        if media.streaming_request and kind != "ATTACH_CONTAINER_INPUT":
            request.respond(415, "Streaming 'Content-Type' %s is not supported for %s call"
                            % (APPLICATION_RECORDIO, kind))
            return
        if not media.streaming_request and kind == "ATTACH_CONTAINER_INPUT":
            request.respond(415, "Expecting 'Content-Type' to be %s for %s call" % (APPLICATION_RECORDIO, kind))
            return
        if media.streaming_response and kind not in ("ATTACH_CONTAINER_OUTPUT", "LAUNCH_NESTED_CONTAINER_SESSION"):
            request.respond(406, "Streaming response is not supported for %s call" % kind)
            return

        handlers = {
            "LAUNCH_NESTED_CONTAINER_SESSION": self._launch_nested_container_session,
            "ATTACH_CONTAINER_INPUT": self._attach_container_input,
            "ATTACH_CONTAINER_OUTPUT": self._attach_container_output,
            "WAIT_CONTAINER": self._wait_container,
            "WAIT_NESTED_CONTAINER": self._wait_container,
            "KILL_CONTAINER": self._kill_container,
            "KILL_NESTED_CONTAINER": self._kill_container,
            "REMOVE_CONTAINER": self._remove_container,
            "REMOVE_NESTED_CONTAINER": self._remove_container,
            "GET_HEALTH": self._get_health,
            "GET_CONTAINERS": self._get_containers,
        }
        if kind == "UNKNOWN":
            request.respond(501, "501 Not Implemented.")
            return
        handler = handlers.get(kind)
        if handler is None:
            # NOTE: a real agent implements every call type; the emulator only these.
            request.respond(501, "The cluster emulator does not implement %s" % kind)
            return
        if kind == "ATTACH_CONTAINER_INPUT":
            handler(request, call, media, reader)
        else:
            handler(request, call, media)

    # -- LAUNCH_NESTED_CONTAINER_SESSION ---------------------------------------------------

    def _launch_nested_container_session(self, request, call, media):
        launch = call["launch_nested_container_session"]
        container_id = launch["container_id"]
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)

        with self.lock:
            # NOTE: Mesos returns 202 for an id it still tracks. For the id of an ended
            # session it would try a new launch; the emulator returns 202 for both.
            if key in self.sessions or self._task_container(chain) is not None:
                request.respond(202)
                return
            task = self._task_for_root(chain[0])
            if task is None:
                request.respond(400, "Root container %s not found" % chain[0])
                return
            if task.containerizer == "DOCKER":
                request.respond(400, "Nested containers are not supported")
                return
            container = launch.get("container")
            if container is not None and container["type"] != "MESOS":
                request.respond(400, "The provided ContainerInfo is not supported")
                return
            parent_key = container_id_string(container_id["parent"])
            parent_session = self.sessions.get(parent_key)
            if self._task_container(chain[:-1]) is None:
                if parent_session is None or parent_session.ended.is_set():
                    request.respond(400, "Parent container %s does not exist" % parent_key)
                    return
                if parent_session.destroying:
                    request.respond(400, "Parent container %s is in 'DESTROYING' state" % parent_key)
                    return
            runtime = self.runtimes.get(task.id)
            if runtime is None or runtime.init_pid is None:
                request.respond(400, "Parent container %s does not exist" % parent_key)
                return

            command = launch.get("command", {})
            normalized = {
                "shell": command.get("shell", True),
                "value": command.get("value", ""),
                "arguments": command.get("arguments", []),
                "user": command.get("user"),
            }
            # Debug containers inherit the parent's environment; the call's variables win.
            environment = dict(runtime.environment)
            for variable in command.get("environment", {}).get("variables", []):
                if variable.get("type", "VALUE") == "SECRET":
                    secret = variable["secret"]
                    if "value" not in secret:
                        request.respond(400, "Failed to resolve secret of environment variable '%s': "
                                        "the cluster emulator resolves only value secrets" % variable["name"])
                        return
                    environment[variable["name"]] = secret["value"]["data"].decode("utf-8", "replace")
                else:
                    environment[variable["name"]] = variable["value"]
            tty = container is not None and "tty_info" in container
            # NOTE: tty_info.window_size in the launch call is not applied, as no Mesos
            # code path applies it; the pty starts at 0x0 until a TTY_INFO record.
            session = Session(self, task, runtime, container_id, normalized, tty, environment,
                              self.cluster.heartbeat_interval_seconds, self.containment)
            self.sessions[key] = session

        try:
            session.launch()
        except LaunchError as error:
            with self.lock:
                self.sessions.pop(key, None)
            LOG.info("agent %s: launch of %s failed: %s", self.agent_info.id, key, error)
            request.respond(400, str(error))
            return

        if media.streaming_response:
            headers = [("Content-Type", APPLICATION_RECORDIO), (MESSAGE_CONTENT_TYPE, media.message_accept)]
        else:
            # Legacy: without Accept: application/recordio the agent still streams
            # RecordIO records but labels them application/json.
            headers = [("Content-Type", APPLICATION_JSON)]
        try:
            stream = request.start_stream(200, headers)
        except ClientGone:
            session.abandon_output()
            raise
        output = OutputStream(request, stream, is_launch=True)
        session.attach_output(output)
        self._hold_stream(request, session, output)

    def _hold_stream(self, request, session, output):
        """Block until the output stream ends; a client that goes away loses its stream."""
        connection = request.connection
        watch_socket = True
        try:
            while not output.done.is_set():
                if not watch_socket:
                    output.done.wait()
                    break
                if connection.buffer:
                    watch_socket = False  # The client pipelined a request; only wait for the end.
                    continue
                ready = connection.wait_readable(wake_fd=output.waker.read_fd)
                if ready != "socket":
                    continue
                try:
                    peeked = connection.sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    peeked = b""
                if peeked:
                    watch_socket = False
                    continue
                if not output.done.is_set():
                    output.mark_done()
                    request.close_connection = True
                    session.output_lost(output)
                break
        finally:
            output.waker.close()
        if output.stream.broken:
            request.close_connection = True

    # -- ATTACH_CONTAINER_OUTPUT -----------------------------------------------------------

    def _attach_container_output(self, request, call, media):
        container_id = call["attach_container_output"]["container_id"]
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)
        if self._task_for_root(chain[0]) is None:
            request.respond(404, "Container %s cannot be found" % key)
            return
        if self._task_container(chain) is not None:
            request.respond(500, "I/O switchboard server was disabled for this container")
            return
        with self.lock:
            session = self._live_session(key)
        if session is None:
            request.respond(500, "Unknown container %s" % key)
            return
        if session.redirect_finished.is_set():
            request.respond(500, "I/O switchboard has shutdown")
            return
        if media.streaming_response:
            headers = [("Content-Type", APPLICATION_RECORDIO), (MESSAGE_CONTENT_TYPE, media.message_accept)]
        else:
            headers = [("Content-Type", APPLICATION_JSON)]
        stream = request.start_stream(200, headers)
        output = OutputStream(request, stream, is_launch=False)
        session.attach_output(output)
        self._hold_stream(request, session, output)

    # -- ATTACH_CONTAINER_INPUT ------------------------------------------------------------

    def _attach_container_input(self, request, call, media, reader):
        attach = call["attach_container_input"]
        if attach["type"] != "CONTAINER_ID":
            request.respond(400, "Expecting 'attach_container_input.type' to be CONTAINER_ID")
            return
        container_id = attach["container_id"]
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)
        if self._task_for_root(chain[0]) is None:
            request.respond(404, "Container %s cannot be found" % key)
            return
        if self._task_container(chain) is not None:
            request.respond(500, "I/O switchboard server was disabled for this container")
            return
        with self.lock:
            session = self._live_session(key)
        if session is None:
            # NOTE: with the composing containerizer the attach failure text is
            # "Container not found"; this is the Mesos containerizer's text.
            request.respond(500, "Unknown container %s" % key)
            return
        if session.redirect_finished.is_set() and not session.input_connected:
            request.respond(500, "I/O switchboard has shutdown")
            return

        waker = session.begin_input()
        if waker is False:
            request.respond(409, "Multiple input connections are not allowed")
            return
        try:
            status, body = agentinput.run_input(request, session, reader, waker)
        finally:
            session.end_input(waker)
        request.respond(status, body)

    # -- WAIT, KILL, REMOVE ------------------------------------------------------------

    def _wait_container(self, request, call, media):
        kind = call["type"]
        field = kind.lower()
        container_id = call[field]["container_id"]
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)

        with self.lock:
            session = self.sessions.get(key)
        task = self._task_container(chain) if session is None else None
        if session is None and task is None:
            request.respond(404, "Container %s cannot be found" % key)
            return

        done = session.ended if session is not None else self.task_ended[task.id]
        if not self._wait_or_disconnect(request, done):
            return
        if session is not None:
            result = session.wait_result()
        else:
            result = {} if task.exit_status is None else {"exit_status": task.exit_status}
        respond_json(request, {"type": kind, field: result})

    def _wait_or_disconnect(self, request, event) -> bool:
        """Wait for `event`; return False (and drop the connection) if the client leaves first."""
        sock = request.connection.sock
        while not event.wait(0.2):
            if request.connection.buffer:
                continue
            try:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    request.close_connection = True
                    return False
            except OSError:
                request.close_connection = True
                return False
        return True

    def _kill_container(self, request, call, media):
        field = call["type"].lower()
        container_id = call[field]["container_id"]
        number = call[field].get("signal", signal.SIGKILL)
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)

        with self.lock:
            session = self._live_session(key)
        if session is not None:
            try:
                session.kill(number)
            except OSError as error:
                request.respond(500, "Unable to send signal to container: %s"
                                % (error.strerror or os.strerror(errno.ESRCH)))
                return
            request.respond(200)
            return
        task = self._task_container(chain)
        if task is not None:
            try:
                self.kill_task(task, number)
            except OSError as error:
                request.respond(500, "Unable to send signal to container: %s" % error.strerror)
                return
            request.respond(200)
            return
        request.respond(404, "Container '%s' cannot be found (or is already killed)" % key)

    def _remove_container(self, request, call, media):
        field = call["type"].lower()
        container_id = call[field]["container_id"]
        request.log_fields["container_id"] = container_id
        key = container_id_string(container_id)
        chain = container_id_chain(container_id)
        if self._task_for_root(chain[0]) is None:
            request.respond(500, "Root container %s not found" % chain[0])
            return
        with self.lock:
            session = self.sessions.get(key)
            if session is not None and not session.ended.is_set():
                request.respond(500, "Nested container has not terminated yet")
                return
            self.sessions.pop(key, None)
        request.respond(200)

    # -- read-only calls ---------------------------------------------------------------

    def _get_health(self, request, call, media):
        respond_json(request, {"type": "GET_HEALTH", "get_health": {"healthy": True}})

    def _get_containers(self, request, call, media):
        options = call.get("get_containers", {})
        containers = []
        with self.cluster.lock:
            tasks = [t for t in self.cluster.tasks_on_agent(self.agent_info.id) if t.state == "TASK_RUNNING"]
        for task in tasks:
            executor_id = task.executor_id or task.id
            entry = {"framework_id": {"value": task.framework_id}, "executor_id": {"value": executor_id},
                     "executor_name": "Command Executor" if not task.pod else "",
                     "container_id": {"value": task.root_container_value},
                     "container_status": {"container_id": {"value": task.root_container_value}}}
            runtime = self.runtimes.get(task.id)
            if runtime is not None and runtime.init_pid is not None:
                entry["container_status"]["executor_pid"] = runtime.init_pid
            containers.append(entry)
            if options.get("show_nested") and task.pod:
                containers.append({"container_id": task.container_id,
                                   "container_status": {"container_id": task.container_id}})
        if options.get("show_nested"):
            with self.lock:
                live = [s for s in self.sessions.values() if not s.ended.is_set()]
            for session in live:
                containers.append({"container_id": session.container_id,
                                   "container_status": {"container_id": session.container_id,
                                                        "executor_pid": session.main_pid}})
        respond_json(request, {"type": "GET_CONTAINERS", "get_containers": {"containers": containers}})

    def describe_sessions(self) -> list:
        with self.lock:
            sessions = list(self.sessions.values())
        return [session.describe() for session in sessions]


def start_task_runtimes(agents):
    """Start every agent's tasks; on failure stop all of them and re-raise."""
    try:
        for agent in agents:
            agent.start_tasks()
    except TaskStartError:
        for agent in agents:
            agent.stop_tasks()
        raise
