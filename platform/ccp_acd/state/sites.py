"""What a node knows about every site, kept current by one etcd watch; queue elections; site states.

``SiteDirectory`` mirrors ``/ccp/v1/sites/``: live node registrations, site
states and queue owners, each with its mod_revision. It is a cache for
decisions, never a source of truth: a node acting on a stale directory loses
its compare-and-set (``Fence``) and re-reads. After a broken watch it re-reads
the whole prefix and watches again from that revision.

Elections (hot standby): ``campaign`` creates the owner key on the node's
lease if nobody holds it and the node's site is up, as one transaction.
There is no pre-emption: an owner keeps its queues until its lease ends, so a
node that comes back (or a stall that ends) does not make ownership flap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ccp_acd.domain.sites import SiteState, SiteStatus
from ccp_acd.errors import StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import Fence

log = logging.getLogger(__name__)

# Seconds between re-reads of the whole prefix after the watch broke.
RESYNC_BACKOFF_S = 0.5


@dataclass(frozen=True)
class Owner:
    node: str
    since: float = 0.0


@dataclass
class _Mirror:
    nodes: dict[str, set[str]] = field(default_factory=dict)
    states: dict[str, tuple[SiteState, int]] = field(default_factory=dict)
    # (site, tenant, queue) -> (owner, mod_revision)
    owners: dict[tuple[str, str, str], tuple[Owner, int]] = field(default_factory=dict)


def _parse(key: str) -> tuple[str, ...]:
    return tuple(key[len(keys.sites_prefix()) :].split("/"))


class SiteDirectory:
    def __init__(self, store: EtcdStore, *, site: str, node_id: str):
        self._store = store
        self.site = site
        self.node_id = node_id
        self._mirror = _Mirror()
        self._listeners: list[Callable[[], None]] = []
        self.ready = asyncio.Event()

    # -- reading ----------------------------------------------------------

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def state(self, site: str) -> tuple[SiteState, int]:
        return self._mirror.states.get(site, (SiteState(), 0))

    def is_up(self, site: str) -> bool:
        return self.state(site)[0].up

    def live_nodes(self, site: str) -> set[str]:
        return set(self._mirror.nodes.get(site, ()))

    def known_sites(self) -> set[str]:
        return set(self._mirror.nodes) | set(self._mirror.states)

    def live_sites(self) -> frozenset[str]:
        """Sites that are up and have at least one registered (leased) node."""
        return frozenset(s for s, nodes in self._mirror.nodes.items() if nodes and self.is_up(s))

    def owner(self, site: str, tenant: str, queue: str) -> tuple[Owner, int] | None:
        return self._mirror.owners.get((site, tenant, queue))

    def owned(self, tenant: str) -> dict[str, int]:
        """Queues of ``tenant`` this node owns at its site -> the owner key's mod_revision."""
        return {
            q: rev
            for (s, t, q), (o, rev) in self._mirror.owners.items()
            if s == self.site and t == tenant and o.node == self.node_id
        }

    def fence(self, tenant: str, queue: str) -> Fence:
        rev = self.owned(tenant).get(queue, -1)
        return Fence(((keys.owner(self.site, tenant, queue), rev), (keys.site_state(self.site), self.state(self.site)[1])))

    # -- writing ------------------------------------------------------------

    async def campaign(self, tenant: str, queue: str, *, lease_id: int, now: float) -> bool:
        """Try to become the owner of ``queue`` at this site; True when this node won."""
        state_rev = self.state(self.site)[1]
        if not self.is_up(self.site):
            return False
        revision = await self._store.create_on_lease(
            keys.owner(self.site, tenant, queue),
            Owner(self.node_id, now),
            lease_id=lease_id,
            guards=Fence(((keys.site_state(self.site), state_rev),)),
        )
        if revision:
            self._mirror.owners[(self.site, tenant, queue)] = (Owner(self.node_id, now), revision)
            log.info("%s/%s owns %s/%s at revision %d", self.site, self.node_id, tenant, queue, revision)
        return bool(revision)

    async def resign(self, tenant: str, queue: str) -> None:
        """Give up ``queue`` (its config was deleted, or this site is down)."""
        held = self.owned(tenant).get(queue)
        if held is not None and await self._store.delete_if(keys.owner(self.site, tenant, queue), mod_revision=held):
            self._mirror.owners.pop((self.site, tenant, queue), None)

    async def set_state(self, site: str, state: SiteState) -> bool:
        """Write ``site``'s state if it has not changed since this directory saw it."""
        return await self._store.put_if(keys.site_state(site), state, mod_revision=self.state(site)[1])

    # -- mirroring ----------------------------------------------------------

    async def run(self) -> None:
        """Mirror ``/ccp/v1/sites/`` until cancelled."""
        while True:
            try:
                revision = await self._resync()
                async for event in self._store.watch_prefix(keys.sites_prefix(), start_revision=revision + 1):
                    self._apply(event.key, event.value, event.revision)
                    self._notify()
            except StateUnavailable as e:
                log.warning("site directory watch broke: %s", e)
            await asyncio.sleep(RESYNC_BACKOFF_S)

    async def _resync(self) -> int:
        records, revision = await self._store.read_prefix(keys.sites_prefix())
        self._mirror = _Mirror()
        for key, value, mod_revision in records:
            self._apply(key, value, mod_revision)
        self.ready.set()
        self._notify()
        return revision

    def _apply(self, key: str, value: bytes | None, revision: int) -> None:
        parts = _parse(key)
        with contextlib.suppress(ValueError):
            if len(parts) == 3 and parts[1] == "nodes":
                nodes = self._mirror.nodes.setdefault(parts[0], set())
                (nodes.add if value is not None else nodes.discard)(parts[2])
            elif len(parts) == 2 and parts[1] == "state":
                if value is None:
                    self._mirror.states.pop(parts[0], None)
                else:
                    self._mirror.states[parts[0]] = (decode(SiteState, value), revision)
            elif len(parts) == 4 and parts[1] == "owners":
                if value is None:
                    self._mirror.owners.pop((parts[0], parts[2], parts[3]), None)
                else:
                    self._mirror.owners[(parts[0], parts[2], parts[3])] = (decode(Owner, value), revision)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


def declared(status: SiteStatus, reason: str, *, by: str, now: float | None = None) -> SiteState:
    return SiteState(status=status, since=time.time() if now is None else now, reason=reason, by=by)



async def declare_site(store: EtcdStore, site: str, status: SiteStatus, reason: str, *, by: str = "sre") -> SiteState:
    """An SRE's word on a site (``ccp site down|up``): a plain put, the last writer wins over any monitor."""
    state = declared(status, reason, by=by)
    await store.put_record(keys.site_state(site), state)
    return state
