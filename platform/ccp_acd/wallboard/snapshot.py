"""What a wallboard shows, as one JSON-able dict: per queue and tenant-wide, now and over the last hour.

Pure: the caller passes the queue configs, one live view, the window's
interval totals (``domain.intervals``) and ``now``. Every figure is ``domain.kpis`` (docs/kpis.md); this
module only picks the windows and shapes the result:

- the hour figures are ``kpis.queue_stats`` over ``[now - window, now]``;
- the chart series cut the same hour into buckets aligned to the clock
  (``:00, :05, ...`` with 5-minute buckets), the last one partial and ending
  now, and run ``kpis.queue_stats_of`` on the totals of the calls that
  *arrived* in each bucket (and have ended, as every interval figure).

Not for: reports (``ccp report``, 15 min / hour / day intervals) or alerting.
There is no tenant-wide service level: queues have their own thresholds, so
their service levels do not add up into one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, Literal

from ccp_acd.domain import kpis
from ccp_acd.domain.intervals import Window
from ccp_acd.domain.models import LiveView, QueueConfig

# Seconds. The hour a supervisor looks back on.
WINDOW_S = 3600.0
# Seconds per chart bucket: 12 points in the hour, fine enough to see a peak build up.
BUCKET_S = 300.0
# A service level this close below its target (0.05 = 5 points) is amber, not yet red.
AMBER_BAND = 0.05

SlStatus = Literal["met", "near", "missed"]

_NO_LIVE_CALLS = LiveView(agents={}, calls={}, reservations={})


def sl_status(service_level: float, target: float, *, amber_band: float = AMBER_BAND) -> SlStatus:
    """Green (met) at or above the target, amber (near) within ``amber_band`` below it, else red (missed)."""
    if service_level >= target:
        return "met"
    return "near" if service_level >= target - amber_band else "missed"


def bucket_starts(now: float, *, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> list[float]:
    """Clock-aligned bucket starts covering the window; the last bucket holds ``now``."""
    count = math.ceil(window_s / bucket_s)
    last = math.floor(now / bucket_s) * bucket_s
    return [last - (count - 1 - i) * bucket_s for i in range(count)]


def _series(queue: QueueConfig, window: Window, starts: list[float], *, now: float, bucket_s: float) -> list[dict[str, Any]]:
    points = []
    for start in starts:
        interval = window.total(queue.name, start=start, end=start + bucket_s)
        stats = kpis.queue_stats_of(queue=queue, view=_NO_LIVE_CALLS, interval=interval, now=now, window_start=start)
        points.append(
            {
                "start": start,
                "offered": stats.offered,
                "answered": stats.answered,
                "service_level": round(stats.service_level, 4),
            }
        )
    return points


def _queue(stats: kpis.QueueStats, *, name: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "waiting": stats.waiting,
        "longest_wait_s": round(stats.longest_wait_s, 1),
        "expected_wait_s": round(stats.expected_wait_s, 1),
        "agents": asdict(stats.agents),
        "offered": stats.offered,
        "answered": stats.answered,
        "answered_within_threshold": stats.answered_within_threshold,
        "abandoned": stats.abandoned,
        "service_level": round(stats.service_level, 4),
        "sl_target": stats.sl_target,
        "sl_threshold_s": stats.sl_threshold_s,
        "sl_status": sl_status(stats.service_level, stats.sl_target),
        "asa_s": round(stats.asa_s, 1),
        "aht_s": round(stats.aht_s, 1),
        "abandonment_rate": round(stats.abandonment_rate, 4),
        "series": series,
    }


def build_snapshot(
    *,
    tenant: str,
    queues: Iterable[QueueConfig],
    view: LiveView,
    window: Window,
    now: float,
    window_s: float = WINDOW_S,
    bucket_s: float = BUCKET_S,
) -> dict[str, Any]:
    """The wallboard's picture of ``tenant`` at ``now``; queues sorted by name.

    ``window``: the interval totals from ``now - window_s`` on (``domain.intervals``; ``bucket_s`` a
    multiple of its buckets).
    """
    starts = bucket_starts(now, window_s=window_s, bucket_s=bucket_s)
    shown = []
    for queue in sorted(queues, key=lambda q: q.name):
        interval = window.total(queue.name)
        stats = kpis.queue_stats_of(queue=queue, view=view, interval=interval, now=now, window_start=window.start)
        shown.append(_queue(stats, name=queue.name, series=_series(queue, window, starts, now=now, bucket_s=bucket_s)))
    live = kpis.live_stats(view, now=now)
    totals = {
        # kpis.live_stats: every queued call and logged-in agent of the tenant once, whatever the queues
        "waiting": live.waiting,
        "longest_wait_s": round(live.longest_wait_s, 1),
        "connected": live.connected,
        "offered": sum(q["offered"] for q in shown),
        "answered": sum(q["answered"] for q in shown),
        "answered_within_threshold": sum(q["answered_within_threshold"] for q in shown),
        "abandoned": sum(q["abandoned"] for q in shown),
        "agents": asdict(live.agents),
        "series": [
            {
                "start": start,
                "offered": sum(q["series"][i]["offered"] for q in shown),
                "answered": sum(q["series"][i]["answered"] for q in shown),
            }
            for i, start in enumerate(starts)
        ],
    }
    return {
        "tenant": tenant,
        "generated_at": now,
        "window_s": window_s,
        "bucket_s": bucket_s,
        "queues": shown,
        "totals": totals,
    }
