"""The router: runs the planner for every tenant and commits its decisions.

One task per tenant. Each keeps the tenant's live view in memory
(``state.live.LiveCache``: one range read, then a watch that decodes only
what changed), wakes on any change it applies or, while it has waiting calls
or pending offers, after ``dispatch_interval_s`` (time alone moves skill
rings, max waits and offer timeouts; an idle tenant is not planned), plans on a
snapshot of it, and commits decisions one transaction
each. A dispatch first waits (bounded) for the cache to show this node's own
earlier commits. A lost compare-and-set means another node (or an agent)
changed a record the decision rests on: the re-plan waits until the cache
shows a change on one of the records that commit compared, so it never
re-plans on the same stale view; past ``CONFLICT_WAIT_S`` (e.g. the fence
failed, which the live view does not hold) it re-plans on a fresh range read.

Hot standby: every node of a site runs a loop per tenant, but a queue is
routed by one node at a time, its owner (``SiteDirectory.campaign``, an etcd
election on the node's lease). The others stand by: the directory's watch
sees the owner key vanish with a dead owner's lease and wakes them to
campaign, so routing resumes about one lease TTL after the owner dies. Every
commit carries the node's ``Fence`` (its owner key and its site's state, at
the revisions it saw): a node whose lease lapsed, or whose site was declared
down, commits nothing more, whatever it believes.

Site failover and N-way overflow are planner decisions
(``domain.sites.site_moves``) on the same commit path.

Offer on arrival (``Router.enqueue``): the node's Enqueue asks the router
first. When this node owns the call's queue, the planner runs on the live
view with the new call in it, and an offer it makes for that call is
committed with the call's creation, in one transaction: the offer the next
dispatch would have made, one transaction and one fsync sooner. The plan
serves the calls already waiting first, so an arrival never overtakes them.
It compares the agent and the fence as a dispatch's commit does; when it
loses, the call is created queued and the router offers it as any other.
Until the live view shows it, an arrival's offer is a claim every plan of
this node sees (``_with_claims``): arrivals planned at the same moment do not
all pick the same free agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from ccp_acd.domain.models import Call, CallState, Decision, LiveView, OfferDecision, QueueConfig, Reservation
from ccp_acd.domain.routing import plan
from ccp_acd.domain.sites import SiteContext, adopter
from ccp_acd.errors import StateUnavailable
from ccp_acd.failover import SiteMonitor
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore, Session, compared_keys
from ccp_acd.state.live import LiveViews
from ccp_acd.state.sites import SiteDirectory
from ccp_acd.state.store import ArrivalOffer, TenantConfig
from ccp_acd.telemetry import CallEvents

log = logging.getLogger(__name__)

# Seconds between looks for new tenants in etcd.
TENANT_DISCOVERY_INTERVAL_S = 2.0
# Re-plans after lost compare-and-sets before waiting for the next wake-up.
REPLAN_ATTEMPTS = 5
# Seconds a re-plan after a lost compare waits for the live view to show the change before reading etcd.
CONFLICT_WAIT_S = 0.5


class Router:
    def __init__(
        self,
        store: EtcdStore,
        *,
        session: Session,
        settings: NodeSettings,
        directory: SiteDirectory | None = None,
        clock: Callable[[], float] = time.time,
        events: CallEvents | None = None,
        views: LiveViews | None = None,
    ):
        self._store = store
        # The watch-fed live views of the tenants this router serves; the node's API reads them too.
        self._views = views or LiveViews(store)
        # Spans and metrics of what the router commits: offer expiries, re-routes, site moves.
        self._events = events or CallEvents.noop()
        self._session = session
        self._settings = settings
        self._directory = directory or SiteDirectory(store, site=settings.site, node_id=settings.node_id)
        self._clock = clock
        self._tenants: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        # The tenant config each tenant loop last read (its home and failover sites shape a plan).
        self._configs: dict[str, TenantConfig] = {}
        # Per tenant, the calls being created already offered (``enqueue``) and their offers.
        self._claims: dict[str, dict[str, tuple[Call, Reservation]]] = {}
        self._directory.on_change(self._sites_changed)
        self.commits = 0
        self.conflicts = 0
        # The last live view read per tenant: what the metrics report between dispatches.
        self.last_views: dict[str, LiveView] = {}

    @property
    def directory(self) -> SiteDirectory:
        return self._directory

    @property
    def views(self) -> LiveViews:
        return self._views

    async def run(self) -> None:
        """Mirror the sites, watch for lost ones, and route every tenant this node serves, until cancelled."""
        background = [
            asyncio.create_task(self._directory.run(), name="site-directory"),
            asyncio.create_task(SiteMonitor(self._directory, settings=self._settings).run(), name="site-monitor"),
        ]
        try:
            await self._directory.ready.wait()
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
            tasks = [*self._tenants.values(), *background]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _sites_changed(self) -> None:
        for wake in self._wakes.values():
            wake.set()

    async def _tenant_loop(self, tenant: str) -> None:
        wake = self._wakes[tenant] = asyncio.Event()
        queues_stale = asyncio.Event()
        queues_stale.set()
        watchers = [asyncio.create_task(self._watch(keys.queues_prefix(tenant), queues_stale, also=wake))]
        queues: dict[str, QueueConfig] = {}
        config = TenantConfig(name=tenant)
        try:
            # The tenant's live view, kept by a watch; each change it applies wakes this loop.
            async with self._views.serving(tenant, on_change=wake.set):
                while True:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                    # races with the event, and this loop would then outlive its node.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._timed_wake_s(tenant, retrying=queues_stale.is_set())):
                            await wake.wait()
                    wake.clear()
                    try:
                        if queues_stale.is_set():
                            queues_stale.clear()
                            queues = await self._store.get_queue_configs(tenant)
                            config = await self._store.get_tenant_config(tenant) or TenantConfig(name=tenant)
                            self._configs[tenant] = config
                        await self.dispatch(tenant, queues, config)
                    except StateUnavailable as e:
                        queues_stale.set()
                        log.warning("routing %s paused: %s", tenant, e)
        finally:
            self._wakes.pop(tenant, None)
            self._configs.pop(tenant, None)
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _timed_wake_s(self, tenant: str, *, retrying: bool) -> float | None:
        """Seconds until the tenant's loop plans again though nothing changed; None: only on a change.

        Time moves skill rings, max waits and offer timeouts: a tenant with waiting calls or pending offers
        is planned every ``dispatch_interval_s``, and so is one whose last dispatch failed (``retrying``).
        One with neither has nothing time can change; its loop waits for a change (a call, an agent, a
        queue, a site), so idle tenants are not planned at all (300 of them kept a node 48 % busy when each
        was planned every 0.5 s, 10 % since).
        """
        cache = self._views.cache(tenant)
        if retrying or cache is None or not cache.ready.is_set():
            return self._settings.dispatch_interval_s
        view = cache.view()
        return self._settings.dispatch_interval_s if view.calls or view.reservations else None

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

    async def elect(self, tenant: str, queues: dict[str, QueueConfig]) -> set[str]:
        """Campaign for this site's unowned queues, resign deleted ones; the queues this node owns."""
        site, directory = self._settings.site, self._directory
        owned = directory.owned(tenant)
        if not directory.is_up(site):
            for queue in owned:  # fenced already; resigning lets nobody wait for a dead owner on return
                await directory.resign(tenant, queue)
            return set()
        for queue in owned.keys() - queues.keys():
            await directory.resign(tenant, queue)
        for queue in sorted(queues.keys() - owned.keys()):
            if directory.owner(site, tenant, queue) is None:
                await directory.campaign(tenant, queue, lease_id=self._session.lease_id, now=self._clock())
        return set(directory.owned(tenant)) & queues.keys()

    def site_context(self, config: TenantConfig) -> SiteContext:
        """Live sites, and the down sites whose calls this site adopts for the tenant."""
        site, directory = self._settings.site, self._directory
        live = directory.live_sites()
        order = [s for s in (config.home_site, *config.failover_sites) if s]
        down = {s for s in directory.known_sites() | set(order) if not directory.is_up(s)}
        adopting = frozenset(s for s in down if adopter(s, order, live) == site)
        return SiteContext(site=site, live=live, adopting=adopting)

    async def dispatch(self, tenant: str, queues: dict[str, QueueConfig], config: TenantConfig | None = None) -> int:
        """Plan and commit until the plan is empty or committed; returns commits made (timed in the metrics)."""
        started = time.perf_counter()
        try:
            return await self._dispatch(tenant, queues, config)
        finally:
            self._events.dispatched(tenant, time.perf_counter() - started)

    async def _dispatch(self, tenant: str, queues: dict[str, QueueConfig], config: TenantConfig | None) -> int:
        committed = 0
        owned = await self.elect(tenant, queues)
        context = self.site_context(config or TenantConfig(name=tenant))
        view = self._with_claims(tenant, await self._views.read(tenant))
        for _ in range(REPLAN_ATTEMPTS):
            self.last_views[tenant] = view
            if not owned:
                return committed
            now = self._clock()
            decisions = plan(view, queues, site=self._settings.site, now=now, owned=owned, sites=context)
            if not decisions:
                return committed
            batch = independent(decisions)
            # One transaction per decision, all in flight at once: etcd shares one WAL fsync among
            # concurrent transactions, so a plan of k decisions costs about one commit's latency, not k
            # (a call planned behind others waited for each of their commits before).
            outcomes = await asyncio.gather(*(self._commit(tenant, view, d, now=now) for d in batch),
                                            return_exceptions=True)
            lost: Decision | None = None
            failure: BaseException | None = None
            for decision, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                elif outcome:
                    committed += 1
                    self.commits += 1
                    log.debug("%s: committed %s", tenant, decision)
                    self._events.decided(tenant, view, decision, now=now)
                else:
                    self.conflicts += 1
                    lost = lost or decision
            if failure is not None:
                raise failure
            if lost is None:
                # Decisions left out of the batch rest on a record a committed one changed: the cache
                # shows that change in a moment, which wakes the loop to plan them on it.
                return committed
            view = await self._view_after_conflict(tenant, view, lost)
        return committed

    async def _commit(self, tenant: str, view: LiveView, decision: Decision, *, now: float) -> bool:
        fence = self._directory.fence(tenant, view.calls[decision.call_id].queue)
        return await self._store.commit(
            tenant, view, decision, node_id=self._settings.node_id, now=now,
            lease_id=self._session.lease_id, fence=fence,
        )

    async def enqueue(self, tenant: str, call: Call, queues: Mapping[str, QueueConfig]) -> tuple[Call, bool]:
        """Create ``call`` (``Store.enqueue``), offered at once when the module doc's conditions hold."""
        offer = self._arrival_offer(tenant, call, queues)
        if offer is None:
            return await self._store.enqueue(tenant, call)
        # Claimed until the live view shows the commit: arrivals planned meanwhile see this agent taken.
        claims = self._claims.setdefault(tenant, {})
        claims[call.id] = (call, offer.reservation)
        try:
            created = await self._store.enqueue_offered(tenant, call, offer)
            if created is not None:
                await self._views.read(tenant)  # waits for the live view to show it (the reply reads it too)
        finally:
            claims.pop(call.id, None)
        if created is None:
            self.conflicts += 1
            return await self._store.enqueue(tenant, call)
        if created[1]:
            self.commits += 1
            self._events.decided(tenant, offer.view, offer.decision, now=offer.now)
        return created

    def _arrival_offer(self, tenant: str, call: Call, queues: Mapping[str, QueueConfig]) -> ArrivalOffer | None:
        """The planner's offer of ``call`` on the live view as it is, with the offers being committed on arrival.

        Not awaited between the plan and the claim: concurrent arrivals never pick the same agent.
        """
        site, directory = self._settings.site, self._directory
        cache = self._views.cache(tenant)
        if (
            not self._settings.offer_on_arrival
            or cache is None  # not routed here (yet)
            or not cache.ready.is_set()
            or call.state is not CallState.QUEUED
            or call.site != site
            or not directory.is_up(site)
        ):
            return None
        owned = directory.owned(tenant).keys() & queues.keys()
        if call.queue not in owned:
            return None
        now = self._clock()
        view = self._with_claims(tenant, cache.view())
        arrived = replace(view, calls={**view.calls, call.id: call})
        context = self.site_context(self._configs.get(tenant) or TenantConfig(name=tenant))
        for decision in plan(arrived, queues, site=site, now=now, owned=owned, sites=context):
            if isinstance(decision, OfferDecision) and decision.call_id == call.id:
                return ArrivalOffer(
                    decision=decision, view=arrived, fence=directory.fence(tenant, call.queue),
                    node_id=self._settings.node_id, lease_id=self._session.lease_id, now=now,
                )
        return None

    def _with_claims(self, tenant: str, view: LiveView) -> LiveView:
        """``view`` with the calls and offers being committed on arrival (``enqueue``) in it."""
        claims = self._claims.get(tenant)
        if not claims:
            return view
        return replace(
            view,
            calls={**view.calls, **{call_id: call for call_id, (call, _) in claims.items()}},
            reservations={**view.reservations, **{call_id: offer for call_id, (_, offer) in claims.items()}},
        )

    async def _view_after_conflict(self, tenant: str, view: LiveView, lost: Decision) -> LiveView:
        """A view that differs from ``view`` where ``lost`` failed its compare (module doc)."""
        cache = self._views.cache(tenant)
        if cache is not None:
            compared = {key: view.versions.get(key, 0) for key in compared_keys(tenant, lost)}
            if await cache.wait_changed(compared, timeout_s=CONFLICT_WAIT_S):
                return await self._views.read(tenant)
        return await self._views.load(tenant)


def independent(decisions: list[Decision]) -> list[Decision]:
    """The decisions, in plan order, that touch no call or agent an earlier one touches.

    Each is committed against the same view, so a second decision on a record the first rewrites (two
    offers to an agent with room for two) would lose its compare for sure; it is left to the next plan.
    """
    kept: list[Decision] = []
    touched: set[tuple[str, str]] = set()
    for decision in decisions:
        agent_id = getattr(decision, "agent_id", "")
        records = {("call", decision.call_id), *((("agent", agent_id),) if agent_id else ())}
        if records & touched:
            continue
        touched |= records
        kept.append(decision)
    return kept
