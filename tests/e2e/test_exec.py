"""End-to-end: the real OpenSSH client through task-bastion into emulated Mesos tasks."""

import hashlib
import os
import socket
import subprocess

import pytest

from harness import ssh_env, wait_for
from tmux import TmuxPane


def test_stdout_stderr_and_exit_status_kept_apart(bastion):
    result = bastion.ssh("echo out; echo err >&2; exit 3")
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.returncode == 3


def test_command_runs_in_task_namespaces(bastion):
    result = bastion.ssh("hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"demo-shell-host\n"
    assert result.stdout.strip() != socket.gethostname().encode()


def test_pod_task_reachable_with_its_hostname(bastion):
    result = bastion.ssh("hostname", user="demo@demo-web")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"demo-web-host\n"


def test_uid_with_at_sign_splits_at_last_at(bastion):
    result = bastion.ssh("id -u >/dev/null; echo ok", user="alice@example.com@demo-shell",
                         password="wonderland")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"


def test_keyboard_interactive_with_plain_task_user(bastion):
    result = bastion.ssh("echo via-kbdint", user="demo-shell",
                         options=("-o", "PreferredAuthentications=keyboard-interactive"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"via-kbdint\n"


def test_password_method_with_uid_form(bastion):
    result = bastion.ssh("echo via-password",
                         options=("-o", "PreferredAuthentications=password"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"via-password\n"


def test_wrong_password_rejected_and_logged_without_secret(bastion):
    result = bastion.ssh("true", password="not-the-password",
                         options=("-o", "NumberOfPasswordPrompts=2"))
    assert result.returncode == 255
    assert b"Permission denied" in result.stderr
    log = bastion.log_text()
    assert "rejected" in log
    assert "not-the-password" not in log


def test_piped_stdin_reaches_command_and_eof_ends_it(bastion):
    result = bastion.ssh("cat; echo done", input=b"a\nb\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a\nb\ndone\n"


def test_cat_with_dev_null_stdin_ends_at_once(bastion):
    with open(os.devnull, "rb") as devnull:
        result = bastion.ssh("cat", stdin=devnull, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def test_random_20_mib_keeps_sha256_both_ways(bastion, tmp_path):
    data = os.urandom(20 << 20)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    with open(source, "rb") as stdin:
        result = bastion.ssh("cat", stdin=stdin, timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(data).hexdigest()


def test_seq_200000_lines_complete_in_50_runs(bastion):
    expected = b"".join(b"%d\n" % i for i in range(1, 200001))
    for run in range(50):
        result = bastion.ssh("seq 200000", timeout=60)
        assert result.returncode == 0, (run, result.stderr)
        assert result.stdout == expected, f"run {run}: {len(result.stdout)} bytes"


def test_kill_term_ends_with_exit_signal(bastion):
    result = bastion.ssh("kill -TERM $$")
    # OpenSSH's client exits with 255 when the remote side reports exit-signal.
    assert result.returncode == 255
    assert result.stdout == b""


def test_ctrl_c_byte_ends_sleep_in_pty(bastion):
    # The ^C byte is typed once the command runs, as a user would; the pty turns it into SIGINT.
    process = subprocess.Popen(bastion.ssh_command("demo@demo-shell", "echo started; sleep 100",
                                                   tty=True),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ssh_env())
    try:
        assert process.stdout.readline() == b"started\r\n"
        process.stdin.write(b"\x03")
        process.stdin.flush()
        status = process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    # OpenSSH's client exits with 255 for the exit-signal INT.
    assert status == 255


def test_pty_shows_tty_and_client_size(bastion, tmp_path):
    out = tmp_path / "out"
    pane = TmuxPane(columns=123, rows=37)
    try:
        pane.run(bastion.ssh_command("demo@demo-shell", "tty; stty size", tty=True), out,
                 ssh_env())
        status = pane.wait_exit(60)
    finally:
        pane.close()
    text = out.read_bytes()
    assert status == 0, text
    lines = text.replace(b"\r\n", b"\n").split(b"\n")
    assert lines[0].startswith(b"/dev/pts/")
    assert lines[1] == b"37 123"


def test_window_change_reaches_process(bastion, tmp_path):
    out = tmp_path / "out"
    pane = TmuxPane(columns=100, rows=30)
    try:
        pane.run(bastion.ssh_command(
            "demo@demo-shell",
            "trap 'stty size; exit 0' WINCH; stty size; echo ready; "
            "while :; do sleep 0.1; done", tty=True), out, ssh_env())
        wait_for(lambda: b"ready" in out.read_bytes() if out.exists() else False, 60,
                 "the remote command to start")
        pane.resize(columns=90, rows=20)
        status = pane.wait_exit(60)
    finally:
        pane.close()
    lines = out.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
    assert lines[0] == b"30 100"
    assert b"20 90" in lines
    assert status == 0


def test_interactive_shell_through_tmux(bastion, tmp_path):
    out = tmp_path / "out"
    pane = TmuxPane(columns=100, rows=30)
    try:
        pane.run_interactive(bastion.ssh_command("demo@demo-shell", tty=True), ssh_env())
        wait_for(lambda: pane.capture().rstrip().endswith(("$", "#")), 60, "a shell prompt")
        pane.send("echo $((6*7))")
        wait_for(lambda: "42" in pane.capture().split("echo $((6*7))")[-1], 30, "42")
        pane.send("exit 5")
        status = pane.wait_exit(60)
    finally:
        pane.close()
    assert status == 5


@pytest.mark.parametrize("user, fragment", [
    ("demo@no-such-task", b"no running task matches 'no-such-task'"),
    ("demo@dup", b"'dup' matches 2 running tasks:"),
    ("demo@demo-docker", b"Docker containerizer"),
    ("demo@done", b"no running task matches 'done'"),
])
def test_bad_task_gets_one_clear_line_and_255(bastion, user, fragment):
    result = bastion.ssh("true", user=user)
    assert result.returncode == 255
    assert fragment in result.stderr
    assert result.stdout == b""


def test_ambiguous_prefix_lists_matches(bastion):
    result = bastion.ssh("true", user="demo@dup")
    assert b"dup-a.44444444-4444-4444-8444-444444444444" in result.stderr
    assert b"dup-b.55555555-5555-4555-8555-555555555555" in result.stderr


def test_several_channels_on_one_connection(bastion, tmp_path):
    control = tmp_path / "cm"
    options = ("-o", "ControlMaster=auto", "-o", f"ControlPath={control}",
               "-o", "ControlPersist=30")
    try:
        procs = [subprocess.Popen(bastion.ssh_command("demo@demo-shell", f"sleep 1; exit {n}",
                                                      options=options),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=ssh_env())
                 for n in (11, 12, 13)]
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        subprocess.run(bastion.ssh_command("demo@demo-shell", options=options + ("-O", "exit")),
                       capture_output=True, env=ssh_env(), timeout=30)
    assert codes == [11, 12, 13]
