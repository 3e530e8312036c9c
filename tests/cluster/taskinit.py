#!/usr/bin/python3
"""PID 1 of an emulated task container.

Run by tasks.py as `unshare --pid --mount --uts --fork --mount-proc taskinit.py
HOSTNAME SANDBOX COMMAND STATUS_FD`. It sets the UTS hostname, runs COMMAND with
`/bin/sh -c` in SANDBOX and reaps every process that the PID namespace reparents to it.
It forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the command,
because the kernel drops signals to a namespace init that has no handler for them.

On STATUS_FD it writes one line "ready" once the command runs, then one line
"exit <raw wait status>" when the command ends. It then exits, and the kernel kills
every process left in the namespace (exec sessions included).
"""

import os
import signal
import socket
import sys

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2)


def main(argv):
    if len(argv) != 5:
        sys.stderr.write("usage: taskinit.py HOSTNAME SANDBOX COMMAND STATUS_FD\n")
        return 2
    hostname, sandbox, command, status_fd = argv[1], argv[2], argv[3], int(argv[4])
    status = os.fdopen(status_fd, "w", buffering=1)

    socket.sethostname(hostname)
    os.chdir(sandbox)

    child = os.fork()
    if child == 0:
        try:
            status.close()
            for number in range(1, signal.NSIG):
                try:
                    signal.signal(number, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
            os.execv("/bin/sh", ["sh", "-c", command])
        except OSError as error:
            sys.stderr.write("Failed to execute '/bin/sh': %s\n" % error.strerror)
        os._exit(1)

    def forward(number, _frame):
        try:
            os.kill(child, number)
        except ProcessLookupError:
            pass

    for number in FORWARDED_SIGNALS:
        signal.signal(number, forward)

    status.write("ready\n")
    while True:
        try:
            pid, raw_status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            status.write("exit %d\n" % raw_status)
            status.close()
            if os.WIFEXITED(raw_status):
                return os.WEXITSTATUS(raw_status)
            return 128 + os.WTERMSIG(raw_status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
