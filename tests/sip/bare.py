"""A call's session without a call or a network, for the tests of its leg checks and actions."""

from __future__ import annotations

import queue

from ccp_acd.sip import calls
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.sessions import Session


def bare_session(*, phase: Phase, ctx: object, **fields: object) -> Session:
    """A ``Session`` (``__new__``: no pyVoIP call) in ``phase`` of queue "sales", interaction "i-1", first agent
    attempt, call "c-1", no legs, nothing recorded, no ACK awaited; ``fields`` set anything else or override."""
    session = Session.__new__(Session)
    defaults = {
        "ctx": ctx, "call_id": "c-1", "caller": None, "agent": None, "agent_phone": None, "events": queue.Queue(),
        "recording": None, "conversation": None, "awaiting_ack_until": 0.0,
        "machine": calls.CallState(phase=phase, queue="sales", interaction_id="i-1", agent_attempts=1),
    }
    for name, value in {**defaults, **fields}.items():
        setattr(session, name, value)
    return session
