"""Offer streams and Enqueue admission of a routed tenant served from the node's caches (issue 7):
one watch for all offer streams, each agent gets only its own offers; blocklist and queue changes
made straight in etcd or through the admin API reach Enqueue."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import grpc.aio
import pytest
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state import keys
from ccp_acd.state.store import BlockedCaller
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2

from tests.helpers import eventually

pytestmark = pytest.mark.etcd

AGENTS = ("ann", "bob", "cid")


def enqueue(queue: str = "support", address: str = "+15550100") -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue=queue, channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address=address)
    )


async def _cache_ready(node, tenant: str):
    async def ready():
        cache = node.router.views.cache(tenant)
        return cache if cache is not None and cache.ready.is_set() else None

    return await eventually(ready, what=f"the live cache of {tenant}")


async def test_offer_streams_share_the_nodes_one_watch_and_get_only_their_own_offers(
    node, stubs, make_tenant, monkeypatch
):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=0))
    cache = await _cache_ready(node, t.name)
    watched: list[str] = []
    watch_prefix = node.store.watch_prefix

    def counting(prefix, **kwargs):
        watched.append(prefix)
        return watch_prefix(prefix, **kwargs)

    monkeypatch.setattr(node.store, "watch_prefix", counting)

    tokens, events, streams, readers = {}, {}, [], []
    for agent in AGENTS:
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent)), metadata=t.admin)
        tokens[agent] = await t.agent_token(agent)
        await stubs.agents.Login(agent_pb2.LoginRequest(agent_id=agent), metadata=tokens[agent])
        events[agent] = asyncio.Queue()
        stream = stubs.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent), metadata=tokens[agent])
        streams.append(stream)

        async def pump(stream=stream, queue=events[agent]) -> None:
            async for event in stream:
                queue.put_nowait(event)

        readers.append(asyncio.create_task(pump()))
    try:
        await eventually(
            lambda: _true(cache.offer_subscribers() == len(AGENTS)), what="every stream subscribed"
        )
        for agent in AGENTS:
            await stubs.agents.SetState(
                agent_pb2.SetStateRequest(agent_id=agent, state=common_pb2.AGENT_STATE_AVAILABLE),
                metadata=tokens[agent],
            )
        calls = {}
        for n in range(len(AGENTS)):
            call = await stubs.interactions.Enqueue(enqueue(address=f"+1555010{n}"), metadata=t.interaction)
            calls[call.id] = call

        offers = {}
        for agent in AGENTS:
            offer = await asyncio.wait_for(_next(events[agent], "offer"), timeout=15)
            assert offer.interaction.offered_to == agent
            assert offer.interaction.id in calls
            assert offer.interaction.id not in offers.values()
            sent = calls[offer.interaction.id]
            assert (offer.interaction.queue, offer.interaction.caller.address) == (sent.queue, sent.caller.address)
            assert offer.interaction.channel == common_pb2.CHANNEL_VOICE
            assert offer.expires_at.seconds > time.time()
            offers[agent] = offer.interaction.id
        assert set(offers.values()) == set(calls)

        # The rejecting agent gets its revocation; nobody else hears of it.
        rejecting = AGENTS[0]
        await stubs.agents.RejectOffer(
            agent_pb2.RejectOfferRequest(agent_id=rejecting, interaction_id=offers[rejecting], reason="busy"),
            metadata=tokens[rejecting],
        )
        revoked = await asyncio.wait_for(_next(events[rejecting], "revoked"), timeout=15)
        assert (revoked.interaction_id, revoked.reason) == (offers[rejecting], "rejected")
        await asyncio.sleep(0.3)
        for agent in AGENTS[1:]:
            while not events[agent].empty():
                event = events[agent].get_nowait()
                assert not event.HasField("revoked")
                # Each offer exactly once: no agent is offered its call again.
                assert not (event.HasField("offer") and event.offer.interaction.id == offers[agent])

        # One watch feeds every stream: no stream opened its own.
        assert cache.offer_subscribers() == len(AGENTS)
        assert not [p for p in watched if p.startswith(keys.tenant_prefix(t.name))]
    finally:
        for stream in streams:
            stream.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader
    await eventually(lambda: _true(cache.offer_subscribers() == 0), what="the streams unsubscribed")


async def test_blocklist_entries_reach_enqueue(node, stubs, make_tenant, store):
    t = await make_tenant()
    await _cache_ready(node, t.name)
    await stubs.interactions.Enqueue(enqueue(address="+19005550000"), metadata=t.interaction)  # config cached
    await stubs.admin.AddBlockedCaller(
        admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern="+1900*")), metadata=t.admin
    )
    await _refused(stubs, t, "+19005551234")
    # Written straight to etcd (as another node's admin API would): eventually, within the watch's delivery.
    await store.add_blocked(t.name, BlockedCaller(pattern="spam@example.com"))

    async def blocked() -> bool:
        try:
            await stubs.interactions.Enqueue(enqueue(address="spam@example.com"), metadata=t.interaction)
        except grpc.aio.AioRpcError as e:
            return e.code() is grpc.StatusCode.FAILED_PRECONDITION
        return False

    # Generous: the watch delivers in milliseconds, but CI once took over 5 s while the chaos drills loaded it.
    await eventually(blocked, timeout_s=15, what="the blocklist entry to apply")


async def test_enqueue_to_a_queue_created_a_moment_ago(node, stubs, make_tenant, store):
    t = await make_tenant()
    await _cache_ready(node, t.name)
    await stubs.interactions.Enqueue(enqueue(), metadata=t.interaction)  # the config cache is serving
    await store.put_queue_config(t.name, QueueConfig(name="fresh"))
    call = await stubs.interactions.Enqueue(enqueue(queue="fresh"), metadata=t.interaction)
    assert (call.queue, call.state) == ("fresh", common_pb2.INTERACTION_STATE_QUEUED)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.interactions.Enqueue(enqueue(queue="nowhere"), metadata=t.interaction)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def _refused(stubs, t, address: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.interactions.Enqueue(enqueue(address=address), metadata=t.interaction)
    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def _next(events: asyncio.Queue, field: str):
    while True:
        event = await events.get()
        if event.HasField(field):
            return getattr(event, field)


async def _true(value: bool) -> bool:
    return value
