"""Exec sessions: nested containers launched by LAUNCH_NESTED_CONTAINER_SESSION.

A session is one launcher process (launcher.py) and the main process it forks inside
the task's namespaces, contained in a group (containment.py), plus the emulated I/O
switchboard: pipes or a pty, output pumping into RecordIO streams, heartbeats, the
single input connection, and the end-of-session order Mesos follows:

1. the main process exits (or the session is destroyed): every process left in the
   session is killed, as the Mesos launcher does with the container's cgroup;
2. stdout and stderr (or the pty) reach EOF and the output is drained;
3. if an input connection is open, it gets its 200 response one second later
   (IOSwitchboardServerProcess waits `Seconds(1)` before answering it);
4. every output stream gets its terminal chunk;
5. the termination (raw wait status of the main process) becomes visible to WAIT.
"""

import base64
import errno
import fcntl
import json
import logging
import os
import pty
import select
import struct
import subprocess
import termios
import threading
import time

import recordio
from cluster import container_id_string
from httpserver import close_quietly

LOG = logging.getLogger("emulator.sessions")

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
LAUNCHER = os.path.join(HERE, "launcher.py")

# The switchboard reads at most this much per read (process::io::BUFFERED_READ_SIZE).
OUTPUT_READ_BYTES = 64 * 1024
LAUNCH_TIMEOUT_SECONDS = 10.0
# Delay between the end of output and the 200 to a still-open input connection.
INPUT_GRACE_SECONDS = 1.0
# How long the main process may outlive the end of its output before the destroy.
EXIT_AFTER_OUTPUT_SECONDS = 0.5
# How long the output may stay open after a destroy before its fds are force-closed.
DESTROY_DRAIN_TIMEOUT_SECONDS = 5.0


def encode_record(message: dict) -> bytes:
    """Serialize a ProcessIO message as compact JSON and frame it as one RecordIO record."""
    return recordio.encode(json.dumps(message, separators=(",", ":")).encode("utf-8"))


def data_record(stream_type: str, data: bytes) -> bytes:
    return encode_record({"type": "DATA",
                          "data": {"type": stream_type, "data": base64.b64encode(data).decode("ascii")}})


def heartbeat_record(interval_seconds: float) -> bytes:
    return encode_record({"type": "CONTROL",
                          "control": {"type": "HEARTBEAT",
                                      "heartbeat": {"interval": {"nanoseconds": int(interval_seconds * 1e9)}}}})


class LaunchError(RuntimeError):
    """The session's main process could not be started; the text is the LNCS 400 body."""


class Waker:
    """A pipe whose read end becomes readable once `set` is called; for select() loops."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self._lock = threading.Lock()
        self._closed = False

    def set(self):
        with self._lock:
            if not self._closed:
                try:
                    os.write(self.write_fd, b"x")
                except OSError:
                    pass

    def close(self):
        with self._lock:
            self._closed = True
            close_quietly(self.read_fd)
            close_quietly(self.write_fd)


class OutputStream:
    """A client connection that receives the session's ProcessIO records.

    `is_launch` marks the LAUNCH_NESTED_CONTAINER_SESSION stream, whose loss destroys
    the session; ATTACH_CONTAINER_OUTPUT streams are only dropped.
    """

    def __init__(self, request, stream, is_launch: bool):
        self.request = request
        self.stream = stream
        self.is_launch = is_launch
        self.done = threading.Event()
        self.waker = Waker()
        self.lock = threading.Lock()

    def send(self, record: bytes) -> bool:
        with self.lock:
            if self.done.is_set():
                return False
            if self.stream.write(record):
                return True
        self.mark_done()
        return False

    def finish(self):
        with self.lock:
            if not self.done.is_set():
                self.stream.finish()
        self.mark_done()

    def cut(self):
        """Close the socket without the terminal chunk (fault injection)."""
        self.stream.cut()
        self.mark_done()

    def mark_done(self):
        self.done.set()
        self.waker.set()


class Session:
    """One nested container created by LAUNCH_NESTED_CONTAINER_SESSION."""

    def __init__(self, agent, task, runtime, container_id: dict, command: dict, tty: bool,
                 environment: dict, heartbeat_interval: float, containment):
        self.agent = agent
        self.task = task
        self.runtime = runtime
        self.container_id = container_id
        self.key = container_id_string(container_id)
        self.command = command
        self.tty = tty
        self.environment = environment
        self.heartbeat_interval = heartbeat_interval
        self.containment = containment
        self.created_at = time.time()
        self.ended_at = None

        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.state = "launching"
        self.group = None
        self.launcher = None
        self.launcher_pid = None
        self.main_pid = None
        self.main_status = None
        self.main_exited = threading.Event()
        self.termination = {}
        self.ended = threading.Event()
        self.destroying = False

        self.stdin_fd = None
        self.stdin_lock = threading.Lock()
        self.output_fds = {}
        self.outputs = []
        self.pump_started = False
        self.redirect_finished = threading.Event()
        self.input_connected = False
        self.pending_inputs = 0
        self.input_wakers = set()
        self.stdin_failure = None

    # -- launch ------------------------------------------------------------------------

    def launch(self):
        """Start the main process; return once its pid is known. Raise LaunchError."""
        child_fds = []
        status_read = None
        try:
            if self.tty:
                master, slave = pty.openpty()
                self.stdin_fd = master
                self.output_fds = {master: "STDOUT"}
                child_stdio = (slave, slave, slave)
                child_fds = [slave]
            else:
                stdin_read, stdin_write = os.pipe()
                stdout_read, stdout_write = os.pipe()
                stderr_read, stderr_write = os.pipe()
                self.stdin_fd = stdin_write
                self.output_fds = {stdout_read: "STDOUT", stderr_read: "STDERR"}
                child_stdio = (stdin_read, stdout_write, stderr_write)
                child_fds = [stdin_read, stdout_write, stderr_write]
            for fd in [self.stdin_fd] + list(self.output_fds):
                os.set_blocking(fd, False)
                fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)

            self.group = self.containment.create("session-%s" % self.container_id["value"])
            spec = {
                "cgroups": self.group.procs_files,
                "namespaces": self.runtime.namespace_paths(),
                "cwd": self.runtime.sandbox,
                "env": self.environment,
                "shell": self.command["shell"],
                "value": self.command["value"],
                "arguments": self.command["arguments"],
                "user": self.command.get("user"),
                "tty": self.tty,
            }
            spec_read, spec_write = os.pipe()
            status_read, status_write = os.pipe()
            try:
                self.launcher = subprocess.Popen(
                    [PYTHON, LAUNCHER, str(spec_read), str(status_write)],
                    stdin=child_stdio[0], stdout=child_stdio[1], stderr=child_stdio[2],
                    pass_fds=(spec_read, status_write), start_new_session=True)
            finally:
                os.close(spec_read)
                os.close(status_write)
            self.launcher_pid = self.launcher.pid
            with os.fdopen(spec_write, "wb") as spec_file:
                spec_file.write(json.dumps(spec).encode("utf-8"))
        except OSError as error:
            close_quietly(status_read)
            self._abort_launch()
            raise LaunchError("Failed to launch container: %s" % error) from None
        finally:
            for fd in child_fds:
                close_quietly(fd)

        status_file = os.fdopen(status_read, "r")
        first = self._read_status_line(status_file, LAUNCH_TIMEOUT_SECONDS)
        if first is None or "pid" not in first:
            message = (first or {}).get("error") or "the launcher did not start the main process in time"
            status_file.close()
            self._abort_launch()
            raise LaunchError(message)

        with self.lock:
            self.main_pid = first["pid"]
            self.state = "running"
            if self.group.mode == "proc":
                self.group.session_id = self.main_pid
        threading.Thread(target=self._watch_main, args=(status_file,),
                         name="main-" + self.key[-12:], daemon=True).start()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat-" + self.key[-12:],
                         daemon=True).start()
        LOG.info("session %s started in task %s: launcher pid %d, main pid %d, tty %s",
                 self.key, self.task.id, self.launcher_pid, self.main_pid, self.tty)

    def _abort_launch(self):
        """Undo a failed launch: kill whatever started, close the fds, remove the group."""
        self._kill_launcher()
        if self.group is not None:
            self.group.kill_all()
            self.group.remove()
        self._close_fds()

    @staticmethod
    def _read_status_line(status_file, timeout):
        ready, _, _ = select.select([status_file], [], [], timeout)
        if not ready:
            return None
        line = status_file.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except ValueError:
            return {"error": "invalid launcher output %r" % line[:100]}

    def _kill_launcher(self):
        if self.launcher is None:
            return
        try:
            self.launcher.kill()
        except OSError:
            pass
        self.launcher.wait()

    def _watch_main(self, status_file):
        raw_status = None
        try:
            for line in status_file:
                message = json.loads(line)
                if "status" in message:
                    raw_status = message["status"]
        except (OSError, ValueError) as error:
            LOG.error("session %s: cannot read the launcher status: %s", self.key, error)
        finally:
            status_file.close()
        self.launcher.wait()
        with self.lock:
            self.main_status = raw_status
            self.state = "destroying" if not self.ended.is_set() else self.state
        self.main_exited.set()
        LOG.info("session %s: main process %s ended with wait status %s",
                 self.key, self.main_pid, raw_status)
        # The container is destroyed when its main process exits.
        self.destroy("main process exited")

    # -- output ------------------------------------------------------------------------

    def attach_output(self, output: OutputStream):
        """Add an output stream; the first one starts reading the process's output."""
        with self.lock:
            self.outputs.append(output)
            start = not self.pump_started
            self.pump_started = True
        if start:
            threading.Thread(target=self._pump_output, name="pump-" + self.key[-12:], daemon=True).start()

    def output_lost(self, output: OutputStream):
        """Handle a client that closed its output stream."""
        with self.lock:
            if output in self.outputs:
                self.outputs.remove(output)
        if output.is_launch:
            LOG.info("session %s: launch connection closed by the client; destroying", self.key)
            self.destroy("launch connection closed")

    def _broadcast(self, record: bytes):
        with self.lock:
            outputs = list(self.outputs)
        for output in outputs:
            if not output.send(record):
                self.output_lost(output)

    def _heartbeat_loop(self):
        # The switchboard's timer runs from its start, so the first heartbeat a client
        # sees arrives up to one interval after it attached.
        record = heartbeat_record(self.heartbeat_interval)
        while not self.redirect_finished.wait(self.heartbeat_interval):
            self._broadcast(record)

    def _pump_output(self):
        fds = dict(self.output_fds)
        drain_deadline = None
        while fds:
            if drain_deadline is None and self.destroying:
                drain_deadline = time.monotonic() + DESTROY_DRAIN_TIMEOUT_SECONDS
            timeout = 0.2 if drain_deadline is None else max(0.0, drain_deadline - time.monotonic())
            if drain_deadline is not None and timeout == 0.0:
                LOG.error("session %s: output still open %.0f s after destroy; closing it",
                          self.key, DESTROY_DRAIN_TIMEOUT_SECONDS)
                break
            try:
                readable, _, _ = select.select(list(fds), [], [], min(timeout, 0.2))
            except (OSError, ValueError):
                break
            for fd in readable:
                try:
                    data = os.read(fd, OUTPUT_READ_BYTES)
                except BlockingIOError:
                    continue
                except OSError as error:
                    # A pty master fails with EIO once no process has the slave open, which ends the output.
                    if error.errno != errno.EIO:
                        LOG.error("session %s: reading output failed: %s", self.key, error)
                    data = b""
                if not data:
                    del fds[fd]
                    continue
                self._broadcast(data_record(fds[fd], data))
        self._finish_redirect()

    def _finish_redirect(self):
        """Run steps 3-5 of the end order: respond to open input, close outputs, destroy, finalize."""
        with self.lock:
            self.redirect_finished.set()
            wakers = list(self.input_wakers)
        for waker in wakers:
            waker.set()
        with self.changed:
            while self.pending_inputs > 0:
                self.changed.wait()
        with self.lock:
            outputs, self.outputs = list(self.outputs), []
        for output in outputs:
            output.finish()
        # A process closes its stdout and stderr just before it exits. Mesos destroys
        # the container only after the switchboard, the agent and the launcher have
        # passed the news along, so the process has normally exited by then.
        self.main_exited.wait(EXIT_AFTER_OUTPUT_SECONDS)
        self.destroy("output finished")
        self._finalize()

    # -- input -------------------------------------------------------------------------

    def begin_input(self):
        """Register an input connection; return False when one is already connected (409)."""
        with self.lock:
            if self.input_connected:
                return False
            self.input_connected = True
            self.pending_inputs += 1
            waker = Waker()
            self.input_wakers.add(waker)
            if self.redirect_finished.is_set():
                waker.set()
            return waker

    def end_input(self, waker: Waker):
        with self.changed:
            self.input_connected = False
            self.pending_inputs -= 1
            self.input_wakers.discard(waker)
            waker.close()
            self.changed.notify_all()
        if self.stdin_failure is not None and not self.main_exited.is_set():
            # The switchboard exits after a failed stdin write, and Mesos then destroys
            # the container with this limitation.
            self.destroy("stdin write failed", {"state": "TASK_FAILED",
                                                "reason": "REASON_IO_SWITCHBOARD_EXITED",
                                                "message": "'IOSwitchboard' exited with status 1"})

    def write_stdin(self, data: bytes):
        """Write bytes to the process's stdin (the pty with a tty); raise OSError."""
        view = memoryview(data)
        while view:
            with self.stdin_lock:
                fd = self.stdin_fd
                if fd is None:
                    raise OSError(errno.EBADF, os.strerror(errno.EBADF))
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    written = 0
            if written:
                view = view[written:]
                continue
            try:
                select.select([], [fd], [], 0.2)
            except (OSError, ValueError):
                pass

    def close_stdin(self):
        """End of input without a tty: close the write end of the stdin pipe."""
        with self.stdin_lock:
            if self.stdin_fd is not None and not self.tty:
                os.close(self.stdin_fd)
                self.stdin_fd = None

    def set_window_size(self, rows: int, columns: int):
        """TIOCSWINSZ on the pty master (the process gets SIGWINCH); raise OSError without a pty."""
        with self.stdin_lock:
            fd = self.stdin_fd
            if fd is None:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    # -- kill, destroy, end ------------------------------------------------------------

    def kill(self, number: int):
        """Send a signal to the main process; raise ProcessLookupError once it has exited."""
        with self.lock:
            pid = self.main_pid
            exited = self.main_exited.is_set()
        if pid is None:
            self.destroy("killed before start")
            return
        if exited:
            raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
        os.kill(pid, number)

    def destroy(self, reason: str, termination=None):
        """Kill every process of the session; idempotent. `termination` adds WAIT fields."""
        with self.lock:
            if termination and not self.termination and not self.ended.is_set():
                self.termination = dict(termination)
            first = not self.destroying
            self.destroying = True
            if self.state in ("launching", "running"):
                self.state = "destroying"
        if first:
            LOG.info("session %s: destroying (%s)", self.key, reason)
        if self.group is not None:
            self.group.kill_all()

    def abandon_output(self):
        """Destroy a session whose launch stream never attached (the client left first).

        Output is only read once a stream attaches, as with the switchboard's
        wait_for_connection, so here nothing else would end the session.
        """
        with self.lock:
            start = not self.pump_started
            self.pump_started = True
        self.destroy("launch connection closed before the response")
        if start:
            threading.Thread(target=self._pump_output, name="pump-" + self.key[-12:], daemon=True).start()

    def _finalize(self):
        with self.lock:
            if self.ended.is_set():
                return
        if not self.main_exited.wait(LAUNCH_TIMEOUT_SECONDS):
            LOG.error("session %s: launcher %s did not report the main process status",
                      self.key, self.launcher_pid)
            self._kill_launcher()
        self._close_fds()
        if self.group is not None:
            self.group.remove()
        with self.lock:
            self.state = "ended"
            self.ended_at = time.time()
            self.ended.set()
            self.changed.notify_all()
        LOG.info("session %s ended: wait status %s", self.key, self.main_status)
        self.agent.session_ended(self)

    def _close_fds(self):
        with self.stdin_lock:
            if self.stdin_fd is not None and self.stdin_fd not in self.output_fds:
                close_quietly(self.stdin_fd)
            self.stdin_fd = None
            for fd in self.output_fds:
                close_quietly(fd)
            self.output_fds = {}

    # -- reporting ---------------------------------------------------------------------

    def wait_result(self) -> dict:
        """The WAIT_CONTAINER fields of the ended session."""
        result = {}
        if self.main_status is not None:
            result["exit_status"] = self.main_status
        result.update(self.termination)
        return result

    def pids(self) -> list:
        pids = set()
        if self.group is not None and not self.ended.is_set():
            pids = self.group.pids()
        return sorted(pids)

    def describe(self) -> dict:
        with self.lock:
            return {
                "container_id": self.container_id,
                "container": self.key,
                "task": self.task.id,
                "agent": self.agent.agent_info.id,
                "state": self.state,
                "tty": self.tty,
                "launcher_pid": self.launcher_pid,
                "main_pid": self.main_pid,
                "pids": self.pids(),
                "exit_status": self.main_status,
                "input_connected": self.input_connected,
                "outputs": len(self.outputs),
                "created_at": self.created_at,
                "ended_at": self.ended_at,
                "containment": self.group.mode if self.group is not None else None,
            }
