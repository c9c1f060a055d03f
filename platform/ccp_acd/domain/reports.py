"""Historical reports: KPIs per UTC-aligned interval and group, and agent comparison.

Computed from the final call records and the closed presence intervals of a
window (docs/kpis.md, "Historical intervals", defines every figure). A call
counts in the interval it *arrived* in, even when answered or ended in the
next; agent time (talk, wrap-up, staffed time) is instead clipped to each
interval, so occupancy describes what agents did inside it.

Not for: real-time figures (``kpis``), or reading anything: the caller passes
the records. Consistency caveat: a presence interval is logged only when it
ends, so time the agent is still in (a wrap-up now running) is not counted yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from statistics import fmean

from ccp_acd.domain.kpis import service_level
from ccp_acd.domain.models import Call, CallState, Presence, PresenceInterval, QueueConfig

# Presences in which an agent is staffed (talk happens in available: busy is no presence).
STAFFED = (Presence.AVAILABLE, Presence.WRAP_UP)
# The threshold of a call whose queue has since been deleted: the queue default.
DEFAULT_THRESHOLD_S = QueueConfig.sl_threshold_s


class Granularity(StrEnum):
    QUARTER_HOUR = "15m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        return {"15m": 900, "1h": 3600, "1d": 86400}[self.value]


class GroupBy(StrEnum):
    QUEUE = "queue"
    SITE = "site"
    TENANT = "tenant"


def aligned(start: float, end: float, granularity: Granularity) -> tuple[float, float]:
    """The window widened to whole intervals: POSIX time has no leap seconds, so these are UTC boundaries."""
    step = granularity.seconds
    first = (start // step) * step
    last = -((-end) // step) * step
    return first, max(last, first + step)


def interval_count(start: float, end: float, granularity: Granularity) -> int:
    first, last = aligned(start, end, granularity)
    return round((last - first) / granularity.seconds)


@dataclass(frozen=True)
class IntervalRow:
    start: float
    end: float
    # Queue name, site name, or "" for the whole tenant.
    group: str
    offered: int = 0
    answered: int = 0
    answered_within_threshold: int = 0
    abandoned: int = 0
    abandoned_within_threshold: int = 0
    service_level: float = 1.0
    asa_s: float = 0.0
    aht_s: float = 0.0
    abandonment_rate: float = 0.0
    longest_wait_s: float = 0.0
    overflowed: int = 0
    # Agent time inside the interval; not split by queue (agents serve several), so None for queue groups.
    handle_s: float | None = None
    staffed_s: float | None = None
    occupancy: float | None = None


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    site: str
    handled: int
    talk_s: float
    wrap_up_s: float
    aht_s: float
    staffed_s: float
    handle_s: float
    occupancy: float


def wrap_up_by_call(presence: Iterable[PresenceInterval]) -> dict[str, float]:
    """Seconds of wrap-up that followed each call (as logged: ended early or ran out)."""
    wrap: dict[str, float] = defaultdict(float)
    for p in presence:
        if p.presence is Presence.WRAP_UP and p.after_call:
            wrap[p.after_call] += max(0.0, p.end - p.start)
    return wrap


def talk_s(call: Call) -> float:
    if call.answered_at is None or call.ended_at is None:
        return 0.0
    return max(0.0, call.ended_at - call.answered_at)


def _wait_s(call: Call) -> float:
    until = call.answered_at if call.answered_at is not None else call.ended_at
    return max(0.0, until - call.enqueued_at) if until is not None else 0.0


def _threshold(call: Call, queues: Mapping[str, QueueConfig]) -> float:
    queue = queues.get(call.queue)
    return queue.sl_threshold_s if queue else DEFAULT_THRESHOLD_S


def _spread(start: float, end: float, first: float, step: int, count: int) -> Iterator[tuple[int, float]]:
    """(interval index, seconds) of [start, end) inside each of ``count`` intervals from ``first``."""
    if end <= start:
        return
    index = max(0, int((start - first) // step))
    while index < count:
        low = first + index * step
        if low >= end:
            return
        overlap = min(end, low + step) - max(start, low)
        if overlap > 0:
            yield index, overlap
        index += 1


def call_figures(calls: list[Call], *, queues: Mapping[str, QueueConfig], wrap: Mapping[str, float]) -> dict:
    """The call figures of an IntervalRow for the calls that arrived in it."""
    answered = [c for c in calls if c.answered_at is not None]
    within = [c for c in answered if c.answered_at - c.enqueued_at <= _threshold(c, queues)]
    abandoned = [c for c in calls if c.state is CallState.ABANDONED and c.answered_at is None]
    short = [c for c in abandoned if _wait_s(c) <= _threshold(c, queues)]
    handled = [talk_s(c) + wrap.get(c.id, 0.0) for c in answered if c.ended_at is not None]
    return dict(
        offered=len(calls),
        answered=len(answered),
        answered_within_threshold=len(within),
        abandoned=len(abandoned),
        abandoned_within_threshold=len(short),
        service_level=service_level(len(within), len(calls), len(short)),
        asa_s=fmean(_wait_s(c) for c in answered) if answered else 0.0,
        aht_s=fmean(handled) if handled else 0.0,
        abandonment_rate=len(abandoned) / len(calls) if calls else 0.0,
        longest_wait_s=max((_wait_s(c) for c in calls), default=0.0),
    )


def _left(call: Call, group_by: GroupBy) -> set[str]:
    """The groups a call overflowed out of: queues it left, sites it left, or the tenant if either."""
    if group_by is GroupBy.QUEUE:
        return set(call.route_history)
    if group_by is GroupBy.SITE:
        return set(call.visited_sites)
    return {""} if call.route_history or call.visited_sites else set()


class _AgentSites:
    """The site an agent was at a moment: its presence interval then, else its profile, else a fallback."""

    def __init__(self, presence: list[PresenceInterval], profiles: Mapping[str, str]):
        self._by_agent: dict[str, list[PresenceInterval]] = defaultdict(list)
        for p in sorted(presence, key=lambda p: p.start):
            self._by_agent[p.agent_id].append(p)
        self._profiles = profiles

    def at(self, agent_id: str, moment: float, fallback: str = "") -> str:
        for p in self._by_agent.get(agent_id, ()):
            if p.start <= moment < p.end and p.site:
                return p.site
        return self._profiles.get(agent_id) or fallback

    def latest(self, agent_id: str) -> str:
        logged = self._by_agent.get(agent_id)
        return self._profiles.get(agent_id) or (logged[-1].site if logged else "")


def interval_report(
    *,
    calls: Iterable[Call],
    presence: Iterable[PresenceInterval],
    queues: Mapping[str, QueueConfig],
    start: float,
    end: float,
    granularity: Granularity,
    group_by: GroupBy,
    groups: Iterable[str] = (),
    agent_sites: Mapping[str, str] | None = None,
) -> list[IntervalRow]:
    """One row per interval of the aligned window and per group, empty ones included, in time then group order.

    ``groups`` are shown even without traffic (e.g. every configured queue);
    groups seen in the records are added. ``calls`` may include calls that
    arrived before the window: they add their talk time to occupancy only.
    """
    calls, presence = list(calls), list(presence)
    step = granularity.seconds
    first, last = aligned(start, end, granularity)
    count = interval_count(start, end, granularity)
    wrap = wrap_up_by_call(presence)
    arrived: dict[tuple[int, str], list[Call]] = defaultdict(list)
    overflowed: dict[tuple[int, str], int] = defaultdict(int)
    for call in calls:
        if first <= call.enqueued_at < last:
            index = int((call.enqueued_at - first) // step)
            arrived[index, {GroupBy.QUEUE: call.queue, GroupBy.SITE: call.site}.get(group_by, "")].append(call)
            for left in _left(call, group_by):
                overflowed[index, left] += 1
    handle: dict[tuple[int, str], float] = defaultdict(float)
    staffed: dict[tuple[int, str], float] = defaultdict(float)
    if group_by is not GroupBy.QUEUE:
        sites = _AgentSites(presence, agent_sites or {})
        by_site = group_by is GroupBy.SITE
        for call in calls:
            if call.answered_at is not None and call.ended_at is not None:
                group = sites.at(call.agent_id, call.answered_at, call.site) if by_site else ""
                for index, seconds in _spread(call.answered_at, call.ended_at, first, step, count):
                    handle[index, group] += seconds
        for p in presence:
            group = (p.site or sites.latest(p.agent_id)) if by_site else ""
            if p.presence in STAFFED:
                for index, seconds in _spread(p.start, p.end, first, step, count):
                    staffed[index, group] += seconds
                    if p.presence is Presence.WRAP_UP:
                        handle[index, group] += seconds
    if group_by is GroupBy.TENANT:
        names = {""}
    else:
        names = set(groups) | {g for _, g in (*arrived, *overflowed, *handle, *staffed)}
        names.discard("")
    rows = []
    for index in range(count):
        low = first + index * step
        for group in sorted(names):
            key = (index, group)
            agent_time = {}
            if group_by is not GroupBy.QUEUE:
                handled_s, staffed_s = handle.get(key, 0.0), staffed.get(key, 0.0)
                occupancy = handled_s / staffed_s if staffed_s > 0 else 0.0
                agent_time = dict(handle_s=handled_s, staffed_s=staffed_s, occupancy=occupancy)
            figures = call_figures(arrived.get(key, []), queues=queues, wrap=wrap)
            rows.append(IntervalRow(start=low, end=low + step, group=group, overflowed=overflowed.get(key, 0),
                                    **figures, **agent_time))
    return rows


def agent_report(
    *,
    calls: Iterable[Call],
    presence: Iterable[PresenceInterval],
    start: float,
    end: float,
    agent_sites: Mapping[str, str] | None = None,
) -> list[AgentRow]:
    """Per agent over [start, end): calls handled (that arrived in it, answered by the agent), their
    talk, wrap-up and AHT; staffed time and occupancy clipped to the window. Agents in ``agent_sites``
    (the configured ones) are listed even when idle; sorted by id."""
    calls, presence, agent_sites = list(calls), list(presence), agent_sites or {}
    wrap = wrap_up_by_call(presence)
    sites = _AgentSites(presence, agent_sites)
    handled: dict[str, list[Call]] = defaultdict(list)
    handle: dict[str, float] = defaultdict(float)
    staffed: dict[str, float] = defaultdict(float)
    for call in calls:
        if not call.agent_id or call.answered_at is None or call.ended_at is None:
            continue
        if start <= call.enqueued_at < end:
            handled[call.agent_id].append(call)
        handle[call.agent_id] += _clipped(call.answered_at, call.ended_at, start, end)
    for p in presence:
        if p.presence in STAFFED:
            staffed[p.agent_id] += _clipped(p.start, p.end, start, end)
        if p.presence is Presence.WRAP_UP:
            handle[p.agent_id] += _clipped(p.start, p.end, start, end)
    rows = []
    for agent_id in sorted(set(agent_sites) | set(handled) | set(staffed) | set(handle)):
        mine = handled.get(agent_id, [])
        talk = sum(talk_s(c) for c in mine)
        wrap_up = sum(wrap.get(c.id, 0.0) for c in mine)
        staffed_s, handle_s = staffed.get(agent_id, 0.0), handle.get(agent_id, 0.0)
        rows.append(AgentRow(
            agent_id=agent_id, site=sites.latest(agent_id), handled=len(mine), talk_s=talk, wrap_up_s=wrap_up,
            aht_s=(talk + wrap_up) / len(mine) if mine else 0.0, staffed_s=staffed_s, handle_s=handle_s,
            occupancy=handle_s / staffed_s if staffed_s > 0 else 0.0,
        ))
    return rows


def _clipped(low: float, high: float, start: float, end: float) -> float:
    """Seconds of [low, high) inside [start, end)."""
    return max(0.0, min(high, end) - max(low, start))
