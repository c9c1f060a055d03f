"""A caller whose carrier never ACKs our 200 (its INVITE transaction gave up before the overloaded adapter
answered): after ACK_WAIT_S the call ends as a caller hang-up, so no interaction and no agent stay busy with
nobody on the line (the benchmark's call left live at 20 calls/s)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from ccp_acd.sip import calls, sessions
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.sessions import Session
from pyVoIP.VoIP import CallState

from tests.sip.bare import bare_session

ACK = (
    "ACK sip:+15550100@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    "From: <sip:+15550199@127.0.0.1>;tag=a\r\nTo: <sip:+15550100@127.0.0.1>;tag=b\r\nCall-ID: {call_id}\r\n"
    "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
)


class Leg:
    def __init__(self, call_id: str, state: CallState = CallState.ANSWERED):
        self.call_id, self.state = call_id, state


class Phone:
    def __init__(self):
        self.acked: set[str] = set()
        self.released: list[Leg] = []

    def release(self, leg: Leg) -> None:
        self.released.append(leg)
        leg.state = CallState.ENDED


def bridged_session(*, ack_due_in_s: float) -> tuple[Session, Phone, Leg]:
    phone, caller = Phone(), Leg("c-1")
    session = bare_session(
        phase=Phase.BRIDGED, ctx=SimpleNamespace(phone=phone, settings=SimpleNamespace(rtp_timeout_s=0.0)),
        caller=caller, awaiting_ack_until=time.monotonic() + ack_due_in_s,
    )
    return session, phone, caller


def test_a_200_never_acked_ends_the_call_as_a_caller_hang_up():
    session, phone, caller = bridged_session(ack_due_in_s=-0.01)
    session._observe_legs(time.monotonic())
    assert phone.released == [caller] and session.caller is None
    event = session.events.get_nowait()
    assert event == calls.CallerHungUp()
    state, actions = calls.step(session.machine, event)
    assert state.phase is Phase.ENDED and actions == (calls.BYE_AGENT, calls.hangup("CALLER"))


def test_an_acked_200_stops_the_wait_and_a_pending_one_is_left_alone():
    session, phone, caller = bridged_session(ack_due_in_s=30)
    session._observe_legs(time.monotonic())
    assert session.events.empty() and session.awaiting_ack_until > 0  # not due yet
    phone.acked.add("c-1")
    session._observe_legs(time.monotonic() + sessions.ACK_WAIT_S + 1)
    assert session.events.empty() and phone.released == [] and session.awaiting_ack_until == 0.0


def test_the_receive_loop_records_the_ack_of_a_known_call_only():
    phone = AdapterPhone(server="127.0.0.1", port=5061, bind="127.0.0.1", sip_port=0, rtp_ports=(41100, 41101))
    phone.calls["known@x"] = Leg("known@x")
    for call_id in ("known@x", "stray@x"):
        phone.sip._dispatch(ACK.format(call_id=call_id).encode(), ("127.0.0.1", 5061))
    assert phone.acked == {"known@x"}
    phone.forget("known@x")
    assert phone.acked == set()
