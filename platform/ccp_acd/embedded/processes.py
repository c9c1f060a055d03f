"""Child processes the embedded platform (and the tests) start: an etcd server and ACD nodes.

Everything listens on loopback ports picked free at start; every process has a
log file in the run's folder; ``stop()`` is SIGTERM then SIGKILL after a
timeout, ``kill()`` is SIGKILL at once (a crashed host: no shutdown code runs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HEALTH_SERVICE = "ccpapi.v1.AgentService"


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

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def spawn_etcd(workdir: Path, *, name: str = "ccp-etcd", host: str = "127.0.0.1") -> EtcdProcess:
    """Start a single-member etcd with its data in ``workdir``; does not wait (see ``wait_listening``)."""
    port, peer_port = free_port(host), free_port(host)
    data_dir = workdir / f"{name}.data"
    child = _spawn(
        name,
        [
            etcd_binary(),
            f"--name={name}",
            f"--data-dir={data_dir}",
            f"--listen-client-urls=http://{host}:{port}",
            f"--advertise-client-urls=http://{host}:{port}",
            f"--listen-peer-urls=http://{host}:{peer_port}",
            f"--initial-advertise-peer-urls=http://{host}:{peer_port}",
            f"--initial-cluster={name}=http://{host}:{peer_port}",
            "--log-level=error",
        ],
        workdir / f"{name}.log",
    )
    return EtcdProcess(child.name, child.process, child.log_path, host=host, port=port, data_dir=data_dir)


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


def start_etcd(workdir: Path, *, name: str = "ccp-etcd", host: str = "127.0.0.1", timeout_s: float = 20.0) -> EtcdProcess:
    """A single-member etcd with its data in ``workdir``; returns once it accepts connections."""
    etcd = spawn_etcd(workdir, name=name, host=host)
    try:
        wait_listening(etcd, timeout_s=timeout_s)
    except BaseException:
        etcd.stop()
        raise
    return etcd


@dataclass
class NodeProcess(Child):
    node_id: str = ""
    site: str = ""
    address: str = ""


def spawn_node(
    workdir: Path,
    etcd_endpoint: str,
    *,
    node_id: str,
    site: str,
    lease_ttl_s: int = 3,
    env: dict[str, str] | None = None,
) -> NodeProcess:
    """Start ``python -m ccp_acd.server`` with CCP_* settings; does not wait (see ``wait_serving``)."""
    address = f"127.0.0.1:{free_port()}"
    settings = {
        "CCP_SITE": site,
        "CCP_NODE_ID": node_id,
        "CCP_GRPC_LISTEN": address,
        "CCP_ETCD_ENDPOINT": etcd_endpoint,
        "CCP_LEASE_TTL_S": str(lease_ttl_s),
        "CCP_DISPATCH_INTERVAL_S": "0.2",
        **(env or {}),
    }
    child = _spawn(
        node_id, [sys.executable, "-m", "ccp_acd.server"], workdir / f"{node_id}.log", env={**os.environ, **settings}
    )
    return NodeProcess(child.name, child.process, child.log_path, node_id=node_id, site=site, address=address)


def start_node(
    workdir: Path,
    etcd_endpoint: str,
    *,
    node_id: str,
    site: str,
    lease_ttl_s: int = 3,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
) -> NodeProcess:
    """``spawn_node``, then wait until gRPC health says SERVING."""
    node = spawn_node(workdir, etcd_endpoint, node_id=node_id, site=site, lease_ttl_s=lease_ttl_s, env=env)
    try:
        wait_serving(node, timeout_s=timeout_s)
    except BaseException:
        node.stop()
        raise
    return node


def stop_all(children: Sequence[Child], *, timeout_s: float = 10.0) -> None:
    """SIGTERM to every child at once, then SIGKILL to those still running after ``timeout_s``."""
    for child in children:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def wait_serving(node: NodeProcess, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(node.address) as channel:
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
