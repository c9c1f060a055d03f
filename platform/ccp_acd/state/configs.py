"""Watch-fed config caches of a routed tenant (``LiveViews`` runs them beside its live cache).

The tenant's ``queues/`` and ``blocklist/`` records, each kept by its own range
read and watch, for Enqueue's admission: no etcd read per call. Changes made
elsewhere (``ccp apply``, the operator, another node's admin API) are seen when
their watch event arrives: eventually, within milliseconds. Blocklist changes
through this node's admin API are read back: the admin API calls
``LiveViews.blocklist_written`` and the next read re-reads etcd. A queue the
cache does not know is looked up in etcd before NOT_FOUND
(``LiveViews.queue_configs``); a queue deleted a moment ago may still admit
calls until its event arrives. While a config watch is broken, reads go to etcd.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ccp_acd.domain.models import QueueConfig
from ccp_acd.errors import StateUnavailable
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import BlockedCaller, WatchEvent

log = logging.getLogger(__name__)

# Seconds between a broken watch and the resync (a fresh range read and a new watch).
RESYNC_DELAY_S = 0.2


class ConfigCache:
    """One tenant's config records under ``prefix``, fed by a watch (module doc: config caches).

    ``decode_record(key, value)`` gives the record of a key (None: not one to keep); ``shape(records)``
    what readers get, computed once per change.
    """

    def __init__(
        self,
        store: EtcdStore,
        prefix: str,
        *,
        decode_record: Callable[[str, bytes], Any],
        shape: Callable[[dict[str, Any]], Any],
    ):
        self._store = store
        self._prefix_key = prefix
        self._decode = decode_record
        self._shape = shape
        self._records: dict[str, Any] = {}
        self._value: Any = shape({})
        self.revision = 0
        self._installed = 0
        self.ready = asyncio.Event()
        # Writes through this node (``mark_written``) and how many of them a completed re-read covers:
        # a read while some are not covered re-reads etcd first (read-your-writes).
        self._writes = 0
        self._covered = 0

    async def read(self) -> Any:
        """The current records (shaped), or None while the cache is not following its watch."""
        if not self.ready.is_set():
            return None
        writes = self._writes
        if writes > self._covered:
            await self.refresh()
            self._covered = max(self._covered, writes)
        return self._value

    def mark_written(self) -> None:
        self._writes += 1

    async def refresh(self) -> None:
        """A fresh range read installed over the cache."""
        found, revision = await self._store.read_prefix(self._prefix_key)
        if revision <= self.revision:
            return
        records = {}
        for key, value, _mod_revision in found:
            record = self._decode(key, value)
            if record is not None:
                records[key] = record
        self._records, self._value = records, self._shape(records)
        self.revision = self._installed = revision

    def _apply(self, event: WatchEvent) -> None:
        if event.revision <= self._installed:
            return
        records = dict(self._records)
        record = self._decode(event.key, event.value) if event.kind == "put" and event.value is not None else None
        if record is not None:
            records[event.key] = record
        else:
            records.pop(event.key, None)
        self._records, self._value = records, self._shape(records)
        self.revision = max(self.revision, event.revision)

    async def run(self) -> None:
        """Load, follow, and resync after every break, until cancelled."""
        while True:
            try:
                await self.refresh()
                self.ready.set()
                watch = self._store.watch_prefix(self._prefix_key, start_revision=self.revision + 1, prev_kv=False)
                async for event in watch:
                    self._apply(event)
            except StateUnavailable as e:
                log.warning("config cache of %s: %s; resyncing", self._prefix_key, e)
            except Exception:
                log.exception("config cache of %s failed; resyncing", self._prefix_key)
            self.ready.clear()
            await asyncio.sleep(RESYNC_DELAY_S)


def queue_record(key: str, value: bytes) -> QueueConfig | None:
    return decode(QueueConfig, value) if key.endswith("/config") else None


def blocked_record(key: str, value: bytes) -> BlockedCaller:
    return decode(BlockedCaller, value)
