"""Compatibility: rsync over ssh into a task whose container has rsync.

The emulated tasks share this machine's file system image, so `rsync --server` runs inside the
task from the Debian package. Paths without a leading slash are in the task's sandbox, the
working directory of every session.
"""

import hashlib
import os
import shlex
import subprocess
import uuid

import pytest

from compat import running_bastion, write_ssh_config
from harness import SSH_OPTIONS, ssh_env


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def config(bastion, tmp_path_factory):
    return write_ssh_config(tmp_path_factory.mktemp("ssh") / "ssh_config", bastion)


@pytest.fixture
def remote_dir(config):
    """A directory name in the task's sandbox, removed after the test."""
    name = "rsync-" + uuid.uuid4().hex[:12]
    yield name
    subprocess.run(["ssh", "-F", config, "bastion", f"rm -rf {name}"], capture_output=True,
                   timeout=60, env=ssh_env())


def make_tree(root):
    """Writes files of several sizes, one in a subdirectory and one empty."""
    (root / "sub").mkdir(parents=True)
    (root / "small.txt").write_bytes(b"hello rsync\n")
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "sub" / "nested.bin").write_bytes(os.urandom(100_000))
    (root / "empty").write_bytes(b"")


def local_checksums(root):
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def remote_checksums(config, directory):
    result = subprocess.run(
        ["ssh", "-F", config, "bastion",
         f"cd {directory} && find . -type f | sort | xargs sha256sum"],
        capture_output=True, timeout=60, env=ssh_env())
    assert result.returncode == 0, result.stderr
    sums = {}
    for line in result.stdout.decode().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.removeprefix("./")] = digest
    return sums


def rsync(*args):
    return subprocess.run(["rsync", *args], capture_output=True, timeout=120, env=ssh_env())


def test_rsync_upload_and_download_keep_checksums(config, remote_dir, tmp_path):
    source = tmp_path / "source"
    make_tree(source)
    transport = f"ssh -F {shlex.quote(config)}"

    upload = rsync("-a", "-e", transport, f"{source}/", f"bastion:{remote_dir}/")
    back = tmp_path / "back"
    download = rsync("-a", "-e", transport, f"bastion:{remote_dir}/", f"{back}/")

    assert upload.returncode == 0, upload.stderr
    assert download.returncode == 0, download.stderr
    expected = local_checksums(source)
    assert remote_checksums(config, remote_dir) == expected
    assert local_checksums(back) == expected


def test_rsync_second_run_transfers_only_changes(config, remote_dir, tmp_path):
    source = tmp_path / "source"
    make_tree(source)
    transport = f"ssh -F {shlex.quote(config)}"
    first = rsync("-a", "-e", transport, f"{source}/", f"bastion:{remote_dir}/")
    (source / "small.txt").write_bytes(b"changed\n")
    second = rsync("-a", "--itemize-changes", "-e", transport, f"{source}/",
                   f"bastion:{remote_dir}/")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    changed = [line.split()[-1] for line in second.stdout.decode().splitlines()]
    assert changed == ["small.txt"]
    assert remote_checksums(config, remote_dir) == local_checksums(source)


def test_rsync_with_uid_and_task_in_destination(bastion, remote_dir, tmp_path, config):
    # The destination "demo@demo-shell@host:path" has two @; rsync passes the part before the
    # last one to ssh as the user name.
    source = tmp_path / "file.bin"
    source.write_bytes(os.urandom(50_000))
    transport = shlex.join(["ssh", "-p", str(bastion.port), *SSH_OPTIONS])
    result = rsync("-e", transport, str(source),
                   f"demo@demo-shell@{bastion.host}:{remote_dir}-file.bin")
    sums = subprocess.run(["ssh", "-F", config, "bastion",
                           f"sha256sum < {remote_dir}-file.bin; rm -f {remote_dir}-file.bin"],
                          capture_output=True, timeout=60, env=ssh_env())
    assert result.returncode == 0, result.stderr
    assert sums.stdout.split()[0].decode() == hashlib.sha256(source.read_bytes()).hexdigest()
