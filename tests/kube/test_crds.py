"""The CRDs on a real API server: the examples are accepted, every invalid example is refused
by the schema with a message naming the field, and `kubectl get queues` shows the columns."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from ccp_operator.crds import crds

from tests.kube.conftest import CRDS, ROOT

INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))


def test_committed_crds_are_what_the_schema_generates(tmp_path):
    generate = [sys.executable, "scripts/gen_crds.py", "--out", str(tmp_path)]
    subprocess.run(generate, cwd=ROOT, check=True, capture_output=True)
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in CRDS.iterdir()}
    assert fresh and fresh == committed, "run scripts/gen_crds.py and commit"
    assert {c["spec"]["names"]["kind"] for c in crds()} == {"Tenant", "Trunk", "Queue", "ClusterKopfPeering"}


def test_the_examples_are_accepted_and_listed_with_their_columns(kube):
    kube.kubectl("apply", "-f", str(ROOT / "examples"))
    table = kube.kubectl("get", "queues").stdout
    header = table.splitlines()[0].split()
    assert header[:6] == ["NAME", "TENANT", "STRATEGY", "SL", "TARGET", "READY"], table
    assert re.search(r"support\s+acme\s+best-skill-match\s+0.8", table), table
    everything = kube.kubectl("get", "contactcenter", "-o", "name").stdout.split()
    assert len(everything) == 6, everything  # 1 tenant, 2 trunks, 3 queues
    assert kube.get("ccq", "general")["spec"]["serviceLevel"] == {"thresholdSeconds": 30, "target": 0.8}
    # defaults are applied by the API server
    assert kube.get("ccq", "sales")["spec"]["priority"] == 0


def test_there_are_invalid_examples():
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_kubectl_apply_refuses_each_invalid_example_naming_the_field(kube, path):
    field = re.match(r"# (\S+):", path.read_text()).group(1)
    refused = kube.kubectl("apply", "-f", str(path), check=False)
    assert refused.returncode != 0, f"{path.name} was accepted"
    assert field in refused.stderr, refused.stderr
    resource = yaml.safe_load(path.read_text())
    missing = kube.kubectl("get", resource["kind"].lower(), resource["metadata"]["name"], check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr, "nothing is stored"
