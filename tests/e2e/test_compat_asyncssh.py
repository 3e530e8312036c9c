"""Compatibility: asyncssh (Debian's python3-asyncssh) as a client library.

The "signal" request is not compared with the reference sshd: OpenSSH 9.2's sshd runs a root
login without a privilege-separated child and then rejects the request ("session signalling
requires privilege separation"). For other users it kills the session's process group with the
named signal, and the client reads the process's death back as exit-signal. The signal tests
expect that.
"""

import asyncio

import asyncssh
import pytest

from compat import (OpenSshServer, emulator_sessions, running_bastion, wait_new_session,
                    wait_session_ended)

TIMEOUT = 60


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


def connect(bastion):
    return asyncssh.connect(bastion.host, port=bastion.port, username="demo@demo-shell",
                            password="demo", known_hosts=None, client_keys=None,
                            agent_path=None)


def connect_reference(sshd):
    return asyncssh.connect("127.0.0.1", port=sshd.reference_port, username="root",
                            client_keys=[str(sshd.key)], known_hosts=None, agent_path=None)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


async def read_until(stream, marker):
    data = ""
    while marker not in data:
        chunk = await stream.read(65536)
        if not chunk:
            raise EOFError(f"the stream ended before {marker!r}; got {data!r}")
        data += chunk
    return data


def test_exec_returns_streams_and_exit_status(bastion):
    async def scenario():
        async with connect(bastion) as connection:
            return await connection.run("echo out; echo err >&2; exit 3")

    result = run(scenario())
    assert result.exit_status == 3
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


@pytest.mark.parametrize("command, name", [("kill -TERM $$", "TERM"), ("kill -KILL $$", "KILL")])
def test_exit_signal_reads_as_name_like_sshd(bastion, sshd, command, name):
    async def scenario(connection_context):
        async with connection_context as connection:
            return await connection.run(command)

    expected = run(scenario(connect_reference(sshd)))
    actual = run(scenario(connect(bastion)))
    assert expected.exit_signal[0] == name
    assert actual.exit_signal[:2] == expected.exit_signal[:2]
    assert actual.exit_status == expected.exit_status
    assert actual.returncode == expected.returncode


def test_signal_request_kills_running_program(bastion):
    async def scenario():
        async with connect(bastion) as connection:
            process = await connection.create_process("echo ready; exec sleep 600")
            await read_until(process.stdout, "ready\n")
            process.send_signal("INT")
            await process.wait_closed()
            return process.exit_signal, process.returncode

    exit_signal, returncode = run(scenario())
    assert exit_signal[0] == "INT"
    assert returncode == -2


def test_signal_right_after_exec_not_lost(bastion):
    # The bastion replies to exec before it has found the task and launched the program, and a
    # signal sent in that gap must still reach the program.
    async def scenario():
        async with connect(bastion) as connection:
            process = await connection.create_process("exec sleep 600")
            process.send_signal("TERM")
            await process.wait_closed()
            return process.exit_signal

    assert run(scenario())[0] == "TERM"


def test_environment_passes_accepted_names(bastion):
    async def scenario():
        async with connect(bastion) as connection:
            return await connection.run('echo "$LANG ${TB_OTHER-unset}"',
                                        env={"LANG": "en_DK.UTF-8", "TB_OTHER": "x"})

    result = run(scenario())
    assert result.exit_status == 0, result.stderr
    assert result.stdout == "en_DK.UTF-8 unset\n"


def test_pty_with_resize(bastion):
    async def scenario():
        async with connect(bastion) as connection:
            process = await connection.create_process(
                "stty size; trap 'stty size; exit 0' WINCH; echo ready; "
                "while :; do sleep 0.1; done", term_type="xterm", term_size=(100, 30))
            before = await read_until(process.stdout, "ready")
            process.change_terminal_size(90, 20)
            after = await read_until(process.stdout, "20 90")
            await process.wait_closed()
            return before, after, process.exit_status

    before, after, status = run(scenario())
    assert before.replace("\r\n", "\n").startswith("30 100\n")
    assert "20 90" in after
    assert status == 0


def test_stdin_eof_ends_cat(bastion):
    async def scenario():
        async with connect(bastion) as connection:
            process = await connection.create_process("cat; echo done")
            process.stdin.write("abc\n")
            process.stdin.write_eof()
            output = await process.stdout.read()
            await process.wait_closed()
            return output, process.exit_status

    assert run(scenario()) == ("abc\ndone\n", 0)


def test_client_close_ends_container(bastion, cluster):
    known = set(emulator_sessions(cluster))

    async def scenario():
        async with connect(bastion) as connection:
            process = await connection.create_process("yes")
            await read_until(process.stdout, "y\ny\ny\n")
            container = wait_new_session(cluster, known)
            process.channel.close()
            # wait_closed returns once the server's close has arrived as well.
            await process.channel.wait_closed()
            after = await connection.run("echo still-open")
            return container, after

    container, after = run(scenario())
    wait_session_ended(cluster, container)
    assert (after.stdout, after.exit_status) == ("still-open\n", 0)
