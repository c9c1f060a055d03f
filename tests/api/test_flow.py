"""End to end through the gRPC API with the router running: offers, accept, complete, records, stats;
admission rules (blocklist, idempotency, max queue length); hand-over between sites."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import grpc.aio
import pytest
from ccp_acd.domain.models import Action, ActionKind, Call, QueueConfig
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf.duration_pb2 import Duration

from tests.api.conftest import CLUSTER_TOKEN, bearer
from tests.helpers import eventually

pytestmark = pytest.mark.etcd


def enqueue(queue: str = "support", address: str = "+15550100", **kwargs) -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue=queue, channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address=address), **kwargs
    )


async def test_call_is_offered_accepted_completed_and_counted(stubs, make_tenant):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=0))
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice", display_name="Alice")),
        metadata=t.admin,
    )
    alice = await t.agent_token("alice")
    status = await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
    assert (status.state, status.reason_code, status.site) == (
        common_pb2.AGENT_STATE_BREAK,
        "logged-in",
        "site-a",
    )
    status = await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=alice
    )
    assert status.state == common_pb2.AGENT_STATE_AVAILABLE

    events: asyncio.Queue[agent_pb2.OfferEvent] = asyncio.Queue()
    stream = stubs.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=alice)

    async def pump() -> None:
        async for event in stream:
            events.put_nowait(event)

    reader = asyncio.create_task(pump())
    try:
        call = await stubs.interactions.Enqueue(enqueue(priority=5), metadata=t.interaction)
        assert call.state == common_pb2.INTERACTION_STATE_QUEUED
        assert (call.site, call.queue, call.priority) == ("site-a", "support", 5)

        offer = await asyncio.wait_for(_next_offer(events), timeout=15)
        assert offer.interaction.id == call.id
        assert offer.interaction.offered_to == "alice"
        assert offer.interaction.caller.address == "+15550100"
        assert offer.expires_at.seconds > time.time()

        answered = await stubs.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=call.id), metadata=alice
        )
        assert (answered.state, answered.agent_id) == (common_pb2.INTERACTION_STATE_CONNECTED, "alice")
        busy = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=alice)
        assert busy.state == common_pb2.AGENT_STATE_BUSY
        assert list(busy.active) == [call.id]

        done = await stubs.agents.Complete(
            agent_pb2.CompleteRequest(agent_id="alice", interaction_id=call.id, disposition="resolved"),
            metadata=alice,
        )
        assert done.state == common_pb2.AGENT_STATE_AVAILABLE
        assert list(done.active) == []
    finally:
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    # Accepting is not a revocation: the stream never reported one.
    while not events.empty():
        assert not events.get_nowait().HasField("revoked")

    record = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=call.id), metadata=t.interaction
    )
    assert record.state == common_pb2.INTERACTION_STATE_COMPLETED
    assert record.agent_id == "alice"
    assert record.HasField("answered_at") and record.HasField("ended_at")
    assert (
        record.enqueued_at.ToNanoseconds()
        <= record.answered_at.ToNanoseconds()
        <= record.ended_at.ToNanoseconds()
    )

    stats = await stubs.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="support"), metadata=t.admin)
    assert (stats.queue, stats.offered, stats.answered, stats.abandoned, stats.waiting) == (
        "support",
        1,
        1,
        0,
        0,
    )
    assert stats.agents.logged_in == 1


async def _next_offer(events: asyncio.Queue) -> agent_pb2.Offer:
    while True:
        event = await events.get()
        if event.HasField("offer"):
            return event.offer


async def test_offer_stream_sends_pending_offers_on_open_and_revokes_on_cancel(stubs, make_tenant):
    t = await make_tenant()
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice")), metadata=t.admin
    )
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=t.admin)
    await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=t.admin
    )
    call = await stubs.interactions.Enqueue(enqueue(), metadata=t.interaction)

    async def offered() -> bool:
        got = await stubs.interactions.GetInteraction(
            interaction_pb2.GetInteractionRequest(interaction_id=call.id), metadata=t.interaction
        )
        return got.offered_to == "alice"

    await eventually(offered, timeout_s=15, what="the offer to alice")
    stream = stubs.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=t.admin)
    try:
        first = await asyncio.wait_for(stream.read(), timeout=10)
        assert first.offer.interaction.id == call.id
        cancelled = await stubs.interactions.Cancel(
            interaction_pb2.CancelRequest(interaction_id=call.id, reason="caller-hung-up"),
            metadata=t.interaction,
        )
        assert cancelled.state == common_pb2.INTERACTION_STATE_ABANDONED
        event = await asyncio.wait_for(stream.read(), timeout=10)
        while event.HasField("heartbeat"):
            event = await asyncio.wait_for(stream.read(), timeout=10)
        assert event.revoked.interaction_id == call.id
        assert event.revoked.reason == "caller-hung-up"
    finally:
        stream.cancel()


async def test_blocklisted_caller_is_rejected(stubs, make_tenant):
    t = await make_tenant()
    for pattern in ("+1900*", "spam@example.com"):
        added = await stubs.admin.AddBlockedCaller(
            admin_pb2.AddBlockedCallerRequest(
                blocked=admin_pb2.BlockedCaller(pattern=pattern, reason="abuse")
            ),
            metadata=t.admin,
        )
        assert added.HasField("created_at")
    for address in ("+19005551234", "spam@example.com"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stubs.interactions.Enqueue(enqueue(address=address), metadata=t.interaction)
        assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        # The number is not repeated: status messages end up in traces and logs.
        assert raised.value.details() == "caller.address: the caller is on the tenant's blocklist"
    allowed = await stubs.interactions.Enqueue(enqueue(address="+18005551234"), metadata=t.interaction)
    assert allowed.state == common_pb2.INTERACTION_STATE_QUEUED

    await stubs.admin.RemoveBlockedCaller(
        admin_pb2.RemoveBlockedCallerRequest(pattern="+1900*"), metadata=t.admin
    )
    again = await stubs.interactions.Enqueue(enqueue(address="+19005551234"), metadata=t.interaction)
    assert again.state == common_pb2.INTERACTION_STATE_QUEUED
    listed = await stubs.admin.ListBlockedCallers(admin_pb2.ListBlockedCallersRequest(), metadata=t.admin)
    assert [b.pattern for b in listed.blocked] == ["spam@example.com"]


async def test_enqueue_is_idempotent_on_request_id(stubs, make_tenant):
    t = await make_tenant()
    first = await stubs.interactions.Enqueue(enqueue(request_id="pbx:call-1"), metadata=t.interaction)
    retried = await stubs.interactions.Enqueue(enqueue(request_id="pbx:call-1"), metadata=t.interaction)
    other = await stubs.interactions.Enqueue(enqueue(request_id="pbx:call-2"), metadata=t.interaction)
    assert retried.id == first.id
    assert other.id != first.id
    assert other.id > first.id  # ids sort by arrival
    stats = await stubs.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="support"), metadata=t.admin)
    assert stats.waiting == 2
    position = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=other.id), metadata=t.interaction
    )
    assert position.position == 2


async def test_full_queue_applies_its_max_length_action(stubs, make_tenant):
    t = await make_tenant(
        QueueConfig(name="wait", max_length=1),
        QueueConfig(
            name="spill", max_length=1, on_max_length=Action(kind=ActionKind.QUEUE, target_queue="overflow")
        ),
        QueueConfig(name="overflow"),
        QueueConfig(name="call-me", max_length=1, on_max_length=Action(kind=ActionKind.CALLBACK)),
        QueueConfig(name="vm", max_length=1, on_max_length=Action(kind=ActionKind.VOICEMAIL)),
    )
    for queue in ("wait", "spill", "call-me", "vm"):
        first = await stubs.interactions.Enqueue(enqueue(queue=queue), metadata=t.interaction)
        assert first.state == common_pb2.INTERACTION_STATE_QUEUED

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.interactions.Enqueue(enqueue(queue="wait"), metadata=t.interaction)
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.details() == "queue 'wait' is full (max_length 1)"

    spilled = await stubs.interactions.Enqueue(enqueue(queue="spill"), metadata=t.interaction)
    assert (spilled.queue, list(spilled.route_history)) == ("overflow", ["spill"])
    assert spilled.reason.startswith("max-length 1 in spill")

    callback = await stubs.interactions.Enqueue(enqueue(queue="call-me"), metadata=t.interaction)
    assert (callback.queue, callback.channel) == ("call-me", common_pb2.CHANNEL_CALLBACK)

    voicemail = await stubs.interactions.Enqueue(enqueue(queue="vm"), metadata=t.interaction)
    assert voicemail.state == common_pb2.INTERACTION_STATE_VOICEMAIL
    assert voicemail.reason == "max-length 1 in vm: voicemail"


async def test_cancel_ends_a_queued_call_as_abandoned_and_is_repeatable(stubs, make_tenant):
    t = await make_tenant()
    call = await stubs.interactions.Enqueue(enqueue(), metadata=t.interaction)
    for _ in range(2):
        ended = await stubs.interactions.Cancel(
            interaction_pb2.CancelRequest(interaction_id=call.id), metadata=t.interaction
        )
        assert ended.state == common_pb2.INTERACTION_STATE_ABANDONED
        assert ended.HasField("ended_at")
    stats = await stubs.admin.GetQueueStats(
        admin_pb2.GetQueueStatsRequest(queue="support", window=Duration(seconds=60)), metadata=t.admin
    )
    assert (stats.offered, stats.abandoned, stats.waiting) == (1, 1, 0)


async def test_hand_over_adopts_a_waiting_call_from_the_named_site_only(stubs, make_tenant, store):
    t = await make_tenant()
    now = time.time()
    call_id = f"{time.time_ns():020d}-0000beef"
    await store.enqueue(
        t.name, Call(id=call_id, queue="support", site="site-b", enqueued_at=now - 30, queued_since=now - 30)
    )
    cluster = bearer(CLUSTER_TOKEN)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.sites.HandOverCall(
            site_pb2.HandOverCallRequest(tenant=t.name, interaction_id=call_id, from_site="site-c"),
            metadata=cluster,
        )
    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details().startswith("from_site:")

    moved = await stubs.sites.HandOverCall(
        site_pb2.HandOverCallRequest(tenant=t.name, interaction_id=call_id, from_site="site-b"),
        metadata=cluster,
    )
    assert (moved.site, moved.adopted) == ("site-a", True)
    record = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=call_id), metadata=t.interaction
    )
    assert record.site == "site-a"
    assert record.enqueued_at.ToNanoseconds() == int(round((now - 30) * 1e9))
    assert (await store.get_call(t.name, call_id)).visited_sites == ("site-b",), "overflow must never send it back"

    snapshot = await stubs.sites.GetSnapshot(site_pb2.GetSnapshotRequest(), metadata=cluster)
    mine = [q for q in snapshot.queues if q.tenant == t.name]
    assert [(q.queue, q.waiting, q.agents_staffed) for q in mine] == [("support", 1, 0)]
