import shutil

import pytest

from harness import Bastion, Cluster, adminrouter_mesos_config, make_workdir, standard_cluster


@pytest.fixture(scope="session")
def cluster():
    workdir = make_workdir("tb-e2e-cluster-")
    running = Cluster(standard_cluster(), workdir)
    yield running
    running.stop()
    shutil.rmtree(workdir, ignore_errors=True)


# Every test that uses `bastion` runs twice: with agents reached directly, and with the
# masters, agents and IAM reached through the emulated Admin Router.
@pytest.fixture(scope="session", params=["direct", "adminrouter"])
def bastion(request, cluster):
    workdir = make_workdir(f"tb-e2e-bastion-{request.param}-")
    if request.param == "adminrouter":
        running = Bastion(cluster, workdir, iam_url=cluster.ports["adminrouter"],
                          mesos_config=adminrouter_mesos_config(cluster))
    else:
        running = Bastion(cluster, workdir)
    yield running
    running.stop()
    shutil.rmtree(workdir, ignore_errors=True)
