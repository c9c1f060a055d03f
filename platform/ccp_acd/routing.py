"""The router: runs the planner for every tenant and commits its decisions.

One task per tenant. Each wakes on any change under the tenant's ``live/``
prefix (a watch) or after ``dispatch_interval_s`` (time alone moves skill
rings, max waits and offer timeouts), reads the live view at one revision,
plans, and commits decisions one transaction each. A lost compare-and-set
means another node (or an agent) changed the view: re-read and re-plan.

Every node of a site runs this for every tenant; the transactions make that
safe. Queue ownership by election (one router per queue, standbys watching)
is the hot-standby design of the geo-redundancy issue and reduces wasted
work, not risk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ccp_acd.domain.models import LiveView, QueueConfig
from ccp_acd.domain.routing import plan
from ccp_acd.errors import StateUnavailable
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore, Session

log = logging.getLogger(__name__)

# Seconds between looks for new tenants in etcd.
TENANT_DISCOVERY_INTERVAL_S = 2.0
# Re-plans after lost compare-and-sets before waiting for the next wake-up.
REPLAN_ATTEMPTS = 5


class Router:
    def __init__(
        self,
        store: EtcdStore,
        *,
        session: Session,
        settings: NodeSettings,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._session = session
        self._settings = settings
        self._clock = clock
        self._tenants: dict[str, asyncio.Task[None]] = {}
        self.commits = 0
        self.conflicts = 0
        # The last live view read per tenant: what the metrics report between dispatches.
        self.last_views: dict[str, LiveView] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    for tenant in await self._store.list_tenants():
                        if not self._settings.routes(tenant):
                            continue
                        if tenant not in self._tenants or self._tenants[tenant].done():
                            self._tenants[tenant] = asyncio.create_task(
                                self._tenant_loop(tenant), name=f"router-{tenant}"
                            )
                except StateUnavailable as e:
                    log.warning("tenant discovery failed: %s", e)
                await asyncio.sleep(TENANT_DISCOVERY_INTERVAL_S)
        finally:
            for task in self._tenants.values():
                task.cancel()
            for task in self._tenants.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tenant_loop(self, tenant: str) -> None:
        wake = asyncio.Event()
        queues_stale = asyncio.Event()
        queues_stale.set()
        watchers = [
            asyncio.create_task(self._watch(keys.live_prefix(tenant), wake)),
            asyncio.create_task(self._watch(keys.queues_prefix(tenant), queues_stale, also=wake)),
        ]
        queues: dict[str, QueueConfig] = {}
        try:
            while True:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # races with the event, and this loop would then outlive its node.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.dispatch_interval_s):
                        await wake.wait()
                wake.clear()
                try:
                    if queues_stale.is_set():
                        queues_stale.clear()
                        queues = await self._store.get_queue_configs(tenant)
                    await self.dispatch(tenant, queues)
                except StateUnavailable as e:
                    queues_stale.set()
                    log.warning("routing %s paused: %s", tenant, e)
        finally:
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch(self, prefix: str, event: asyncio.Event, *, also: asyncio.Event | None = None) -> None:
        """Set ``event`` on every change under ``prefix``; re-watch after errors."""
        while True:
            try:
                async for _ in self._store.watch_prefix(prefix):
                    event.set()
                    if also is not None:
                        also.set()
            except StateUnavailable as e:
                log.warning("watch on %s broke: %s", prefix, e)
            event.set()  # a gap in the watch may have hidden changes
            await asyncio.sleep(self._settings.dispatch_interval_s)

    async def dispatch(self, tenant: str, queues: dict[str, QueueConfig]) -> int:
        """Plan and commit until the plan is empty or committed; returns commits made."""
        committed = 0
        for _ in range(REPLAN_ATTEMPTS):
            view = await self._store.load_live(tenant)
            self.last_views[tenant] = view
            now = self._clock()
            decisions = plan(view, queues, site=self._settings.site, now=now)
            if not decisions:
                return committed
            stale = False
            for decision in decisions:
                ok = await self._store.commit(
                    tenant, view, decision, node_id=self._settings.node_id, now=now, lease_id=self._session.lease_id
                )
                if ok:
                    committed += 1
                    self.commits += 1
                    log.debug("%s: committed %s", tenant, decision)
                else:
                    self.conflicts += 1
                    stale = True
                    break
            if not stale:
                return committed
        return committed
