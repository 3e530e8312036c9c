#!/usr/bin/python3
"""Cluster emulator for task-bastion: Mesos masters and agents and the DC/OS IAM on
127.0.0.1, with real task processes in Linux namespaces. See README.md.

    /usr/bin/python3 tests/cluster/emulator.py --cluster CLUSTER.json --ports-file PORTS.json \
        [--state-dir DIR] [--log-file REQUESTS.jsonl] [--tls-cert PEM --tls-key PEM --tls-ca PEM]

It binds every server on an ephemeral port, starts the tasks, writes PORTS.json
atomically and serves until SIGTERM or SIGINT, then kills every task and session
process it started. Exit status: 0 after a clean stop, 1 when startup fails, 2 for a
bad command line or cluster file.
"""

import argparse
import json
import logging
import os
import shutil
import signal
import ssl
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adminrouter_proxy import AdminRouterService  # noqa: E402
from agent import AgentService, start_task_runtimes  # noqa: E402
from cluster import Cluster, ClusterError  # noqa: E402
from containment import Containment  # noqa: E402
from control import ControlService  # noqa: E402
from faults import FaultRegistry  # noqa: E402
from httpserver import HttpServer  # noqa: E402
from iam import IamService  # noqa: E402
from master import MasterService  # noqa: E402
from requestlog import RequestLog  # noqa: E402
from tasks import TaskStartError  # noqa: E402
from tokens import TokenAuthority  # noqa: E402

LOG = logging.getLogger("emulator")
# Forces how sessions are contained: freezer, pids or proc (see containment.py).
CONTAINMENT_VARIABLE = "TASK_BASTION_EMULATOR_CONTAINMENT"


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Emulate Mesos masters, agents and the DC/OS IAM on 127.0.0.1.")
    parser.add_argument("--cluster", required=True, help="cluster description (JSON, see README.md)")
    parser.add_argument("--ports-file", required=True,
                        help="where to write the JSON map of bound URLs once everything runs")
    parser.add_argument("--state-dir",
                        help="directory for task sandboxes (default: a temporary directory removed at exit)")
    parser.add_argument("--log-file", help="append one JSON line per request to this file")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain) on every server "
                                           "but the control API; needs --tls-key and --tls-ca")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    parser.add_argument("--tls-ca", help="the PEM CA bundle Admin Router trusts for HTTPS to the masters, "
                                         "agents and IAM")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    given = [bool(args.tls_cert), bool(args.tls_key), bool(args.tls_ca)]
    if any(given) and not all(given):
        parser.error("--tls-cert, --tls-key and --tls-ca go together")
    return args


def tls_contexts(args):
    """(server context, Admin Router's client context) for HTTPS, or (None, None)."""
    if not args.tls_cert:
        return None, None
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(args.tls_cert, args.tls_key)
    client = ssl.create_default_context(cafile=args.tls_ca)
    return server, client


def write_ports_file(path: str, ports: dict):
    """Write the ports file atomically: a temporary file in the same directory, then rename."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".ports-", dir=directory)
    with os.fdopen(handle, "w") as output:
        json.dump(ports, output, indent=1)
        output.write("\n")
    os.rename(temporary, path)


class Emulator:
    """Owns every server, service and process of one emulated cluster."""

    def __init__(self, cluster, state_dir, log_file, tls_server=None, tls_client=None):
        self.cluster = cluster
        self.tls_server = tls_server
        self.state_dir = state_dir
        self.authority = TokenAuthority(cluster.token_lifetime_seconds)
        self.faults = FaultRegistry()
        self.request_log = RequestLog(log_file)
        self.containment = Containment(os.environ.get(CONTAINMENT_VARIABLE) or None)
        self.servers = []
        self.agents = {}

        send_continue = cluster.send_100_continue
        self.iam = IamService(cluster, self.authority)
        self._add_server("iam", self.iam.handle, self.iam.fault_body, send_continue)
        self.masters = []
        for index in range(cluster.master_count):
            service = MasterService(cluster, index, self.authority)
            self.masters.append(self._add_server("master:%d" % index, service.handle, service.fault_body,
                                                 send_continue))
        for agent_info in cluster.agents.values():
            service = AgentService(cluster, agent_info, self.authority, self.containment, state_dir)
            service.server = self._add_server("agent:" + agent_info.id, service.handle, service.fault_body,
                                              send_continue)
            service.faults = self.faults
            self.agents[agent_info.id] = service
        self.faults.cut_streams = self._cut_streams
        self.adminrouter = AdminRouterService(cluster, self.authority, cluster.adminrouter_idle_timeout_seconds,
                                              upstream_tls=tls_client)
        self.adminrouter_server = self._add_server("adminrouter", self.adminrouter.handle,
                                                   self.adminrouter.fault_body, send_continue)

        control = ControlService(cluster, self.agents, self.faults, self.authority)
        self.control_server = HttpServer("control", control.handle)
        self.servers.append(self.control_server)

    def _add_server(self, name, handler, fault_body, send_continue):
        server = HttpServer(name, handler, faults=self.faults, request_log=self.request_log,
                            fault_body=fault_body, send_100_continue=send_continue,
                            tls_context=self.tls_server)
        self.faults.register_server(server)
        self.servers.append(server)
        return server

    def _cut_streams(self, server_names) -> int:
        return sum(self.agents[name[len("agent:"):]].cut_streams() for name in server_names)

    def start(self):
        """Bind, start the tasks (from the main thread), then serve."""
        for server in self.servers:
            server.bind()
        self.cluster.master_ports = [server.port for server in self.masters]
        for agent_id, service in self.agents.items():
            self.cluster.agents[agent_id].port = service.server.port
        self.adminrouter.iam_port = self.servers[0].port
        start_task_runtimes(list(self.agents.values()))
        for server in self.servers:
            server.start()

    def ports(self) -> dict:
        return {
            "iam": self.servers[0].url,
            "masters": [server.url for server in self.masters],
            "agents": {agent_id: service.server.url for agent_id, service in self.agents.items()},
            "adminrouter": self.adminrouter_server.url,
            "control": self.control_server.url,
            "pid": os.getpid(),
            "state_dir": self.state_dir,
        }

    def stop(self):
        """Stop serving and kill every task and session process."""
        for server in self.servers:
            server.stop()
        for service in self.agents.values():
            service.stop_tasks()
        self.containment.cleanup()
        self.request_log.close()


def main(argv=None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cluster = Cluster.load(args.cluster)
    except ClusterError as error:
        LOG.error("invalid cluster description: %s", error)
        return 2
    if os.geteuid() != 0:
        LOG.error("the emulator needs root to create namespaces and cgroups; run it as root")
        return 1

    created_state_dir = args.state_dir is None
    # Absolute, because tasks start with their sandbox under it as the working directory.
    state_dir = (tempfile.mkdtemp(prefix="task-bastion-emulator-") if created_state_dir
                 else os.path.abspath(args.state_dir))
    os.makedirs(state_dir, exist_ok=True)

    stop = threading.Event()

    def request_stop(number, _frame):
        LOG.info("received signal %d, stopping", number)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    emulator = None
    try:
        tls_server, tls_client = tls_contexts(args)
        emulator = Emulator(cluster, state_dir, args.log_file, tls_server, tls_client)
        emulator.start()
        write_ports_file(args.ports_file, emulator.ports())
        LOG.info("emulator ready: %s", json.dumps(emulator.ports()))
        while not stop.wait(0.5):
            pass
        return 0
    except TaskStartError as error:
        LOG.error("cannot start the cluster: %s", error)
        return 1
    except (OSError, ValueError, ssl.SSLError) as error:
        LOG.error("cannot start the cluster: %s", error)
        return 1
    finally:
        if emulator is not None:
            emulator.stop()
        if created_state_dir:
            shutil.rmtree(state_dir, ignore_errors=True)
        LOG.info("emulator stopped")


if __name__ == "__main__":
    sys.exit(main())
