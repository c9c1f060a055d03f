"""One active operator: two `kopf run` processes in one peering; the lower priority pauses,
and takes over when the active one is killed."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import examples_for_tenant, scaled

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

KOPF = Path(sys.executable).with_name("kopf")


def _wait_for(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + scaled(timeout_s)
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path.name} within {timeout_s}s:\n{path.read_text(errors='replace')[-3000:]}")


def test_only_the_highest_priority_operator_works_and_a_standby_takes_over(kube, etcd_server, tmp_path):
    peering = f"ccp-test-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}}))
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig, "CCP_ETCD_ENDPOINT": etcd_server.endpoint}
    operators = {}
    try:
        for name, priority in (("active", "100"), ("standby", "50")):
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as out:
                operators[name] = (subprocess.Popen(
                    [str(KOPF), "run", "--all-namespaces", f"--peering={peering}", f"--priority={priority}",
                     "--verbose", "-m", "ccp_operator.handlers"],
                    env={**env, "POD_ID": name}, stdout=out, stderr=subprocess.STDOUT,
                ), log)
        _wait_for(operators["active"][1], "Keep-alive in", 60)
        _wait_for(operators["standby"][1], "Pausing the watch-stream for tenants", 60)

        first = f"peer-{secrets.token_hex(3)}"
        tenant = [d for d in examples_for_tenant(first) if d["kind"] == "Tenant"]
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(tenant))
        _wait_for(operators["active"][1], f"[{kube.namespace}/{first}] Handler 'tenant_changed' succeeded", 60)
        assert first not in operators["standby"][1].read_text(errors="replace"), "the paused operator acted"

        operators["active"][0].send_signal(signal.SIGKILL)
        operators["active"][0].wait(timeout=10)
        _wait_for(operators["standby"][1], "Resuming operations after the pause", 60)
        second = f"peer-{secrets.token_hex(3)}"
        tenant = [d for d in examples_for_tenant(second) if d["kind"] == "Tenant"]
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(tenant))
        _wait_for(operators["standby"][1], f"[{kube.namespace}/{second}] Handler 'tenant_changed' succeeded", 60)
    finally:
        for process, _ in operators.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
