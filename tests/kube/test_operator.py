"""The kopf operator against a real API server and a real etcd: resources applied with kubectl
become routing config, edits follow, conditions report, deletion drains waiting callers."""

from __future__ import annotations

import json
import secrets
import time

import pytest
import yaml
from ccp_acd.domain.models import Call, CallState, Strategy
from kopf.testing import KopfRunner

from tests.helpers import eventually, examples_for_tenant

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


def _condition(kube, kind: str, name: str, type_: str) -> dict | None:
    resource = json.loads(kube.kubectl("get", kind, name, "-o", "json").stdout)
    return next((c for c in resource.get("status", {}).get("conditions", []) if c["type"] == type_), None)


@pytest.fixture
def operator(kube, etcd_server, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", kube.kubeconfig)
    monkeypatch.setenv("CCP_ETCD_ENDPOINT", etcd_server.endpoint)
    args = ["run", "--standalone", "--namespace", kube.namespace, "-m", "ccp_operator.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


async def test_resources_become_routing_config_and_follow_edits(kube, store, operator):
    tenant = f"acme-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(examples_for_tenant(tenant)))

    async def queues():
        found = await store.get_queue_configs(tenant)
        return found if len(found) == 3 else None

    configs = await eventually(queues, timeout_s=30, what="three queues in etcd")
    assert configs["support"].strategy is Strategy.BEST_SKILL_MATCH
    assert (await store.get_tenant_config(tenant)).failover_sites == ("site-b",)
    assert set(await store.get_trunk_configs(tenant)) == {"acme-main", "acme-west"}

    async def ready():
        found = _condition(kube, "queue", "support", "Ready")
        return found if found and found["status"] == "True" else None

    condition = await eventually(ready, timeout_s=30, what="support Ready")
    assert condition["reason"] == "Applied" and condition["observedGeneration"] == 1

    kube.kubectl("patch", "queue", "support", "--type", "merge", "-p", '{"spec": {"strategy": "round-robin"}}')

    async def edited():
        return (await store.get_queue_configs(tenant))["support"].strategy is Strategy.ROUND_ROBIN

    await eventually(edited, timeout_s=30, what="the edit to reach etcd")

    async def observed_generation_2():
        found = _condition(kube, "queue", "support", "Ready")
        return found and found["observedGeneration"] == 2

    await eventually(observed_generation_2, timeout_s=30, what="observedGeneration 2")


async def test_a_queue_of_an_unknown_tenant_reports_why_and_is_retried(kube, store, operator):
    tenant = f"late-{secrets.token_hex(3)}"
    documents = examples_for_tenant(tenant)
    queues = [d for d in documents if d["kind"] == "Queue"]
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(queues))

    async def missing():
        found = _condition(kube, "queue", "general", "Reconciled")
        return found if found and found["reason"] == "TenantMissing" else None

    condition = await eventually(missing, timeout_s=30, what="TenantMissing")
    assert condition["status"] == "False" and tenant in condition["message"]
    # The Tenant arrives: the retry succeeds without touching the queues.
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in documents if d["kind"] == "Tenant"]))

    async def configured():
        return len(await store.get_queue_configs(tenant)) == 3

    await eventually(configured, timeout_s=30, what="queues written after the tenant appeared")


async def test_deleting_a_queue_moves_its_waiting_callers_to_the_overflow_target(kube, store, operator):
    tenant = f"drain-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(examples_for_tenant(tenant)))

    async def configured():
        return len(await store.get_queue_configs(tenant)) == 3

    await eventually(configured, timeout_s=30, what="queues in etcd")
    now = time.time()
    waiting = [f"{time.time_ns():020d}-w{i}" for i in range(3)]
    for call_id in waiting:  # no agents and no router here: they stay queued in support
        await store.enqueue(tenant, Call(id=call_id, queue="support", site="site-a", enqueued_at=now, queued_since=now))

    kube.kubectl("delete", "queue", "support", "--wait=false")

    async def gone():
        return "support" not in await store.get_queue_configs(tenant)

    await eventually(gone, timeout_s=30, what="support's config removed")
    view = await store.load_live(tenant)
    moved = [view.calls[c] for c in waiting]
    assert all(c.queue == "general" and c.route_history == ("support",) for c in moved)
    assert all(c.state is CallState.QUEUED and c.enqueued_at == now for c in moved), "they keep their place"
    assert kube.kubectl("get", "queue", "support", check=False).returncode != 0
