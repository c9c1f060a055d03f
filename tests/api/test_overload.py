"""Overload protection (api/overload.py) against a real node: a tenant's enqueue rate and waiting cap, the
message size limit, load shedding that never refuses the work of calls already queued, and the bound on
handler time. The node-wide flood is tests/security/test_flood.py."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.api.interactions import new_call_id
from ccp_acd.api.overload import MAX_WAITING, RATE, Overload, OverloadInterceptor, Shedder, shed_reason
from ccp_acd.domain.models import Call, Caller, CallState, Channel, Presence, QueueConfig
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig, TenantLimits
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc

from tests.helpers import bearer, eventually

pytestmark = pytest.mark.etcd

SITE = "site-a"
CALLER = "+15550100"


@pytest.fixture
async def start(etcd_server) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    """Start a node with settings overridden (``start(shed_max_in_flight=0)``); all stopped after the test."""
    nodes: list[Node] = []

    async def start(**overrides) -> Node:
        settings = NodeSettings(
            site=SITE, node_id=f"ovl-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0",
            etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1, **overrides,
        )
        nodes.append(await start_node(settings))
        return nodes[-1]

    yield start
    for node in nodes:
        await node.stop(grace_s=0.5)


async def _tenant(store: EtcdStore, limits: TenantLimits | None = None) -> tuple[str, tuple]:
    """A tenant with one queue, its limits written before any node reads them; its interaction token."""
    name = f"ovl-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=name, home_site=SITE, limits=limits or TenantLimits()))
    await store.put_queue_config(name, QueueConfig(name="support"))
    return name, bearer(await issue_token(store, tenant=name, role="interaction"))


def _enqueue(**kwargs) -> interaction_pb2.EnqueueRequest:
    caller = common_pb2.Caller(address=CALLER, data=kwargs.pop("data", {}))
    return interaction_pb2.EnqueueRequest(queue="support", channel=common_pb2.CHANNEL_VOICE, caller=caller, **kwargs)


@contextlib.asynccontextmanager
async def _interactions(node: Node) -> AsyncIterator[interaction_pb2_grpc.InteractionServiceStub]:
    async with grpc.aio.insecure_channel(node.address) as channel:
        yield interaction_pb2_grpc.InteractionServiceStub(channel)


async def test_a_tenant_past_its_burst_is_refused_until_its_bucket_refills_and_its_neighbour_is_not(start, store):
    node = await start()
    flooder, token = await _tenant(store, TenantLimits(enqueue_per_s=0.5, burst=3))
    neighbour, neighbour_token = await _tenant(store)
    async with _interactions(node) as stub:
        for _ in range(3):
            await stub.Enqueue(_enqueue(), metadata=token, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Enqueue(_enqueue(), metadata=token, timeout=10)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.details() == f"tenant {flooder!r} exceeds its enqueue rate of 0.5/s; retry later"
        assert CALLER not in refused.value.details()
        # The neighbour has its own bucket (the node's default rate).
        await stub.Enqueue(_enqueue(), metadata=neighbour_token, timeout=10)

        async def admitted() -> bool:
            with contextlib.suppress(grpc.aio.AioRpcError):
                return bool(await stub.Enqueue(_enqueue(), metadata=token, timeout=10))
            return False

        # One token comes back every 2 s.
        await eventually(admitted, timeout_s=10, interval_s=0.25, what="a token of the flooder's bucket to refill")


async def test_a_tenant_at_its_max_waiting_is_refused_until_a_call_leaves(start, store):
    node = await start()
    tenant, token = await _tenant(store, TenantLimits(max_waiting=2))
    async with _interactions(node) as stub:
        first = await stub.Enqueue(_enqueue(request_id="r-1"), metadata=token, timeout=10)
        await stub.Enqueue(_enqueue(), metadata=token, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Enqueue(_enqueue(), metadata=token, timeout=10)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.details() == f"tenant {tenant!r} already has 2 calls waiting (its maxWaiting is 2)"
        # A retried Enqueue of a call already waiting is answered with that call, not refused.
        again = await stub.Enqueue(_enqueue(request_id="r-1"), metadata=token, timeout=10)
        assert again.id == first.id
        await stub.Cancel(interaction_pb2.CancelRequest(interaction_id=first.id), metadata=token, timeout=10)
        third = await stub.Enqueue(_enqueue(), metadata=token, timeout=10)
        assert third.state == common_pb2.INTERACTION_STATE_QUEUED


async def test_refusals_are_counted_by_tenant_and_reason(settings_for_unit):
    refusals: list[tuple[str, str]] = []
    overload = Overload(settings_for_unit, refused=lambda tenant, reason: refusals.append((tenant, reason)))
    limits = await overload.admit_enqueue("t1", TenantLimits(enqueue_per_s=1.0, burst=1, max_waiting=1))
    with pytest.raises(Exception, match="exceeds its enqueue rate of 1/s"):
        await overload.admit_enqueue("t1", TenantLimits(enqueue_per_s=1.0, burst=1, max_waiting=1))
    with pytest.raises(Exception, match="maxWaiting is 1"):
        overload.check_waiting("t1", waiting=1, limits=limits)
    overload.check_waiting("t1", waiting=0, limits=limits)
    assert refusals == [("t1", RATE), ("t1", MAX_WAITING)]


@pytest.fixture
def settings_for_unit() -> NodeSettings:
    return NodeSettings(site=SITE, node_id="unit")


async def test_a_message_over_the_size_limit_is_refused_by_grpc_and_the_node_keeps_serving(start, store):
    node = await start(grpc_max_receive_bytes=64 * 1024)
    _, token = await _tenant(store)
    async with _interactions(node) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Enqueue(_enqueue(data={"blob": "x" * (65 * 1024)}), metadata=token, timeout=10)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in refused.value.details()
        assert (await stub.Enqueue(_enqueue(), metadata=token, timeout=10)).state == common_pb2.INTERACTION_STATE_QUEUED


async def test_a_saturated_node_sheds_new_work_but_serves_every_call_already_queued(start, store):
    """Saturation is driven deterministically: ``shed_max_in_flight=0`` makes the node shed every new-work RPC
    (Enqueue, Login) from the start. The calls were queued and the agent logged in before (written through the
    store), and everything that serves them must still answer: SetState, StreamOffers, AcceptOffer, Complete,
    Cancel, GetInteraction."""
    node = await start(shed_max_in_flight=0)
    tenant, token = await _tenant(store)
    now = time.time()
    await store.create_agent(tenant, "alice", AgentProfile(capacity={Channel.VOICE: 1}, site=SITE), now=now)
    await store.set_presence(tenant, "alice", Presence.BREAK, reason_code="logged-in", now=now)
    alice = bearer(await issue_token(store, tenant=tenant, role="agent", agent_id="alice"))
    queued = []
    for _ in range(2):
        call = Call(id=new_call_id(), queue="support", channel=Channel.VOICE, caller=Caller(address=CALLER),
                    site=SITE, state=CallState.QUEUED, enqueued_at=now, queued_since=now)
        queued.append((await store.enqueue(tenant, call))[0])

    async with grpc.aio.insecure_channel(node.address) as channel:
        calls = interaction_pb2_grpc.InteractionServiceStub(channel)
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        for refused_rpc in (
            calls.Enqueue(_enqueue(), metadata=token, timeout=10),
            agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice, timeout=10),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as shed:
                await refused_rpc
            assert shed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert shed.value.details().startswith("the node is overloaded and sheds new work")

        await calls.Cancel(interaction_pb2.CancelRequest(interaction_id=queued[1].id), metadata=token, timeout=10)
        await agents.SetState(
            agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=alice,
            timeout=10,
        )
        stream = agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=alice)
        try:
            async with asyncio.timeout(15):
                offer = None
                async for event in stream:
                    if event.HasField("offer"):
                        offer = event.offer
                        break
        finally:
            stream.cancel()
        assert offer is not None and offer.interaction.id == queued[0].id
        accept = agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=queued[0].id)
        assert (await agents.AcceptOffer(accept, metadata=alice, timeout=10)).state == (
            common_pb2.INTERACTION_STATE_CONNECTED
        )
        await agents.Complete(
            agent_pb2.CompleteRequest(agent_id="alice", interaction_id=queued[0].id, disposition="done"),
            metadata=alice, timeout=10,
        )
        states = [
            (await calls.GetInteraction(
                interaction_pb2.GetInteractionRequest(interaction_id=c.id), metadata=token, timeout=10
            )).state
            for c in queued
        ]
    assert states == [common_pb2.INTERACTION_STATE_COMPLETED, common_pb2.INTERACTION_STATE_ABANDONED]


def test_the_node_sheds_on_either_bound_and_names_the_one_it_is_past():
    assert shed_reason(in_flight=3, lag_s=0.1, max_in_flight=4, max_lag_s=0.5) is None
    assert "4 new-work requests in progress" in shed_reason(in_flight=4, lag_s=0.0, max_in_flight=4, max_lag_s=0.5)
    assert "0.60 s late" in shed_reason(in_flight=0, lag_s=0.6, max_in_flight=4, max_lag_s=0.5)


async def test_the_lag_monitor_sees_a_blocked_event_loop():
    shedder = Shedder(max_in_flight=100, max_lag_s=0.2)
    monitor = asyncio.create_task(shedder.monitor(interval_s=0.05))
    try:
        async def ticked() -> bool:
            return shedder.ticks >= 1

        await eventually(ticked, timeout_s=2, interval_s=0.01, what="a first tick of the monitor")
        assert shedder.reason() is None
        time.sleep(0.4)  # the stimulus: a handler that blocks the loop (not a synchronisation)

        async def late() -> bool:
            return shedder.reason() is not None

        await eventually(late, timeout_s=2, interval_s=0.01, what="the monitor to measure the stall")
        assert "s late" in shedder.reason()
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor


async def test_a_stuck_handler_is_cancelled_with_deadline_exceeded():
    """A real gRPC server with the node's interceptor and a handler that never finishes; the client sets no
    deadline, so only the server's bound can end the call."""
    never = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            await never.wait()
        finally:
            cancelled.set()
        return b""

    server = grpc.aio.server(
        interceptors=[OverloadInterceptor(Shedder(max_in_flight=10, max_lag_s=1.0), max_handler_s=0.3,
                                          refused=lambda tenant, reason: None)]
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Stuck", {
        "Hang": grpc.unary_unary_rpc_method_handler(hang),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as stuck:
                await channel.unary_unary("/test.Stuck/Hang")(b"")
        assert stuck.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert stuck.value.details() == "the node did not finish the request within its 0.3 s limit"
        assert cancelled.is_set()
    finally:
        await server.stop(0)
