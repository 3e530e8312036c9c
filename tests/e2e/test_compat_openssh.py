"""Compatibility: OpenSSH's ssh client in the ways people use it, through the bastion.

For forwarding, -N and -t without a terminal, the expected result is what the client does
against the reference sshd from compat.OpenSshServer. That sshd has DisableForwarding, because
the bastion offers no forwarding either.
"""

import os
import re
import signal
import socket
import subprocess

import pytest

from compat import (OpenSshServer, emulator_sessions, free_port, port_accepts, read_until,
                    running_bastion, wait_new_session, wait_session_ended, write_ssh_config)
from harness import ssh_env, wait_for
from tmux import TmuxPane

NO_PTY_WARNING = b"Pseudo-terminal will not be allocated because stdin is not a terminal."


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def sshd():
    server = OpenSshServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config(bastion, sshd, tmp_path_factory):
    return write_ssh_config(tmp_path_factory.mktemp("ssh") / "ssh_config", bastion, sshd)


@pytest.fixture(scope="module")
def lang_bastion(cluster):
    """A second bastion whose accept_env leaves LANG out."""
    with running_bastion(cluster, server_config='accept_env = ["LC_*"]\n') as running:
        yield running


def ssh(config, *args, input=None, stdin=None, timeout=60, env=None):
    """Runs `ssh -F config ARGS` and returns the CompletedProcess."""
    kwargs = {"stdin": stdin} if stdin is not None else {"input": input or b""}
    return subprocess.run(["ssh", "-F", config, *args], capture_output=True, timeout=timeout,
                          env=env or ssh_env(), **kwargs)


def lines(data):
    return data.replace(b"\r\n", b"\n").split(b"\n")


def connections_accepted(bastion):
    return len(re.findall(r"conn=\d+ accepted from", bastion.log_text()))


# --- -T, -t, -tt, no flag -------------------------------------------------------------------


def test_T_keeps_stdout_stderr_and_status_apart(config):
    result = ssh(config, "-T", "bastion", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_t_without_terminal_runs_without_pty(config):
    command = "test -t 0 && echo pty || echo no-pty; exit 4"
    # The client reports the fallback at LogLevel INFO.
    reference = ssh(config, "-o", "LogLevel=INFO", "-t", "reference", command)
    result = ssh(config, "-o", "LogLevel=INFO", "-t", "bastion", command)
    assert reference.returncode == 4
    assert result.returncode == 4
    assert result.stdout == reference.stdout == b"no-pty\n"
    assert NO_PTY_WARNING in reference.stderr
    assert NO_PTY_WARNING in result.stderr


def test_t_in_terminal_gets_pty(config, tmp_path):
    out = tmp_path / "out"
    pane = TmuxPane(columns=90, rows=25)
    try:
        pane.run(["ssh", "-F", config, "-t", "bastion", "tty; stty size; exit 4"], out, ssh_env())
        status = pane.wait_exit(60)
    finally:
        pane.close()
    output = lines(out.read_bytes())
    assert status == 4
    assert output[0].startswith(b"/dev/pts/"), output
    assert output[1] == b"25 90"


def test_tt_forces_pty_with_piped_stdin(config):
    result = ssh(config, "-tt", "bastion", "tty; test -t 1 && echo stdout-tty; exit 5")
    assert result.returncode == 5
    output = lines(result.stdout)
    assert output[0].startswith(b"/dev/pts/"), output
    assert output[1] == b"stdout-tty"
    assert b"\r\n" in result.stdout


def test_no_flag_with_stdin_reaches_command(config):
    result = ssh(config, "bastion", "cat; echo done", input=b"first\nsecond\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"first\nsecond\ndone\n"


def test_no_flag_without_stdin_ends_at_once(config):
    with_n = ssh(config, "-n", "bastion", "cat; echo done")
    with open(os.devnull, "rb") as devnull:
        dev_null = ssh(config, "bastion", "cat; echo done", stdin=devnull)
    assert with_n.returncode == 0, with_n.stderr
    assert with_n.stdout == b"done\n"
    assert dev_null.returncode == 0, dev_null.stderr
    assert dev_null.stdout == b"done\n"


def test_no_command_reads_shell_script_from_stdin(config):
    result = ssh(config, "-o", "LogLevel=INFO", "bastion", input=b"echo from-shell; exit 6\n")
    assert result.returncode == 6
    assert b"from-shell" in lines(result.stdout)
    assert NO_PTY_WARNING in result.stderr


# --- Environment, keepalives ------------------------------------------------------------------


def test_sendenv_lang_accepted(config):
    env = ssh_env()
    env["LANG"] = "en_DK.UTF-8"
    result = ssh(config, "-o", "SendEnv=LANG", "bastion", 'echo "${LANG-unset}"', env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"en_DK.UTF-8\n"


def test_sendenv_lang_dropped_without_accept_env(lang_bastion, tmp_path):
    config = write_ssh_config(tmp_path / "ssh_config", lang_bastion)
    env = ssh_env()
    env["LANG"] = "en_DK.UTF-8"
    result = ssh(config, "-o", "SendEnv=LANG", "bastion", 'echo "${LANG-unset}"', env=env)
    # sshd ignores an env request outside AcceptEnv without failing the session; so does the
    # bastion.
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"unset\n"
    assert "environment variable LANG is not in accept_env" in lang_bastion.log_text()


def test_server_alive_interval_gets_answers(config):
    # With ServerAliveCountMax=1 the client gives up after two unanswered keepalives, which
    # would end it with 255 long before the command's 4 seconds.
    result = ssh(config, "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1",
                 "-o", "LogLevel=DEBUG", "bastion", "sleep 4; echo alive")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == b"alive\n"
    assert b"Timeout, server" not in result.stderr


# --- Multiplexing, jump hosts, proxies --------------------------------------------------------


def test_control_master_runs_three_sessions_at_once(config, bastion, tmp_path):
    control = tmp_path / "control"
    options = ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}",
               "-o", "ControlPersist=60"]
    accepted_before = connections_accepted(bastion)
    clients = []
    try:
        for n in (1, 2, 3):
            clients.append(subprocess.Popen(
                ["ssh", "-F", config, *options, "bastion",
                 f"echo started-{n}; read word; echo $word-{n}; exit 2{n}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=ssh_env()))
            # The first client becomes the master; the next ones need its socket.
            read_until(clients[-1].stdout, f"started-{n}\n".encode(), 60)
        # All three sessions are running now; let each one finish.
        for client in clients:
            client.stdin.write(b"go\n")
            client.stdin.close()
        outputs = [client.stdout.read() for client in clients]
        codes = [client.wait(timeout=60) for client in clients]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
        subprocess.run(["ssh", "-F", config, *options, "-O", "exit", "bastion"],
                       capture_output=True, env=ssh_env(), timeout=30)
    assert codes == [21, 22, 23]
    assert outputs == [b"go-1\n", b"go-2\n", b"go-3\n"]
    assert connections_accepted(bastion) - accepted_before == 1


def test_proxy_jump_through_openssh_sshd(config, sshd):
    accepted_before = sshd.log_text().count("Accepted publickey for root")
    result = ssh(config, "-J", "jump", "bastion", "hostname; exit 7")
    assert result.returncode == 7, result.stderr
    assert result.stdout == b"demo-shell-host\n"
    assert sshd.log_text().count("Accepted publickey for root") == accepted_before + 1


def test_proxy_command_with_netcat(config):
    result = ssh(config, "-o", "ProxyCommand=nc %h %p", "bastion", "hostname; exit 8")
    assert result.returncode == 8, result.stderr
    assert result.stdout == b"demo-shell-host\n"


# --- Forwarding refused at once ---------------------------------------------------------------


def test_stdio_forward_W_refused_with_reason(config, sshd):
    target = f"127.0.0.1:{sshd.jump_port}"
    reference = ssh(config, "-o", "LogLevel=VERBOSE", "-W", target, "reference", timeout=30)
    result = ssh(config, "-o", "LogLevel=VERBOSE", "-W", target, "bastion", timeout=30)
    assert reference.returncode == 255
    assert result.returncode == 255
    for stderr in (reference.stderr, result.stderr):
        assert b"open failed: administratively prohibited" in stderr
        assert b"stdio forwarding failed" in stderr


@pytest.mark.parametrize("host", ["reference", "bastion"])
def test_local_forward_L_refused_with_reason(config, sshd, host):
    local_port = free_port()
    client = subprocess.Popen(
        ["ssh", "-F", config, "-o", "LogLevel=INFO", "-N",
         "-L", f"127.0.0.1:{local_port}:127.0.0.1:{sshd.jump_port}", host],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=ssh_env())
    try:
        wait_for(lambda: port_accepts(local_port), 30, "the local forward to listen")
        with socket.create_connection(("127.0.0.1", local_port), timeout=30) as connection:
            # The server rejects the direct-tcpip channel, so the client closes the connection
            # at once instead of forwarding sshd's banner.
            assert connection.recv(100) == b""
        stderr = read_until(client.stderr, b"administratively prohibited", 30)
    finally:
        client.terminate()
        client.wait(timeout=30)
    assert b"open failed: administratively prohibited" in stderr


def test_remote_forward_R_refused(config):
    args = ("-o", "ExitOnForwardFailure=yes", "-N", "-R", "127.0.0.1:0:127.0.0.1:22")
    reference = ssh(config, *args, "reference", timeout=30)
    result = ssh(config, *args, "bastion", timeout=30)
    assert reference.returncode == 255
    assert result.returncode == 255
    message = b"Error: remote port forwarding failed for listen port 0"
    assert message in reference.stderr
    assert message in result.stderr


# --- Ending the client ------------------------------------------------------------------------


def test_escape_dot_ends_client_and_session(config, cluster, tmp_path):
    out = tmp_path / "out"
    pane = TmuxPane(columns=80, rows=24)
    known = set(emulator_sessions(cluster))
    try:
        pane.run(["ssh", "-F", config, "-tt", "bastion", "echo ready; exec sleep 600"], out,
                 ssh_env())
        wait_for(lambda: out.exists() and b"ready" in out.read_bytes(), 60,
                 "the remote command to start")
        container = wait_new_session(cluster, known)
        # The escape character counts only at the start of a line.
        subprocess.run(["tmux", "-L", pane.name, "send-keys", "-t", pane.name, "Enter"],
                       check=True)
        subprocess.run(["tmux", "-L", pane.name, "send-keys", "-t", pane.name, "-l", "~."],
                       check=True)
        status = pane.wait_exit(30)
    finally:
        pane.close()
    assert status == 255
    wait_session_ended(cluster, container)


@pytest.mark.parametrize("host", ["reference", "bastion"])
def test_N_holds_connection_until_sigterm(config, bastion, sshd, host):
    log_before = bastion.log_text() if host == "bastion" else sshd.log_text()
    client = subprocess.Popen(["ssh", "-F", config, "-N", host], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ssh_env())
    try:
        if host == "bastion":
            wait_for(lambda: bastion.log_text().count(" authenticated from ") >
                     log_before.count(" authenticated from "), 30, "the login")
        else:
            wait_for(lambda: sshd.log_text().count("Accepted publickey") >
                     log_before.count("Accepted publickey"), 30, "the login")
        assert client.poll() is None
        client.send_signal(signal.SIGTERM)
        status = client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    # OpenSSH 9.2's client ends with 0 on SIGTERM when no session runs, against sshd too.
    assert status == 0
    assert client.stdout.read() == b""
    if host == "bastion":
        wait_for(lambda: bastion.log_text().count(" closed: ") > log_before.count(" closed: "),
                 30, "the bastion to close the connection")
