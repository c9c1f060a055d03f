"""When the first agent does not take the call: the caller hangs up while queued (ABANDONED), the agent rejects
the offer (RejectOffer: the next agent gets it and talks), the agent never answers (the offer times out and goes
to the next agent). sipp is the carrier and the agents' phones; the desktops are gRPC clients."""

from __future__ import annotations

import asyncio
import time

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.store import TrunkConfig
from ccpapi.v1 import admin_pb2, common_pb2

from tests.helpers import eventually
from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers, Voice
from tests.voice.platform import Desk
from tests.voice.sipp import free_udp_port
from tests.voice.test_calls import ended, kinds

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
CALLER = "+15550100"
MENU = IvrMenu(name="main", prompt="tone:600:200", timeout_s=3.0, retries=0,
               options=(IvrOption(digits="1", target=IvrTarget(kind=TargetKind.QUEUE, name="sales")),))
TRUNK = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="sales", allowed_sources=("127.0.0.0/8",),
                    ivr=IvrConfig(entry="main", menus=(MENU,)))


async def first_offered(*desks: Desk, timeout_s: float = 25.0):
    """The desk that gets the first offer, and that offer."""
    waits = {asyncio.ensure_future(desk.next_offer(timeout_s=timeout_s)): desk for desk in desks}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    task = done.pop()
    return waits[task], task.result()


async def test_a_caller_who_hangs_up_while_queued_is_recorded_abandoned(voice: Voice, peers: Peers):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales")], trunks=[TRUNK], carrier_port=carrier)
    call = await asyncio.to_thread(peers.call, "uac_call_hangs_up.xml", to=adapter.address("main"), number=NUMBER,
                                   caller=CALLER, digits="1", talk_ms=4000, talk_s=5, port=carrier, timeout_s=30)
    assert call.events("answered") and call.events("hung-up"), call.describe()

    async def abandoned():
        history = await tenant.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER),
                                                      metadata=tenant.admin_md)
        return [c for c in history.calls if c.state == common_pb2.INTERACTION_STATE_ABANDONED]

    [past] = await eventually(abandoned, timeout_s=15, what="the abandoned call in the caller's history")
    record = await tenant.record(past.id)
    assert (record.state, record.queue, record.trunk, record.agent_id) == (
        common_pb2.INTERACTION_STATE_ABANDONED, "sales", "main", "")
    steps = kinds(record)
    assert steps[:3] == ["arrived", "ivr", "queued"] and "offered" not in steps, steps
    assert steps[-1] == "abandoned", steps
    stats = await tenant.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="sales"), metadata=tenant.admin_md)
    assert (stats.abandoned, stats.waiting) == (1, 0)


async def _two_agents(tenant, peers: Peers):
    """alice and bob, each with a phone that answers, talks 2 s and hangs up, and an ear on it."""
    ears = {name: peers.tap() for name in ("alice", "bob")}
    phones = {name: peers.phone("uas_answers_hangs_up.xml", rtp_port=ears[name].port, hold_ms=2000)
              for name in ("alice", "bob")}
    desks = {name: await tenant.agent(name, sip_uri=f"sip:{name}@127.0.0.1:{phones[name].port}")
             for name in ("alice", "bob")}
    return desks, phones, ears


async def _second_agent_talks(*, second: str, offer, desks, phones, ears, call, caller_ear) -> None:
    accepted_at = time.monotonic()
    answered = await desks[second].accept(offer.interaction.id)
    assert answered.state == common_pb2.INTERACTION_STATE_CONNECTED
    heard_by_phone = await asyncio.to_thread(phones[second].wait)
    heard_by_caller = await asyncio.to_thread(call.wait)
    assert heard_by_phone.events("hung-up"), heard_by_phone.describe()
    assert heard_by_caller.events("bye-received"), heard_by_caller.describe()
    assert ears[second].hears(CALLER_HZ, since=accepted_at) and caller_ear.hears(AGENT_HZ, since=accepted_at)


@pytest.mark.parametrize("how", ["rejects", "never-answers"])
async def test_the_first_agent_rejects_or_lets_the_offer_expire_and_the_next_agent_talks(
        voice: Voice, peers: Peers, how: str):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales", offer_timeout_s=2.0)], trunks=[TRUNK],
                                         carrier_port=carrier)
    desks, phones, ears = await _two_agents(tenant, peers)
    caller_ear = peers.tap()
    call = peers.start_call("uac_call_waits_for_bye.xml", to=adapter.address("main"), number=NUMBER, caller=CALLER,
                            digits="1", rtp_port=caller_ear.port, port=carrier, talk_s=25, timeout_s=50)
    first_desk, offer = await first_offered(*desks.values())
    first = first_desk.agent_id
    second = "bob" if first == "alice" else "alice"
    if how == "rejects":
        await first_desk.reject(offer.interaction.id)
    # (never-answers: the first desk does nothing; the offer expires after the queue's 2 s)
    again = await desks[second].next_offer(timeout_s=20)
    assert again.interaction.id == offer.interaction.id
    await _second_agent_talks(second=second, offer=again, desks=desks, phones=phones, ears=ears, call=call,
                              caller_ear=caller_ear)
    assert not phones[first].log_lines(), "the first agent's phone must never ring"

    record = await ended(tenant, offer.interaction.id, common_pb2.INTERACTION_STATE_COMPLETED)
    assert record.agent_id == second
    steps = kinds(record)
    missed = "rejected" if how == "rejects" else "offer-expired"
    assert missed in steps and steps.index("offered") < steps.index(missed) < steps.index("accepted"), steps
    offers = [e.agent_id for e in record.timeline if e.kind == "offered"]
    assert offers[0] == first and offers[-1] == second, offers
    if how == "never-answers":
        status = await first_desk.status()
        assert (status.state, status.reason_code) == (common_pb2.AGENT_STATE_BREAK, "no-answer")


async def test_a_caller_who_cancels_before_the_answer_gets_487_and_nothing_is_queued(voice: Voice, peers: Peers):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales")], trunks=[TRUNK], carrier_port=carrier)
    # 100 ms after the 180: the adapter answers about a second after the INVITE (pyVoIP hands it the call then).
    cancelled = await asyncio.to_thread(peers.call, "uac_cancels.xml", to=adapter.address("main"), number=NUMBER,
                                        caller=CALLER, cancel_ms=100, port=carrier, timeout_s=15)
    assert cancelled.returncode == 0 and cancelled.events("cancelled"), cancelled.describe()
    history = await tenant.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER),
                                                  metadata=tenant.admin_md)
    stats = await tenant.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="sales"), metadata=tenant.admin_md)
    assert list(history.calls) == [] and (stats.offered, stats.waiting) == (0, 0)
    assert adapter.alive()


# uas_busy.xml refuses (486, ACKed); uas_never_answers.xml rings until the adapter CANCELs it at
# CCP_SIP_AGENT_ANSWER_TIMEOUT_S (200 to the CANCEL, 487 to the INVITE, ACKed). Either way the leg failed.
@pytest.mark.parametrize(("phone", "missed"), [("uas_busy.xml", "rejected"), ("uas_never_answers.xml", "cancelled")])
async def test_an_agent_phone_that_refuses_puts_the_same_call_back_and_the_next_agent_talks(
        voice: Voice, peers: Peers, phone: str, missed: str):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales", offer_timeout_s=10.0)], trunks=[TRUNK],
                                         carrier_port=carrier, env={"CCP_SIP_AGENT_ANSWER_TIMEOUT_S": "3"})
    bob_ear, caller_ear = peers.tap(), peers.tap()
    broken = peers.phone(phone)
    working = peers.phone("uas_answers_hangs_up.xml", rtp_port=bob_ear.port, hold_ms=2000)
    alice = await tenant.agent("alice", sip_uri=f"sip:alice@127.0.0.1:{broken.port}")
    call = peers.start_call("uac_call_waits_for_bye.xml", to=adapter.address("main"), number=NUMBER, caller=CALLER,
                            digits="1", rtp_port=caller_ear.port, port=carrier, talk_s=30, timeout_s=50)
    offer = await alice.next_offer(timeout_s=25)
    await alice.accept(offer.interaction.id)  # alice's desk accepts; her phone does not take the call
    refused = await asyncio.to_thread(broken.wait)
    assert refused.returncode == 0 and refused.events(missed), refused.describe()
    bob = await tenant.agent("bob", sip_uri=f"sip:bob@127.0.0.1:{working.port}")  # free only now: alice was first
    again = await bob.next_offer(timeout_s=20)
    assert again.interaction.id == offer.interaction.id  # the same interaction, queued again (Requeue)
    assert again.interaction.enqueued_at == offer.interaction.enqueued_at  # in its place
    status = await alice.status()
    assert (status.state, status.reason_code) == (common_pb2.AGENT_STATE_BREAK, "no-answer")  # never wrap-up
    await _second_agent_talks(second="bob", offer=again, desks={"bob": bob}, phones={"bob": working},
                              ears={"bob": bob_ear}, call=call, caller_ear=caller_ear)
    record = await ended(tenant, offer.interaction.id, common_pb2.INTERACTION_STATE_COMPLETED)
    assert record.agent_id == "bob"
    steps = [(e.kind, e.agent_id) for e in record.timeline if e.agent_id]
    assert steps[:4] == [("offered", "alice"), ("accepted", "alice"), ("requeued", "alice"), ("offered", "bob")], steps
    assert ("accepted", "bob") in steps
    history = await tenant.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER),
                                                  metadata=tenant.admin_md)
    assert [c.id for c in history.calls] == [offer.interaction.id]  # one record of the call
    handled = {a: (await tenant.store.get_agent(tenant.name, a)).calls_handled for a in ("alice", "bob")}
    assert handled == {"alice": 0, "bob": 1}
    stats = await tenant.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="sales"), metadata=tenant.admin_md)
    assert (stats.offered, stats.answered) == (1, 1)
