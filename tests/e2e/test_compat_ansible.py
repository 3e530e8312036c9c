"""Compatibility: Ansible (Debian's ansible-core) with task ids as inventory hosts.

Every host is reached as demo@<task id>@<bastion>, with pipelining and piped file transfer, so
Ansible needs nothing but the task's /bin/sh and python3 and never uses sftp or scp. The
password goes through sshpass (ansible_password), the way Ansible usually logs in without
keys. The bastion prompts for it with keyboard-interactive "Password:", and sshpass types it. Connections are multiplexed with ControlMaster, as Ansible does by default, and the
masters are stopped after each test.
"""

import hashlib
import json
import os
import subprocess

import pytest

from compat import running_bastion
from harness import SSH_OPTIONS

TASKS = {
    "demo-shell.11111111-1111-4111-8111-111111111111": "demo-shell-host",
    "demo-web.22222222-2222-4222-8222-222222222222": "demo-web-host",
}


@pytest.fixture(scope="module")
def bastion(cluster):
    """Overrides conftest's `bastion`: one cluster layout is enough here (see running_bastion)."""
    with running_bastion(cluster) as running:
        yield running


@pytest.fixture
def project(bastion, tmp_path):
    """An Ansible project directory: ansible.cfg, the inventory, and the environment to use."""
    control_dir = tmp_path / "cp"
    control_dir.mkdir()
    remote_tmp = tmp_path / "remote-tmp"
    # ControlPersist keeps masters after ansible exits; they are stopped below. ssh takes the
    # first value of each option, so these come before SSH_OPTIONS' PubkeyAuthentication=no.
    ssh_args = " ".join(["-o", "ControlMaster=auto", "-o", "ControlPersist=60s", *SSH_OPTIONS])
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\n"
        "inventory = inventory.ini\n"
        "host_key_checking = False\n"
        "interpreter_python = /usr/bin/python3\n"
        f"remote_tmp = {remote_tmp}\n"
        f"local_tmp = {tmp_path / 'local-tmp'}\n"
        "forks = 2\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        "transfer_method = piped\n"
        f"ssh_args = {ssh_args}\n"
        f"control_path_dir = {control_dir}\n")
    hosts = "\n".join(TASKS)
    (tmp_path / "inventory.ini").write_text(
        f"[tasks]\n{hosts}\n\n"
        "[tasks:vars]\n"
        f"ansible_host={bastion.host}\n"
        f"ansible_port={bastion.port}\n"
        "ansible_user=demo@{{ inventory_hostname }}\n"
        "ansible_password=demo\n")
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
                "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0"})
    yield tmp_path, env
    for socket_path in control_dir.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "unused"],
                       capture_output=True, timeout=30)


def run(project, *argv):
    directory, env = project
    return subprocess.run(list(argv), cwd=directory, env=env, capture_output=True, text=True,
                          timeout=180)


def results(output):
    """Parses ad-hoc output lines "host | STATUS => {json}" into {host: (status, json)}."""
    parsed = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if " => {" not in line:
            continue
        head, _ = line.split(" => ", 1)
        host, status = [part.strip() for part in head.split(" | ")][:2]
        body = ["{"]
        for following in lines[index + 1:]:
            body.append(following)
            if following == "}":
                break
        parsed[host] = (status, json.loads("\n".join(body)))
    return parsed


def test_ansible_ping_reaches_both_tasks(project):
    result = run(project, "ansible", "tasks", "-m", "ping")
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = results(result.stdout)
    assert set(parsed) == set(TASKS)
    for host, (status, body) in parsed.items():
        assert status == "SUCCESS", (host, body)
        assert body["ping"] == "pong"


def test_ansible_command_runs_in_each_task(project):
    result = run(project, "ansible", "tasks", "-m", "command", "-a", "hostname")
    assert result.returncode == 0, result.stdout + result.stderr
    for task, hostname in TASKS.items():
        assert f"{task} | CHANGED | rc=0 >>\n{hostname}\n" in result.stdout + "\n"


def test_ansible_command_failure_reports_rc(project):
    result = run(project, "ansible", "tasks", "-m", "command", "-a", "sh -c 'exit 3'")
    # ansible ends with 2 when a host failed.
    assert result.returncode == 2, result.stdout + result.stderr
    for task in TASKS:
        assert f"{task} | FAILED | rc=3 >>" in result.stdout


def test_ansible_copy_writes_file_once(project):
    directory, _ = project
    data = os.urandom(200_000)
    (directory / "payload.bin").write_bytes(data)
    destination = directory / "copied-{{ inventory_hostname }}.bin"
    arguments = f"src=payload.bin dest={destination} mode=0640"

    # -vvv shows how the file travels: "dd of=" on the task's side of an ssh pipe.
    first = run(project, "ansible", "tasks", "-vvv", "-m", "copy", "-a", arguments)
    second = run(project, "ansible", "tasks", "-m", "copy", "-a", arguments)
    check = run(project, "ansible", "tasks", "-m", "command", "-a",
                f"sha256sum {directory}/copied-{{{{ inventory_hostname }}}}.bin")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "dd of=" in first.stdout
    assert "sftp -b" not in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert check.returncode == 0, check.stdout + check.stderr
    digest = hashlib.sha256(data).hexdigest()
    first_results, second_results = results(first.stdout), results(second.stdout)
    for task in TASKS:
        assert first_results[task][0] == "CHANGED"
        assert first_results[task][1]["checksum"] == hashlib.sha1(data).hexdigest()
        assert second_results[task][0] == "SUCCESS"
        assert second_results[task][1]["changed"] is False
        assert f"{digest}  {directory}/copied-{task}.bin" in check.stdout


def test_ansible_playbook_on_two_tasks(project):
    directory, _ = project
    (directory / "site.yml").write_text(f"""
- hosts: tasks
  gather_facts: false
  tasks:
    - name: ping
      ansible.builtin.ping:
    - name: read the host name
      ansible.builtin.command: hostname
      register: name
      changed_when: false
    - name: the host name is the task's own
      ansible.builtin.assert:
        that: name.stdout == expected[inventory_hostname]
      vars:
        expected: {json.dumps(TASKS)}
    - name: write a file from a template string
      ansible.builtin.copy:
        content: "task {{{{ inventory_hostname }}}}\\n"
        dest: "{directory}/playbook-{{{{ inventory_hostname }}}}.txt"
    - name: shell with a pipe and stdin
      ansible.builtin.shell: tr a-z A-Z
      args:
        stdin: "through the bastion"
      register: upper
      changed_when: false
    - ansible.builtin.assert:
        that: upper.stdout == "THROUGH THE BASTION"
""")
    result = run(project, "ansible-playbook", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for task in TASKS:
        assert (directory / f"playbook-{task}.txt").read_text() == f"task {task}\n"
        recap = next(line for line in result.stdout.splitlines()
                     if line.startswith(task) and "ok=" in line)
        assert "ok=6" in recap, recap
        assert "changed=1" in recap, recap
        assert "failed=0" in recap, recap
        assert "unreachable=0" in recap, recap
