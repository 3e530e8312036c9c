import shutil

import pytest

from harness import Bastion, Cluster, make_workdir, standard_cluster


@pytest.fixture(scope="session")
def cluster():
    workdir = make_workdir("tb-e2e-cluster-")
    running = Cluster(standard_cluster(), workdir)
    yield running
    running.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def bastion(cluster):
    workdir = make_workdir("tb-e2e-bastion-")
    running = Bastion(cluster, workdir)
    yield running
    running.stop()
    shutil.rmtree(workdir, ignore_errors=True)
