"""Queue statistics over a day of ended calls: the node's interval totals against reading the records.

A real etcd holds a day of ended-call records of one tenant, spread evenly over
its queues. For windows of 15 minutes, an hour and a day, both ways of
computing every queue's figures (what ``ListQueueStats`` and the wallboard do)
are timed in this process:

- *records* (the reference; what the node did before ``state.intervals``): one
  range read of the window's records, each decoded, then ``kpis.queue_stats``;
- *interval totals* (the node now): ``IntervalViews.window`` on a loaded cache
  (the buckets after the minute the start cuts, and that minute's records),
  then ``kpis.queue_stats_of``.

Both must give the same figures (checked, and reported). Also reported: the
cache's one-off load (the whole day, once per node and tenant) and the memory
its buckets hold (tracemalloc, around filling buckets from the decoded records).
"""

from __future__ import annotations

import math
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass

from ccp_acd.domain import kpis
from ccp_acd.domain.intervals import HORIZON_S, Buckets
from ccp_acd.domain.models import Call, CallState, LiveView, QueueConfig
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.store import TenantConfig

from bench import harness

TENANT = "bench-stats"
WINDOWS_S = (900.0, 3600.0, HORIZON_S)
# Puts per seeding transaction: under etcd's default --max-txn-ops (128).
SEED_BATCH = 128
EMPTY = LiveView(agents={}, calls={}, reservations={})


@dataclass(frozen=True)
class Plan:
    records: int  # ended calls over the last day
    queues: int
    repeats: int  # timings per window and way (the median is reported)


FULL = Plan(records=86_400, queues=4, repeats=5)
QUICK = Plan(records=600, queues=2, repeats=2)


def _records(plan: Plan, now: float) -> list[Call]:
    """Evenly spread over the day; by turns answered within 20 s, answered later, abandoned."""
    step = HORIZON_S / plan.records
    calls = []
    for n in range(plan.records):
        at = now - HORIZON_S + step * (n + 0.5)
        wait = (10.0, 40.0, None)[n % 3]
        answered = None if wait is None else at + wait
        calls.append(Call(
            id=f"{keys.nanos(at):020d}-s{n:06d}", queue=f"q{n % plan.queues}", enqueued_at=at, queued_since=at,
            answered_at=answered, ended_at=(answered or at) + 120.0,
            state=CallState.COMPLETED if answered else CallState.ABANDONED,
        ))
    return calls


async def _seed(store: EtcdStore, queues: list[QueueConfig], calls: list[Call]) -> None:
    for queue in queues:
        await store.put_queue_config(TENANT, queue)
    await store.put_tenant_config(TenantConfig(name=TENANT))
    for first in range(0, len(calls), SEED_BATCH):
        puts = [store._put(keys.history(TENANT, c.id), c) for c in calls[first:first + SEED_BATCH]]
        await store._txn([], puts)


def _buckets_bytes(calls: list[Call], queues: list[QueueConfig]) -> int:
    """Bytes the buckets of ``calls`` hold (allocated while filling them, still held after)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        buckets = Buckets({q.name: q.sl_threshold_s for q in queues})
        for call in calls:
            buckets.add(call)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del buckets
    return held


def _same(a: kpis.QueueStats, b: kpis.QueueStats) -> bool:
    """Equal figures (sums of floats taken in another order may differ in the last bits)."""
    return all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) if isinstance(x, float) else x == y
        for x, y in zip(astuple(a), astuple(b), strict=True)
    )


async def _timed(repeats: int, read: Callable) -> tuple[float, list]:
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = await read()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings) * 1000, 2), result


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    say(f"stats: {plan.records} ended calls over a day in {plan.queues} queues; windows "
        f"{', '.join(f'{w / 3600:g} h' for w in WINDOWS_S)}")
    queues = [QueueConfig(name=f"q{i}", sl_threshold_s=20) for i in range(plan.queues)]
    now = time.time()
    calls = _records(plan, now)
    rows = []
    with harness.cluster("ccp-bench-stats-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint, timeout_s=60)
        views = IntervalViews(store, clock=lambda: now)
        try:
            started = time.monotonic()
            await _seed(store, queues, calls)
            say(f"  seeded in {time.monotonic() - started:.1f} s")
            started = time.perf_counter()
            await views.window(TENANT, {q.name: q for q in queues}, now - 60, now=now)
            load_s = time.perf_counter() - started
            for window_s in WINDOWS_S:
                start = now - window_s

                async def from_records(start=start, window_s=window_s):
                    history = await store.history_since(TENANT, start)
                    return [kpis.queue_stats(queue=q, view=EMPTY, history=history, now=now, window_s=window_s)
                            for q in queues], len(history)

                async def from_totals(start=start):
                    window = await views.window(TENANT, {q.name: q for q in queues}, start, now=now)
                    return [kpis.queue_stats_of(queue=q, view=EMPTY, interval=window.total(q.name), now=now,
                                                window_start=window.start) for q in queues]

                records_ms, (by_records, decoded) = await _timed(plan.repeats, from_records)
                totals_ms, by_totals = await _timed(plan.repeats, from_totals)
                same = all(_same(a, b) for a, b in zip(by_records, by_totals, strict=True))
                rows.append({
                    "window_s": window_s, "records_in_window": decoded, "records_ms": records_ms,
                    "totals_ms": totals_ms, "speedup": round(records_ms / totals_ms, 1) if totals_ms else 0.0,
                    "same_figures": same, "offered": sum(s.offered for s in by_totals),
                })
                say(f"  {window_s / 3600:g} h: {decoded} records; reading them {records_ms} ms, interval totals "
                    f"{totals_ms} ms ({rows[-1]['speedup']}x); same figures: {'yes' if same else 'NO'}")
            buckets = views.cache(TENANT).buckets.size
        finally:
            await views.close()
            await store.close()
    held = _buckets_bytes(calls, queues)
    say(f"stats: the cache loaded the day in {load_s:.2f} s (once per node and tenant) and holds {buckets} buckets, "
        f"{held / 1024:.0f} KiB")
    return {
        "plan": asdict(plan),
        "rows": rows,
        "load_s": round(load_s, 2),
        "buckets": buckets,
        "buckets_kib": round(held / 1024, 1),
    }
