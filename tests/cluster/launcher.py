#!/usr/bin/python3
"""Starts the main process of an exec session inside a task's namespaces.

This plays the part of `mesos-containerizer launch` for a nested container. sessions.py
runs it with the session's stdin, stdout and stderr (pipes or the pty slave) as fds 0-2,
a JSON launch spec on SPEC_FD and a pipe on STATUS_FD:

    launcher.py SPEC_FD STATUS_FD

It enters the task's PID, UTS and mount namespaces with setns(2), changes to the
sandbox, then forks the main process. The main process joins the cgroups listed in the
spec, so it and every descendant are contained. The launcher stays outside, because it
must outlive a destroy to report the status. The main process then calls setsid(),
takes the pty as its controlling terminal when there is one, and execs the command. The launcher writes
JSON lines to STATUS_FD: {"pid": <host pid>} after the fork, {"status": <raw wait(2)
status>} when the main process ends, or {"error": "..."} when it cannot start it.
"""

import ctypes
import fcntl
import json
import os
import pwd
import signal
import sys
import termios

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
NAMESPACES = (("pid", CLONE_NEWPID), ("uts", CLONE_NEWUTS), ("mnt", CLONE_NEWNS))

_libc = ctypes.CDLL(None, use_errno=True)


def report(status_fd: int, message: dict):
    os.write(status_fd, (json.dumps(message) + "\n").encode("utf-8"))


def enter_namespaces(namespace_files: dict):
    """setns(2) into each namespace; open all files first because /proc changes with the mount namespace."""
    opened = []
    try:
        for kind, flag in NAMESPACES:
            path = namespace_files.get(kind)
            if path:
                opened.append((kind, flag, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        for kind, flag, fd in opened:
            if _libc.setns(fd, flag) != 0:
                error = ctypes.get_errno()
                raise OSError(error, "setns(%s): %s" % (kind, os.strerror(error)))
    finally:
        for _, _, fd in opened:
            os.close(fd)


def resolve_executable(spec: dict):
    """Return (executable, argv) as Mesos's launch helper builds them."""
    if spec["shell"]:
        return "/bin/sh", ["sh", "-c", spec["value"]]
    executable = spec["value"]
    # NOTE: Mesos passes an empty argv when `arguments` is empty; Python's execve cannot,
    # so argv[0] is then the command value.
    argv = spec["arguments"] or [executable]
    # Mesos also looks for a relative executable in the working directory (launch.cpp).
    if not os.path.isabs(executable) and "/" not in executable:
        candidate = os.path.join(spec["cwd"], executable)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            executable = candidate
    return executable, argv


def switch_user(name: str):
    """Become `name` (looked up in the task's /etc/passwd), as Mesos does with --switch_user."""
    entry = pwd.getpwnam(name)
    if entry.pw_uid == os.getuid():
        return
    os.initgroups(name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def exec_main_process(spec: dict, status_fd: int, cgroup_fds: list):
    """Runs in the forked child: join the cgroups, become the session leader, exec the command."""
    os.close(status_fd)
    for fd in cgroup_fds:
        # "0" moves the writing process; every later descendant stays in the group.
        os.write(fd, b"0\n")
        os.close(fd)
    os.setsid()
    if spec["tty"]:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if spec.get("user"):
        try:
            switch_user(spec["user"])
        except (KeyError, OSError) as error:
            message = error.strerror if isinstance(error, OSError) else "unknown user"
            os.write(2, ("Failed to change user to '%s': %s\n" % (spec["user"], message)).encode("utf-8"))
            os._exit(1)
    for number in range(1, signal.NSIG):
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    executable, argv = resolve_executable(spec)
    try:
        os.execvpe(executable, argv, spec["env"])
    except OSError as error:
        os.write(2, ("Failed to execute '%s': %s\n" % (executable, error.strerror)).encode("utf-8"))
    os._exit(1)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: launcher.py SPEC_FD STATUS_FD\n")
        return 2
    spec_fd, status_fd = int(argv[1]), int(argv[2])
    with os.fdopen(spec_fd, "rb") as spec_file:
        spec = json.loads(spec_file.read())

    try:
        # Opened before setns(2), while /sys/fs/cgroup is certainly the host's view.
        cgroup_fds = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in spec["cgroups"]]
        enter_namespaces(spec["namespaces"])
        os.chdir(spec["cwd"])
    except OSError as error:
        report(status_fd, {"error": "Failed to prepare the container: %s" % (error.strerror or error)})
        return 1

    # The child keeps the write end open until it execs (close-on-exec) or exits, so
    # reading to EOF means it is contained and running before the pid is reported.
    started_read, started_write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(started_read)
            exec_main_process(spec, status_fd, cgroup_fds)
        except OSError as error:
            os.write(2, ("Failed to launch the container: %s\n" % (error.strerror or error)).encode("utf-8"))
        finally:
            os._exit(1)
    os.close(started_write)
    for fd in cgroup_fds:
        os.close(fd)
    while os.read(started_read, 1):
        pass
    os.close(started_read)

    # Only the main process keeps the session's stdio open, so its output ends when the
    # session's processes are gone.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)

    report(status_fd, {"pid": pid})
    while True:
        try:
            _, raw_status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            raw_status = None
            break
    report(status_fd, {"status": raw_status})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
