"""Malformed SIP never crashes the ``ccp sip`` process nor touches another call: garbage, truncated and binary
datagrams, missing mandatory headers, wrong Content-Length (longer and shorter than the body), huge headers and
invalid SDP go to the trunk's port from a plain UDP socket while a normal sipp call goes through the IVR, is
bridged to its agent and talks both ways; afterwards the process is alive and still screens calls (404).

Parseable junk that looks like a call may become one: it comes from another caller, presses nothing and ends in
the default queue, whose skill the test's agent lacks, so it can never take the agent from the real call.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import QueueConfig, SkillRequirement
from ccp_acd.state.store import TrunkConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.voice import malformed
from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers, Voice
from tests.voice.sipp import free_udp_port

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
CALLER = "+15550100"
JUNK_CALLER = "+15550666"
MENU = IvrMenu(name="main", prompt="tone:600:200", timeout_s=3.0, retries=0,
               options=(IvrOption(digits="1", target=IvrTarget(kind=TargetKind.QUEUE, name="sales")),))
TRUNK = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="junk", allowed_sources=("127.0.0.0/8",),
                    ivr=IvrConfig(entry="main", menus=(MENU,)))
QUEUES = [QueueConfig(name="sales"), QueueConfig(name="junk", skills=(SkillRequirement(name="junk"),))]


def _tally(request: pytest.FixtureRequest, outcome: str, count: int) -> None:
    """Add the datagrams tried to the security suites' case count when they run in the same session."""
    try:
        from tests.tally import TALLY
    except ImportError:  # the security suite is not on the path: nothing to count into
        return
    tally = request.config.stash.get(TALLY, None)
    if tally is not None:
        tally.fuzz.setdefault("SIP datagram (ccp sip)", Counter())[outcome] += count


async def _still_screening(peers: Peers, adapter, carrier: int) -> None:
    assert adapter.alive(), adapter.log()[-3000:]
    refused = peers.call("uac_rejected.xml", to=adapter.address("main"), number="+15550009999", caller=CALLER,
                         port=carrier, timeout_s=15)
    assert refused.finals() == [404], refused.describe()


async def test_malformed_datagrams_never_crash_the_adapter_nor_affect_a_call_in_progress(
        voice: Voice, peers: Peers, request: pytest.FixtureRequest):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=QUEUES, trunks=[TRUNK], carrier_port=carrier)
    target = adapter.address("main")
    host, port = target.split(":")
    datagrams = list(malformed.cases(number=NUMBER, caller=JUNK_CALLER, target=target).items())
    caller_ear, phone_ear = peers.tap(), peers.tap()
    phone = peers.phone("uas_answers_hangs_up.xml", rtp_port=phone_ear.port, hold_ms=3000)
    alice = await tenant.agent("alice", sip_uri=f"sip:alice@127.0.0.1:{phone.port}")
    call = peers.start_call("uac_call_waits_for_bye.xml", to=target, number=NUMBER, caller=CALLER, digits="1",
                            rtp_port=caller_ear.port, port=carrier, talk_s=20, timeout_s=45)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        half = len(datagrams) // 2
        for _, datagram in datagrams[:half]:  # while the call is answered and in the IVR
            junk.sendto(datagram, (host, int(port)))
        try:
            offer = await alice.next_offer(timeout_s=25)
        except TimeoutError:
            live = await tenant.store.load_live(tenant.name)
            waiting = [(c.caller.address, c.queue, c.state.value) for c in live.calls.values()]
            raise AssertionError(f"no offer for the real call; waiting: {waiting}; caller: {call.log_lines()}") from None
        assert offer.interaction.caller.address == CALLER
        accepted_at = time.monotonic()
        await alice.accept(offer.interaction.id)
        for _, datagram in datagrams[half:]:  # while the agent leg is set up and the call talks
            junk.sendto(datagram, (host, int(port)))
    _tally(request, "sent, adapter alive", len(datagrams))

    heard_by_phone = await asyncio.to_thread(phone.wait)
    heard_by_caller = await asyncio.to_thread(call.wait)
    assert heard_by_phone.events("hung-up"), heard_by_phone.describe()
    assert heard_by_caller.events("bye-received"), heard_by_caller.describe()
    assert phone_ear.hears(CALLER_HZ, since=accepted_at) and caller_ear.hears(AGENT_HZ, since=accepted_at)
    await _still_screening(peers, adapter, carrier)


async def test_random_datagrams_and_mutated_invites_never_crash_the_adapter(
        voice: Voice, peers: Peers, request: pytest.FixtureRequest):
    carrier = free_udp_port()
    _, adapter = await voice.tenant(queues=QUEUES, trunks=[TRUNK], carrier_port=carrier)
    target = adapter.address("main")
    host, port = target.split(":")
    valid = malformed.invite(number=NUMBER, caller=JUNK_CALLER, target=target, call_id="fuzz")
    sent = 0

    mutated = st.builds(
        lambda cut, flips: bytes(b ^ flips.get(i, 0) for i, b in enumerate(valid[:cut])),
        st.integers(min_value=0, max_value=len(valid)),
        st.dictionaries(st.integers(min_value=0, max_value=len(valid) - 1), st.integers(min_value=1, max_value=255),
                        max_size=8),
    )

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(st.one_of(st.binary(max_size=1500), mutated))
        def send(datagram: bytes) -> None:
            nonlocal sent
            junk.sendto(datagram, (host, int(port)))
            sent += 1

        send()
    _tally(request, "sent, adapter alive", sent)
    assert sent >= 100
    await _still_screening(peers, adapter, carrier)
