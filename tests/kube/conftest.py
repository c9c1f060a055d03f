"""A real Kubernetes API server for the operator tests.

An explicit ``KUBECONFIG`` wins (a real cluster: everything is done in a fresh
namespace, deleted afterwards). Otherwise kube-lite (../shared/tools/kube-lite)
is started on free loopback ports for the session.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBE_LITE = ROOT.parent / "shared" / "tools" / "kube-lite"
CRDS = ROOT / "charts" / "contact-center" / "crds"


@dataclass
class Kube:
    kubeconfig: str
    namespace: str

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, "-n", self.namespace, *args],
            capture_output=True, text=True, timeout=60, input=input,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def get(self, kind: str, name: str) -> dict:
        return json.loads(self.kubectl("get", kind, name, "-o", "json").stdout)


def _three_free_ports() -> int:
    for _ in range(50):
        base = 20000 + secrets.randbelow(30000)
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no three consecutive free ports")


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory) -> Iterator[str]:
    if os.environ.get("KUBECONFIG"):
        yield os.environ["KUBECONFIG"]
        return
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed (scripts/setup.sh installs it)")
    binary = subprocess.run([str(KUBE_LITE / "ensure.sh")], capture_output=True, text=True, check=True).stdout.strip()
    state = tmp_path_factory.mktemp("kube-lite")
    up = subprocess.run(
        [str(KUBE_LITE / "up.sh"), binary, str(state), str(_three_free_ports())], capture_output=True, text=True, timeout=120
    )
    if up.returncode != 0:
        subprocess.run([str(KUBE_LITE / "down.sh"), str(state)], capture_output=True)
        raise RuntimeError(f"kube-lite did not start:\n{up.stdout}{up.stderr}")
    try:
        yield str(state / "kubeconfig")
    finally:
        subprocess.run([str(KUBE_LITE / "down.sh"), str(state)], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def crds_installed(kubeconfig: str) -> str:
    base = ["kubectl", "--kubeconfig", kubeconfig]
    subprocess.run([*base, "apply", "-f", str(CRDS)], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [*base, "wait", "--for", "condition=established", "--timeout=60s", "-f", str(CRDS)],
        check=True, capture_output=True, timeout=90,
    )
    return kubeconfig


@pytest.fixture
def kube(crds_installed: str) -> Iterator[Kube]:
    namespace = f"ccp-test-{secrets.token_hex(3)}"
    subprocess.run(["kubectl", "--kubeconfig", crds_installed, "create", "namespace", namespace],
                   check=True, capture_output=True, timeout=60)
    yield Kube(crds_installed, namespace)
    subprocess.run(["kubectl", "--kubeconfig", crds_installed, "delete", "namespace", namespace, "--wait=false"],
                   capture_output=True, timeout=60)
