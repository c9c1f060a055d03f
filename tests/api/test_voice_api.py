"""The voice side of the API on a real node: call records with timelines, WatchInteraction, Hangup,
LeaveVoicemail, RequestCallback, GetCallRecord, agents' SIP URIs, and their validation."""

from __future__ import annotations

import asyncio
import secrets
import time

import grpc
import grpc.aio
import pytest
from ccp_acd.domain.models import Action, ActionKind, QueueConfig
from ccp_acd.server import start_node
from ccp_acd.settings import NodeSettings
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, interaction_pb2_grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import SecretStr

from tests.api.conftest import CLUSTER_TOKEN, SITE
from tests.helpers import eventually, scaled

pytestmark = pytest.mark.etcd

ALICE_PHONE = "sip:alice@127.0.0.1:5099"
QUEUED, CONNECTED = common_pb2.INTERACTION_STATE_QUEUED, common_pb2.INTERACTION_STATE_CONNECTED
COMPLETED, VOICEMAIL = common_pb2.INTERACTION_STATE_COMPLETED, common_pb2.INTERACTION_STATE_VOICEMAIL
CALLER, AGENT = interaction_pb2.HANGUP_PARTY_CALLER, interaction_pb2.HANGUP_PARTY_AGENT


def ts(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def call(address: str = "+15550100", **kwargs) -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue="support", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address=address), **kwargs
    )


async def agent(stubs, t, agent_id: str = "alice", *, available: bool = True, **fields):
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id, **fields)), metadata=t.admin
    )
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=t.admin)
    if available:
        await available_now(stubs, t, agent_id)


async def available_now(stubs, t, agent_id: str) -> None:
    await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE), metadata=t.admin
    )


async def offered(stubs, t, call_id: str) -> str:
    async def to() -> str:
        seen = await stubs.interactions.GetInteraction(
            interaction_pb2.GetInteractionRequest(interaction_id=call_id), metadata=t.interaction
        )
        return seen.offered_to

    return await eventually(to, what=f"an offer of {call_id}")


class Watch:
    """A WatchInteraction stream read into a queue in the background."""

    def __init__(self, stubs, t, call_id: str):
        self.stream = stubs.interactions.WatchInteraction(
            interaction_pb2.WatchInteractionRequest(interaction_id=call_id), metadata=t.interaction
        )
        self.messages: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for message in self.stream:
            self.messages.put_nowait(message)
        self.messages.put_nowait(None)  # closed OK

    async def until(self, predicate, what: str) -> common_pb2.Interaction:
        async with asyncio.timeout(scaled(15)):
            while True:
                message = await self.messages.get()
                assert message is not None, f"the stream closed before {what}"
                if predicate(message):
                    return message

    async def closed(self) -> None:
        async with asyncio.timeout(scaled(10)):
            while (await self.messages.get()) is not None:
                pass
        await self.task

    def cancel(self) -> None:
        self.stream.cancel()
        self.task.cancel()


async def test_enqueue_with_trunk_ivr_and_arrival_gives_a_call_record_with_its_timeline(stubs, make_tenant):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=60))
    now = time.time()
    placed = await stubs.interactions.Enqueue(
        call(trunk="main", arrived_at=ts(now - 8), ivr=[
            interaction_pb2.IvrStep(menu="language", digits="1", at=ts(now - 6)),
            interaction_pb2.IvrStep(menu="topic", digits="", at=ts(now - 2)),
        ]),
        metadata=t.interaction,
    )
    assert placed.trunk == "main"
    record = await stubs.admin.GetCallRecord(admin_pb2.GetCallRecordRequest(interaction_id=placed.id), metadata=t.admin)
    assert [(e.kind, e.detail) for e in record.timeline] == [
        ("arrived", "trunk main"), ("ivr", "language: 1"), ("ivr", "topic: (no answer)"), ("queued", "voice in support"),
    ]
    assert [e.at.ToNanoseconds() for e in record.timeline] == sorted(e.at.ToNanoseconds() for e in record.timeline)
    assert all("+1555" not in e.detail for e in record.timeline)

    await agent(stubs, t, sip_uri=ALICE_PHONE)
    assert await offered(stubs, t, placed.id) == "alice"
    accepted = await stubs.agents.AcceptOffer(
        agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=placed.id), metadata=t.admin
    )
    assert (accepted.state, accepted.agent_sip_uri) == (CONNECTED, ALICE_PHONE)  # the desk sees the phone dialled
    connected = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=placed.id), metadata=t.interaction
    )
    assert (connected.state, connected.agent_sip_uri) == (CONNECTED, ALICE_PHONE)
    ended = await stubs.interactions.Hangup(
        interaction_pb2.HangupRequest(interaction_id=placed.id, party=AGENT), metadata=t.interaction
    )
    assert (ended.state, ended.reason) == (COMPLETED, "agent hung up")
    record = await stubs.admin.GetCallRecord(admin_pb2.GetCallRecordRequest(interaction_id=placed.id), metadata=t.admin)
    kinds = [e.kind for e in record.timeline]
    assert kinds == ["arrived", "ivr", "ivr", "queued", "offered", "accepted", "hung-up"]
    assert [e.agent_id for e in record.timeline[-3:]] == ["alice"] * 3
    assert record.agent_sip_uri == ""  # only while connected
    status = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=t.admin)
    assert status.state == common_pb2.AGENT_STATE_WRAP_UP


async def test_watch_sees_queued_offered_connected_and_completed_after_the_caller_hangs_up(stubs, make_tenant, node):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=60))
    await agent(stubs, t, sip_uri=ALICE_PHONE, available=False)
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)
    watch = Watch(stubs, t, placed.id)
    try:
        first = await watch.until(lambda m: True, "the first message")
        assert (first.id, first.state, first.offered_to, first.position) == (placed.id, QUEUED, "", 1)
        await available_now(stubs, t, "alice")
        offer = await watch.until(lambda m: m.offered_to, "the offer")
        assert (offer.state, offer.offered_to) == (QUEUED, "alice")
        await stubs.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=placed.id), metadata=t.admin
        )
        connected = await watch.until(lambda m: m.state != QUEUED, "the connection")
        assert (connected.state, connected.agent_id, connected.agent_sip_uri) == (CONNECTED, "alice", ALICE_PHONE)
        assert [e.kind for e in connected.timeline][-2:] == ["offered", "accepted"]
        hung_up = await stubs.interactions.Hangup(
            interaction_pb2.HangupRequest(interaction_id=placed.id, party=CALLER), metadata=t.interaction
        )
        assert (hung_up.state, hung_up.reason) == (COMPLETED, "caller hung up")
        last = await watch.until(lambda m: m.state != CONNECTED, "the end")
        assert (last.state, last.timeline[-1].kind, last.timeline[-1].detail) == (COMPLETED, "hung-up", "caller hung up")
        await watch.closed()
    finally:
        watch.cancel()
    status = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=t.admin)
    assert status.state == common_pb2.AGENT_STATE_WRAP_UP
    again = await stubs.interactions.Hangup(
        interaction_pb2.HangupRequest(interaction_id=placed.id, party=AGENT), metadata=t.interaction
    )
    assert (again.state, again.reason) == (COMPLETED, "caller hung up")  # idempotent: the first hang-up stands
    assert await eventually(lambda: _unsubscribed(node, t.name), what="the watch's subscription released")


async def _unsubscribed(node, tenant: str) -> bool:
    cache = node.router.views.cache(tenant)
    return cache is not None and cache.call_subscribers() == 0


async def test_a_client_going_away_releases_its_watch(stubs, make_tenant, node):
    t = await make_tenant()
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)

    async def routed():
        return node.router.views.cache(t.name)

    cache = await eventually(routed, what="the router serving the tenant")
    watch = Watch(stubs, t, placed.id)
    await watch.until(lambda m: True, "the first message")
    assert cache.call_subscribers() == 1
    watch.cancel()
    assert await eventually(lambda: _unsubscribed(node, t.name), what="the watch's subscription released")


async def test_hangup_of_a_waiting_call_says_use_cancel(stubs, make_tenant):
    t = await make_tenant()
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.interactions.Hangup(
            interaction_pb2.HangupRequest(interaction_id=placed.id, party=CALLER), metadata=t.interaction
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "use Cancel" in refused.value.details()


async def test_a_voicemail_left_is_queued_in_the_callers_place_and_offered_with_its_recording(stubs, make_tenant):
    t = await make_tenant(QueueConfig(name="support", wrap_up_s=0))
    placed = await stubs.interactions.Enqueue(call(trunk="main"), metadata=t.interaction)
    request = interaction_pb2.LeaveVoicemailRequest(
        interaction_id=placed.id, recording_id="rec-0001", duration=Duration(seconds=12), request_id="vm-1"
    )
    item = await stubs.interactions.LeaveVoicemail(request, metadata=t.interaction)
    assert (item.channel, item.state, item.queue, item.recording_id, item.trunk) == (
        common_pb2.CHANNEL_VOICEMAIL, QUEUED, "support", "rec-0001", "main"
    )
    assert item.enqueued_at == placed.enqueued_at  # the caller's arrival: not penalised for recording
    assert item.id != placed.id
    assert (await stubs.interactions.LeaveVoicemail(request, metadata=t.interaction)).id == item.id  # a retry
    original = await stubs.admin.GetCallRecord(admin_pb2.GetCallRecordRequest(interaction_id=placed.id), metadata=t.admin)
    assert (original.state, original.recording_id, original.timeline[-1].kind) == (VOICEMAIL, "rec-0001", "voicemail")
    assert item.id in original.timeline[-1].detail

    await agent(stubs, t)  # default capacity: one voice call, and one voicemail (routing.DEFAULT_VOICEMAIL_CAPACITY)
    assert await offered(stubs, t, item.id) == "alice"
    taken = await stubs.agents.AcceptOffer(
        agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=item.id), metadata=t.admin
    )
    assert (taken.state, taken.channel, taken.recording_id) == (CONNECTED, common_pb2.CHANNEL_VOICEMAIL, "rec-0001")
    assert taken.agent_sip_uri == ""  # an agent without a phone


async def test_a_callback_request_keeps_the_callers_place(stubs, make_tenant):
    t = await make_tenant()
    first = await stubs.interactions.Enqueue(call("+15550101"), metadata=t.interaction)
    second = await stubs.interactions.Enqueue(call("+15550102"), metadata=t.interaction)
    callback = await stubs.interactions.RequestCallback(
        interaction_pb2.RequestCallbackRequest(interaction_id=first.id, number="+15550199"), metadata=t.interaction
    )
    assert (callback.channel, callback.state, callback.position) == (common_pb2.CHANNEL_CALLBACK, QUEUED, 1)
    assert callback.caller.data["callback_number"] == "+15550199"
    assert callback.enqueued_at == first.enqueued_at
    assert callback.timeline[-1].kind == "callback-requested"
    assert "+1555" not in callback.timeline[-1].detail
    later = await stubs.interactions.Enqueue(call("+15550103"), metadata=t.interaction)
    assert later.position == 3
    await agent(stubs, t)
    assert await offered(stubs, t, first.id) == "alice"  # the callback is served first
    still = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=second.id), metadata=t.interaction
    )
    assert still.offered_to == ""


async def test_queue_policy_voicemail_is_seen_on_the_watch_and_takes_the_recording(stubs, make_tenant, node):
    t = await make_tenant(QueueConfig(name="support", on_no_agents=Action(ActionKind.VOICEMAIL)))
    placed = await stubs.interactions.Enqueue(call(), metadata=t.interaction)
    watch = Watch(stubs, t, placed.id)
    try:
        routed = await watch.until(lambda m: m.state == VOICEMAIL, "voicemail by queue policy")
        assert routed.timeline[-1].kind == "voicemail"
        await watch.closed()
    finally:
        watch.cancel()
    item = await stubs.interactions.LeaveVoicemail(
        interaction_pb2.LeaveVoicemailRequest(interaction_id=placed.id, recording_id="rec-2", duration=Duration(seconds=3)),
        metadata=t.interaction,
    )
    assert (item.channel, item.recording_id) == (common_pb2.CHANNEL_VOICEMAIL, "rec-2")
    # No agents: the queue's voicemail policy must not end the voicemail item itself. Once the router has
    # planned on a view holding the item, a call enqueued after it going to voicemail proves a pass saw both.
    await eventually(lambda: _in_router_view(node, t.name, item.id), what="the router seeing the item")
    later = await stubs.interactions.Enqueue(call("+15550109"), metadata=t.interaction)

    async def later_ended() -> bool:
        seen = await stubs.interactions.GetInteraction(
            interaction_pb2.GetInteractionRequest(interaction_id=later.id), metadata=t.interaction
        )
        return seen.state == VOICEMAIL

    await eventually(later_ended, what="the later call routed to voicemail")
    seen = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=item.id), metadata=t.interaction
    )
    assert (seen.state, seen.channel) == (QUEUED, common_pb2.CHANNEL_VOICEMAIL)
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stubs.interactions.LeaveVoicemail(
            interaction_pb2.LeaveVoicemailRequest(
                interaction_id=placed.id, recording_id="rec-3", duration=Duration(seconds=3), request_id="other"
            ),
            metadata=t.interaction,
        )
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def _in_router_view(node, tenant: str, call_id: str) -> bool:
    view = node.router.last_views.get(tenant)
    return view is not None and call_id in view.calls


async def test_watch_of_a_tenant_this_node_does_not_route_follows_etcd(etcd_server, store, make_tenant):
    t = await make_tenant()
    settings = NodeSettings(
        site=SITE, node_id=f"api-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1,
        cluster_token=SecretStr(CLUSTER_TOKEN), tenants="nobody-else",
    )
    other = await start_node(settings)
    try:
        async with grpc.aio.insecure_channel(other.address) as channel:
            interactions = interaction_pb2_grpc.InteractionServiceStub(channel)
            placed = await interactions.Enqueue(call(), metadata=t.interaction)
            assert other.router.views.cache(t.name) is None
            stream = interactions.WatchInteraction(
                interaction_pb2.WatchInteractionRequest(interaction_id=placed.id), metadata=t.interaction
            )
            messages = aiter(stream)
            first = await asyncio.wait_for(anext(messages), scaled(10))
            assert first.state == QUEUED
            await interactions.RequestCallback(
                interaction_pb2.RequestCallbackRequest(interaction_id=placed.id), metadata=t.interaction
            )
            changed = await asyncio.wait_for(anext(messages), scaled(10))
            assert changed.channel == common_pb2.CHANNEL_CALLBACK
            await interactions.Cancel(interaction_pb2.CancelRequest(interaction_id=placed.id), metadata=t.interaction)
            last = await asyncio.wait_for(anext(messages), scaled(10))
            assert (last.state, last.timeline[-1].kind) == (common_pb2.INTERACTION_STATE_ABANDONED, "abandoned")
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(messages), scaled(10))
            # A client going away mid-stream: its etcd watches (tasks of this loop) are released.
            waiting = await interactions.Enqueue(call("+15550104"), metadata=t.interaction)
            stream = interactions.WatchInteraction(
                interaction_pb2.WatchInteractionRequest(interaction_id=waiting.id), metadata=t.interaction
            )
            assert (await asyncio.wait_for(stream.read(), scaled(10))).id == waiting.id
            assert _watch_tasks(waiting.id)
            stream.cancel()

            async def released() -> bool:
                return not _watch_tasks(waiting.id)

            await eventually(released, what="the watch tasks ending")
    finally:
        await other.stop(grace_s=0.5)


def _watch_tasks(call_id: str) -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task.get_name().endswith(call_id) and not task.done()]


@pytest.mark.parametrize(
    ("rpc", "request_message", "code", "text"),
    [
        ("Hangup", interaction_pb2.HangupRequest(interaction_id="x"), "INVALID_ARGUMENT", "party: is required"),
        ("LeaveVoicemail", interaction_pb2.LeaveVoicemailRequest(interaction_id="x"), "INVALID_ARGUMENT",
         "recording_id: is required"),
        ("LeaveVoicemail", interaction_pb2.LeaveVoicemailRequest(interaction_id="x", recording_id="r/1"),
         "INVALID_ARGUMENT", "recording_id: 'r/1' is not a recording id"),
        ("LeaveVoicemail", interaction_pb2.LeaveVoicemailRequest(interaction_id="x", recording_id="r"),
         "INVALID_ARGUMENT", "duration: is required"),
        ("RequestCallback", interaction_pb2.RequestCallbackRequest(interaction_id="x", number="call me"),
         "INVALID_ARGUMENT", "number: is neither a phone number"),
        ("RequestCallback", interaction_pb2.RequestCallbackRequest(interaction_id="x", number="sip:@"),
         "INVALID_ARGUMENT", "number: 'sip:@' is not a SIP URI"),
        ("Enqueue", call(ivr=[interaction_pb2.IvrStep(menu="main", digits="12a")]), "INVALID_ARGUMENT",
         "ivr[0].digits: '12a' is not DTMF digits"),
        ("Enqueue", call(arrived_at=ts(time.time() + 600)), "INVALID_ARGUMENT", "arrived_at: is "),
        ("Enqueue", call(arrived_at=ts(time.time() - 7200)), "INVALID_ARGUMENT", "arrived_at: is before now - 3600s"),
        ("Enqueue", call(trunk="Main Trunk"), "INVALID_ARGUMENT", "trunk: 'Main Trunk' is not a valid name"),
        ("Hangup", interaction_pb2.HangupRequest(interaction_id="00000000000000000000-00000000", party=CALLER),
         "NOT_FOUND", "interaction '00000000000000000000-00000000' not found"),
        ("RequestCallback", interaction_pb2.RequestCallbackRequest(interaction_id="00000000000000000000-00000000"),
         "NOT_FOUND", "not found"),
        ("WatchInteraction", interaction_pb2.WatchInteractionRequest(interaction_id="00000000000000000000-00000000"),
         "NOT_FOUND", "not found"),
    ],
)
async def test_voice_requests_are_validated_precisely(stubs, make_tenant, rpc, request_message, code, text):
    t = await make_tenant()
    method = getattr(stubs.interactions, rpc)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        if rpc == "WatchInteraction":
            async for _ in method(request_message, metadata=t.interaction):
                pass
        else:
            await method(request_message, metadata=t.interaction)
    assert (refused.value.code().name, text in refused.value.details()) == (code, True), refused.value.details()


@pytest.mark.parametrize(
    ("uri", "text"),
    [
        ("http://alice.example.com", "is not a SIP URI"),
        ("sip:alice@", "is not a SIP URI"),
        ("sip:alice@host:70000", "port 70000 is out of range"),
        ("sip:" + "a" * 300 + "@h", "at most 256"),
    ],
)
async def test_an_agents_sip_uri_must_be_a_sip_uri_with_a_host(stubs, make_tenant, uri, text):
    t = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.admin.CreateAgent(
            admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice", sip_uri=uri)), metadata=t.admin
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("agent.sip_uri: ") and text in refused.value.details()


async def test_an_agents_sip_uri_is_kept_and_updated(stubs, make_tenant):
    t = await make_tenant()
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice", sip_uri="sips:alice@desk.example.com")),
        metadata=t.admin,
    )
    await stubs.admin.UpdateAgent(
        admin_pb2.UpdateAgentRequest(agent=admin_pb2.Agent(id="alice", sip_uri=ALICE_PHONE)), metadata=t.admin
    )
    got = await stubs.admin.GetAgent(admin_pb2.GetAgentRequest(agent_id="alice"), metadata=t.admin)
    listed = await stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=t.admin)
    assert got.sip_uri == ALICE_PHONE
    assert [a.sip_uri for a in listed.agents] == [ALICE_PHONE]


async def test_get_call_record_of_an_unknown_interaction_is_not_found(stubs, make_tenant):
    t = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.admin.GetCallRecord(
            admin_pb2.GetCallRecordRequest(interaction_id="00000000000000000000-00000000"), metadata=t.admin
        )
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
