"""Compatibility: the algorithms the bastion offers, checked with Debian's ssh-audit.

ssh-audit 2.5 (Debian 12) does not know the strict key exchange marker
kex-strict-s-v00@openssh.com and reports it as an unknown algorithm with a warning, for OpenSSH's
own sshd too. That line is the one finding expected; any other warning or failure is a defect in
the bastion's algorithm defaults.
"""

import re
import subprocess

import pytest

from compat import OpenSshServer, running_bastion, write_ssh_config
from harness import BASTION, ssh_env

STRICT_KEX_MARKER = "kex-strict-s-v00@openssh.com"
# ssh-audit's exit status when its worst finding is a warning (ssh_audit/exitcodes.py).
SSH_AUDIT_WARNING = 2

# A finding line of `ssh-audit -n`: "(kex) name  -- [warn] text", or its continuation
# "`- [warn] text", which belongs to the algorithm above it.
FINDING = re.compile(r"^\((\w+)\) (\S+)\s+-- \[(\w+)\] (.*)$")
CONTINUATION = re.compile(r"^\s+`- \[(\w+)\] (.*)$")
OFFERED = re.compile(r"^\((kex|key|enc|mac)\) (\S+)")


def audit(port, *options):
    return subprocess.run(["ssh-audit", "-n", *options, "-p", str(port), "127.0.0.1"],
                          capture_output=True, text=True, timeout=60)


def findings(output):
    """Returns (section, algorithm, level, text) for every warn and fail line."""
    found = []
    algorithm = None
    for line in output.splitlines():
        match = FINDING.match(line)
        if match:
            algorithm = match.group(1), match.group(2)
            level, text = match.group(3), match.group(4)
        else:
            match = CONTINUATION.match(line)
            if not match or algorithm is None:
                continue
            level, text = match.group(1), match.group(2)
        if level in ("warn", "fail"):
            found.append((*algorithm, level, text.strip()))
    return found


def offered(output, section):
    return [m.group(2) for m in map(OFFERED.match, output.splitlines())
            if m and m.group(1) == section]


def test_ssh_audit_finds_only_strict_kex_marker(bastion):
    result = audit(bastion.port)
    assert result.returncode == SSH_AUDIT_WARNING, result.stdout
    assert findings(result.stdout) == [("kex", STRICT_KEX_MARKER, "warn", "unknown algorithm")]
    assert "(cve)" not in result.stdout
    assert "(rec)" not in result.stdout


def test_ssh_audit_lists_configured_defaults(bastion):
    result = audit(bastion.port)
    assert offered(result.stdout, "kex") == [
        "curve25519-sha256", "curve25519-sha256@libssh.org", "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512", STRICT_KEX_MARKER]
    assert offered(result.stdout, "key") == ["ssh-ed25519"]
    assert offered(result.stdout, "enc") == [
        "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
        "aes256-ctr", "aes192-ctr", "aes128-ctr"]
    assert offered(result.stdout, "mac") == [
        "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"]
    assert "(gen) banner: SSH-2.0-task-bastion" in result.stdout


def test_ssh_audit_flags_marker_on_openssh_sshd_too():
    sshd = OpenSshServer()
    try:
        result = audit(sshd.reference_port, "-l", "warn")
    finally:
        sshd.stop()
    assert ("kex", STRICT_KEX_MARKER, "warn", "unknown algorithm") in findings(result.stdout)


def test_openssh_client_uses_strict_kex(bastion, tmp_path):
    config = write_ssh_config(tmp_path / "ssh_config", bastion)
    result = subprocess.run(["ssh", "-F", config, "-vvv", "bastion", "true"],
                            capture_output=True, timeout=60, env=ssh_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"will use strict KEX ordering" in result.stderr


# --- Configured algorithm lists -------------------------------------------------------------


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def narrow_bastion(cluster):
    with running_bastion(cluster, server_config=('ciphers = ["aes256-gcm@openssh.com"]\n'
                                                 'kex_algorithms = ["curve25519-sha256"]\n')
                         ) as running:
        yield running


def test_configured_lists_replace_defaults(narrow_bastion):
    result = audit(narrow_bastion.port)
    assert offered(result.stdout, "enc") == ["aes256-gcm@openssh.com"]
    assert offered(result.stdout, "kex") == ["curve25519-sha256", STRICT_KEX_MARKER]


def test_client_without_common_cipher_rejected(narrow_bastion, tmp_path):
    config = write_ssh_config(tmp_path / "ssh_config", narrow_bastion)
    # The client reports a failed negotiation at LogLevel INFO.
    rejected = subprocess.run(["ssh", "-F", config, "-o", "LogLevel=INFO", "-c", "aes128-ctr",
                               "bastion", "true"],
                              capture_output=True, timeout=60, env=ssh_env(),
                              stdin=subprocess.DEVNULL)
    accepted = subprocess.run(["ssh", "-F", config, "bastion", "echo ok"], capture_output=True,
                              timeout=60, env=ssh_env(), stdin=subprocess.DEVNULL)
    assert rejected.returncode == 255
    assert b"no matching cipher found" in rejected.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == b"ok\n"


def start_with(tmp_path, server_lines):
    """Runs task-bastion with `server_lines` in [server]; returns the CompletedProcess."""
    config = tmp_path / "task-bastion.toml"
    config.write_text("[server]\n"
                      f"host_keys = [\"{tmp_path / 'host_key'}\"]\n" + server_lines)
    # Binding fails before any connection is made, so no cluster is needed.
    return subprocess.run([str(BASTION), "--config", str(config), "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=30)


def test_unsupported_cipher_stops_start(tmp_path):
    result = start_with(tmp_path, 'ciphers = ["aes128-ctr", "no-such-cipher@example.com"]\n')
    assert result.returncode == 1
    assert '[server] ciphers: "no-such-cipher@example.com" is not supported' in (
        result.stdout + result.stderr)


def test_host_key_algorithms_without_key_stop_start(tmp_path):
    result = start_with(tmp_path, 'host_key_algorithms = ["rsa-sha2-512"]\n')
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "[server] host_key_algorithms: none of rsa-sha2-512 can be used" in output
    assert "ssh-ed25519" in output


@pytest.mark.parametrize("line, message", [
    ('macs = ["hmac-sha2-256-etm@openssh.com,hmac-sha2-512"]\n',
     '[server] macs: "hmac-sha2-256-etm@openssh.com,hmac-sha2-512" is not an algorithm name'),
    ("kex_algorithms = []\n", "[server] kex_algorithms: the list is empty"),
])
def test_check_config_rejects_bad_algorithm_list(tmp_path, line, message):
    config = tmp_path / "task-bastion.toml"
    config.write_text("[server]\n" + line)
    result = subprocess.run([str(BASTION), "--config", str(config), "--check-config"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
