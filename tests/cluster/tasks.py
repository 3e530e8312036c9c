"""Task containers: each running MESOS task is a real process tree in its own PID, mount
and UTS namespaces, with its own hostname and sandbox directory.

The tree is `unshare --pid --mount --uts --fork --mount-proc --kill-child` running
taskinit.py as PID 1 of the new namespace, which runs the task's command with
`/bin/sh -c`. Exec sessions join these namespaces through the init's /proc/<pid>/ns
files. Killing the init kills every process in the namespace.
"""

import ctypes
import logging
import os
import select
import signal
import subprocess
import threading

from containment import read_stat, all_pids

LOG = logging.getLogger("emulator.tasks")

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
TASKINIT = os.path.join(HERE, "taskinit.py")
START_TIMEOUT_SECONDS = 10.0
# PATH that Mesos gives containers without one (stout os::host_default_path()).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """Child-side hook: SIGKILL this process when the emulator's main thread exits.

    PR_SET_PDEATHSIG fires when the forking thread ends, so tasks are started from the
    main thread only.
    """
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class TaskStartError(RuntimeError):
    """The task's process tree did not start."""


def task_environment(task, agent, sandbox: str) -> dict:
    """Return the environment of the task's container (and of its exec sessions)."""
    env = {
        "PATH": DEFAULT_PATH,
        "MESOS_SANDBOX": sandbox,
        "MESOS_TASK_ID": task.id,
        "MESOS_FRAMEWORK_ID": task.framework_id,
        "MESOS_EXECUTOR_ID": task.executor_id or task.id,
        "MESOS_AGENT_ENDPOINT": "127.0.0.1:%d" % agent.port,
    }
    env.update(task.env)
    return env


class TaskRuntime:
    """The running process tree of one task."""

    def __init__(self, task, agent, state_dir: str, on_exit):
        self.task = task
        self.agent = agent
        self.sandbox = os.path.join(state_dir, "sandboxes", task.id)
        self.environment = task_environment(task, agent, self.sandbox)
        self.on_exit = on_exit
        self.unshare = None
        self.init_pid = None
        self.exit_status = None
        self.killed_by_request = False
        self.exited = threading.Event()
        self._status_file = None

    def start(self):
        """Start the tree and wait until the command runs; raise TaskStartError."""
        os.makedirs(self.sandbox, exist_ok=True)
        status_read, status_write = os.pipe()
        stdout = open(os.path.join(self.sandbox, "stdout"), "ab")
        stderr = open(os.path.join(self.sandbox, "stderr"), "ab")
        command = ["unshare", "--pid", "--mount", "--uts", "--fork", "--mount-proc", "--kill-child",
                   "--", PYTHON, TASKINIT, self.task.hostname, self.sandbox, self.task.command,
                   str(status_write)]
        try:
            self.unshare = subprocess.Popen(
                command, env=self.environment, cwd=self.sandbox, stdin=subprocess.DEVNULL,
                stdout=stdout, stderr=stderr, pass_fds=(status_write,), start_new_session=True,
                preexec_fn=_die_with_parent)
        except OSError as error:
            os.close(status_read)
            raise TaskStartError("cannot run unshare for task %s: %s" % (self.task.id, error)) from None
        finally:
            os.close(status_write)
            stdout.close()
            stderr.close()

        self._status_file = os.fdopen(status_read, "r")
        ready, _, _ = select.select([self._status_file], [], [], START_TIMEOUT_SECONDS)
        line = self._status_file.readline().strip() if ready else ""
        if line != "ready":
            self.kill()
            raise TaskStartError("task %s did not start within %.0f s; see %s/stderr"
                                 % (self.task.id, START_TIMEOUT_SECONDS, self.sandbox))
        self.init_pid = self._find_init_pid()
        if self.init_pid is None:
            self.kill()
            raise TaskStartError("cannot find the init process of task %s" % self.task.id)
        LOG.info("task %s started: unshare pid %d, init pid %d, hostname %s",
                 self.task.id, self.unshare.pid, self.init_pid, self.task.hostname)
        threading.Thread(target=self._watch, name="task-" + self.task.id, daemon=True).start()

    def _find_init_pid(self):
        """Return the host pid of unshare's only child (PID 1 inside the namespace)."""
        parent = self.unshare.pid
        children_file = "/proc/%d/task/%d/children" % (parent, parent)
        try:
            with open(children_file) as handle:
                children = [int(pid) for pid in handle.read().split()]
            if children:
                return children[0]
        except OSError:
            pass
        for pid in all_pids():
            stat = read_stat(pid)
            if stat is not None and stat[0] == parent:
                return pid
        return None

    def _watch(self):
        raw_status = None
        try:
            for line in self._status_file:
                if line.startswith("exit "):
                    raw_status = int(line.split()[1])
        except (OSError, ValueError) as error:
            LOG.error("task %s: cannot read the init status: %s", self.task.id, error)
        finally:
            self._status_file.close()
        self.unshare.wait()
        if raw_status is None:
            # The init died without reporting (SIGKILL): report unshare's own status.
            code = self.unshare.returncode
            raw_status = (-code) & 0x7f if code < 0 else (code & 0xff) << 8
        self.exit_status = raw_status
        self.exited.set()
        LOG.info("task %s ended with wait status %d", self.task.id, raw_status)
        try:
            self.on_exit(self, raw_status)
        except Exception:  # The callback must not break the watcher thread.
            LOG.exception("task %s: exit handling failed", self.task.id)

    def signal(self, number: int):
        """Send a signal to the task's command (through its init, which forwards it)."""
        if number == signal.SIGKILL:
            self.killed_by_request = True
            self.kill()
            return
        if self.init_pid is not None and not self.exited.is_set():
            self.killed_by_request = True
            os.kill(self.init_pid, number)

    def kill(self):
        """SIGKILL the namespace's init, which takes every process of the namespace with it."""
        for pid in (self.init_pid, self.unshare.pid if self.unshare else None):
            if pid is None or self.exited.is_set():
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> bool:
        return self.exited.wait(timeout)

    def namespace_paths(self) -> dict:
        return {kind: "/proc/%d/ns/%s" % (self.init_pid, kind) for kind in ("pid", "uts", "mnt")}

