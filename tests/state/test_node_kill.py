"""Kill -9 the ACD node process that holds an offer: the call goes back to the head of the
queue, the surviving node offers it again, and the agent answers every call in order."""

from __future__ import annotations

import asyncio
import secrets
import time

import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccpapi.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    interaction_pb2,
    interaction_pb2_grpc,
)

from tests.helpers import bearer, eventually, scaled
from tests.state.conftest import seed_tenant

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

LEASE_TTL_S = 2


async def test_killing_the_node_holding_an_offer_returns_the_call_in_order(store, node_processes):
    tenant = f"kill-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=120), agents={})
    nodes = [
        await asyncio.to_thread(node_processes, f"{tenant}-{n}", lease_ttl_s=LEASE_TTL_S)
        for n in ("n1", "n2")
    ]
    admin = await issue_token(store, tenant=tenant, role="admin")
    interaction = await issue_token(store, tenant=tenant, role="interaction")
    agent = await issue_token(store, tenant=tenant, role="agent", agent_id="solo")
    async with grpc.aio.insecure_channel(nodes[0].address) as ch0:
        await admin_pb2_grpc.AdminServiceStub(ch0).CreateAgent(
            admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="solo", site="site-a")),
            metadata=bearer(admin),
        )
        calls = interaction_pb2_grpc.InteractionServiceStub(ch0)
        ids = []
        for n in range(3):
            call = await calls.Enqueue(
                interaction_pb2.EnqueueRequest(
                    queue="q",
                    channel=common_pb2.CHANNEL_VOICE,
                    caller=common_pb2.Caller(address=f"+1555010{n}"),
                ),
                metadata=bearer(interaction),
            )
            ids.append(call.id)
        agents0 = agent_pb2_grpc.AgentServiceStub(ch0)
        await agents0.Login(agent_pb2.LoginRequest(agent_id="solo"), metadata=bearer(agent))
        await agents0.SetState(
            agent_pb2.SetStateRequest(agent_id="solo", state=common_pb2.AGENT_STATE_AVAILABLE),
            metadata=bearer(agent),
        )

    async def reservation(node_ids):
        for r in (await store.load_live(tenant)).reservations.values():
            if r.node_id in node_ids:
                return r
        return None

    ids_by_node = {n.node_id: n for n in nodes}
    first = await eventually(lambda: reservation(ids_by_node), timeout_s=15, what="the first offer")
    assert first.call_id == ids[0], "the head of the queue is offered first"
    holder = ids_by_node[first.node_id]
    survivor = next(n for n in nodes if n is not holder)

    holder.kill()
    killed_at = time.monotonic()
    again = await eventually(
        lambda: reservation({survivor.node_id}), timeout_s=LEASE_TTL_S * 5, what="the survivor's offer"
    )
    handback_s = time.monotonic() - killed_at
    assert again.call_id == ids[0], "the call keeps its place at the head of the line"

    answered = []
    async with grpc.aio.insecure_channel(survivor.address) as ch:
        agents = agent_pb2_grpc.AgentServiceStub(ch)
        for _ in ids:
            offer = await eventually(lambda: reservation({survivor.node_id}), timeout_s=15, what="next offer")
            accepted = await agents.AcceptOffer(
                agent_pb2.AcceptOfferRequest(agent_id="solo", interaction_id=offer.call_id),
                metadata=bearer(agent),
            )
            assert accepted.state == common_pb2.INTERACTION_STATE_CONNECTED
            await agents.Complete(
                agent_pb2.CompleteRequest(agent_id="solo", interaction_id=offer.call_id),
                metadata=bearer(agent),
            )
            answered.append(offer.call_id)
    assert answered == ids
    records = {c.id: c for c in await store.history_since(tenant, 0)}
    assert [records[i].state.value for i in ids] == ["completed"] * 3
    assert all(records[i].agent_id == "solo" for i in ids)
    print(f"offer handed back {handback_s:.2f}s after kill -9 (lease TTL {LEASE_TTL_S}s)")
    # etcd expires a lease within about one TTL of its last keepalive, plus the planner's interval.
    assert handback_s < scaled(LEASE_TTL_S * 3)
