"""Interval totals: what ended calls add up to, per queue per minute of arrival.

Every interval figure of ``domain.kpis`` (offered, answered, answered within
the threshold, abandoned, ASA, AHT, overflowed) is a sum over the ended calls
that *arrived* in the window. So each call's contribution (``contributions``)
is added into the bucket of its queue and arrival minute (``Buckets``), and a
window's figures are the sum of its buckets: reading a day's figures costs
1,440 additions per queue, not the decoding of every call of the day. This is
how ACDs keep interval statistics (Cisco UCCE's interval tables, Genesys'
interval aggregates); ``state.intervals`` keeps the buckets up to date from a
watch on the tenant's ``history/`` records.

Windows start anywhere, buckets on the minute: a ``Window`` (``Buckets.window``)
holds the whole buckets after its start and, for the bucket its start cuts, only
the calls that arrived from the start on (the reader reads those records: under
a minute of arrivals). So its figures are exact, the same as summing the records.

The service level threshold is the queue's when a call is added: ``Buckets``
record the thresholds they were filled with (``thresholds``), and a reader that
sees a queue's threshold changed refills them (``state.intervals``).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ccp_acd.domain.models import Call, CallState

# Seconds per bucket: a window's start is cut inside one bucket, so this bounds the records a window reads.
BUCKET_S = 60.0
# Seconds of arrivals the buckets keep: the longest statistics window (GetQueueStats' limit).
HORIZON_S = 24 * 3600.0


@dataclass(slots=True)
class Totals:
    """Sums over ended calls of one queue (``kpis.queue_stats_of`` turns them into rates and means)."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    answer_wait_s: float = 0.0  # summed over the answered calls
    talk_s: float = 0.0  # summed over the answered calls with an end
    talked: int = 0
    overflowed: int = 0  # calls that passed through the queue on their way to another (route history)

    def add(self, other: Totals, sign: int = 1) -> None:
        # Spelt out, not a loop over the fields: a day's window adds 1,440 buckets per queue.
        self.offered += sign * other.offered
        self.answered += sign * other.answered
        self.answered_within += sign * other.answered_within
        self.abandoned += sign * other.abandoned
        self.abandoned_within += sign * other.abandoned_within
        self.answer_wait_s += sign * other.answer_wait_s
        self.talk_s += sign * other.talk_s
        self.talked += sign * other.talked
        self.overflowed += sign * other.overflowed

    def copy(self) -> Totals:
        copied = Totals()
        copied.add(self)
        return copied

    @property
    def empty(self) -> bool:
        """Nothing counted (the float sums may keep a rounding residue after a call is taken back)."""
        return not self.offered and not self.overflowed


def contributions(call: Call, thresholds: Mapping[str, float]) -> dict[str, Totals]:
    """What one ended call adds, by queue: its own queue's counts, and ``overflowed`` of each queue it left.

    ``thresholds``: service level thresholds by queue; a queue without one counts nothing as within.
    Calls that have not ended add nothing.
    """
    if not call.state.terminal:
        return {}
    threshold = thresholds.get(call.queue, -math.inf)
    own = Totals(offered=1)
    if call.answered_at is not None:
        wait = call.answered_at - call.enqueued_at
        own.answered, own.answer_wait_s = 1, wait
        own.answered_within = int(wait <= threshold)
        if call.ended_at is not None:
            own.talk_s, own.talked = call.ended_at - call.answered_at, 1
    elif call.state is CallState.ABANDONED:
        own.abandoned = 1
        own.abandoned_within = int(call.ended_at is not None and call.ended_at - call.enqueued_at <= threshold)
    added = {call.queue: own}
    for queue in set(call.route_history):
        added.setdefault(queue, Totals()).overflowed += 1
    return added


def bucket_of(t: float, bucket_s: float = BUCKET_S) -> int:
    """The index of the bucket holding arrival time ``t``: it covers [index * bucket_s, (index + 1) * bucket_s)."""
    return math.floor(t / bucket_s)


class Buckets:
    """Totals per queue per bucket of arrival time, added to and taken from as records come and go."""

    def __init__(self, thresholds: Mapping[str, float], *, bucket_s: float = BUCKET_S):
        self.thresholds = dict(thresholds)
        self.bucket_s = bucket_s
        self._by_queue: dict[str, dict[int, Totals]] = {}

    def add(self, call: Call, sign: int = 1) -> None:
        """Add (``sign`` 1) or take back (-1) an ended call's contributions."""
        index = bucket_of(call.enqueued_at, self.bucket_s)
        for queue, totals in contributions(call, self.thresholds).items():
            buckets = self._by_queue.setdefault(queue, {})
            bucket = buckets.setdefault(index, Totals())
            bucket.add(totals, sign)
            if bucket.empty:
                del buckets[index]

    def drop_before(self, t: float) -> None:
        """Forget the buckets that end at or before ``t`` (older than any window read from now on)."""
        first = bucket_of(t, self.bucket_s)
        for buckets in self._by_queue.values():
            for index in [i for i in buckets if i < first]:
                del buckets[index]

    def window(self, queues: Iterable[str], start: float, cut: Iterable[Call]) -> Window:
        """The window from ``start`` on: the buckets after the one ``start`` cuts, plus ``cut``.

        ``cut``: the ended calls that arrived in [start, the end of the bucket holding ``start``).
        """
        first = bucket_of(start, self.bucket_s)
        edge = Buckets(self.thresholds, bucket_s=self.bucket_s)
        for call in cut:
            if start <= call.enqueued_at and bucket_of(call.enqueued_at, self.bucket_s) == first:
                edge.add(call)
        by_queue = {}
        for queue in queues:
            kept = {i: totals.copy() for i, totals in self._by_queue.get(queue, {}).items() if i > first}
            if (edge_totals := edge._by_queue.get(queue, {}).get(first)) is not None:
                kept[first] = edge_totals
            by_queue[queue] = kept
        return Window(start=start, bucket_s=self.bucket_s, by_queue=by_queue)

    def cut_end(self, start: float) -> float:
        """Where the bucket ``start`` cuts ends: a window reads its records in [start, this)."""
        return (bucket_of(start, self.bucket_s) + 1) * self.bucket_s

    @property
    def size(self) -> int:
        """Buckets held, over all queues."""
        return sum(len(buckets) for buckets in self._by_queue.values())


@dataclass(frozen=True)
class Window:
    """The totals of calls that arrived from ``start`` on, per queue per bucket (copies, not shared)."""

    start: float
    bucket_s: float
    by_queue: Mapping[str, Mapping[int, Totals]]

    @classmethod
    def of(
        cls, calls: Iterable[Call], thresholds: Mapping[str, float], *, start: float, bucket_s: float = BUCKET_S
    ) -> Window:
        """The window of ``calls`` (the ended ones that arrived from ``start`` on), summed from the records."""
        buckets = Buckets(thresholds, bucket_s=bucket_s)
        for call in calls:
            if call.enqueued_at >= start:
                buckets.add(call)
        return cls(start=start, bucket_s=bucket_s, by_queue=buckets._by_queue)

    def total(self, queue: str, *, start: float = -math.inf, end: float = math.inf) -> Totals:
        """``queue``'s totals of the calls that arrived in [start, end); both on bucket bounds (or infinite)."""
        for bound in (start, end):
            if math.isfinite(bound) and bound % self.bucket_s:
                raise ValueError(f"{bound} is not on a {self.bucket_s:g} s bucket bound")
        low = -math.inf if math.isinf(start) else start / self.bucket_s
        high = math.inf if math.isinf(end) else end / self.bucket_s
        summed = Totals()
        for index, totals in self.by_queue.get(queue, {}).items():
            if low <= index < high:
                summed.add(totals)
        return summed
