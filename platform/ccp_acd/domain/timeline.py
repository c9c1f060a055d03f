"""The call record's timeline: what happened to an interaction, oldest first.

Pure: each function returns the record with one more event; the state layer
writes it in the same etcd transaction as the state change the event reports
(``state.etcd``, ``state.voice``), so the timeline never claims a step that did
not commit, nor misses one that did. The exception is an offer that vanishes
with its node's lease (the node died): no transaction runs, so no event is
written; the next ``offered`` event follows directly.

Bound: at most ``MAX_EVENTS`` events. Beyond it the first event (the arrival)
is kept and the oldest of the others are dropped, so the record keeps where
the call came from and its latest ``MAX_EVENTS - 1`` steps; a call that is
offered and rejected a hundred times keeps a record of bounded size.

``detail`` is free text for people: queue, agent, IVR menu and digits,
reasons. It never holds a caller number (callers' numbers are personal data:
they stay in ``Call.caller``, which reports and redaction know about).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum

from ccp_acd.domain.models import Call, TimelineEvent

MAX_EVENTS = 100


class Kind(StrEnum):
    ARRIVED = "arrived"
    IVR = "ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    REJECTED = "rejected"
    OFFER_EXPIRED = "offer-expired"
    ACCEPTED = "accepted"
    # A connected interaction put back in its queue (Requeue: the agent's phone never took the call).
    REQUEUED = "requeued"
    REROUTED = "rerouted"
    SITE_MOVED = "site-moved"
    CALLBACK_REQUESTED = "callback-requested"
    VOICEMAIL = "voicemail"
    HUNG_UP = "hung-up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


def append(call: Call, *events: TimelineEvent) -> Call:
    """``call`` with ``events`` appended, bounded (module doc)."""
    return replace(call, timeline=bounded((*call.timeline, *events)))


def bounded(events: Iterable[TimelineEvent]) -> tuple[TimelineEvent, ...]:
    events = tuple(events)
    if len(events) <= MAX_EVENTS:
        return events
    return (events[0], *events[len(events) - (MAX_EVENTS - 1):])


def event(call: Call, kind: Kind, at: float, *, detail: str = "", agent_id: str = "") -> TimelineEvent:
    """An event of ``call`` at ``at``, naming the call's current queue."""
    return TimelineEvent(at=at, kind=str(kind), detail=detail, agent_id=agent_id, queue=call.queue)


def note(call: Call, kind: Kind, at: float, *, detail: str = "", agent_id: str = "") -> Call:
    """``call`` with one event of ``kind`` appended."""
    return append(call, event(call, kind, at, detail=detail, agent_id=agent_id))


def arrival(call: Call, *, arrived_at: float, ivr: Iterable[tuple[str, str, float]]) -> Call:
    """The events of a new call before its queue: the arrival (when earlier than the enqueue) and its IVR
    answers ``(menu, digits, at)``, then ``queued`` in its queue."""
    events = []
    if arrived_at and arrived_at < call.enqueued_at:
        events.append(event(call, Kind.ARRIVED, arrived_at, detail=f"trunk {call.trunk}" if call.trunk else ""))
    for menu, digits, at in ivr:
        events.append(event(call, Kind.IVR, at or call.enqueued_at, detail=f"{menu}: {digits or '(no answer)'}"))
    queued = f"{call.channel} in {call.queue}" + (f" ({call.reason})" if call.reason else "")
    events.append(event(call, Kind.QUEUED, call.enqueued_at, detail=queued))
    return append(call, *events)
