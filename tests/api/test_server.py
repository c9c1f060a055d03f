"""The node as a process: health and reflection up, its GIL switch interval as set, graceful exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from ccp_acd.embedded.processes import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

pytestmark = pytest.mark.etcd


def test_node_serves_health_and_reflection_and_exits_cleanly_on_sigterm(etcd_server):
    port = free_port()
    env = {
        **os.environ,
        "CCP_SITE": "site-a",
        "CCP_NODE_ID": "proc-1",
        "CCP_GRPC_LISTEN": f"127.0.0.1:{port}",
        "CCP_ETCD_ENDPOINT": etcd_server.endpoint,
        "CCP_LEASE_TTL_S": "2",
        "CCP_GIL_SWITCH_INTERVAL_S": "0.002",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccp_acd.server"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 20
            while True:
                try:
                    answer = health.Check(
                        health_pb2.HealthCheckRequest(service="ccpapi.v1.AgentService"), timeout=2
                    )
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, "the node never reported SERVING"
                time.sleep(0.1)
            site = health.Check(health_pb2.HealthCheckRequest(service="ccpapi.v1.SiteService"), timeout=2)
            assert site.status == health_pb2.HealthCheckResponse.NOT_SERVING  # no cluster token configured
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            answers = list(
                reflection.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")])
                )
            )
            names = {s.name for s in answers[0].list_services_response.service}
            assert {"ccpapi.v1.AgentService", "ccpapi.v1.AdminService", "grpc.health.v1.Health"} <= names
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output.decode()
        assert b"stopped" in output
        assert b"GIL switch interval 2 ms" in output, "the node applies CCP_GIL_SWITCH_INTERVAL_S"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
