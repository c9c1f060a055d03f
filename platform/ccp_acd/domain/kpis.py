"""Queue KPIs with standard definitions (docs/kpis.md explains each).

Real-time figures come from the live view; interval figures from the ended
calls that *arrived* in the window: summed from their records
(``queue_stats``) or from the interval totals kept of them
(``queue_stats_of``, ``domain.intervals``), with the same result.
Pure: the caller passes the view, the records or totals and ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ccp_acd.domain.intervals import Totals, Window
from ccp_acd.domain.models import Agent, Call, CallState, LiveView, Presence, QueueConfig
from ccp_acd.domain.predictions import queue_expected_wait_s
from ccp_acd.domain.skills import eligible


@dataclass(frozen=True)
class AgentCounts:
    logged_in: int = 0
    available: int = 0
    busy: int = 0
    wrap_up: int = 0
    on_break: int = 0


@dataclass(frozen=True)
class QueueStats:
    # real time
    waiting: int
    longest_wait_s: float
    expected_wait_s: float
    agents: AgentCounts
    # interval [window_start, now]
    window_start: float
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    service_level: float
    sl_threshold_s: float
    sl_target: float
    asa_s: float
    aht_s: float
    abandonment_rate: float
    overflowed: int


def _working(view: LiveView) -> set[str]:
    """Agents holding work: a live call they are connected to, or a pending offer."""
    working = {c.agent_id for c in view.calls.values() if c.agent_id and not c.state.terminal}
    return working | {r.agent_id for r in view.reservations.values()}


def _count(agents: Iterable[Agent], working: set[str], *, now: float) -> AgentCounts:
    """Logged-in agents by state, each counted once (busy first, then by presence)."""
    logged_in = available = busy = wrap_up = on_break = 0
    for agent in agents:
        if not agent.logged_in:
            continue
        logged_in += 1
        if agent.id in working:
            busy += 1
        elif agent.ready(now):
            available += 1
        elif agent.presence is Presence.WRAP_UP:
            wrap_up += 1
        elif agent.presence is Presence.BREAK:
            on_break += 1
    return AgentCounts(logged_in, available, busy, wrap_up, on_break)


def agent_counts(queue: QueueConfig, view: LiveView, *, now: float) -> AgentCounts:
    """Agents who could serve the queue (widest skill ring), by state.

    Busy means holding work (a connected call or a pending offer) whatever the
    presence; the other states are exclusive and only count agents without work.
    """
    widest = queue.widest_requirements()
    pool = (a for a in view.agents.values() if eligible(a, widest))
    return _count(pool, _working(view), now=now)


def service_level(answered_within: int, offered: int, abandoned_within: int) -> float:
    """Answered within T over offered, not counting callers who hung up within T.

    1.0 when nothing was offered (no caller was failed).
    """
    denominator = offered - abandoned_within
    return answered_within / denominator if denominator > 0 else 1.0


def queue_stats(
    *, queue: QueueConfig, view: LiveView, history: Iterable[Call], now: float, window_s: float
) -> QueueStats:
    """The queue's figures over [now - window_s, now], summed from the records of ended calls (``history``)."""
    window_start = now - window_s
    window = Window.of(history, {queue.name: queue.sl_threshold_s}, start=window_start)
    return queue_stats_of(queue=queue, view=view, interval=window.total(queue.name), now=now, window_start=window_start)


def queue_stats_of(
    *, queue: QueueConfig, view: LiveView, interval: Totals, now: float, window_start: float
) -> QueueStats:
    """The queue's figures: real time from ``view``, the interval's from ``interval`` (``domain.intervals``).

    ``interval``: the totals of the ended calls that arrived from ``window_start`` on, with the queue's
    threshold. Calls still in the view that arrived in the window and passed through the queue count as
    overflowed too.
    """
    waiting = [c for c in view.calls.values() if c.queue == queue.name and c.state is CallState.QUEUED]
    live_moved = sum(1 for c in view.calls.values() if c.enqueued_at >= window_start and queue.name in c.route_history)
    aht_s = interval.talk_s / interval.talked if interval.talked else 0.0
    handle_s = aht_s if interval.talked else queue.expected_handle_s
    return QueueStats(
        waiting=len(waiting),
        longest_wait_s=max((c.waited(now) for c in waiting), default=0.0),
        expected_wait_s=queue_expected_wait_s(queue, view, now=now, aht_s=handle_s),
        agents=agent_counts(queue, view, now=now),
        window_start=window_start,
        offered=interval.offered,
        answered=interval.answered,
        answered_within_threshold=interval.answered_within,
        abandoned=interval.abandoned,
        service_level=service_level(interval.answered_within, interval.offered, interval.abandoned_within),
        sl_threshold_s=queue.sl_threshold_s,
        sl_target=queue.sl_target,
        asa_s=interval.answer_wait_s / interval.answered if interval.answered else 0.0,
        aht_s=aht_s,
        abandonment_rate=interval.abandoned / interval.offered if interval.offered else 0.0,
        overflowed=interval.overflowed + live_moved,
    )


@dataclass(frozen=True)
class LiveStats:
    """Real-time figures of a whole tenant (``site`` empty) or of one of its sites."""

    site: str
    waiting: int
    longest_wait_s: float
    connected: int
    agents: AgentCounts


def live_stats(view: LiveView, *, now: float, site: str | None = None) -> LiveStats:
    """Waiting and connected calls and agents by state, of one site or (``site`` None) the tenant.

    Calls count at the site routing them now, agents at their own site; each
    agent once, whatever the number of queues it is eligible for.
    """
    calls = [c for c in view.calls.values() if site is None or c.site == site]
    waiting = [c for c in calls if c.state is CallState.QUEUED]
    agents = (a for a in view.agents.values() if site is None or a.site == site)
    return LiveStats(
        site=site or "",
        waiting=len(waiting),
        longest_wait_s=max((c.waited(now) for c in waiting), default=0.0),
        connected=sum(1 for c in calls if c.state is CallState.CONNECTED),
        agents=_count(agents, _working(view), now=now),
    )


def tenant_live_stats(
    view: LiveView, *, now: float, sites: Iterable[str] = ()
) -> tuple[LiveStats, list[LiveStats]]:
    """The tenant's figures and each site's (``sites`` plus every site a call or agent is at), by name."""
    known = set(sites) | {c.site for c in view.calls.values()} | {a.site for a in view.agents.values()}
    known.discard("")
    return live_stats(view, now=now), [live_stats(view, now=now, site=s) for s in sorted(known)]
