"""An agent's phone that rings and never answers: at the answer timeout the session CANCELs the INVITE (same
branch and CSeq number), ACKs the 487 and reports the leg failed like a 486; a 200 that crosses the CANCEL is
ACKed and BYEd. The far phone is a plain UDP socket on loopback, so every message is checked as sent."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest
from ccp_acd.sip import calls, messages
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.sessions import Session
from pyVoIP.VoIP import CallState

from tests.sip.bare import bare_session
from tests.sip.conftest import free_udp_port


class FarPhone:
    """The agent's phone: receives our requests and answers what the test says."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]
        self.source: tuple[str, int] | None = None

    def receive(self) -> messages.Head:
        raw, self.source = self.sock.recvfrom(65535)
        head = messages.read_head(raw)
        assert head is not None, raw
        return head

    def answer(self, request: messages.Head, status: int, *, extra: tuple[str, ...] = ()) -> None:
        self.sock.sendto(messages.response(request, status, to_tag="far", extra=extra), self.source)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def far():
    peer = FarPhone()
    yield peer
    peer.close()


@pytest.fixture
def phone(far: FarPhone):
    p = AdapterPhone(server="127.0.0.1", port=far.port, bind="127.0.0.1", sip_port=free_udp_port(),
                     rtp_ports=(41000, 41009))
    p.start()
    yield p
    p.stop()


def branch(head: messages.Head) -> str:
    return head.get("via").split("branch=")[1].split(";")[0]


def cseq_number(head: messages.Head) -> str:
    return head.get("cseq").split()[0]


def test_a_ringing_agent_leg_released_is_cancelled_and_its_487_acked(phone: AdapterPhone, far: FarPhone):
    leg = phone.dial("alice")
    invite = far.receive()
    far.answer(invite, 180)
    phone.release(leg)
    cancel = far.receive()
    assert (cancel.method, cancel.call_id, cancel.request_uri) == ("CANCEL", invite.call_id, invite.request_uri)
    assert (branch(cancel), cseq_number(cancel), cancel.cseq_method) == (branch(invite), cseq_number(invite), "CANCEL")
    far.answer(cancel, 200)
    far.answer(invite, 487)
    ack = far.receive()
    assert (ack.method, ack.call_id, ack.cseq_method) == ("ACK", invite.call_id, "ACK")
    assert (branch(ack), cseq_number(ack)) == (branch(invite), cseq_number(invite))  # the INVITE's transaction
    far.answer(invite, 487)  # retransmitted (our ACK lost): ACKed again
    assert far.receive().method == "ACK"
    assert leg.state == CallState.ENDED and invite.call_id not in phone.calls


def test_a_200_that_crosses_the_cancel_is_acked_and_hung_up(phone: AdapterPhone, far: FarPhone):
    leg = phone.dial("alice")
    invite = far.receive()
    phone.release(leg)
    cancel = far.receive()
    far.answer(cancel, 200)
    far.answer(invite, 200, extra=(f"Contact: <sip:alice@127.0.0.1:{far.port}>",))
    ack, bye = far.receive(), far.receive()
    assert (ack.method, ack.call_id, bye.method, bye.call_id) == ("ACK", invite.call_id, "BYE", invite.call_id)
    assert leg.state == CallState.ENDED


class Leg:
    def __init__(self, state: CallState):
        self.state = state


class Phone:
    def __init__(self):
        self.released: list[Leg] = []
        self.failures: dict[str, int] = {}

    def release(self, leg: Leg) -> None:
        self.released.append(leg)
        leg.state = CallState.ENDED


def dialing_session(*, deadline_in_s: float) -> tuple[Session, Phone, Leg]:
    """A session whose agent leg is ringing, its answer deadline ``deadline_in_s`` from now."""
    phone, leg = Phone(), Leg(CallState.DIALING)
    session = bare_session(
        phase=Phase.DIALING_AGENT, ctx=SimpleNamespace(settings=SimpleNamespace(agent_answer_timeout_s=3.0)),
        agent=leg, agent_phone=phone, agent_call_id="a-1", agent_was_up=False,
        agent_deadline=time.monotonic() + deadline_in_s,
    )
    return session, phone, leg


def test_a_ringing_agent_leg_past_its_answer_timeout_is_cancelled_and_fails_like_a_refusal():
    session, phone, leg = dialing_session(deadline_in_s=-0.01)
    session._observe_legs(time.monotonic())
    assert phone.released == [leg] and session.agent is None
    event = session.events.get_nowait()
    assert event == calls.AgentFailed("agent-no-answer")
    state, actions = calls.step(session.machine, event)
    # Like a 486: the same interaction goes back to its queue, the caller stays on hold.
    assert (state.phase, state.interaction_id) == (Phase.QUEUED, "i-1")
    assert actions == (calls.requeue("agent-no-answer"),)


def test_a_ringing_agent_leg_within_its_answer_timeout_is_left_ringing():
    session, phone, leg = dialing_session(deadline_in_s=30)
    session._observe_legs(time.monotonic())
    assert phone.released == [] and session.agent is leg and session.events.empty()


def test_the_last_attempt_timing_out_releases_the_caller_with_the_sorry_notice():
    session, _, _ = dialing_session(deadline_in_s=-0.01)
    session.machine = calls.CallState(phase=Phase.DIALING_AGENT, queue="sales", interaction_id="i-1",
                                      agent_attempts=calls.MAX_AGENT_ATTEMPTS)
    session._observe_legs(time.monotonic())
    state, actions = calls.step(session.machine, session.events.get_nowait())
    assert state.phase is Phase.ENDED
    assert actions == (calls.hangup("AGENT"), calls.notice("sorry"), calls.BYE_CALLER)
