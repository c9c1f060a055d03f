"""The site monitor: declares a site down when it has had no live node for a while, and fails back by policy.

Every node runs one. A site this monitor has seen alive that then has no
registered node (every node's lease gone) for ``site_lost_after_s`` is
declared down (a site never seen alive is not "lost": it may not have started
yet) (``SiteState``, reason and
monitor named); the adopting sites then move its waiting calls
(``domain.sites``). Several monitors may see it at once: the write is a
compare-and-set on the state key, so one wins and the others see the result.

Failing back is an SRE's decision by default (``ccp site up``); with
``failback=auto`` a site that was declared down by a monitor is declared up
again once it has had live nodes for ``failback_after_s``. A site an SRE
declared down stays down until an SRE says otherwise.

Split brain is impossible by construction: the monitor only writes etcd, and
every routing commit of the down site's nodes compares the state key they
last saw, so from the moment the state changes they commit nothing, whether
they are dead, partitioned from etcd (then they cannot commit anyway), or
alive and unaware.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ccp_acd.domain.sites import SiteStatus
from ccp_acd.errors import StateUnavailable
from ccp_acd.settings import NodeSettings
from ccp_acd.state.sites import SiteDirectory, declared

log = logging.getLogger(__name__)

# Seconds between looks at the directory.
CHECK_INTERVAL_S = 0.5


class SiteMonitor:
    def __init__(
        self,
        directory: SiteDirectory,
        *,
        settings: NodeSettings,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self._empty_since: dict[str, float] = {}
        self._live_since: dict[str, float] = {}
        self._seen: set[str] = set()
        self._by = f"monitor/{settings.site}/{settings.node_id}"

    async def run(self) -> None:
        await self._directory.ready.wait()
        while True:
            try:
                await self.check()
            except StateUnavailable as e:
                log.warning("site monitor paused: %s", e)
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def check(self) -> None:
        """One look: declare lost sites down, and fail back where the policy says so."""
        directory, now = self._directory, self._clock()
        if not directory.is_up(self._settings.site):
            return  # a fenced site judges nobody
        for site in sorted(directory.known_sites()):
            state, _ = directory.state(site)
            alive = bool(directory.live_nodes(site))
            if alive:
                self._seen.add(site)
            if site not in self._seen:
                continue
            if alive:
                self._empty_since.pop(site, None)
                self._live_since.setdefault(site, now)
            else:
                self._live_since.pop(site, None)
                self._empty_since.setdefault(site, now)
            if state.up and not alive and now - self._empty_since[site] >= self._settings.site_lost_after_s:
                reason = f"no live node for {self._settings.site_lost_after_s:g}s"
                if await directory.set_state(site, declared(SiteStatus.DOWN, reason, by=self._by)):
                    log.warning("site %s declared down: %s", site, reason)
            elif (
                not state.up
                and alive
                and self._settings.failback == "auto"
                and state.by.startswith("monitor/")
                and now - self._live_since[site] >= self._settings.failback_after_s
            ):
                reason = f"live again for {self._settings.failback_after_s:g}s (failback=auto)"
                if await directory.set_state(site, declared(SiteStatus.UP, reason, by=self._by)):
                    log.warning("site %s failed back: %s", site, reason)
