"""Process containment for exec sessions, so that destroying a session kills all of it.

Mesos puts each nested container in its own freezer cgroup and, on destroy, freezes the
cgroup, sends SIGKILL to every process in it and thaws it (LinuxLauncher). This module
does the same with the first mechanism that works here:

1. a cgroup v1 freezer group under /sys/fs/cgroup/freezer (the Mesos way);
2. a cgroup v1 pids group: pids.max is set to 0 so nothing can fork, then every
   process is killed until the group is empty;
3. no cgroups: the processes whose session id is the session's main process (it calls
   setsid), found by scanning /proc.

NOTE: the /proc fallback misses a process that calls setsid() itself (a daemon); only
the cgroup mechanisms contain those.
"""

import errno
import logging
import os
import signal
import threading
import time

LOG = logging.getLogger("emulator.containment")

CGROUP_ROOT = "/sys/fs/cgroup"
# Processes that are already exiting may keep a group FREEZING; kill them anyway after this.
FREEZE_TIMEOUT_SECONDS = 0.2
KILL_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.01


def _write(path: str, text: str):
    with open(path, "w") as handle:
        handle.write(text)


def _read_pids(path: str) -> set:
    """Return the pids listed in a cgroup.procs file; none once the group is gone."""
    try:
        with open(path) as handle:
            return {int(line) for line in handle if line.strip()}
    except OSError:
        # ENOENT or ENODEV after the group was removed.
        return set()


def _kill(pid: int, number=signal.SIGKILL):
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def read_stat(pid: int):
    """Return (ppid, pgrp, session) of a process from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields follow the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[3])


def all_pids() -> list:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


class CgroupGroup:
    """One session's cgroup in the freezer or pids hierarchy."""

    def __init__(self, mode: str, path: str):
        self.mode = mode
        self.path = path
        # Serializes kill_all and remove, which several session threads may call.
        self._lock = threading.Lock()
        self._removed = False
        os.mkdir(path)

    @property
    def procs_files(self) -> list:
        """The cgroup.procs files the session launcher writes its pid to before it forks."""
        return [os.path.join(self.path, "cgroup.procs")]

    def pids(self) -> set:
        return _read_pids(os.path.join(self.path, "cgroup.procs"))

    def kill_all(self):
        with self._lock:
            if self._removed:
                return
            if self.mode == "freezer":
                self._kill_frozen()
            else:
                self._kill_without_forks()

    def _kill_frozen(self):
        state_file = os.path.join(self.path, "freezer.state")
        deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
        while self.pids() and time.monotonic() < deadline:
            try:
                _write(state_file, "FROZEN")
                freeze_deadline = time.monotonic() + FREEZE_TIMEOUT_SECONDS
                while time.monotonic() < freeze_deadline:
                    with open(state_file) as handle:
                        if handle.read().strip() == "FROZEN":
                            break
                    time.sleep(POLL_SECONDS)
                for pid in self.pids():
                    _kill(pid)
            finally:
                _write(state_file, "THAWED")
            self._wait_empty(min(deadline, time.monotonic() + 0.5))
        if self.pids():
            LOG.error("cgroup %s still has processes %s after SIGKILL", self.path, sorted(self.pids()))

    def _kill_without_forks(self):
        try:
            _write(os.path.join(self.path, "pids.max"), "0")
        except OSError as error:
            LOG.warning("cannot set pids.max in %s: %s", self.path, error)
        deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                _kill(pid)
            self._wait_empty(min(deadline, time.monotonic() + 0.5))
        if self.pids():
            LOG.error("cgroup %s still has processes %s after SIGKILL", self.path, sorted(self.pids()))

    def _wait_empty(self, deadline: float):
        while self.pids() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)

    def remove(self):
        with self._lock:
            if self._removed:
                return
            self._removed = True
            deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
            while True:
                try:
                    os.rmdir(self.path)
                    return
                except FileNotFoundError:
                    return
                except OSError as error:
                    # EBUSY while exiting processes are still being released.
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        LOG.error("cannot remove cgroup %s: %s", self.path, error)
                        return
                time.sleep(POLL_SECONDS)


class SessionScanGroup:
    """Fallback without cgroups: the processes in the POSIX session of the main process."""

    mode = "proc"
    procs_files = []

    def __init__(self):
        # Set once the launcher reports the main process, which is a session leader.
        self.session_id = None
        self.launcher_pid = None

    def pids(self) -> set:
        if self.session_id is None:
            return set()
        found = set()
        for pid in all_pids():
            stat = read_stat(pid)
            if stat is not None and stat[2] == self.session_id:
                found.add(pid)
        return found

    def kill_all(self):
        deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                _kill(pid)
            time.sleep(POLL_SECONDS)
        LOG.error("session %s still has processes %s after SIGKILL", self.session_id, sorted(self.pids()))

    def remove(self):
        pass


BASE_PREFIX = "task-bastion-emulator-"
MODES = ("freezer", "pids", "proc")


def remove_stale_bases(hierarchy: str):
    """Remove the empty groups left by emulators that died without cleaning up."""
    root = os.path.join(CGROUP_ROOT, hierarchy)
    try:
        entries = [entry for entry in os.listdir(root) if entry.startswith(BASE_PREFIX)]
    except OSError:
        return
    for entry in entries:
        owner = entry[len(BASE_PREFIX):]
        if not owner.isdigit() or os.path.exists("/proc/" + owner):
            continue
        base = os.path.join(root, entry)
        try:
            for child in os.listdir(base):
                if os.path.isdir(os.path.join(base, child)):
                    os.rmdir(os.path.join(base, child))
            os.rmdir(base)
            LOG.info("removed stale cgroup %s", base)
        except OSError as error:
            LOG.warning("cannot remove stale cgroup %s: %s", base, error)


class Containment:
    """Chooses the mechanism once and creates one group per session.

    `prefer` (one of MODES) forces a mechanism, for testing the fallbacks.
    """

    def __init__(self, prefer=None):
        if prefer is not None and prefer not in MODES:
            raise ValueError("unknown containment mode %r; expected one of %s" % (prefer, ", ".join(MODES)))
        self.base = None
        self.mode = "proc"
        candidates = ["freezer", "pids"] if prefer is None else [prefer]
        for mode in candidates:
            if mode == "proc":
                break
            remove_stale_bases(mode)
            base = os.path.join(CGROUP_ROOT, mode, BASE_PREFIX + str(os.getpid()))
            try:
                os.mkdir(base)
            except OSError as error:
                LOG.info("cgroup %s hierarchy not usable (%s)", mode, error)
                continue
            try:
                probe = os.path.join(base, "probe")
                os.mkdir(probe)
                os.rmdir(probe)
            except OSError as error:
                LOG.info("cgroup %s hierarchy not usable (%s)", mode, error)
                os.rmdir(base)
                continue
            self.base = base
            self.mode = mode
            break
        LOG.info("exec sessions are contained with: %s", self.mode)

    def create(self, name: str):
        if self.mode == "proc":
            return SessionScanGroup()
        return CgroupGroup(self.mode, os.path.join(self.base, name))

    def cleanup(self):
        if self.base is None:
            return
        try:
            for entry in os.listdir(self.base):
                path = os.path.join(self.base, entry)
                # Sessions remove their own groups; this removes what a failed destroy left.
                if os.path.isdir(path):
                    try:
                        os.rmdir(path)
                    except OSError as error:
                        LOG.error("cannot remove leftover cgroup %s: %s", path, error)
            os.rmdir(self.base)
        except OSError as error:
            LOG.error("cannot remove cgroup %s: %s", self.base, error)
