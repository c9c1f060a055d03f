"""Figures of a drill, from the recorded call histories (pure, tested on hand-built timelines).

Times are seconds since the load started (drills run the simulation in real
time, scale 1). ``site_of`` maps a node address to its site, so a call's
scope can be "came in at site-a" (the node that took its Enqueue).

- routing stopped: over the scope's calls that were waiting when the fault
  hit (and, for "affected", every later arrival), how long each waited for its
  first offer counted from the later of its arrival and the fault; the first
  such offer says when routing resumed, the longest wait how long any caller
  was held up by the fault. Capacity shortage also delays offers, so drills
  measuring this keep agents free at the measured scope.
- service level during the drill: answered within the threshold over the
  calls that arrived from the fault to the end of the load (abandons within
  the threshold count neither way, as in ``sim.history.check``).
- series: per second, calls waiting and answered, for the report's plot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ccp_acd.sim.history import CallTimeline, check


@dataclass(frozen=True)
class RoutingStop:
    calls: int
    # Seconds from the fault to the first offer of a call in scope (None: no such offer).
    resumed_after_s: float | None
    # The longest wait for a first offer, counted from max(arrival, fault).
    longest_s: float | None


def in_scope(t: CallTimeline, *, site: str, queue: str, site_of: Callable[[str], str]) -> bool:
    return bool(t.call_id) and (not site or site_of(t.enqueue_node) == site) and (not queue or t.planned.queue == queue)


def routing_stop(
    timelines: Sequence[CallTimeline],
    *,
    fault_at: float,
    site: str = "",
    queue: str = "",
    calls: str = "affected",
    site_of: Callable[[str], str] = lambda address: "",
) -> RoutingStop:
    waits: list[tuple[float, float]] = []  # (offered_at, wait counted from max(arrival, fault))
    for t in timelines:
        if not in_scope(t, site=site, queue=queue, site_of=site_of) or t.enqueued_at is None:
            continue
        offered = t.offered_at
        waiting_at_fault = t.enqueued_at <= fault_at and (offered is None or offered >= fault_at)
        later = calls == "affected" and t.enqueued_at > fault_at
        if not (waiting_at_fault or later) or offered is None:
            continue
        waits.append((offered, offered - max(t.enqueued_at, fault_at)))
    if not waits:
        return RoutingStop(0, None, None)
    return RoutingStop(
        calls=len(waits),
        resumed_after_s=min(offered for offered, _ in waits) - fault_at,
        longest_s=max(wait for _, wait in waits),
    )


def service_level_during(timelines: Sequence[CallTimeline], *, since: float, threshold_s: float) -> float:
    window = [t for t in timelines if t.enqueued_at is not None and t.enqueued_at >= since]
    return check(window, threshold_s=threshold_s).service_level


def series(timelines: Sequence[CallTimeline], *, until: float) -> list[dict[str, float]]:
    """Per whole second: calls in the system waiting for an agent, and calls answered in that second."""
    points = []
    for second in range(int(until) + 1):
        waiting = sum(
            1
            for t in timelines
            if t.enqueued_at is not None
            and t.enqueued_at <= second
            and (t.answered_at is None or t.answered_at > second)
            and (t.abandoned_at is None or t.abandoned_at > second)
        )
        answered = sum(1 for t in timelines if t.answered_at is not None and second - 1 < t.answered_at <= second)
        points.append({"t": float(second), "waiting": float(waiting), "answered": float(answered)})
    return points
