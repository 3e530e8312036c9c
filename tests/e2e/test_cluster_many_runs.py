"""End-to-end: many short sessions in a row, none of which may hang or lose its result.

`ssh ... cat </dev/null` and `echo foo | ssh ... cat` run RUNS times each, several at a time,
each bounded by a timeout. TB_MANY_RUNS changes RUNS for a quicker local check.
"""

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import Bastion, Cluster, make_workdir, ssh_env, standard_cluster

RUNS = int(os.environ.get("TB_MANY_RUNS", "1000"))
PARALLEL = 4
RUN_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def bastion():
    cluster_dir = make_workdir("tb-e2e-many-cluster-")
    bastion_dir = make_workdir("tb-e2e-many-bastion-")
    cluster = Cluster(standard_cluster(), cluster_dir)
    try:
        bastion = Bastion(cluster, bastion_dir)
        try:
            yield bastion
        finally:
            bastion.stop()
    finally:
        cluster.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
        shutil.rmtree(bastion_dir, ignore_errors=True)


def run_once(bastion, index):
    """One run; returns None when it was correct, else what went wrong."""
    argv = bastion.ssh_command("demo@demo-shell", "cat")
    with_input = index % 2 == 1
    started = time.monotonic()
    try:
        if with_input:
            result = subprocess.run(argv, input=b"foo\n", capture_output=True,
                                    timeout=RUN_TIMEOUT_SECONDS, env=ssh_env())
        else:
            with open(os.devnull, "rb") as devnull:
                result = subprocess.run(argv, stdin=devnull, capture_output=True,
                                        timeout=RUN_TIMEOUT_SECONDS, env=ssh_env())
    except subprocess.TimeoutExpired:
        return f"run {index}: hung for more than {RUN_TIMEOUT_SECONDS} s"
    expected = b"foo\n" if with_input else b""
    if result.returncode != 0 or result.stdout != expected:
        return (f"run {index} ({'echo foo |' if with_input else '</dev/null'}): exit "
                f"{result.returncode}, stdout {result.stdout!r}, stderr {result.stderr[-300:]!r}, "
                f"{time.monotonic() - started:.1f} s")
    return None


def test_cat_runs_never_hang(bastion):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        problems = [p for p in pool.map(lambda i: run_once(bastion, i), range(2 * RUNS)) if p]
    elapsed = time.monotonic() - started
    assert problems == [], f"{len(problems)} of {2 * RUNS} runs failed:\n" + "\n".join(problems[:20])
    print(f"{2 * RUNS} runs in {elapsed:.0f} s")
