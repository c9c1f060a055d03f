"""Child processes the embedded platform (and the tests) start: an etcd server and ACD nodes.

Everything listens on loopback ports picked free at start; every process has a
log file in the run's folder; ``stop()`` is SIGTERM then SIGKILL after a
timeout, ``kill()`` is SIGKILL at once (a crashed host: no shutdown code runs).

TLS: etcd and the nodes serve TLS when given the certificates of ``tls.generate``
(the embedded platform always does); without, they run plaintext, which each
caller asks for explicitly (``tls=None``): the test session's shared etcd and
nodes, and the benchmarks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from aetcd import rpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ccp_acd.tls import ChannelSecurity, GeneratedCerts, open_sync_channel

log = logging.getLogger(__name__)

HEALTH_SERVICE = "ccpapi.v1.AgentService"
# Starts of a node that keeps losing its free port to other processes (``wait_serving_respawned``).
PORT_RACE_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def etcd_binary() -> str:
    found = os.environ.get("CCP_ETCD_BINARY") or shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(found).exists():
        raise RuntimeError("etcd not found: install Debian's etcd-server (scripts/setup.sh does) or set CCP_ETCD_BINARY")
    return found


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _spawn(name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Child(name, process, log_path)


@dataclass
class EtcdProcess(Child):
    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path()
    tls: GeneratedCerts | None = None  # serves clients over TLS and requires their certificates

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def security(self) -> ChannelSecurity:
        """How a client reaches this etcd: ``EtcdStore.connect(..., security=etcd.security)``; plaintext (explicit)
        when it was started without TLS."""
        return ChannelSecurity(plaintext=True) if self.tls is None else self.tls.client()


# Raft timing for every etcd started here. etcd raises any lease TTL below
# ceil(1.5 x election timeout) to that floor (etcd server.go: minTTL =
# (3 * ElectionTicks / 2) * heartbeat): with a 600 ms election timeout the floor
# is ceil(0.9 s) = 1 s, so the 1 s node lease the embedded platform uses for fast
# hot-standby takeover is honoured; etcd's default 1000 ms would force 2 s. The
# heartbeat stays at etcd's default 100 ms, so an election still takes 6 missed
# heartbeats, and both stay far above loopback round trips (etcd's tuning guide
# asks for an election timeout of at least 10 round trips).
ETCD_TIMING = ("--heartbeat-interval=100", "--election-timeout=600")


def free_ports(count: int, host: str) -> list[int]:
    """``count`` distinct free ports (``free_port`` alone may hand out the same one twice)."""
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port(host)) not in ports:
            ports.append(port)
    return ports


def _etcd_argv(
    name: str, data_dir: Path, host: str, port: int, peer_port: int, initial_cluster: str, token: str,
    tls: GeneratedCerts | None,
) -> list[str]:
    # Client TLS with client certificates required; peer traffic (loopback, between members) stays plaintext.
    client_tls = [
        f"--cert-file={tls.cert_file}", f"--key-file={tls.key_file}", f"--trusted-ca-file={tls.ca_file}",
        "--client-cert-auth",
    ] if tls else []
    scheme = "https" if tls else "http"
    return [
        etcd_binary(),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={scheme}://{host}:{port}",
        f"--advertise-client-urls={scheme}://{host}:{port}",
        *client_tls,
        f"--listen-peer-urls=http://{host}:{peer_port}",
        f"--initial-advertise-peer-urls=http://{host}:{peer_port}",
        f"--initial-cluster={initial_cluster}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={token}",
        *ETCD_TIMING,
        "--log-level=error",
    ]


def _spawn_etcd_member(
    workdir: Path, name: str, host: str, port: int, peer_port: int, initial_cluster: str, token: str,
    tls: GeneratedCerts | None = None, extra_args: tuple[str, ...] = (),
) -> EtcdProcess:
    data_dir = workdir / f"{name}.data"
    argv = [*_etcd_argv(name, data_dir, host, port, peer_port, initial_cluster, token, tls), *extra_args]
    child = _spawn(name, argv, workdir / f"{name}.log")
    return EtcdProcess(child.name, child.process, child.log_path, host=host, port=port, data_dir=data_dir, tls=tls)


def spawn_etcd(
    workdir: Path, *, name: str = "ccp-etcd", host: str = "127.0.0.1", tls: GeneratedCerts | None = None,
    extra_args: tuple[str, ...] = (),
) -> EtcdProcess:
    """Start a single-member etcd with its data in ``workdir``; does not wait (see ``wait_listening``).

    With ``tls``: clients over TLS, and each must show a certificate from ``tls.ca_file``. ``extra_args``:
    more etcd flags (the benchmarks' ``--metrics=extensive``).
    """
    port, peer_port = free_ports(2, host)
    return _spawn_etcd_member(
        workdir, name, host, port, peer_port, f"{name}=http://{host}:{peer_port}", name, tls=tls,
        extra_args=extra_args,
    )


def wait_listening(etcd: EtcdProcess, *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not etcd.alive():
            raise RuntimeError(f"etcd exited with {etcd.process.returncode}:\n{etcd.log()}")
        try:
            socket.create_connection((etcd.host, etcd.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"etcd did not listen on {etcd.endpoint} within {timeout_s}s")


def start_etcd(
    workdir: Path, *, name: str = "ccp-etcd", host: str = "127.0.0.1", timeout_s: float = 20.0,
    tls: GeneratedCerts | None = None, extra_args: tuple[str, ...] = (),
) -> EtcdProcess:
    """A single-member etcd with its data in ``workdir``; returns once it accepts connections."""
    etcd = spawn_etcd(workdir, name=name, host=host, tls=tls, extra_args=extra_args)
    try:
        wait_listening(etcd, timeout_s=timeout_s)
    except BaseException:
        etcd.stop()
        raise
    return etcd


def wait_leader(etcd: EtcdProcess, *, timeout_s: float) -> None:
    """Wait until a linearizable read through ``etcd`` succeeds: the cluster has a leader and a quorum."""
    deadline = time.monotonic() + timeout_s
    with open_sync_channel(etcd.endpoint, etcd.security) as channel:
        kv = rpc.KVStub(channel)
        while True:
            if not etcd.alive():
                raise RuntimeError(f"etcd {etcd.name} exited with {etcd.process.returncode}:\n{etcd.log()}")
            try:
                kv.Range(rpc.RangeRequest(key=b"ccp-leader-probe"), timeout=0.3)
                return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd {etcd.name} at {etcd.endpoint} found no leader within {timeout_s}s:\n{etcd.log()}")
            time.sleep(0.1)


def start_etcd_cluster(
    workdir: Path, *, members: int = 3, host: str = "127.0.0.1", timeout_s: float = 30.0,
    tls: GeneratedCerts | None = None,
) -> list[EtcdProcess]:
    """A ``members``-member etcd cluster (static bootstrap), each member with its own client endpoint.

    Returns once every member accepts connections and serves linearizable reads
    (a leader was elected and a quorum answers).
    """
    names = [f"ccp-etcd-{i}" for i in range(members)]
    ports = free_ports(2 * members, host)
    peers = ports[members:]
    initial_cluster = ",".join(f"{name}=http://{host}:{peer}" for name, peer in zip(names, peers, strict=True))
    token = f"ccp-{uuid.uuid4().hex[:12]}"  # a fresh cluster id: members of another cluster never join this one
    started: list[EtcdProcess] = []
    try:
        # All members first: none can elect a leader before a quorum is up.
        for name, port, peer in zip(names, ports, peers, strict=False):
            started.append(_spawn_etcd_member(workdir, name, host, port, peer, initial_cluster, token, tls=tls))
        deadline = time.monotonic() + timeout_s
        for etcd in started:
            wait_listening(etcd, timeout_s=max(0.1, deadline - time.monotonic()))
        for etcd in started:
            wait_leader(etcd, timeout_s=max(0.1, deadline - time.monotonic()))
    except BaseException:
        stop_all(started)
        raise
    return started


@dataclass
class NodeProcess(Child):
    node_id: str = ""
    site: str = ""
    address: str = ""
    # How a client reaches it: TLS with the run's CA, or the plaintext its starter asked for.
    security: ChannelSecurity = field(default_factory=lambda: ChannelSecurity(plaintext=True))


def _transport_env(tls: GeneratedCerts | None, etcd_security: ChannelSecurity) -> dict[str, str]:
    """The node's CCP_* transport variables: always explicit, so a variable inherited from the caller's
    environment (a test session's CCP_PLAINTEXT, CCP_ETCD_PLAINTEXT) cannot contradict them."""
    env = tls.node_env() if tls else {"CCP_PLAINTEXT": "true", "CCP_TLS_CERT_FILE": "", "CCP_TLS_KEY_FILE": ""}
    return {
        **env,
        "CCP_ETCD_CA_FILE": etcd_security.ca_file,
        "CCP_ETCD_CERT_FILE": etcd_security.cert_file,
        "CCP_ETCD_KEY_FILE": etcd_security.key_file,
        "CCP_ETCD_PLAINTEXT": "true" if etcd_security.plaintext else "false",
    }


def spawn_node(
    workdir: Path,
    etcd_endpoint: str,
    *,
    node_id: str,
    site: str,
    tls: GeneratedCerts | None,
    etcd_security: ChannelSecurity,
    lease_ttl_s: int = 3,
    env: dict[str, str] | None = None,
) -> NodeProcess:
    """Start ``python -m ccp_acd.server`` with CCP_* settings; does not wait (see ``wait_serving``).

    ``tls``: the certificates it serves gRPC with; None is an explicit request for plaintext.
    ``etcd_security``: how it reaches etcd (``EtcdProcess.security``); no default: plaintext etcd is asked for
    explicitly (``ChannelSecurity(plaintext=True)``), as the node itself requires (CCP_ETCD_PLAINTEXT).
    """
    address = f"127.0.0.1:{free_port()}"
    settings = {
        "CCP_SITE": site,
        "CCP_NODE_ID": node_id,
        "CCP_GRPC_LISTEN": address,
        "CCP_ETCD_ENDPOINT": etcd_endpoint,
        "CCP_LEASE_TTL_S": str(lease_ttl_s),
        "CCP_DISPATCH_INTERVAL_S": "0.2",
        **_transport_env(tls, etcd_security),
        **(env or {}),
    }
    child = _spawn(
        node_id, [sys.executable, "-m", "ccp_acd.server"], workdir / f"{node_id}.log", env={**os.environ, **settings}
    )
    security = tls.client(with_cert=False) if tls else ChannelSecurity(plaintext=True)
    return NodeProcess(
        child.name, child.process, child.log_path, node_id=node_id, site=site, address=address, security=security
    )


def start_node(
    workdir: Path,
    etcd_endpoint: str,
    *,
    node_id: str,
    site: str,
    tls: GeneratedCerts | None,
    etcd_security: ChannelSecurity,
    lease_ttl_s: int = 3,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
) -> NodeProcess:
    """``spawn_node``, then wait until gRPC health says SERVING (``wait_serving_respawned``)."""

    def spawn() -> NodeProcess:
        return spawn_node(
            workdir, etcd_endpoint, node_id=node_id, site=site, tls=tls, etcd_security=etcd_security,
            lease_ttl_s=lease_ttl_s, env=env,
        )

    return wait_serving_respawned(spawn(), spawn, timeout_s=timeout_s)


def lost_port_race(node: NodeProcess) -> bool:
    """The node exited because a port it was given was taken before it bound it: ``free_port`` picks a port the
    OS had free and releases it, so another process (a parallel test, a sipp) can bind it first."""
    return not node.alive() and "Failed to bind to address" in node.log()


def wait_serving_respawned(
    node: NodeProcess, respawn: Callable[[], NodeProcess], *, timeout_s: float
) -> NodeProcess:
    """``wait_serving``; a node that lost a port race is started again by ``respawn`` (new ports), up to
    ``PORT_RACE_ATTEMPTS`` times in all. Any other failure stops the node and is raised. Returns the serving node."""
    for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
        try:
            wait_serving(node, timeout_s=timeout_s)
            return node
        except RuntimeError:
            if attempt == PORT_RACE_ATTEMPTS or not lost_port_race(node):
                node.stop()
                raise
            log.warning("node %s lost a port to another process before binding it; starting it again", node.node_id)
            node = respawn()
        except BaseException:
            node.stop()
            raise
    raise AssertionError("unreachable")


def stop_all(children: Sequence[Child], *, timeout_s: float = 10.0) -> None:
    """SIGTERM to every child at once, then SIGKILL to those still running after ``timeout_s``.

    etcd members go last and one at a time: a leader told to stop first hands its
    leadership to a live member, and with every member stopping at once that
    hand-over waits etcd's request timeout (5 s + 2 x election timeout: 6.2 s).
    """
    members = [child for child in children if isinstance(child, EtcdProcess)]
    others = [child for child in children if not isinstance(child, EtcdProcess)]
    for child in others:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
    deadline = time.monotonic() + timeout_s
    for child in others:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    for member in members:
        member.stop(timeout_s=timeout_s)


def wait_serving(node: NodeProcess, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with open_sync_channel(node.address, node.security) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if not node.alive():
                raise RuntimeError(f"node {node.node_id} exited with {node.process.returncode}:\n{node.log()}")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(service=HEALTH_SERVICE), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.node_id} never reported SERVING:\n{node.log()}")
            time.sleep(0.1)
