"""Watch-fed interval totals: a tenant's ended calls of the last day, summed per queue per minute.

Queue statistics (``AdminService.GetQueueStats`` / ``ListQueueStats``, the
wallboard) sum the ended calls that arrived in a window of up to a day. Reading
those records on every refresh costs one decode per call: at 100 calls/s an
hour is 360,000 records. Instead an ``IntervalCache`` keeps the sums
(``domain.intervals.Buckets``):

- Load: the tenant's ``history/`` records that arrived in the last
  ``HORIZON_S``, read a page at a time at one revision R (``history_pages``),
  each added into its queue's minute; the thresholds are the queues' at the load.
- Follow: a watch on ``history/`` from R + 1, with previous values. A put adds
  the record and takes back the one it replaced (a voicemail left after the
  call ended rewrites its record); a delete (retention) takes it back.
  Records that arrived before the buckets' floor (the load's start, or the
  last pruning) are not theirs and are ignored.
- Read (``IntervalViews.window``): the buckets after the one the window's start
  cuts, and for that one the records from the start on, one range read of
  under ``BUCKET_S`` of arrivals; so the figures are exact, the same as
  summing the records. The cost of a read is the number of minutes in the
  window, and a minute of records, whatever the window.

Freshness: a call's final record is written in the transaction that removes it
from ``live/``; a read first waits (bounded, ``FRESH_WAIT_S``) for the cache to
apply the revision of this node's last write there (``EtcdStore.written``), so
the calls this node ended are in it, as ``LiveViews.read`` gives. Calls ended
on other nodes arrive with their watch events, milliseconds later.

Thresholds: a read whose queue has another service level threshold than the
buckets were filled with (a queue created, or its threshold changed, since the
load) reloads the cache with the reader's (over the configs the load reads),
and waits for it.

Lifetime: a tenant's cache starts at its first read and stops after
``IDLE_S`` without one (checked at each read); ``IntervalViews.close`` stops
them all. A broken watch reloads after ``RESYNC_DELAY_S``; reads meanwhile wait
up to ``LOAD_WAIT_S`` for the cache, then fail with ``StateUnavailable``.

Not for: the figures themselves (``domain.kpis``), reports over fixed
intervals (``domain.reports``, which read their records once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from ccp_acd.domain.intervals import BUCKET_S, HORIZON_S, Buckets, Window
from ccp_acd.domain.models import Call, QueueConfig
from ccp_acd.errors import StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.configs import RESYNC_DELAY_S
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.live import FRESH_WAIT_S
from ccp_acd.state.store import WatchEvent

log = logging.getLogger(__name__)

# Seconds a read waits for a cache being loaded (its first read, a reload) before failing.
LOAD_WAIT_S = 10.0
# Seconds without a read after which a tenant's cache stops (its watch and its buckets go).
IDLE_S = 900.0


class IntervalCache:
    """One tenant's interval totals (module doc). ``run`` until cancelled."""

    def __init__(
        self, store: EtcdStore, tenant: str, *, horizon_s: float = HORIZON_S, bucket_s: float = BUCKET_S,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self.tenant = tenant
        self._horizon_s = horizon_s
        self._bucket_s = bucket_s
        self._clock = clock
        self.buckets = Buckets({}, bucket_s=bucket_s)
        # Arrivals before this are not in the buckets (before the load, or pruned).
        self._floor = 0.0
        self.revision = 0
        self._advanced = asyncio.Event()
        self.ready = asyncio.Event()
        self._reload = asyncio.Event()
        # Thresholds readers asked with (``want``): a load uses them over the queue configs it reads.
        self._wanted: dict[str, float] = {}
        # The thresholds of the last load started (the buckets' once it is done).
        self._filling: dict[str, float] = {}
        self.loads = 0  # loads started
        self.last_read = clock()
        self.follow_task: asyncio.Task[None] | None = None

    # -- reading ----------------------------------------------------------------

    async def wait_for(self, revision: int, *, timeout_s: float) -> bool:
        """Whether the cache is loaded and has applied ``revision`` (waiting up to ``timeout_s``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not (self.ready.is_set() and self.revision >= revision):
                    await self._advanced.wait()
        return self.ready.is_set() and self.revision >= revision

    def want(self, queues: Iterable[QueueConfig]) -> None:
        """Make sure the buckets hold these queues' service level thresholds: if not, refill them with these
        (reads wait until that is done)."""
        wanted = {q.name: q.sl_threshold_s for q in queues}
        self._wanted |= wanted
        # Against the load under way or done: readers arriving during a load do not restart it.
        if any(self._filling.get(name) != threshold for name, threshold in wanted.items()):
            self.ready.clear()
            self._reload.set()
            self._advance()

    def prune(self, now: float) -> None:
        """Forget the buckets no window read from ``now`` on can need."""
        floor = now - self._horizon_s
        if floor > self._floor:
            self.buckets.drop_before(floor)
            self._floor = self.buckets.cut_end(floor) - self._bucket_s

    # -- feeding ----------------------------------------------------------------

    def apply(self, event: WatchEvent) -> None:
        """One watch event on ``history/``: take back the record it replaced, add the one it put."""
        if event.revision <= self.revision:
            return
        if event.prev_value is not None:
            self._add(decode(Call, event.prev_value), -1)
        if event.kind == "put" and event.value is not None:
            self._add(decode(Call, event.value), 1)
        self.revision = event.revision
        self._advance()

    def _advance(self) -> None:
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    def _add(self, call: Call, sign: int) -> None:
        if call.enqueued_at >= self._floor:
            self.buckets.add(call, sign)

    async def _load(self) -> None:
        self.loads += 1
        self._filling = dict(self._wanted)
        queues = await self._store.get_queue_configs(self.tenant)
        self._filling = {name: q.sl_threshold_s for name, q in queues.items()} | self._filling
        buckets = Buckets(self._filling, bucket_s=self._bucket_s)
        since = self._clock() - self._horizon_s
        floor = buckets.cut_end(since) - self._bucket_s
        revision = 0
        async for calls, read_at in self._store.history_pages(self.tenant, floor):
            revision = read_at
            for call in calls:
                buckets.add(call)
        self.buckets, self._floor, self.revision = buckets, floor, revision

    async def _follow(self) -> None:
        await self._load()
        self.ready.set()
        self._advance()
        watch = self._store.watch_prefix(keys.history_prefix(self.tenant), start_revision=self.revision + 1)
        async for event in watch:
            self.apply(event)

    async def run(self) -> None:
        """Load, follow, and reload when asked or after a break (module doc), until cancelled."""
        while True:
            self._reload.clear()
            follow = self.follow_task = asyncio.create_task(self._follow(), name=f"intervals-{self.tenant}")
            reload = asyncio.create_task(self._reload.wait())
            try:
                await asyncio.wait({follow, reload}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (follow, reload):
                    task.cancel()
                await asyncio.wait({follow, reload})
            self.ready.clear()
            if self._reload.is_set():
                continue
            error = None if follow.cancelled() else follow.exception()
            if isinstance(error, StateUnavailable):
                log.warning("interval totals of %s: %s; reloading", self.tenant, error)
            elif error is not None:
                log.error("interval totals of %s failed; reloading", self.tenant, exc_info=error)
            await asyncio.sleep(RESYNC_DELAY_S)


class IntervalViews:
    """The node's interval caches, one per tenant whose statistics are read (module doc)."""

    def __init__(
        self, store: EtcdStore, *, clock: Callable[[], float] = time.time, horizon_s: float = HORIZON_S,
        bucket_s: float = BUCKET_S, fresh_wait_s: float = FRESH_WAIT_S, load_wait_s: float = LOAD_WAIT_S,
        idle_s: float = IDLE_S,
    ):
        self._store = store
        self._clock = clock
        self._horizon_s = horizon_s
        self._bucket_s = bucket_s
        self._fresh_wait_s = fresh_wait_s
        self._load_wait_s = load_wait_s
        self._idle_s = idle_s
        self._caches: dict[str, tuple[IntervalCache, asyncio.Task[None]]] = {}

    def cache(self, tenant: str) -> IntervalCache | None:
        found = self._caches.get(tenant)
        return found[0] if found else None

    async def window(self, tenant: str, queues: Mapping[str, QueueConfig], start: float, *, now: float) -> Window:
        """The totals of ``queues`` over the ended calls that arrived from ``start`` on (module doc: read)."""
        await self._stop_idle(now)
        cache = self._start(tenant)
        cache.last_read = now
        cache.want(queues.values())
        if not await cache.wait_for(0, timeout_s=self._load_wait_s):
            raise StateUnavailable(f"the queue statistics of tenant {tenant!r} are still loading; try again")
        await cache.wait_for(self._store.written(tenant), timeout_s=self._fresh_wait_s)
        cut = await self._store.history_between(tenant, start, cache.buckets.cut_end(start))
        cache.prune(now)
        return cache.buckets.window(queues, start, cut)

    def _start(self, tenant: str) -> IntervalCache:
        found = self._caches.get(tenant)
        if found is not None:
            return found[0]
        cache = IntervalCache(
            self._store, tenant, horizon_s=self._horizon_s, bucket_s=self._bucket_s, clock=self._clock
        )
        self._caches[tenant] = (cache, asyncio.create_task(cache.run(), name=f"interval-cache-{tenant}"))
        return cache

    async def _stop_idle(self, now: float) -> None:
        idle = [t for t, (cache, _) in self._caches.items() if now - cache.last_read > self._idle_s]
        await self._stop(idle)

    async def _stop(self, tenants: Iterable[str]) -> None:
        tasks = [self._caches.pop(tenant)[1] for tenant in list(tenants)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop every cache."""
        await self._stop(list(self._caches))
