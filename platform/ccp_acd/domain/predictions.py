"""Order of service, queue position and expected wait (EWT).

Order of service is aged priority, then arrival: a call's effective priority
is ``call.priority + queue.priority + queue.aging_per_minute * minutes
waited``. Every call ages at the same rate, so a priority point is worth
``1 / aging_per_minute`` minutes of waiting: a priority-5 call ranks as if it
had arrived 5 minutes earlier. It overtakes only calls that arrived less than
that before it, so a low-priority call is never overtaken by calls arriving
later than that (no starvation). With equal priorities this is FIFO by first
arrival (``enqueued_at``), which overflow keeps.

Expected wait is the position-based estimate most ACDs announce: with ``a``
agents free, the first ``a`` callers wait nothing; beyond that a caller waits
for ``position - available`` completions, which ``staffed`` agents deliver
every ``aht / staffed`` seconds on average.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccp_acd.domain.models import Call, CallState, LiveView, QueueConfig
from ccp_acd.domain.skills import eligible

# What we announce when nobody who could take the call is logged in: "a long time",
# as a finite figure (durations on the wire are finite).
UNSTAFFED_WAIT_S = 24 * 3600.0


def effective_priority(call: Call, queue: QueueConfig, *, now: float) -> float:
    return call.priority + queue.priority + queue.aging_per_minute * call.waited(now) / 60.0


def waiting_order(
    view: LiveView, queues: Mapping[str, QueueConfig], *, now: float, site: str | None = None
) -> list[Call]:
    """Queued calls (of ``site`` if given) in the order they should be served."""

    def key(call: Call) -> tuple[float, float, str]:
        queue = queues.get(call.queue) or QueueConfig(name=call.queue)
        return (-effective_priority(call, queue, now=now), call.enqueued_at, call.id)

    waiting = [
        c
        for c in view.calls.values()
        if c.state is CallState.QUEUED and (site is None or c.site == site)
    ]
    return sorted(waiting, key=key)


def position(call_id: str, view: LiveView, queues: Mapping[str, QueueConfig], *, now: float) -> int:
    """1-based place of a queued call among the calls of its queue and site (0 if not queued)."""
    call = view.calls.get(call_id)
    if call is None or call.state is not CallState.QUEUED:
        return 0
    same = [
        c.id
        for c in waiting_order(view, queues, now=now, site=call.site)
        if c.queue == call.queue
    ]
    return same.index(call_id) + 1


def expected_wait_s(*, position: int, staffed: int, available: int, aht_s: float) -> float:
    """Seconds the caller at ``position`` should expect to wait (see module doc)."""
    if position <= 0 or position <= available:
        return 0.0
    if staffed <= 0:
        return UNSTAFFED_WAIT_S
    return (position - available) * aht_s / staffed


def queue_expected_wait_s(
    queue: QueueConfig, view: LiveView, *, now: float, aht_s: float | None = None, site: str | None = None
) -> float:
    """Expected wait of the next caller to join ``queue`` (of ``site`` if given)."""
    widest = queue.widest_requirements()
    agents = [
        a
        for a in view.agents.values()
        if a.logged_in and (site is None or a.site == site) and eligible(a, widest)
    ]
    busy = {c.agent_id for c in view.calls.values() if c.agent_id and not c.state.terminal}
    busy |= {r.agent_id for r in view.reservations.values()}
    available = sum(1 for a in agents if a.ready(now) and a.id not in busy)
    waiting = sum(
        1
        for c in view.calls.values()
        if c.queue == queue.name and c.state is CallState.QUEUED and (site is None or c.site == site)
    )
    return expected_wait_s(
        position=waiting + 1,
        staffed=len(agents),
        available=available,
        aht_s=queue.expected_handle_s if aht_s is None else aht_s,
    )
