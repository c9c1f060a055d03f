"""Retention: ended call records, their caller index entries, the presence log and the audit log are deleted
once older than the tenant's ``spec.retention.callRecordsDays`` (``TenantRetention``).

What is deleted, per tenant, in one pass:

- ``history/{c}`` whose call *ended* before the cut-off, with its ``callers/{key}/{c}`` index entry and its
  ``requests/{request_id}`` idempotency key (same transaction). History keys sort by arrival time, so the
  pass reads only the range of calls that *arrived* before the cut-off (a call cannot end before it
  arrived); a call that arrived before it but ended after it is kept and looked at again next pass.
- ``presence/{end_ns}-{a}`` intervals that ended before the cut-off, and ``audit/{time_ns}-{id}`` events
  before it: their keys sort by that time, so each batch is one range delete.

Bounded: at most ``batch`` records per transaction (each costs up to three deletes, under etcd's 128
operations per transaction) and ``max_batches`` transactions per prefix per tenant per pass; a backlog
(retention shortened, a node long down) drains over several passes instead of one huge transaction.

Who sweeps: every node, for every tenant it routes, with idempotent deletes; no election. Deleting a
deleted key is a no-op, so two nodes sweeping the same tenant at once only duplicate a few range reads;
the alternative, a per-tenant lease election like queue ownership, would add keys, leases and a failover
path for a job that runs once an hour and may run late. Passes are spread by a random start delay and a
jittered interval so a pool of nodes does not sweep in step.

Not for: live calls (``live/``: a call in progress is never deleted, its caller number stays in etcd for
the call's life) or recordings on disk (``recordings``). The cut-off is judged by this node's wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aetcd.exceptions
import grpc
import pydantic
from aetcd import rpc

from ccp_acd.domain.models import Call
from ccp_acd.errors import StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore

log = logging.getLogger(__name__)

DAY_S = 86400.0
# Records per transaction: up to 3 deletes each (history, caller index, request id) under etcd's 128 ops.
BATCH = 40
# Transactions per prefix per tenant per pass: 1,000 records an hour per tenant and node is far more than any
# tenant ends, so a steady state keeps up; a backlog drains over passes.
MAX_BATCHES = 25
# Seconds between passes: records are kept for days, so an hour late is nothing; each pass costs a few reads.
DEFAULT_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Swept:
    """What one pass deleted for one tenant."""

    history: int = 0
    callers: int = 0
    requests: int = 0
    presence: int = 0
    audit: int = 0


class RetentionSweeper:
    """Deletes a tenant's records older than its retention (see module doc); ``run`` loops, ``sweep`` is one pass."""

    def __init__(self, store: EtcdStore, *, batch: int = BATCH, max_batches: int = MAX_BATCHES, timeout_s: float = 5.0):
        if not 1 <= batch <= BATCH:
            raise ValueError(f"batch {batch} is out of range 1..{BATCH}")
        self._store = store
        self._client = store.client
        self._batch = batch
        self._max_batches = max_batches
        self._timeout_s = timeout_s

    async def _range(self, start: bytes, end: bytes, *, limit: int, keys_only: bool) -> tuple[list, bool]:
        """Up to ``limit`` key-values in [start, end), by key; and whether more follow. (aetcd sends no limit.)"""
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit, keys_only=keys_only)
        try:
            response = await self._client.kvstub.Range(request, timeout=self._timeout_s, metadata=self._client.metadata)
        except (grpc.RpcError, aetcd.exceptions.ClientError) as e:
            raise StateUnavailable(f"etcd range read for retention: {e}") from e
        return list(response.kvs), response.more

    async def _commit(self, ops: list) -> None:
        try:
            await self._client.transaction(compare=[], success=ops, failure=[])
        except aetcd.exceptions.ClientError as e:
            raise StateUnavailable(f"etcd delete for retention: {e}") from e

    async def sweep(self, tenant: str, *, days: int, now: float) -> Swept:
        """One pass over ``tenant``: delete what ended more than ``days`` before ``now``."""
        cutoff = now - days * DAY_S
        history, callers, requests = await self._sweep_history(tenant, cutoff)
        presence = await self._sweep_sorted(keys.presence_prefix(tenant), keys.presence_at(tenant, cutoff))
        audit = await self._sweep_sorted(keys.audit_prefix(tenant), keys.audit_at(tenant, cutoff))
        return Swept(history=history, callers=callers, requests=requests, presence=presence, audit=audit)

    async def _sweep_history(self, tenant: str, cutoff: float) -> tuple[int, int, int]:
        start, end = keys.history_prefix(tenant).encode(), keys.history_at(tenant, cutoff).encode()
        deleted = [0, 0, 0]
        for _ in range(self._max_batches):
            kvs, more = await self._range(start, end, limit=self._batch, keys_only=False)
            ops = []
            for kv in kvs:
                try:
                    call = decode(Call, kv.value)
                except pydantic.ValidationError:
                    # Not a call record (hand-edited?): past the cut-off by its key, so it goes; an index
                    # entry it had stays, and caller history skips entries whose record is gone.
                    log.warning("retention: tenant %s: deleting an undecodable history record", tenant)
                    ops.append(self._client.transactions.delete(kv.key))
                    deleted[0] += 1
                    continue
                if call.ended_at is not None and call.ended_at >= cutoff:
                    continue  # arrived before the cut-off but ended after it: kept until it is old enough
                ops.append(self._client.transactions.delete(kv.key))
                deleted[0] += 1
                if call.caller.address:
                    index = keys.caller_call(tenant, keys.caller_key(tenant, call.caller.address), call.id)
                    ops.append(self._client.transactions.delete(index.encode()))
                    deleted[1] += 1
                if call.request_id:
                    ops.append(self._client.transactions.delete(keys.request(tenant, call.request_id).encode()))
                    deleted[2] += 1
            if ops:
                await self._commit(ops)
            if not more or not kvs:
                break
            start = kvs[-1].key + b"\x00"
        return deleted[0], deleted[1], deleted[2]

    async def _sweep_sorted(self, prefix: str, cutoff_key: str) -> int:
        """Delete keys of ``prefix`` that sort before ``cutoff_key`` (time-ordered keys), a batch per range delete."""
        start, end = prefix.encode(), cutoff_key.encode()
        deleted = 0
        for _ in range(self._max_batches):
            found, more = await self._range(start, end, limit=self._batch * 3, keys_only=True)
            if not found:
                break
            # Nothing is written into the past of a time-ordered log, so the range up to the last key read
            # holds exactly the keys read.
            await self._commit([self._client.transactions.delete(start, range_end=found[-1].key + b"\x00")])
            deleted += len(found)
            if not more:
                break
        return deleted

    async def sweep_all(self, *, routes: Callable[[str], bool], now: float) -> dict[str, Swept]:
        """One pass over every tenant this node routes that has a config."""
        done: dict[str, Swept] = {}
        for tenant in await self._store.list_tenants():
            if not routes(tenant):
                continue
            config = await self._store.get_tenant_config(tenant)
            if config is None:
                continue
            swept = await self.sweep(tenant, days=config.retention.call_records_days, now=now)
            if swept != Swept():
                log.info(
                    "retention: tenant %s: deleted %d call records, %d caller index entries, %d presence "
                    "intervals, %d audit events older than %d days",
                    tenant, swept.history, swept.callers, swept.presence, swept.audit, config.retention.call_records_days,
                )
            done[tenant] = swept
        return done

    async def run(
        self, *, routes: Callable[[str], bool], interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time, rng: random.Random | None = None,
    ) -> None:
        """Sweep every ``interval_s`` (+-20 %, the first pass after a random part of it) until cancelled."""
        rng = rng or random.Random()
        delay = rng.uniform(0.0, interval_s)
        while True:
            await asyncio.sleep(delay)
            try:
                await self.sweep_all(routes=routes, now=clock())
            except StateUnavailable as e:
                log.warning("retention pass failed, retried next interval: %s", e)
            except Exception:  # noqa: BLE001 - a bug here must not stop the node; it is logged and retried
                log.exception("retention pass failed unexpectedly")
            delay = interval_s * rng.uniform(0.8, 1.2)


def start_retention(store: EtcdStore, *, routes: Callable[[str], bool], interval_s: float) -> asyncio.Task[None]:
    """The node's sweeper as a task (``server.serve`` cancels it at shutdown)."""
    return asyncio.create_task(RetentionSweeper(store).run(routes=routes, interval_s=interval_s), name="retention")

