"""The kopf operator against a real API server and a real etcd: resources applied with kubectl
become routing config, edits follow, conditions report, deletion drains waiting callers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import secrets
import time
import warnings
from collections.abc import Iterator, Sequence

import grpc.aio
import pytest
import yaml
from ccp_acd.domain.models import Call, CallState, Strategy
from ccp_operator.specs.loader import parse_documents
from ccpapi.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    interaction_pb2,
    interaction_pb2_grpc,
)
from kopf.testing import KopfRunner

from tests.helpers import bearer, eventually, examples_for_tenant

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


def _condition(kube, kind: str, name: str, type_: str) -> dict | None:
    resource = json.loads(kube.kubectl("get", kind, name, "-o", "json").stdout)
    return next((c for c in resource.get("status", {}).get("conditions", []) if c["type"] == type_), None)


@contextlib.contextmanager
def run_operator(kube, namespaces: Sequence[str] = ()) -> Iterator[KopfRunner]:
    """kopf in this process, watching ``kube``'s namespace and ``namespaces``."""
    watched = [arg for namespace in (kube.namespace, *namespaces) for arg in ("--namespace", namespace)]
    args = ["run", "--standalone", *watched, "-m", "ccp_operator.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    # KopfRunner stops kopf's event loop in its thread with aiohttp connections still referenced;
    # collect them here, quietly, rather than letting the warning land on a later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def operator_env(kube, etcd_server, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", kube.kubeconfig)
    monkeypatch.setenv("CCP_ETCD_ENDPOINT", etcd_server.endpoint)


@pytest.fixture
def operator(kube, operator_env):
    with run_operator(kube) as runner:
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

    async def trunks():
        return set(await store.get_trunk_configs(tenant)) == {"acme-main", "acme-west"}

    await eventually(trunks, timeout_s=30, what="both trunks in etcd")

    async def ready():
        found = _condition(kube, "queue", "support", "Ready")
        return found if found and found["status"] == "True" else None

    condition = await eventually(ready, timeout_s=30, what="support Ready")
    assert condition["reason"] == "Applied" and condition["observedGeneration"] == 1

    async def tenant_ready():
        found = _condition(kube, "tenant", tenant, "Ready")
        return found if found and found["status"] == "True" else None

    await eventually(tenant_ready, timeout_s=30, what="tenant Ready")
    owner = kube.get("tenant", tenant)["metadata"]["uid"]
    for kind, name in [
        ("statefulset", f"acd-{tenant}-site-a"),
        ("statefulset", f"acd-{tenant}-site-b"),
        ("service", f"acd-{tenant}-site-a"),
        ("service", f"acd-{tenant}-site-b-headless"),
        ("networkpolicy", f"acd-{tenant}-isolation"),
        ("secret", f"{tenant}-api-credentials"),
    ]:
        child = kube.get(kind, name)
        assert [r["uid"] for r in child["metadata"]["ownerReferences"]] == [owner], (kind, name)
    statefulset = kube.get("statefulset", f"acd-{tenant}-site-b")
    env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["CCP_SITE"], env["CCP_TENANTS"]) == ("site-b", tenant)
    secret = kube.get("secret", f"{tenant}-api-credentials")
    assert set(secret["data"]) == {"admin", "supervisor", "interaction"}
    admin_token = base64.b64decode(secret["data"]["admin"]).decode()
    assert admin_token.startswith(f"{tenant}.")

    placement = await store.get_queue_placement(tenant, "support")
    assert (placement.owner_site, placement.standby_sites) == ("site-a", ("site-b",))
    status = kube.get("queue", "support")["status"]
    assert (status["homeSite"], status["ownerSite"], status["standbySites"]) == ("site-a", "site-a", ["site-b"])

    edited = [d for d in examples_for_tenant(tenant) if d["kind"] == "Queue" and d["metadata"]["name"] == "support"]
    edited[0]["spec"]["strategy"] = "round-robin"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(edited))

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


async def test_a_node_routes_a_call_for_a_tenant_configured_only_through_kubectl(kube, store, operator, node_processes):
    tenant = f"kctl-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(examples_for_tenant(tenant)))

    async def credentials():
        found = kube.kubectl("get", "secret", f"{tenant}-api-credentials", "-o", "json", check=False)
        return json.loads(found.stdout)["data"] if found.returncode == 0 else None

    data = await eventually(credentials, timeout_s=30, what="the tenant's credentials Secret")
    admin, interaction = (base64.b64decode(data[k]).decode() for k in ("admin", "interaction"))

    async def queues():
        return len(await store.get_queue_configs(tenant)) == 3

    await eventually(queues, timeout_s=30, what="queues in etcd")
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", site="site-a")
    async with grpc.aio.insecure_channel(node.address) as channel:
        await admin_pb2_grpc.AdminServiceStub(channel).CreateAgent(
            admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice", site="site-a", skills={"support": 5})),
            metadata=bearer(admin),
        )
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        await agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=bearer(admin))
        await agents.SetState(
            agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=bearer(admin)
        )
        call = await interaction_pb2_grpc.InteractionServiceStub(channel).Enqueue(
            interaction_pb2.EnqueueRequest(
                queue="support", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550199")
            ),
            metadata=bearer(interaction),
        )

        async def offered():
            return (await store.load_live(tenant)).reservations.get(call.id)

        offer = await eventually(offered, timeout_s=15, what="the call offered to alice")
        assert offer.agent_id == "alice"
        accepted = await agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=call.id), metadata=bearer(admin)
        )
        assert accepted.state == common_pb2.INTERACTION_STATE_CONNECTED


async def test_an_operator_restarted_mid_reconcile_converges_to_the_same_state(kube, store, operator_env):
    tenant = f"restart-{secrets.token_hex(3)}"
    documents = examples_for_tenant(tenant)

    async def tenant_written():
        return await store.get_tenant_config(tenant) is not None

    with run_operator(kube) as first:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
        await eventually(tenant_written, timeout_s=30, what="the first operator to start reconciling")
    # stopped mid-way: the queues may or may not be written, the children may be half there
    assert first.exception is None, first.output

    async def snapshot():
        return {
            "tenant": await store.get_tenant_config(tenant),
            "queues": await store.get_queue_configs(tenant),
            "trunks": await store.get_trunk_configs(tenant),
            "secret": kube.get("secret", f"{tenant}-api-credentials")["data"],
            "statefulsets": sorted(
                (s["metadata"]["name"], s["metadata"]["generation"])
                for s in json.loads(kube.kubectl("get", "statefulsets", "-o", "json").stdout)["items"]
                if s["metadata"]["name"].startswith(f"acd-{tenant}-")
            ),
        }

    async def all_ready():
        for kind, name in [("tenant", tenant), ("queue", "sales"), ("queue", "support"), ("queue", "general"),
                           ("trunk", "acme-main"), ("trunk", "acme-west")]:
            found = _condition(kube, kind, name, "Ready")
            if not found or found["status"] != "True":
                return False
        return True

    with run_operator(kube) as second:
        await eventually(all_ready, timeout_s=60, what="every resource Ready after the restart")
        converged = await snapshot()
    assert second.exception is None, second.output
    with run_operator(kube) as third:  # resumes every resource again: nothing may change
        await eventually(all_ready, timeout_s=60, what="Ready after a second restart")
        await asyncio.sleep(2)
        again = await snapshot()
    assert third.exception is None, third.output

    desired = parse_documents(documents)
    assert converged["queues"] == desired.queues[tenant] and converged["trunks"] == desired.trunks[tenant]
    assert converged["tenant"] == desired.tenants[tenant]
    assert [name for name, _ in converged["statefulsets"]] == [f"acd-{tenant}-site-a", f"acd-{tenant}-site-b"]
    assert again == converged, "a restart changed the converged state (tokens re-issued or objects re-generated?)"


async def test_deleting_the_tenant_after_its_queues_cleans_etcd_and_its_children(kube, store, operator):
    tenant = f"bye-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(examples_for_tenant(tenant)))

    async def ready():
        found = _condition(kube, "tenant", tenant, "Ready")
        return bool(found and found["status"] == "True") and len(await store.get_queue_configs(tenant)) == 3

    await eventually(ready, timeout_s=30, what="the tenant reconciled")
    kube.kubectl("delete", "tenant", tenant, "--wait=false")

    async def waiting_for_queues():
        found = json.loads(kube.kubectl("get", "tenant", tenant, "-o", "json").stdout)
        return found["metadata"].get("deletionTimestamp") is not None

    await eventually(waiting_for_queues, timeout_s=15, what="the tenant marked for deletion")
    await asyncio.sleep(1)
    assert await store.get_tenant_config(tenant) is not None, "the tenant outlives its queues"
    kube.kubectl("delete", "queues", "--all", "--wait=false")

    async def gone():
        return await store.get_tenant_config(tenant) is None and not await store.get_trunk_configs(tenant)

    await eventually(gone, timeout_s=30, what="tenant and trunk config removed from etcd")
    assert await store.get_queue_configs(tenant) == {}
    assert await store.get_queue_placement(tenant, "support") is None

    async def children_collected():
        found = kube.kubectl("get", "statefulsets,services,secrets,networkpolicies", "-o", "name", check=False).stdout
        return tenant not in found

    await eventually(children_collected, timeout_s=30, what="the tenant's children garbage-collected")
