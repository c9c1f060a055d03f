"""ACD nodes as real processes (``python -m ccp_acd.server``) for tests that kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers import free_port, scaled


@dataclass
class NodeProcess:
    node_id: str
    address: str
    process: subprocess.Popen
    log_path: str

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, the lease is not revoked (a crashed host)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()


def start_node_process(
    etcd_endpoint: str, *, node_id: str, site: str = "site-a", lease_ttl_s: int = 2, **env: str
) -> NodeProcess:
    """Start a node and wait until its gRPC health says SERVING."""
    address = f"127.0.0.1:{free_port()}"
    settings = {
        "CCP_SITE": site,
        "CCP_NODE_ID": node_id,
        "CCP_GRPC_LISTEN": address,
        "CCP_ETCD_ENDPOINT": etcd_endpoint,
        "CCP_LEASE_TTL_S": str(lease_ttl_s),
        "CCP_DISPATCH_INTERVAL_S": "0.2",
        **env,
    }
    log = tempfile.NamedTemporaryFile(prefix=f"{node_id}-", suffix=".log", delete=False)  # noqa: SIM115
    with log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ccp_acd.server"], env={**os.environ, **settings}, stdout=log, stderr=log
        )
    node = NodeProcess(node_id, address, process, log.name)
    deadline = time.monotonic() + scaled(30)
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"node {node_id} exited with {process.returncode}:\n{node.log()}")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(service="ccpapi.v1.AgentService"), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return node
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(f"node {node_id} never reported SERVING:\n{node.log()}")
            time.sleep(0.1)
