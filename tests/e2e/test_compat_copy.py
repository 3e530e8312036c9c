"""Compatibility: copying files. sftp and scp get a message with the ssh command that works.

OpenSSH 9's scp speaks SFTP by default, so it gets the same message as sftp. With -O it uses the
old protocol, which runs `scp -t` or `scp -f` as an ordinary command in the task. That works when
the task's image has scp, and the emulated tasks share this machine's.
"""

import hashlib
import os
import subprocess

import pytest

from compat import running_bastion, write_ssh_config
from harness import ssh_env

HINT = b"sftp and scp are not supported; copy a file with: ssh demo@demo-shell@<bastion> " \
       b"'cat > file' < file"


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def config(bastion, tmp_path_factory):
    return write_ssh_config(tmp_path_factory.mktemp("ssh") / "ssh_config", bastion)


def run(argv, input=b""):
    return subprocess.run(argv, input=input, capture_output=True, timeout=30, env=ssh_env())


def test_sftp_gets_message_and_fails(config):
    result = run(["sftp", "-F", config, "bastion"], input=b"ls\n")
    assert result.returncode == 255
    assert HINT in result.stderr
    assert b"Connection closed" in result.stderr


def test_scp_upload_gets_message_and_fails(config, tmp_path):
    source = tmp_path / "file"
    source.write_bytes(b"data\n")
    result = run(["scp", "-F", config, str(source), "bastion:file"])
    assert result.returncode == 255
    assert HINT in result.stderr


def test_scp_download_gets_message_and_fails(config, tmp_path):
    result = run(["scp", "-F", config, "bastion:file", str(tmp_path / "copy")])
    assert result.returncode == 255
    assert HINT in result.stderr
    assert not (tmp_path / "copy").exists()


def test_ssh_s_sftp_gets_message_and_255(config):
    result = run(["ssh", "-F", config, "-s", "bastion", "sftp"])
    assert result.returncode == 255
    assert result.stdout == b""
    assert result.stderr == b"task-bastion: " + HINT + b"\n"


def test_other_subsystem_rejected(config):
    result = run(["ssh", "-F", config, "-s", "bastion", "netconf"])
    assert result.returncode == 255
    assert b"subsystem request failed" in result.stderr


def test_suggested_cat_command_copies_file(config, tmp_path):
    data = os.urandom(300_000)
    source = tmp_path / "file"
    source.write_bytes(data)
    with open(source, "rb") as stdin:
        upload = subprocess.run(["ssh", "-F", config, "bastion", "cat > copy-test.bin"],
                                stdin=stdin, capture_output=True, timeout=60, env=ssh_env())
    check = run(["ssh", "-F", config, "bastion", "sha256sum < copy-test.bin; rm copy-test.bin"])
    assert upload.returncode == 0, upload.stderr
    assert check.returncode == 0, check.stderr
    assert check.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_scp_legacy_protocol_runs_scp_in_task(config, tmp_path):
    source = tmp_path / "file"
    source.write_bytes(b"legacy scp\n")
    upload = run(["scp", "-O", "-F", config, str(source), "bastion:legacy-scp.txt"])
    download = run(["scp", "-O", "-F", config, "bastion:legacy-scp.txt", str(tmp_path / "back")])
    run(["ssh", "-F", config, "bastion", "rm -f legacy-scp.txt"])
    assert upload.returncode == 0, upload.stderr
    assert download.returncode == 0, download.stderr
    assert (tmp_path / "back").read_bytes() == b"legacy scp\n"
