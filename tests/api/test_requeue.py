"""InteractionService.Requeue on a real node: a connected call whose agent leg never came up goes back to its
queue as the same interaction, in its place, its agent on a no-answer break; one record, answered once."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from ccp_acd.domain.models import Presence, QueueConfig
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2

from tests.api.test_voice_api import AGENT, ALICE_PHONE, CONNECTED, QUEUED, Watch, agent, call, offered

pytestmark = pytest.mark.etcd

COMPLETED = common_pb2.INTERACTION_STATE_COMPLETED


def requeue(call_id: str, reason: str = "agent-leg-486", request_id: str = "") -> interaction_pb2.RequeueRequest:
    return interaction_pb2.RequeueRequest(interaction_id=call_id, reason=reason, request_id=request_id)


async def accepted(stubs, t, agent_id: str, call_id: str) -> common_pb2.Interaction:
    assert await offered(stubs, t, call_id) == agent_id
    return await stubs.agents.AcceptOffer(
        agent_pb2.AcceptOfferRequest(agent_id=agent_id, interaction_id=call_id), metadata=t.admin
    )


async def test_a_requeued_call_keeps_its_id_and_place_its_agent_breaks_and_the_next_agent_answers_it_once(
        stubs, make_tenant):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=60))
    first = await stubs.interactions.Enqueue(call("+15550101"), metadata=t.interaction)
    await agent(stubs, t, sip_uri=ALICE_PHONE)
    assert (await accepted(stubs, t, "alice", first.id)).state == CONNECTED
    second = await stubs.interactions.Enqueue(call("+15550102"), metadata=t.interaction)  # waits: alice is busy

    back = await stubs.interactions.Requeue(requeue(first.id, request_id="leg-r1"), metadata=t.interaction)
    assert (back.id, back.state, back.agent_id, back.agent_sip_uri, back.reason) == (
        first.id, QUEUED, "", "", "agent-leg-486")
    assert back.enqueued_at == first.enqueued_at and not back.HasField("answered_at")
    assert back.position == 1  # ahead of the later caller: it kept its place by age
    last = back.timeline[-1]
    assert (last.kind, last.detail, last.agent_id) == ("requeued", "agent-leg-486", "alice")
    alice = await t.store.get_agent(t.name, "alice")
    assert (alice.presence, alice.reason_code, alice.calls_handled, alice.talk_time_s) == (
        Presence.BREAK, "no-answer", 0, 0.0)  # not wrap-up, and no talk counted
    status = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=t.admin)
    assert (status.state, status.reason_code) == (common_pb2.AGENT_STATE_BREAK, "no-answer")

    retry = await stubs.interactions.Requeue(requeue(first.id, request_id="leg-r1"), metadata=t.interaction)
    assert (retry.id, retry.state) == (first.id, QUEUED)  # idempotent: the same answer, no second event
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.interactions.Requeue(requeue(first.id), metadata=t.interaction)  # no request id: not a retry
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "only a connected interaction is requeued" in refused.value.details()

    await agent(stubs, t, "bob")
    assert (await accepted(stubs, t, "bob", first.id)).state == CONNECTED  # the first caller, not the second
    ended = await stubs.interactions.Hangup(
        interaction_pb2.HangupRequest(interaction_id=first.id, party=AGENT), metadata=t.interaction
    )
    assert (ended.state, ended.agent_id) == (COMPLETED, "bob")
    record = await stubs.admin.GetCallRecord(admin_pb2.GetCallRecordRequest(interaction_id=first.id), metadata=t.admin)
    assert [(e.kind, e.agent_id) for e in record.timeline if e.agent_id] == [
        ("offered", "alice"), ("accepted", "alice"), ("requeued", "alice"), ("offered", "bob"), ("accepted", "bob"),
        ("hung-up", "bob"),
    ]
    assert [e.kind for e in record.timeline].count("requeued") == 1
    bob, alice = await t.store.get_agent(t.name, "bob"), await t.store.get_agent(t.name, "alice")
    assert (bob.calls_handled, alice.calls_handled) == (1, 0)

    stats = await stubs.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="support"), metadata=t.admin)
    assert (stats.offered, stats.answered, stats.waiting) == (1, 1, 1)  # one record, answered once (by bob)
    history = await stubs.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address="+15550101"),
                                                 metadata=t.admin)
    assert [c.id for c in history.calls] == [first.id]
    after = await stubs.interactions.Requeue(requeue(first.id, request_id="leg-r1"), metadata=t.interaction)
    assert after.state == COMPLETED  # a late retry: the call as it is now
    with pytest.raises(grpc.aio.AioRpcError) as ended_refused:
        await stubs.interactions.Requeue(requeue(first.id, request_id="leg-r2"), metadata=t.interaction)
    assert ended_refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert second.id != first.id


async def test_the_watch_shows_a_requeued_call_queued_again(stubs, make_tenant):
    t = await make_tenant(QueueConfig(name="support"))
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)
    watch = Watch(stubs, t, placed.id)
    try:
        await agent(stubs, t, sip_uri=ALICE_PHONE)
        await accepted(stubs, t, "alice", placed.id)
        connected = await watch.until(lambda m: m.state == CONNECTED, "the connection")
        assert connected.agent_sip_uri == ALICE_PHONE
        await stubs.interactions.Requeue(requeue(placed.id, "agent-no-answer"), metadata=t.interaction)
        again = await watch.until(lambda m: m.state != CONNECTED, "the requeue")
        assert (again.id, again.state, again.agent_id, again.agent_sip_uri) == (placed.id, QUEUED, "", "")
        assert again.timeline[-1].kind == "requeued"
    finally:
        watch.cancel()


@pytest.mark.parametrize(
    ("request_message", "code", "text"),
    [
        (interaction_pb2.RequeueRequest(interaction_id="x"), "INVALID_ARGUMENT", "reason: is required"),
        (requeue("x", reason="Agent busy!"), "INVALID_ARGUMENT", "reason: 'Agent busy!' is not a reason code"),
        (requeue("x", request_id="a/b"), "INVALID_ARGUMENT", "request_id: 'a/b' is not a valid request id"),
        (requeue("00000000000000000000-00000000"), "NOT_FOUND", "not found"),
    ],
)
async def test_requeue_requests_are_validated_precisely(stubs, make_tenant, request_message, code, text):
    t = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.interactions.Requeue(request_message, metadata=t.interaction)
    assert (refused.value.code().name, text in refused.value.details()) == (code, True), refused.value.details()


async def test_a_waiting_call_cannot_be_requeued(stubs, make_tenant):
    t = await make_tenant()
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.interactions.Requeue(requeue(placed.id, request_id="r1"), metadata=t.interaction)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "is queued" in refused.value.details()
