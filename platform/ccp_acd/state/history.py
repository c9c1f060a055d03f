"""The store's reads of what is over: ended calls, the presence log, a caller's past calls, the audit log.

A mixin of ``state.etcd.EtcdStore`` (it uses its plumbing), like ``state.voice``. The records are written
by the transitions themselves, in the transaction that ends a call (``EtcdStore._file``: the final record
and the caller's index entry) or changes a presence (``EtcdStore._log_presence``); ``put_audit`` is the
one write here. Keys sort by time (call ids by arrival, presence intervals by end, audit events by
time), so each report is one key range:

- ``history_since`` / ``history_between``: ended calls by arrival time;
- ``history_pages``: the same from a time on, a page at a time at one revision (``state.intervals``);
- ``presence_between``: closed presence intervals overlapping a window;
- ``caller_history``: the caller's ended calls, newest first, from the caller's index;
- ``list_audit``: audit events in a window, paged, with a limit etcd applies itself.

Consistency: each range is read at one revision; ``caller_history`` reads the index, then the records
(128 to a transaction), so a record deleted between the two (``state.retention``) is simply missing.
Not for: aggregating into reports (``domain.reports``, ``api.admin``) or deleting old records
(``state.retention``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aetcd.utils

from ccp_acd.domain.models import Call, PresenceInterval
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.store import AuditEvent

# etcd's default --max-txn-ops: reads batched into one transaction stay under it.
TXN_MAX_OPS = 128
# Records per reply of ``history_pages``: ~1 MB of records, well under a reply's 4 MiB.
HISTORY_PAGE = 1000


class HistoryReads:
    """``EtcdStore``'s reports and audit log (module doc)."""

    async def history_since(self, tenant: str, since: float) -> list[Call]:
        """Ended calls that arrived at or after ``since`` (call ids sort by arrival time)."""
        end = aetcd.utils.prefix_range_end(keys.history_prefix(tenant).encode())
        found = await self._call(self.client.get_range(keys.history_at(tenant, since).encode(), end))
        return [decode(Call, kv.value) for kv in found]

    async def history_pages(
        self, tenant: str, since: float, *, page: int = HISTORY_PAGE
    ) -> AsyncIterator[tuple[list[Call], int]]:
        """Ended calls that arrived at or after ``since``, ``page`` at a time, with the revision all are read at.

        For readers of a long window: no reply holds more than a page, and each is folded before the next
        is read. Every page is read at the first's revision (an error if etcd compacts it meanwhile).
        """
        start = keys.history_at(tenant, since).encode()
        end = aetcd.utils.prefix_range_end(keys.history_prefix(tenant).encode())
        revision = 0
        while True:
            found = await self._range(start, end, limit=page, revision=revision)
            revision = revision or found.header.revision
            yield [decode(Call, kv.value) for kv in found.kvs], revision
            if not found.more or not found.kvs:
                return
            start = found.kvs[-1].key + b"\0"

    async def history_between(self, tenant: str, start: float, end: float) -> list[Call]:
        """Ended calls that arrived in [start, end): one key range, as call ids sort by arrival time.

        A call that arrived at exactly ``end`` has the key ``history_at(end)`` plus ``-...``, which
        sorts after the (exclusive) range end; one at exactly ``start`` sorts after the range start.
        """
        if end <= start:
            return []
        found = await self._call(
            self.client.get_range(keys.history_at(tenant, start).encode(), keys.history_at(tenant, end).encode())
        )
        return [decode(Call, kv.value) for kv in found]

    async def presence_between(self, tenant: str, start: float, end: float) -> list[PresenceInterval]:
        """Closed presence intervals overlapping [start, end), by end time.

        Keys sort by end time, so the range starts at ``start``; it runs to the end of the log,
        because an interval that ends after the window may have begun inside it.
        """
        if end <= start:
            return []
        found = await self._call(
            self.client.get_range(
                keys.presence_at(tenant, start).encode(),
                aetcd.utils.prefix_range_end(keys.presence_prefix(tenant).encode()),
            )
        )
        intervals = (decode(PresenceInterval, kv.value) for kv in found)
        return [i for i in intervals if i.end > start and i.start < end]

    async def caller_history(self, tenant: str, address: str, *, limit: int = 10) -> list[Call]:
        """The caller's ended calls, newest first: ``limit`` index keys, then the records in one transaction."""
        if limit <= 0 or not address:
            return []
        prefix = keys.caller_prefix(tenant, keys.caller_key(tenant, address)).encode()
        index = await self._range_limited(
            prefix, aetcd.utils.prefix_range_end(prefix), limit=limit, keys_only=True, descending=True
        )
        call_ids = [keys.last_segment(kv.key) for kv in index]
        if not call_ids:
            return []
        records = []
        # One transaction reads them all at one revision; etcd caps a transaction's operations (128).
        for chunk in range(0, len(call_ids), TXN_MAX_OPS):
            gets = [
                self.client.transactions.get(keys.history(tenant, call_id).encode())
                for call_id in call_ids[chunk:chunk + TXN_MAX_OPS]
            ]
            _, responses = await self._txn([], gets)
            records += [decode(Call, found[0][0]) for found in responses if found]
        return records

    # -- audit log ----------------------------------------------------------

    async def put_audit(self, tenant: str, event: AuditEvent) -> None:
        await self.put_record(keys.audit_event(tenant, event.id), event)

    async def list_audit(
        self, tenant: str, *, start: float, end: float, limit: int, after: str = ""
    ) -> list[AuditEvent]:
        """Events in [start, end) whose id sorts after ``after``, oldest first: one range read of ``limit`` keys."""
        if end <= start or limit <= 0:
            return []
        first = keys.audit_at(tenant, start)
        if after:
            first = max(first, keys.audit_event(tenant, after) + "\0")
        found = await self._range_limited(first.encode(), keys.audit_at(tenant, end).encode(), limit=limit)
        return [decode(AuditEvent, kv.value) for kv in found]

