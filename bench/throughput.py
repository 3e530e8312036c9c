#!/usr/bin/python3
"""Measure task-bastion end to end against the cluster emulator on this machine.

Prints session setup time (ssh ... true), output and input throughput through `cat`-like
commands, and the bastion's resident memory after the runs. Everything runs on 127.0.0.1.

    /usr/bin/python3 bench/throughput.py [--mib N] [--sessions N]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import Bastion, Cluster, make_workdir, ssh_env, standard_cluster  # noqa: E402


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def timed(argv, stdin=subprocess.DEVNULL):
    start = time.monotonic()
    result = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ssh_env(), check=False)
    return time.monotonic() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB moved each way (default 1024)")
    parser.add_argument("--sessions", type=int, default=20,
                        help="sessions timed for setup (default 20)")
    args = parser.parse_args()

    cluster_dir, bastion_dir = make_workdir("tb-bench-cluster-"), make_workdir("tb-bench-")
    cluster = Cluster(standard_cluster(heartbeat_seconds=30), cluster_dir)
    bastion = Bastion(cluster, bastion_dir)
    try:
        durations = []
        for _ in range(args.sessions):
            seconds, result = timed(bastion.ssh_command("demo@demo-shell", "true"))
            assert result.returncode == 0, result.stderr
            durations.append(seconds)
        durations.sort()
        print(f"session setup (ssh ... true), {args.sessions} runs: "
              f"median {durations[len(durations) // 2] * 1000:.0f} ms, "
              f"max {durations[-1] * 1000:.0f} ms")

        size = args.mib << 20
        seconds, result = timed(bastion.ssh_command(
            "demo@demo-shell", f"head -c {size} /dev/zero"))
        assert result.returncode == 0, result.stderr
    assert len(result.stdout) == size, len(result.stdout)
        print(f"output {args.mib} MiB: {seconds:.1f} s, {args.mib / seconds:.0f} MiB/s")

        feeder = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
        seconds, result = timed(bastion.ssh_command("demo@demo-shell", "wc -c"),
                                stdin=feeder.stdout)
        feeder.wait()
        assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(size).encode(), result.stdout
        print(f"input {args.mib} MiB: {seconds:.1f} s, {args.mib / seconds:.0f} MiB/s")
        print(f"bastion resident memory after the runs: {rss_kib(bastion.process.pid) // 1024} MiB")
    finally:
        bastion.stop()
        cluster.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
        shutil.rmtree(bastion_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
