"""Predicted KPIs of a what-if run, with the definitions of docs/kpis.md, and their spread over replications.

Per queue, over the calls that arrived at or after ``window_start_s`` (a warm-up
before it lets the queue fill as it would in a running center) and ended:
``domain.kpis.queue_stats`` computes offered, answered, service level (short
abandons left out of the denominator), ASA and abandonment exactly as the
platform reports them. Longest wait is the longest any such caller waited
(until answered, hanging up, or voicemail). Occupancy is the share of the
agents' time in ``[window_start_s, window_end_s]`` spent offered, talking or in
wrap-up.

Replications: each figure is the mean over replications with a 95 % interval
from Student's t on their spread (``Estimate``); one replication has no interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, stdev

from ccp_acd.domain.kpis import queue_stats
from ccp_acd.domain.models import Call, LiveView, QueueConfig
from ccp_acd.whatif.engine import Outcome

FIGURES = ("offered", "answered", "abandoned", "service_level", "asa_s", "abandonment_rate", "longest_wait_s")

# Two-sided 95 % quantiles of Student's t by degrees of freedom (1..30); beyond, a Cornish-Fisher expansion.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class QueueFigures:
    queue: str
    offered: int
    answered: int
    abandoned: int
    service_level: float
    sl_threshold_s: float
    sl_target: float
    asa_s: float
    abandonment_rate: float
    longest_wait_s: float
    overflowed: int
    unfinished: int


def wait_s(call: Call, *, end_s: float) -> float:
    """How long the caller waited: until answered, or until the call ended unanswered (or the run stopped)."""
    until = call.answered_at if call.answered_at is not None else call.ended_at
    return (end_s if until is None else until) - call.enqueued_at


def queue_figures(
    outcome: Outcome, queues: Mapping[str, QueueConfig], *, window_start_s: float = 0.0
) -> dict[str, QueueFigures]:
    """Figures for every configured queue and every queue a call ended in."""
    counted = [c for c in outcome.calls if c.enqueued_at >= window_start_s]
    ended = [c for c in counted if c.state.terminal]
    names = sorted({*queues, *(c.queue for c in counted)})
    empty = LiveView(agents={}, calls={}, reservations={})
    figures = {}
    for name in names:
        queue = queues.get(name) or QueueConfig(name=name)
        stats = queue_stats(queue=queue, view=empty, history=ended, now=outcome.end_s, window_s=math.inf)
        mine = [c for c in counted if c.queue == name]
        figures[name] = QueueFigures(
            queue=name,
            offered=stats.offered,
            answered=stats.answered,
            abandoned=stats.abandoned,
            service_level=stats.service_level,
            sl_threshold_s=queue.sl_threshold_s,
            sl_target=queue.sl_target,
            asa_s=stats.asa_s,
            abandonment_rate=stats.abandonment_rate,
            longest_wait_s=max((wait_s(c, end_s=outcome.end_s) for c in mine), default=0.0),
            overflowed=sum(1 for c in counted if name in c.route_history),
            unfinished=sum(1 for c in mine if not c.state.terminal),
        )
    return figures


def occupancy(outcome: Outcome, *, window_start_s: float, window_end_s: float) -> float:
    """Share of the agents' time in the window spent holding work or in wrap-up (0 for an empty window)."""
    length = window_end_s - window_start_s
    if length <= 0 or outcome.agents == 0:
        return 0.0
    busy = 0.0
    for spans in outcome.busy.values():
        busy += _covered(spans, window_start_s, window_end_s)
    return busy / (length * outcome.agents)


def _covered(spans: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Length of the union of ``spans`` inside ``[start, end]`` (chats overlap on one agent)."""
    total, reach = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reach), min(b, end)
        if b > a:
            total += b - a
            reach = b
    return total


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float  # of the 95 % interval; 0 with one replication
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def estimate(values: Sequence[float]) -> Estimate:
    if not values:
        raise ValueError("no values to estimate from")
    if len(values) == 1:
        return Estimate(float(values[0]), 0.0, 1)
    return Estimate(fmean(values), t975(len(values) - 1) * stdev(values) / math.sqrt(len(values)), len(values))


@dataclass(frozen=True)
class Summary:
    queues: dict[str, dict[str, Estimate]]  # queue -> figure (FIGURES) -> estimate
    occupancy: Estimate
    unfinished: int  # calls still in the system when runs stopped, all replications
    refused: int


def summarize(
    outcomes: Sequence[Outcome], queues: Mapping[str, QueueConfig], *, window_start_s: float, window_end_s: float
) -> Summary:
    """Each queue's figures over the replications (a queue missing from a run counts as idle there)."""
    runs = [queue_figures(o, queues, window_start_s=window_start_s) for o in outcomes]
    names = sorted({name for run in runs for name in run})
    by_queue: dict[str, dict[str, Estimate]] = {}
    for name in names:
        rows = [run.get(name) or _idle(name, queues) for run in runs]
        by_queue[name] = {figure: estimate([float(getattr(r, figure)) for r in rows]) for figure in FIGURES}
    return Summary(
        queues=by_queue,
        occupancy=estimate([occupancy(o, window_start_s=window_start_s, window_end_s=window_end_s) for o in outcomes]),
        unfinished=sum(len(o.unfinished) for o in outcomes),
        refused=sum(len(o.refused) for o in outcomes),
    )


def _idle(name: str, queues: Mapping[str, QueueConfig]) -> QueueFigures:
    queue = queues.get(name) or QueueConfig(name=name)
    return QueueFigures(name, 0, 0, 0, 1.0, queue.sl_threshold_s, queue.sl_target, 0.0, 0.0, 0.0, 0, 0)
