"""Calls end to end with sipp as the carrier and as the agents' phones: IVR digits choose the queue, the agent's
desktop accepts over gRPC, the adapter bridges the caller to the agent's phone (B2BUA), both hear each other, a
hang-up ends the talk and the call record (AdminService.GetCallRecord) tells the whole story."""

from __future__ import annotations

import asyncio
import time

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.store import TrunkConfig
from ccpapi.v1 import common_pb2

from tests.helpers import eventually
from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers, Voice
from tests.voice.sipp import free_udp_port

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
CALLER = "+15550100"
MENU = IvrMenu(name="main", prompt="tone:600:200", timeout_s=2.0, options=(
    IvrOption(digits="1", target=IvrTarget(kind=TargetKind.QUEUE, name="sales")),
    IvrOption(digits="2", target=IvrTarget(kind=TargetKind.QUEUE, name="support")),
))
TRUNK = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="support", allowed_sources=("127.0.0.0/8",),
                    ivr=IvrConfig(entry="main", menus=(MENU,)))
QUEUES = [QueueConfig(name="sales", offer_timeout_s=4.0), QueueConfig(name="support", offer_timeout_s=4.0)]


def kinds(record) -> list[str]:
    return [event.kind for event in record.timeline]


async def ended(tenant, interaction_id: str, state: int):
    seen = []

    async def check():
        record = await tenant.record(interaction_id)
        seen[:] = [record]
        return record if record.state == state else None

    try:
        return await eventually(check, timeout_s=20, what=f"interaction {interaction_id} in state {state}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {seen}") from None


async def test_a_call_reaches_an_agent_through_the_ivr_talks_both_ways_and_the_record_is_complete(
        voice: Voice, peers: Peers):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=QUEUES, trunks=[TRUNK], carrier_port=carrier)
    caller_ear, phone_ear = peers.tap(), peers.tap()
    phone = peers.phone("uas_answers_hangs_up.xml", rtp_port=phone_ear.port, hold_ms=3000)
    alice = await tenant.agent("alice", sip_uri=f"sip:alice@127.0.0.1:{phone.port}")
    call = peers.start_call("uac_call_waits_for_bye.xml", to=adapter.address("main"), number=NUMBER, caller=CALLER,
                            digits="1", rtp_port=caller_ear.port, port=carrier, talk_s=20, timeout_s=45)

    offer = await alice.next_offer(timeout_s=25)
    assert (offer.interaction.queue, offer.interaction.channel) == ("sales", common_pb2.CHANNEL_VOICE), \
        (await tenant.record(offer.interaction.id)).timeline
    accepted_at = time.monotonic()
    await alice.accept(offer.interaction.id)

    heard_by_phone = await asyncio.to_thread(phone.wait)
    heard_by_caller = await asyncio.to_thread(call.wait)
    assert heard_by_phone.events("answered") and heard_by_phone.events("hung-up"), heard_by_phone.describe()
    assert heard_by_caller.returncode == 0 and heard_by_caller.events("bye-received"), heard_by_caller.describe()
    # RTP both ways, through the adapter: the phone hears the caller's tone, the caller hears the agent's.
    assert phone_ear.count(since=accepted_at) > 50 and phone_ear.hears(CALLER_HZ, since=accepted_at)
    assert caller_ear.count(since=accepted_at) > 50 and caller_ear.hears(AGENT_HZ, since=accepted_at)

    record = await ended(tenant, offer.interaction.id, common_pb2.INTERACTION_STATE_COMPLETED)
    assert (record.trunk, record.queue, record.agent_id) == ("main", "sales", "alice")
    assert record.caller.address == CALLER
    steps = kinds(record)
    for kind in ("arrived", "ivr", "queued", "offered", "accepted", "hung-up"):
        assert kind in steps, steps
    assert steps.index("arrived") < steps.index("ivr") < steps.index("queued") < steps.index("offered") \
        < steps.index("accepted") < steps.index("hung-up")
    hung_up = next(e for e in record.timeline if e.kind == "hung-up")
    assert "agent" in hung_up.detail, hung_up
    ivr = next(e for e in record.timeline if e.kind == "ivr")
    assert "main" in ivr.detail and "1" in ivr.detail
    assert record.HasField("answered_at") and record.HasField("ended_at")
    assert record.ended_at.ToNanoseconds() - record.answered_at.ToNanoseconds() >= 2_000_000_000  # the 3 s talk
    status = await alice.status()
    assert status.state in (common_pb2.AGENT_STATE_AVAILABLE, common_pb2.AGENT_STATE_WRAP_UP)
    assert adapter.alive()
