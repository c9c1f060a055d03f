"""Watch-fed live views: each tenant's ``live/`` prefix kept in memory, for the router and the API.

A ``LiveCache`` reads the tenant's ``live/`` prefix once (one range read, at
revision R), then follows a watch from R + 1 and applies each put or delete,
decoding only the changed record. It keeps the records, their mod_revisions
(``LiveView.versions``, what every commit compares) and ``revision``, the etcd
revision it has applied up to. ``view()`` hands out an immutable snapshot: the
cache's dicts behind read-only proxies, copied on the next change
(copy-on-write; a copy of 10,000 entries takes ~0.05 ms, the snapshot itself
nothing). So a dispatch costs no etcd read and no decoding, however many calls
wait, instead of a range read and a decode of every record.

Why a view that is behind is still safe to decide on: it is always the state
at one past revision (a snapshot is only taken between watch responses, and
etcd never splits one revision's events over two responses; aetcd queues a
response's events without yielding and this module applies them without
yielding, so no other task runs in between). A view read with ``load_live``
is just as much in the past by the time its decisions commit. Every commit
(``EtcdStore.commit``) compares the mod_revision of every record the decision
rests on, as the view saw it: a record changed since makes the compare fail,
and the router re-plans. A lagging view can therefore cost a lost
compare-and-set and a re-plan, never a wrong commit. Keep it so: a new
decision must compare every record it relies on (work only *leaves* an agent
without rewriting the agent record, which can make a view pessimistic, never
optimistic; see ``state.etcd``).

Freshness: ``LiveViews.read`` gives read-your-writes for this node's writes:
``EtcdStore`` notes the revision of every transaction that writes a tenant's
``live/`` keys, and a read first waits (bounded, ``FRESH_WAIT_S``) for the cache
to have applied it; past the bound, or for a tenant whose cache is not running
(this node does not route it), it falls back to ``load_live``, whose result
also fast-forwards the cache. Writes of other nodes are seen when their watch
events arrive (milliseconds), not before: a reader that needs them (e.g. an
interaction created elsewhere) checks the view and falls back itself.

Failure: if the watch breaks (etcd unreachable, the revision to resume from
compacted, a record that does not decode), the cache resyncs with a fresh
range read after ``RESYNC_DELAY_S`` and watches again from there. Meanwhile it
serves its last state, which commits guard as above, and reads that need a
revision it has not reached fall back to etcd.

Subscriptions: the agent API's offer streams and the interaction watches of
this node are fed from the cache's one watch (``LiveCache.subscribe_offers``,
``LiveCache.subscribe_call``); see ``state.live_subscriptions``.

Config caches: see ``state.configs``.

Not for: decisions (``domain``) or writes (``state.etcd``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ccp_acd.domain.models import Agent, Call, LiveView, QueueConfig, Reservation
from ccp_acd.errors import StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.configs import RESYNC_DELAY_S, ConfigCache, blocked_record, queue_record
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.live_subscriptions import CallChange, LiveSubscriptions, OfferChange
from ccp_acd.state.store import BlockedCaller, TenantConfig, WatchEvent

# CallChange and OfferChange are re-exported: the API's streams import them from here with the cache.
__all__ = ["FRESH_WAIT_S", "CallChange", "LiveCache", "LiveViews", "OfferChange"]

log = logging.getLogger(__name__)

# Seconds a read waits for the cache to apply this node's last write before reading etcd instead.
FRESH_WAIT_S = 0.5


class LiveCache(LiveSubscriptions):
    """One tenant's live view, fed by a watch (module doc). ``run`` until cancelled."""

    def __init__(self, store: EtcdStore, tenant: str, *, on_change: Callable[[], None] | None = None):
        super().__init__()
        self._store = store
        self.tenant = tenant
        self._on_change = on_change
        self._prefix = keys.live_prefix(tenant)
        self._kinds = (
            (keys.agents_prefix(tenant), Agent),
            (keys.calls_prefix(tenant), Call),
            (keys.reservations_prefix(tenant), Reservation),
        )
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, Call] = {}
        self._reservations: dict[str, Reservation] = {}
        self._versions: dict[str, int] = {}
        # True while a snapshot shares the dicts above: the next change copies them first.
        self._shared = False
        self._snapshot: LiveView | None = None
        # The etcd revision applied up to; events at or below the last installed range read are skipped.
        self.revision = 0
        self._installed = 0
        self._advanced = asyncio.Event()
        self.ready = asyncio.Event()
        self.resyncs = 0
        self.watch_task: asyncio.Task[None] | None = None
    # -- reading ----------------------------------------------------------------

    def view(self) -> LiveView:
        """The current state as an immutable snapshot (shared until the next change)."""
        if self._snapshot is None:
            self._shared = True
            self._snapshot = LiveView(
                agents=MappingProxyType(self._agents),
                calls=MappingProxyType(self._calls),
                reservations=MappingProxyType(self._reservations),
                revision=self.revision,
                versions=MappingProxyType(self._versions),
            )
        return self._snapshot

    async def wait_for(self, revision: int, *, timeout_s: float) -> bool:
        """Whether the cache has applied ``revision`` (waiting up to ``timeout_s`` for it)."""
        return await self._wait(lambda: self.ready.is_set() and self.revision >= revision, timeout_s)

    async def wait_changed(self, versions: Mapping[str, int], *, timeout_s: float) -> bool:
        """Whether any of these keys' mod_revision (0: absent) differs in the cache (waiting up to ``timeout_s``).

        After a lost compare-and-set on a view from this cache: the record that changed is among the
        keys the commit compared, and once the cache shows it the re-plan is not on the same stale view.
        """
        return await self._wait(
            lambda: any(self._versions.get(key, 0) != revision for key, revision in versions.items()), timeout_s
        )

    async def _wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not done():
                    await self._advanced.wait()
        return done()

    # -- feeding ----------------------------------------------------------------

    def install(self, view: LiveView) -> None:
        """Take a range read's view (``load_live``) as the state, unless the cache is already past it."""
        if view.revision <= self.revision:
            return
        before, calls_before = self._reservations, self._calls
        self._agents, self._calls = dict(view.agents), dict(view.calls)
        self._reservations, self._versions = dict(view.reservations), dict(view.versions)
        self._shared = False
        self.revision = self._installed = view.revision
        if self._offer_subscribers:
            self._offers_replaced(before, view.revision)
        for call_id in self._call_subscribers:
            if calls_before.get(call_id) != self._calls.get(call_id):
                self._call_changed("call", call_id, self._calls.get(call_id), view.revision)
            if before.get(call_id) != self._reservations.get(call_id):
                self._call_changed("offer", call_id, self._reservations.get(call_id), view.revision)
        self._changed()

    def apply(self, event: WatchEvent) -> None:
        """One watch event: decode the changed record only."""
        if event.revision <= self._installed:
            return  # a range read installed since already holds it
        kind = next(((prefix, kind) for prefix, kind in self._kinds if event.key.startswith(prefix)), None)
        if kind is None:
            return
        prefix, record_type = kind
        if self._shared:
            self._agents, self._calls = dict(self._agents), dict(self._calls)
            self._reservations, self._versions = dict(self._reservations), dict(self._versions)
            self._shared = False
        records: dict = (
            self._agents if record_type is Agent else self._calls if record_type is Call else self._reservations
        )
        record_id = event.key[len(prefix):]
        before = records.get(record_id) if record_type is Reservation and self._offer_subscribers else None
        if event.kind == "put" and event.value is not None:
            record = records[record_id] = decode(record_type, event.value)
            self._versions[event.key] = event.revision
            if record_type is Reservation and self._offer_subscribers:
                if before is not None and before.agent_id != record.agent_id:
                    self._offer_changed("delete", before, event.revision)
                self._offer_changed("put", record, event.revision)
        else:
            records.pop(record_id, None)
            self._versions.pop(event.key, None)
            if before is not None:
                self._offer_changed("delete", before, event.revision)
        if record_id in self._call_subscribers and record_type is not Agent:
            self._call_changed(
                "call" if record_type is Call else "offer", record_id, records.get(record_id), event.revision
            )
        self.revision = max(self.revision, event.revision)
        self._changed()

    def _changed(self) -> None:
        self._snapshot = None
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()
        if self._on_change is not None:
            self._on_change()

    async def run(self) -> None:
        """Load, follow, and resync after every break (module doc), until cancelled."""
        while True:
            self.watch_task = asyncio.create_task(self._follow(), name=f"live-{self.tenant}")
            try:
                # wait, not await: a follower cancelled from outside (a test breaking the watch) is a break too.
                await asyncio.wait({self.watch_task})
            except asyncio.CancelledError:
                self.watch_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.watch_task
                raise
            if not self.watch_task.cancelled():
                error = self.watch_task.exception()
                if isinstance(error, StateUnavailable):
                    log.warning("live view of %s: %s; resyncing", self.tenant, error)
                elif error is not None:
                    log.error("live view of %s failed; resyncing", self.tenant, exc_info=error)
            self.resyncs += 1
            await asyncio.sleep(RESYNC_DELAY_S)

    async def _follow(self) -> None:
        self.install(await self._store.load_live(self.tenant))
        self.ready.set()
        async for event in self._store.watch_prefix(self._prefix, start_revision=self.revision + 1, prev_kv=False):
            self.apply(event)


class LiveViews:
    """The node's live caches, one per tenant it routes, and reads that fall back to etcd for the others."""

    def __init__(self, store: EtcdStore, *, fresh_wait_s: float = FRESH_WAIT_S):
        self._store = store
        self._fresh_wait_s = fresh_wait_s
        self._caches: dict[str, LiveCache] = {}
        # Per routed tenant: its queues/, blocklist/ and tenant config caches (module doc: config caches).
        self._configs: dict[str, tuple[ConfigCache, ConfigCache, ConfigCache]] = {}
        self.fallbacks = 0

    def cache(self, tenant: str) -> LiveCache | None:
        return self._caches.get(tenant)

    @contextlib.asynccontextmanager
    async def serving(self, tenant: str, *, on_change: Callable[[], None] | None = None):
        """Run ``tenant``'s cache for the duration of the block (the router's tenant loop)."""
        cache = LiveCache(self._store, tenant, on_change=on_change)
        configs = (
            ConfigCache(
                self._store, keys.queues_prefix(tenant), decode_record=queue_record,
                shape=lambda records: {queue.name: queue for queue in records.values()},
            ),
            ConfigCache(
                self._store, keys.blocklist_prefix(tenant), decode_record=blocked_record,
                shape=lambda records: tuple(records.values()),
            ),
            # The tenant's own config (its overload limits, api.overload): one key, so () or (config,).
            ConfigCache(
                self._store, keys.tenant_config(tenant), decode_record=lambda _key, value: decode(TenantConfig, value),
                shape=lambda records: tuple(records.values()),
            ),
        )
        self._caches[tenant] = cache
        self._configs[tenant] = configs
        tasks = [
            asyncio.create_task(cache.run(), name=f"live-cache-{tenant}"),
            *(asyncio.create_task(config.run(), name=f"config-cache-{tenant}") for config in configs),
        ]
        try:
            yield cache
        finally:
            if self._caches.get(tenant) is cache:
                del self._caches[tenant]
            if self._configs.get(tenant) is configs:
                del self._configs[tenant]
            cache.end_subscriptions(StateUnavailable(f"this node stopped routing tenant {tenant!r}"))
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def queue_configs(self, tenant: str, *, require: str | None = None) -> dict[str, QueueConfig]:
        """The tenant's queues by name, from its config cache (etcd for tenants not routed here, or if
        ``require`` is not among them: a queue created a moment ago, its watch event not applied yet)."""
        configs = self._configs.get(tenant)
        queues = await configs[0].read() if configs is not None else None
        if queues is None or (require is not None and require not in queues):
            return await self._store.get_queue_configs(tenant)
        return dict(queues)

    async def blocked(self, tenant: str) -> tuple[BlockedCaller, ...]:
        """The tenant's blocklist, from its config cache (etcd for tenants not routed here)."""
        configs = self._configs.get(tenant)
        blocked = await configs[1].read() if configs is not None else None
        if blocked is None:
            return tuple(await self._store.list_blocked(tenant))
        return blocked

    async def tenant_config(self, tenant: str) -> TenantConfig | None:
        """The tenant's config, from its config cache (etcd for tenants not routed here)."""
        configs = self._configs.get(tenant)
        found = await configs[2].read() if configs is not None else None
        if found is None:
            return await self._store.get_tenant_config(tenant)
        return found[0] if found else None

    def blocklist_written(self, tenant: str) -> None:
        """This node changed ``tenant``'s blocklist: the next read re-reads etcd (read-your-writes)."""
        configs = self._configs.get(tenant)
        if configs is not None:
            configs[1].mark_written()

    async def read(self, tenant: str) -> LiveView:
        """The tenant's view, with this node's writes to it applied (module doc: freshness)."""
        cache = self._caches.get(tenant)
        if cache is not None and await cache.wait_for(self._store.written(tenant), timeout_s=self._fresh_wait_s):
            return cache.view()
        return await self.load(tenant)

    async def load(self, tenant: str) -> LiveView:
        """A fresh range read; it also fast-forwards the tenant's cache, if there is one."""
        view = await self._store.load_live(tenant)
        cache = self._caches.get(tenant)
        if cache is not None:
            self.fallbacks += 1
            cache.install(view)
        return view
