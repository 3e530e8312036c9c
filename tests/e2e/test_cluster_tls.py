"""End-to-end over HTTPS: the IAM, masters, agents and Admin Router serve TLS with a CA the test
makes (tests/cluster/testca.py), and the bastion verifies against a configured CA bundle.
"""

import json
import shutil
import sys

import pytest

from harness import (ROOT, Bastion, Cluster, adminrouter_mesos_config, make_workdir,
                     standard_cluster)

sys.path.insert(0, str(ROOT / "tests" / "cluster"))
import testca  # noqa: E402


@pytest.fixture(scope="module")
def tls_cluster():
    workdir = make_workdir("tb-e2e-tls-")
    pki = testca.make_test_pki(workdir / "pki")
    cluster = Cluster(standard_cluster(), workdir / "cluster",
                      emulator_args=("--tls-cert", pki["cert"], "--tls-key", pki["key"],
                                     "--tls-ca", pki["ca"]))
    yield cluster, pki, workdir
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def tls_config(ca_file):
    return f"[tls]\nca_file = {json.dumps(ca_file)}\n"


@pytest.fixture(scope="module")
def direct_bastion(tls_cluster):
    cluster, pki, workdir = tls_cluster
    bastion = Bastion(cluster, workdir / "direct", extra_config=tls_config(pki["ca"]),
                      mesos_config=(f"masters = {json.dumps(cluster.ports['masters'])}\n"
                                    'agent_scheme = "https"\n'))
    yield bastion
    bastion.stop()


def test_urls_are_https(tls_cluster):
    cluster, _, _ = tls_cluster
    assert cluster.ports["iam"].startswith("https://")
    assert all(url.startswith("https://") for url in cluster.ports["masters"])
    assert all(url.startswith("https://") for url in cluster.ports["agents"].values())
    assert cluster.ports["adminrouter"].startswith("https://")


def test_direct_layout_over_https(direct_bastion):
    result = direct_bastion.ssh("hostname; echo err >&2; exit 4")
    assert result.returncode == 4, result.stderr
    assert result.stdout == b"demo-shell-host\n"
    assert result.stderr == b"err\n"


def test_stdin_and_pod_task_over_https(direct_bastion):
    result = direct_bastion.ssh("cat; hostname", user="demo@demo-web", input=b"over tls\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"over tls\ndemo-web-host\n"


def test_adminrouter_layout_over_https(tls_cluster):
    cluster, pki, workdir = tls_cluster
    bastion = Bastion(cluster, workdir / "adminrouter", extra_config=tls_config(pki["ca"]),
                      iam_url=cluster.ports["adminrouter"],
                      mesos_config=adminrouter_mesos_config(cluster))
    try:
        result = bastion.ssh("hostname; exit 6")
    finally:
        bastion.stop()
    assert result.returncode == 6, result.stderr
    assert result.stdout == b"demo-shell-host\n"


def test_wrong_ca_fails_naming_host(tls_cluster):
    cluster, pki, workdir = tls_cluster
    bastion = Bastion(cluster, workdir / "wrong-ca", extra_config=tls_config(pki["other_ca"]))
    try:
        result = bastion.ssh("echo never", options=("-o", "NumberOfPasswordPrompts=1"))
        log = bastion.log_text()
    finally:
        bastion.stop()
    assert result.returncode == 255
    assert result.stdout == b""
    iam_host = cluster.ports["iam"].split("://", 1)[1]
    assert f"the TLS certificate of {iam_host} failed verification against the CA bundle " \
           f"{pki['other_ca']}" in log, log[-3000:]


def test_master_certificate_for_other_name_fails_naming_host(tmp_path):
    # The certificate names only localhost. The IAM is reached as localhost and verifies; the
    # masters are reached as 127.0.0.1, which the certificate does not name.
    pki = testca.make_test_pki(tmp_path / "pki", ip_san=False)
    cluster = Cluster(standard_cluster(), tmp_path / "cluster",
                      emulator_args=("--tls-cert", pki["cert"], "--tls-key", pki["key"],
                                     "--tls-ca", pki["ca"]))
    try:
        iam = cluster.ports["iam"].replace("127.0.0.1", "localhost")
        bastion = Bastion(cluster, tmp_path / "bastion", extra_config=tls_config(pki["ca"]),
                          iam_url=iam,
                          mesos_config=(f"masters = {json.dumps(cluster.ports['masters'])}\n"
                                        "lookup_timeout_seconds = 3\n"))
        try:
            result = bastion.ssh("echo never")
        finally:
            bastion.stop()
    finally:
        cluster.stop()
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    master = cluster.ports["masters"][0].split("://", 1)[1]
    assert f"the TLS certificate of {master} failed verification against the CA bundle " \
           f"{pki['ca']}" in lines[0], lines[0]
