"""The store on a real etcd (aetcd, asyncio): every transition one guarded transaction.

Why each guarantee holds:

- A call is offered to at most one agent: the reservation key is created with
  ``create_revision == 0``; a second offer of the same call loses the compare.
- An agent never exceeds its capacity: every offer compares the agent record's
  ``mod_revision`` seen in the planner's snapshot and rewrites the record, so of
  two nodes filling the same agent on the same snapshot only one commits. Work
  only ever *leaves* an agent without touching its record (an offer expiring
  with its lease), which can make a snapshot pessimistic, never optimistic.
- A call is answered once: accept compares the reservation and the call record
  and deletes the reservation while connecting the call.
- A dead node loses nothing: its offers live on its lease and vanish with it;
  the call record, written at Enqueue, is untouched and keeps its place.

Where each part lives: this module holds the client, the node's session, the
plumbing every transition uses (``_txn``, ``_mod``, ``_put``, ``_retrying``, ...),
the declarative config, credentials, blocklist, the routing commit, the site
records and watches. ``EtcdStore`` inherits the rest from mixins:

- ``state.interactions``: enqueue, accept, reject, complete, cancel, moves;
- ``state.agents``: agent records and presence;
- ``state.voice``: voicemail and callback; ``state.requeue``: Requeue;
- ``state.history``: reports (ended calls, presence log, caller history) and
  the audit log.

What this module is not: it makes no routing decisions (``domain.routing``
does) and does not validate requests (``api.validate`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import aetcd
import aetcd.exceptions
import aetcd.rtypes
import aetcd.utils
from aetcd import rpc, watcher

from ccp_acd.domain import timeline
from ccp_acd.domain.models import (
    REASON_NO_ANSWER,
    Agent,
    Call,
    Decision,
    ExpireOfferDecision,
    LiveView,
    OfferDecision,
    Presence,
    QueueConfig,
    RerouteDecision,
    Reservation,
    SiteMoveDecision,
)
from ccp_acd.domain.presence import closed_intervals
from ccp_acd.domain.routing import apply_reroute
from ccp_acd.errors import Conflict, NotFound, StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.agents import AgentRecords
from ccp_acd.state.codec import decode, encode
from ccp_acd.state.history import HistoryReads
from ccp_acd.state.interactions import InteractionTransitions
from ccp_acd.state.requeue import RequeueTransitions
from ccp_acd.state.store import (
    BlockedCaller,
    Credential,
    Fence,
    QueuePlacement,
    TenantConfig,
    TrunkConfig,
    WatchEvent,
)
from ccp_acd.state.voice import VoiceTransitions
from ccp_acd.tls import ChannelSecurity, open_channel

log = logging.getLogger(__name__)

T = TypeVar("T")

# A transition re-reads and retries when a concurrent writer wins its compare;
# past this many losses the caller gets Conflict (ABORTED) and may retry.
CAS_ATTEMPTS = 8

NO_FENCE = Fence()

# Seconds a watch may take to cancel before the stream is simply dropped.
WATCH_CANCEL_TIMEOUT_S = 2.0
# Seconds a closing client may take before its channel is closed directly (see EtcdStore.close).
CLOSE_TIMEOUT_S = 5.0
# Bytes a reply from etcd may carry. gRPC's default (4 MiB) made the range read of a tenant's ``live/``
# fail from about 7,000 waiting calls on (a call record is ~0.5 KB); etcd itself sends replies of any size.
MAX_RECEIVE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class _Record:
    value: bytes
    mod_revision: int


class Session:
    """A node's lease, kept alive in the background, and its registration key.

    If a keepalive finds the lease gone (the node stalled past its TTL), the
    session grants a new lease and registers again: offers made on the old
    lease are already back in their queues, which is exactly what a stalled
    node must accept.
    """

    def __init__(self, store: EtcdStore, *, site: str, node_id: str, ttl_s: int, info: bytes):
        self._store = store
        self.site = site
        self.node_id = node_id
        self.ttl_s = ttl_s
        self._info = info
        self.lease_id = 0
        self._task: asyncio.Task[None] | None = None

    async def _grant(self) -> None:
        lease = await self._store._call(self._store.client.lease(self.ttl_s))
        self.lease_id = lease.id
        await self._store._call(
            self._store.client.put(keys.node(self.site, self.node_id).encode(), self._info, lease=lease.id)
        )
        log.info("node %s/%s registered on lease %x (ttl %ss)", self.site, self.node_id, lease.id, self.ttl_s)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 4)
            try:
                response = await self._store._call(self._store.client.refresh_lease(self.lease_id))
                if response.TTL <= 0:
                    log.warning("lease %x expired: the node stalled; registering again", self.lease_id)
                    await self._grant()
            except StateUnavailable as e:
                log.warning("lease keepalive failed: %s", e)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Revoking releases this node's offers at once instead of after the TTL.
        with contextlib.suppress(StateUnavailable):
            await self._store._call(self._store.client.revoke_lease(self.lease_id))


class TlsClient(aetcd.Client):
    """An aetcd client over TLS.

    aetcd 1.0.0 has no TLS: its ``connect`` always opens ``rpc.insecure_channel``. This overrides only that
    method, wiring the same stubs and watcher onto a channel from ``tls.open_channel`` (CA, optional client
    certificate for etcd's --client-cert-auth). etcd's user/password auth is left out: ccp does not use it.
    """

    def __init__(self, *, security: ChannelSecurity, **kwargs: object):
        super().__init__(**kwargs)
        self._security = security

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        # Nothing here awaits, so no other task can see a half-connected client (aetcd's _is_connecting dance).
        self.channel = open_channel(f"{self._host}:{self._port}", self._security, options=list(self._options.items()))
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata)
        self._connected.set()


class EtcdStore(InteractionTransitions, AgentRecords, VoiceTransitions, RequeueTransitions, HistoryReads):
    """Implements ``state.store.Store`` on etcd (the parts that live elsewhere: module doc)."""

    def __init__(self, client: aetcd.Client, *, timeout_s: float):
        self.client = client
        self._timeout_s = timeout_s
        # Per tenant, the revision of the last transaction through this store that wrote its live/ keys:
        # what a watch-fed view must have applied to show this node's own writes (``state.live``).
        self._written: dict[str, int] = {}
        # Whether list_tenants has indexed configs written before the tenant index (_index_tenants).
        self._tenants_indexed = False

    @classmethod
    async def connect(
        cls, endpoint: str, *, timeout_s: float = 5.0, security: ChannelSecurity | None = None
    ) -> EtcdStore:
        """A store on the etcd at ``endpoint``: plaintext with ``security`` None, else TLS (``TlsClient``)."""
        host, _, port = endpoint.rpartition(":")
        arguments: dict = {
            "host": host or "127.0.0.1", "port": int(port), "timeout": timeout_s,
            "options": {"grpc.max_receive_message_length": MAX_RECEIVE_BYTES},
        }
        secure = security is not None and not security.plaintext
        client = TlsClient(security=security, **arguments) if secure else aetcd.Client(**arguments)
        store = cls(client, timeout_s=timeout_s)
        await store._call(client.connect())
        return store

    async def close(self) -> None:
        """Close the client; bounded, so a stopping node never hangs on it.

        aetcd's watcher shutdown waits on its bounded request queue while holding
        a lock, and a test's teardown once hung for 300 s after a router with ~70
        tenants' watches stopped (not reproduced alone). Past the bound, the
        channel is closed directly.
        """
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.client.close()
        except TimeoutError:
            log.warning("etcd client close took over %ss; closing its channel directly", CLOSE_TIMEOUT_S)
            channel = self.client.channel
            if channel is not None:
                await channel.close()

    async def open_session(self, *, site: str, node_id: str, ttl_s: int, grpc_address: str) -> Session:
        info = f'{{"grpc": "{grpc_address}", "started_at": {time.time():.3f}}}'.encode()
        session = Session(self, site=site, node_id=node_id, ttl_s=ttl_s, info=info)
        await session._grant()
        session._task = asyncio.create_task(session._keepalive(), name=f"lease-keepalive-{node_id}")
        return session

    # -- plumbing ---------------------------------------------------------

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except aetcd.exceptions.ClientError as e:
            raise StateUnavailable(f"etcd: {e}") from e

    async def _range_limited(
        self, start: bytes, end: bytes, *, limit: int, keys_only: bool = False, descending: bool = False
    ) -> list:
        """The key-values in [start, end), at most ``limit`` (etcd itself stops there), by key."""
        return list((await self._range(start, end, limit=limit, keys_only=keys_only, descending=descending)).kvs)

    async def _range(
        self, start: bytes, end: bytes, *, limit: int, keys_only: bool = False, descending: bool = False,
        revision: int = 0,
    ) -> rpc.RangeResponse:
        """One Range request: at most ``limit`` keys of [start, end), at ``revision`` (0: the current one).

        aetcd's ``get_range`` and ``get_prefix`` cannot send a limit (its request builder drops it); its KV
        stub can (aetcd is pinned).
        """
        order = rpc.RangeRequest.DESCEND if descending else rpc.RangeRequest.NONE
        request = rpc.RangeRequest(
            key=start, range_end=end, limit=limit, keys_only=keys_only, sort_order=order, revision=revision
        )

        async def send():
            try:
                return await self.client.kvstub.Range(request, timeout=self._timeout_s, metadata=self.client.metadata)
            except rpc.AioRpcError as e:
                aetcd.exceptions._handle_exception(e)  # raises aetcd's ClientError, which _call translates

        return await self._call(send())

    async def _get(self, key: str) -> _Record | None:
        got = await self._call(self.client.get(key.encode()))
        return None if got is None else _Record(got.value, got.mod_revision)

    async def _txn(self, compare: list, success: list, failure: list | None = None) -> tuple[bool, list]:
        ok, responses = await self._call(
            self.client.transaction(compare=compare, success=success, failure=failure or [])
        )
        if ok:
            self._note_written(success, responses)
        return ok, responses

    def _note_written(self, ops: list, responses: list) -> None:
        """Remember the revision of a committed transaction for each tenant whose live/ keys it wrote."""
        tenants = {tenant for op in ops if (tenant := _live_tenant(op.key))}
        if not tenants:
            return
        # Every put / delete response of a transaction carries the transaction's revision.
        revision = next(
            (getattr(r, r.WhichOneof("response")).header.revision for r in responses if not isinstance(r, list)), 0
        )
        for tenant in tenants:
            self._written[tenant] = max(self._written.get(tenant, 0), revision)

    def written(self, tenant: str) -> int:
        """The revision of this store's last write to ``tenant``'s live/ keys (0: none yet)."""
        return self._written.get(tenant, 0)

    def _mod(self, key: str):
        return self.client.transactions.mod(key.encode())

    def _create(self, key: str):
        return self.client.transactions.create(key.encode())

    def _put(self, key: str, record: object, *, lease: int | None = None):
        return self.client.transactions.put(key.encode(), encode(record), lease=lease)

    def _delete(self, key: str):
        return self.client.transactions.delete(key.encode())

    def _file(self, tenant: str, ended: Call) -> list:
        """The puts that file an ended call: its final record and, with a caller address, the caller's index."""
        ops = [self._put(keys.history(tenant, ended.id), ended)]
        if ended.caller.address:
            index = keys.caller_call(tenant, keys.caller_key(tenant, ended.caller.address), ended.id)
            ops.append(self.client.transactions.put(index.encode(), b"{}"))
        return ops

    def _log_presence(self, tenant: str, agent: Agent, now: float) -> list:
        """The puts that log the presence ``agent`` leaves at ``now``; for the transaction that changes it."""
        return [
            self._put(keys.presence_interval(tenant, interval.end, interval.agent_id), interval)
            for interval in closed_intervals(agent, now)
        ]

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T | None]]) -> T:
        """Run a read-compare-write attempt until it commits (returns non-None)."""
        for _ in range(CAS_ATTEMPTS):
            result = await attempt()
            if result is not None:
                return result
        raise Conflict(f"{what}: lost {CAS_ATTEMPTS} compare-and-set races in a row; retry")

    async def _prefix(self, prefix: str) -> aetcd.rtypes.GetRange:
        return await self._call(self.client.get_prefix(prefix.encode()))

    # -- declarative config -----------------------------------------------

    async def put_tenant_config(self, config: TenantConfig) -> None:
        """The config and its tenant index entry (``keys.tenant_index``), in one transaction."""
        await self._txn([], [
            self.client.transactions.put(keys.tenant_config(config.name).encode(), encode(config)),
            self.client.transactions.put(keys.tenant_index(config.name).encode(), b""),
        ])

    async def get_tenant_config(self, tenant: str) -> TenantConfig | None:
        record = await self._get(keys.tenant_config(tenant))
        return None if record is None else decode(TenantConfig, record.value)

    async def list_tenants(self) -> list[str]:
        """The names of the tenants that have a config, sorted: one keys-only read of the tenant index.

        Not a read of every key under ``tenants/`` (the tenants' history, audit and presence logs and
        caller index grow with every call, and every node asks every few seconds). The first call of a
        store makes sure configs written before the index existed are indexed (``_index_tenants``).
        """
        if not self._tenants_indexed:
            await self._index_tenants()
            self._tenants_indexed = True
        found = await self._call(self.client.get_prefix(keys.tenant_index_prefix().encode(), keys_only=True))
        return sorted(keys.last_segment(kv.key) for kv in found)

    async def _index_tenants(self) -> None:
        """Index every tenant that has a config but no index entry, once per cluster (``keys.migration``).

        A jump scan: a keys-only read of one key finds the next tenant's name, and the next read
        starts past that tenant's prefix (N + 1 reads for N tenant prefixes, whatever they hold); the
        entry is put only if the config still exists, so a tenant deleted meanwhile is not indexed.
        """
        done = keys.migration("tenant-index")
        if await self._get(done) is not None:
            return
        indexed = {
            keys.last_segment(kv.key)
            for kv in await self._call(self.client.get_prefix(keys.tenant_index_prefix().encode(), keys_only=True))
        }
        prefix = keys.tenants_prefix().encode()
        end = aetcd.utils.prefix_range_end(prefix)
        start = prefix
        while found := await self._range_limited(start, end, limit=1, keys_only=True):
            name, slash, _ = found[0].key[len(prefix):].partition(b"/")
            start = aetcd.utils.prefix_range_end(prefix + name + b"/")
            tenant = name.decode()
            if not (name and slash) or tenant in indexed:
                continue  # not a tenant's record (no such keys are written), or indexed already
            await self._txn(
                [self._create(keys.tenant_config(tenant)) > 0, self._create(keys.tenant_index(tenant)) == 0],
                [self.client.transactions.put(keys.tenant_index(tenant).encode(), b"")],
            )
        await self._call(self.client.put(done.encode(), f'{{"done_at": {time.time():.3f}}}'.encode()))

    async def put_queue_config(self, tenant: str, config: QueueConfig) -> None:
        await self._call(self.client.put(keys.queue_config(tenant, config.name).encode(), encode(config)))

    async def get_queue_configs(self, tenant: str) -> dict[str, QueueConfig]:
        return await self._configs(keys.queues_prefix(tenant), QueueConfig)

    async def _configs(self, prefix: str, kind: type[T]) -> dict[str, T]:
        """The ``.../{name}/config`` records under ``prefix``, by name."""
        found = (decode(kind, kv.value) for kv in await self._prefix(prefix) if kv.key.endswith(b"/config"))
        return {config.name: config for config in found}

    async def delete_tenant_config(self, tenant: str) -> None:
        """The config and its tenant index entry, in one transaction."""
        await self._txn([], [self._delete(keys.tenant_config(tenant)), self._delete(keys.tenant_index(tenant))])

    async def delete_trunk_config(self, tenant: str, trunk: str) -> None:
        await self._call(self.client.delete(keys.trunk_config(tenant, trunk).encode()))

    async def delete_queue_config(self, tenant: str, queue: str) -> None:
        """The queue's config and placement (its waiting calls are the caller's business: drain first)."""
        await self._call(self.client.delete_prefix(keys.queue_prefix(tenant, queue).encode()))

    async def put_queue_placement(self, tenant: str, queue: str, placement: QueuePlacement) -> None:
        await self._call(self.client.put(keys.queue_placement(tenant, queue).encode(), encode(placement)))

    async def get_queue_placement(self, tenant: str, queue: str) -> QueuePlacement | None:
        record = await self._get(keys.queue_placement(tenant, queue))
        return None if record is None else decode(QueuePlacement, record.value)

    async def put_trunk_config(self, tenant: str, config: TrunkConfig) -> None:
        await self._call(self.client.put(keys.trunk_config(tenant, config.name).encode(), encode(config)))

    async def get_trunk_configs(self, tenant: str) -> dict[str, TrunkConfig]:
        return await self._configs(keys.trunks_prefix(tenant), TrunkConfig)

    # -- credentials --------------------------------------------------------

    async def put_credential(self, tenant: str, key_id: str, credential: Credential) -> None:
        await self._call(self.client.put(keys.credential(tenant, key_id).encode(), encode(credential)))

    async def get_credential(self, tenant: str, key_id: str) -> Credential | None:
        record = await self._get(keys.credential(tenant, key_id))
        return None if record is None else decode(Credential, record.value)

    async def list_credentials(self, tenant: str) -> dict[str, Credential]:
        prefix = keys.credentials_prefix(tenant)
        return {kv.key.decode()[len(prefix):]: decode(Credential, kv.value) for kv in await self._prefix(prefix)}

    async def delete_credential(self, tenant: str, key_id: str) -> None:
        await self._call(self.client.delete(keys.credential(tenant, key_id).encode()))

    async def revoke_credentials(self, tenant: str) -> None:
        await self._call(self.client.delete_prefix(keys.credentials_prefix(tenant).encode()))

    # -- blocklist ----------------------------------------------------------

    async def add_blocked(self, tenant: str, blocked: BlockedCaller) -> BlockedCaller:
        # One transaction: the hashed key in, the pattern-named key of before (``keys.blocked``) out.
        put = self._put(keys.blocked(tenant, blocked.pattern), blocked)
        await self._txn([], [put, *self._legacy_blocked(tenant, blocked.pattern)])
        return blocked

    async def remove_blocked(self, tenant: str, pattern: str) -> None:
        _, responses = await self._txn(
            [], [self._delete(keys.blocked(tenant, pattern)), *self._legacy_blocked(tenant, pattern)]
        )
        if not any(r.response_delete_range.deleted for r in responses):
            raise NotFound("the pattern is not on the blocklist")  # not repeated: it is a caller's number

    def _legacy_blocked(self, tenant: str, pattern: str) -> list:
        legacy = keys.blocked_by_pattern(tenant, pattern)
        return [self._delete(legacy)] if legacy is not None else []

    async def list_blocked(self, tenant: str) -> list[BlockedCaller]:
        return [decode(BlockedCaller, kv.value) for kv in await self._prefix(keys.blocklist_prefix(tenant))]

    # -- routing ------------------------------------------------------------

    async def load_live(self, tenant: str) -> LiveView:
        """Agents, live calls and offers, from one range read (one etcd revision)."""
        found = await self._prefix(keys.live_prefix(tenant))
        agents, calls, reservations, versions = {}, {}, {}, {}
        agents_prefix = keys.agents_prefix(tenant).encode()
        calls_prefix = keys.calls_prefix(tenant).encode()
        reservations_prefix = keys.reservations_prefix(tenant).encode()
        for kv in found.kvs:
            versions[kv.key.decode()] = kv.mod_revision
            if kv.key.startswith(agents_prefix):
                agent = decode(Agent, kv.value)
                agents[agent.id] = agent
            elif kv.key.startswith(calls_prefix):
                call = decode(Call, kv.value)
                calls[call.id] = call
            elif kv.key.startswith(reservations_prefix):
                reservation = decode(Reservation, kv.value)
                reservations[reservation.call_id] = reservation
        return LiveView(
            agents=agents, calls=calls, reservations=reservations, revision=found.header.revision, versions=versions
        )

    def offer_ops(
        self, tenant: str, view: LiveView, decision: OfferDecision, call: Call, *, node_id: str, now: float,
        lease_id: int, fence: Fence,
    ) -> tuple[list, list, Call]:
        """An offer's compares but the call's, its writes, and the call record it writes.

        Compares: the fence, the agent as ``view`` saw it, no offer of the call yet. Writes: the offer
        on the node's lease, the agent's last offer, ``call`` with the offer in its timeline.
        """
        agent_key = keys.agent(tenant, decision.agent_id)
        res_key = keys.reservation(tenant, decision.call_id)
        reservation = Reservation.of(decision, node_id=node_id, now=now)
        agent = replace(view.agents[decision.agent_id], last_offered_at=now)
        offered = timeline.note(call, timeline.Kind.OFFERED, now, agent_id=decision.agent_id)
        compare = [
            *(self._mod(key) == revision for key, revision in fence.guards),
            self._mod(agent_key) == view.versions[agent_key],
            self._create(res_key) == 0,
        ]
        success = [
            self._put(res_key, reservation, lease=lease_id or None),
            self._put(agent_key, agent),
            self._put(keys.call(tenant, decision.call_id), offered),
        ]
        return compare, success, offered

    async def commit(
        self, tenant: str, view: LiveView, decision: Decision, *, node_id: str, now: float, lease_id: int = 0,
        fence: Fence = NO_FENCE,
    ) -> bool:
        """Commit one planner decision made on ``view``; False if the view was stale or the node is fenced."""
        call_key = keys.call(tenant, decision.call_id)
        call = view.calls[decision.call_id]
        guards = [self._mod(key) == revision for key, revision in fence.guards]
        if isinstance(decision, OfferDecision):
            compare, success, _ = self.offer_ops(
                tenant, view, decision, call, node_id=node_id, now=now, lease_id=lease_id, fence=fence
            )
            ok, _ = await self._txn([*compare, self._mod(call_key) == view.versions[call_key]], success)
            return ok
        if isinstance(decision, RerouteDecision):
            rerouted = apply_reroute(call, decision, now=now)
            # An offer another node committed since the view was read wins: the
            # call is with an agent now, it must not also move or end here.
            compare = [
                *guards,
                self._mod(call_key) == view.versions[call_key],
                self._create(keys.reservation(tenant, decision.call_id)) == 0,
            ]
            if rerouted.state.terminal:
                success = [self._delete(call_key), *self._file(tenant, rerouted)]
            else:
                success = [self._put(call_key, rerouted)]
            ok, _ = await self._txn(compare, success)
            return ok
        if isinstance(decision, ExpireOfferDecision):
            res_key = keys.reservation(tenant, decision.call_id)
            agent_key = keys.agent(tenant, decision.agent_id)
            # The call record takes the event: compared too, so a change made meanwhile is not overwritten.
            expired = timeline.note(call, timeline.Kind.OFFER_EXPIRED, now, agent_id=decision.agent_id)
            compare = [
                *guards, self._mod(res_key) == view.versions[res_key], self._mod(call_key) == view.versions[call_key]
            ]
            success = [self._delete(res_key), self._put(call_key, expired)]
            agent = view.agents.get(decision.agent_id)
            if agent is not None and agent.ready(now):
                # Redirect on no answer: the agent is not there; stop offering them work.
                on_break = replace(
                    agent, presence=Presence.BREAK, reason_code=REASON_NO_ANSWER, presence_since=now, wrap_up_call=""
                )
                compare.append(self._mod(agent_key) == view.versions[agent_key])
                success += [self._put(agent_key, on_break), *self._log_presence(tenant, agent, now)]
            ok, _ = await self._txn(compare, success)
            return ok
        if isinstance(decision, SiteMoveDecision):
            # Like a re-route: an offer committed meanwhile wins, the call stays with its agent.
            moved = replace(
                call,
                site=decision.to_site,
                visited_sites=(*call.visited_sites, call.site),
                reason=decision.reason,
            )
            moved = timeline.note(moved, timeline.Kind.SITE_MOVED, now, detail=decision.reason)
            compare = [
                *guards,
                self._mod(call_key) == view.versions[call_key],
                self._create(keys.reservation(tenant, decision.call_id)) == 0,
            ]
            ok, _ = await self._txn(compare, [self._put(call_key, moved)])
            return ok
        raise TypeError(f"unknown decision {decision!r}")

    # -- sites: registrations, states, queue ownership -------------------------

    async def read_prefix(self, prefix: str) -> tuple[list[tuple[str, bytes, int]], int]:
        """(key, value, mod_revision) under ``prefix`` and the revision they were read at."""
        found = await self._prefix(prefix)
        return [(kv.key.decode(), kv.value, kv.mod_revision) for kv in found.kvs], found.header.revision

    async def create_on_lease(self, key: str, value: object, *, lease_id: int, guards: Fence = NO_FENCE) -> int:
        """Create ``key`` on a lease if it does not exist and the guards hold; its mod_revision, or 0."""
        compare = [self._create(key) == 0, *(self._mod(k) == rev for k, rev in guards.guards)]
        ok, _ = await self._txn(compare, [self._put(key, value, lease=lease_id)])
        if not ok:
            return 0
        record = await self._get(key)
        return record.mod_revision if record is not None else 0

    async def put_record(self, key: str, value: object) -> None:
        await self._call(self.client.put(key.encode(), encode(value)))

    async def delete_if(self, key: str, *, mod_revision: int) -> bool:
        ok, _ = await self._txn([self._mod(key) == mod_revision], [self._delete(key)])
        return ok

    async def put_if(self, key: str, value: object, *, mod_revision: int) -> bool:
        """Write ``key`` if its mod_revision is still ``mod_revision`` (0: if it does not exist)."""
        ok, _ = await self._txn([self._mod(key) == mod_revision], [self._put(key, value)])
        return ok

    # -- watches ------------------------------------------------------------

    async def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None, prev_kv: bool = True
    ) -> AsyncIterator[WatchEvent]:
        watch = await self._call(
            self.client.watch_prefix(prefix.encode(), start_revision=start_revision, prev_kv=prev_kv)
        )
        try:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # aetcd creates the watch under asyncio.wait_for, which on Python 3.11 returns the result
                # when a cancellation arrives with it, swallowing the cancellation: the task would then
                # wait on the watch for ever (a client's cancelled stream left its watches behind).
                raise asyncio.CancelledError
            async for event in watch:
                is_put = event.kind == aetcd.rtypes.EventKind.PUT
                # A put of a new key comes with an empty previous key-value (aetcd wraps the unset message):
                # a real one always has its key.
                prev = event.prev_kv if event.prev_kv is not None and event.prev_kv.key else None
                yield WatchEvent(
                    kind="put" if is_put else "delete",
                    key=event.kv.key.decode(),
                    value=event.kv.value if is_put else None,
                    prev_value=prev.value if prev is not None else None,
                    revision=event.kv.mod_revision,
                )
        except aetcd.exceptions.ClientError as e:
            raise StateUnavailable(f"etcd watch on {prefix}: {e}") from e
        finally:
            # The channel may already be closed (nothing to release then), and a
            # cancel to an unreachable etcd must not hold up a stopping node.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(WATCH_CANCEL_TIMEOUT_S):
                    await watch.cancel()


_TENANTS = keys.tenants_prefix().encode()


def _live_tenant(key: bytes | str) -> str:
    """The tenant whose live/ prefix ``key`` is under, or ""."""
    raw = key.encode() if isinstance(key, str) else key
    if not raw.startswith(_TENANTS):
        return ""
    tenant, _, rest = raw[len(_TENANTS):].partition(b"/")
    return tenant.decode() if rest.startswith(b"live/") else ""


def compared_keys(tenant: str, decision: Decision) -> tuple[str, ...]:
    """The live/ keys whose mod_revisions ``EtcdStore.commit`` compares for ``decision`` (the fence aside).

    After a lost compare, one of them changed: a watch-fed view that shows a change on one is no
    longer the view the decision was made on (``routing.Router``).
    """
    call, reservation = keys.call(tenant, decision.call_id), keys.reservation(tenant, decision.call_id)
    if isinstance(decision, OfferDecision | ExpireOfferDecision):
        return (call, reservation, keys.agent(tenant, decision.agent_id))
    return (call, reservation)
