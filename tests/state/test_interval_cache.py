"""The interval caches (``state.intervals``) against a real etcd: a window's figures are those of summing the
records themselves, records put, rewritten and deleted later are followed, a read reads only the records of
the minute its start cuts, a changed threshold refills the buckets, a broken watch reloads, idle caches stop."""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest
from ccp_acd.domain import kpis
from ccp_acd.domain.models import Call, CallState, LiveView, QueueConfig
from ccp_acd.errors import StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.store import TenantConfig

from tests.helpers import eventually, scaled
from tests.state.test_tenant_discovery import _count_reads

# A minute's start, so the test knows which records fall in the minute a window's start cuts.
NOW = 1_800_000_000.0
SALES = QueueConfig(name="sales", sl_threshold_s=20)
EMPTY = LiveView(agents={}, calls={}, reservations={})


def _record(n: int, *, at: float, answer_after: float | None = 10.0, queue: str = "sales") -> Call:
    answered = None if answer_after is None else at + answer_after
    return Call(
        id=f"{keys.nanos(at):020d}-{n:04d}", queue=queue, enqueued_at=at, queued_since=at, answered_at=answered,
        ended_at=(answered or at) + 30.0, state=CallState.COMPLETED if answered else CallState.ABANDONED,
    )


async def _put(store, tenant: str, *calls: Call) -> None:
    for call in calls:
        await store.put_record(keys.history(tenant, call.id), call)


@pytest.fixture
async def tenant(store):
    name = f"iv-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=name))
    await store.put_queue_config(name, SALES)
    return name


@pytest.fixture
async def views(store):
    views = IntervalViews(store, clock=lambda: NOW)
    yield views
    await views.close()


async def _figures(views, tenant: str, window_s: float, queue: QueueConfig = SALES) -> kpis.QueueStats:
    window = await views.window(tenant, {queue.name: queue}, NOW - window_s, now=NOW)
    return kpis.queue_stats_of(queue=queue, view=EMPTY, interval=window.total(queue.name), now=NOW,
                               window_start=window.start)


async def _from_records(store, tenant: str, window_s: float, queue: QueueConfig = SALES) -> kpis.QueueStats:
    history = await store.history_since(tenant, NOW - window_s)
    return kpis.queue_stats(queue=queue, view=EMPTY, history=history, now=NOW, window_s=window_s)


async def test_the_window_is_the_sum_of_the_records_and_follows_puts_rewrites_and_deletes(store, tenant, views):
    # Every 37 s over the last two hours: answered in 10 s, 30 s or not at all.
    old = [_record(n, at=NOW - 7200 + 37 * n, answer_after=(10.0, 30.0, None)[n % 3]) for n in range(190)]
    await _put(store, tenant, *old)
    for window_s in (1.0, 61.0, 900.0, 3600.0 + 17):
        assert await _figures(views, tenant, window_s) == await _from_records(store, tenant, window_s)
    assert views.cache(tenant).loads == 1

    late = _record(999, at=NOW - 30)
    await _put(store, tenant, late)
    await store.put_record(keys.history(tenant, old[-1].id), _record(189, at=old[-1].enqueued_at, answer_after=50.0))
    await store.client.delete(keys.history(tenant, old[-2].id).encode())

    async def followed():
        return await _figures(views, tenant, 900) == await _from_records(store, tenant, 900)

    await eventually(followed, what="the cache to follow the put, the rewrite and the delete")
    figures = await _figures(views, tenant, 900)
    assert figures.offered == sum(1 for c in old[:-2] if c.enqueued_at >= NOW - 900) + 2
    assert views.cache(tenant).loads == 1


async def test_a_read_reads_only_the_records_of_the_minute_its_start_cuts(store, tenant, views, monkeypatch):
    """Once loaded, a window of an hour over 600 records reads the 10 that arrived in the minute it starts in."""
    await _put(store, tenant, *(_record(n, at=NOW - 3660 + 6 * n) for n in range(610)))
    await _figures(views, tenant, 3600)  # the load: every record once

    returned = _count_reads(store, monkeypatch)
    figures = await _figures(views, tenant, 3600)
    assert sum(returned) == 10, returned  # [NOW - 3600, NOW - 3540): arrivals every 6 s
    assert figures.offered == 600


async def test_a_changed_threshold_refills_the_buckets(store, tenant, views):
    await _put(store, tenant, *(_record(n, at=NOW - 600 + n, answer_after=25.0) for n in range(5)))
    assert (await _figures(views, tenant, 900)).answered_within_threshold == 0
    longer = QueueConfig(name="sales", sl_threshold_s=30)
    assert (await _figures(views, tenant, 900, longer)).answered_within_threshold == 5
    assert views.cache(tenant).loads == 2
    assert (await _figures(views, tenant, 900, longer)).answered_within_threshold == 5
    assert views.cache(tenant).loads == 2, "the reader's threshold is kept: no reload per read"


async def test_reads_arriving_during_the_load_wait_for_it_instead_of_restarting_it(store, tenant, views):
    await _put(store, tenant, *(_record(n, at=NOW - 3000 + n) for n in range(2500)))  # three pages to load
    first = asyncio.create_task(_figures(views, tenant, 3600))
    while (cache := views.cache(tenant)) is None or not cache._filling:
        await asyncio.sleep(0)
    assert cache.revision == 0, "the load is under way"
    later = await asyncio.gather(*(_figures(views, tenant, 3600) for _ in range(4)))
    assert {f.offered for f in (await first, *later)} == {2500}
    assert cache.loads == 1


async def test_a_broken_watch_reloads_and_misses_nothing(store, tenant, views):
    await _put(store, tenant, _record(1, at=NOW - 100))
    assert (await _figures(views, tenant, 900)).offered == 1
    cache = views.cache(tenant)
    cache.follow_task.cancel()
    await _put(store, tenant, _record(2, at=NOW - 50))

    async def reloaded():
        return cache.loads == 2 and (await _figures(views, tenant, 900)).offered == 2

    await eventually(reloaded, what="the cache to reload after its watch broke")


async def test_idle_caches_stop_and_close_stops_the_rest(store, tenant):
    clock = [NOW]
    views = IntervalViews(store, clock=lambda: clock[0], idle_s=60)
    other = f"{tenant}-b"
    await store.put_tenant_config(TenantConfig(name=other))
    try:
        await views.window(tenant, {"sales": SALES}, NOW - 60, now=NOW)
        task = views._caches[tenant][1]
        await views.window(other, {}, NOW + 61 - 60, now=NOW + 61)
        assert views.cache(tenant) is None and task.done()
        assert views.cache(other) is not None
    finally:
        await views.close()
    assert views.cache(other) is None


async def test_a_read_fails_with_unavailable_while_etcd_cannot_be_reached(tenant):
    """Reads wait for the load a bounded time: a cache that cannot load says so instead of hanging."""
    unreachable = await EtcdStore.connect(f"127.0.0.1:{_free_port()}", timeout_s=0.2)
    views = IntervalViews(unreachable, clock=lambda: NOW, load_wait_s=scaled(1.0))
    try:
        with pytest.raises(StateUnavailable, match="still loading"):
            await views.window(tenant, {"sales": SALES}, NOW - 60, now=NOW)
    finally:
        await views.close()
        await unreachable.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
