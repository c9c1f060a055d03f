"""WatchInteraction: one interaction now, then every change to it, until it ends.

What feeds it: for a tenant this node routes, the node's live cache of the
tenant (``state.live``, call subscriptions): no etcd watch per stream, each
change already decoded. For another tenant, an etcd watch of the call's record
and of its reservation key. Both hand over the call record or reservation as
of each revision, so the stream follows the real sequence of states (queued,
offered, connected, ended) and never reorders them; the changes of one etcd
revision (an accept writes the call and deletes the offer at once) make one
message. When the live record is deleted (the call ended), the final record is
read and sent, and the stream closes OK.

Start without a gap: the subscription (or watch) starts before the first read,
and changes at or below the first read's revision are skipped, so nothing
between the read and the watch is lost or sent twice. An unknown id is
NOT_FOUND; an ended one gets its final record and the stream closes.

Position and expected wait are computed from the live view at each message;
while the interaction waits, they are also re-checked every
``POSITION_REFRESH_S`` and a message is sent when they changed (calls ahead
leaving do not change this call's record). Identical consecutive messages are
not sent.

Resources: the stream owns at most one follower task (the etcd path) and one
subscription; both are released in ``finally`` when the client goes away (the
gRPC handler is cancelled), when it ends, or when it fails. If the node stops
routing the tenant, or etcd becomes unreachable, the stream ends UNAVAILABLE:
the client reopens it and gets the state then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ccpapi.v1 import common_pb2

from ccp_acd.api import convert
from ccp_acd.api.pump import pump
from ccp_acd.domain.models import Call, CallState, Reservation
from ccp_acd.errors import NotFound, StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.live import CallChange, LiveViews

# Seconds between position / expected-wait re-checks of a waiting interaction (module doc).
POSITION_REFRESH_S = 2.0
# Seconds a closing stream waits for its etcd watches to be released.
WATCH_RELEASE_TIMEOUT_S = 2.0


class InteractionWatch:
    """The streams of WatchInteraction (module doc)."""

    def __init__(
        self, store: EtcdStore, views: LiveViews, *, clock: Callable[[], float], refresh_s: float = POSITION_REFRESH_S
    ):
        self._store = store
        self._views = views
        self._clock = clock
        self._refresh_s = refresh_s

    async def stream(self, tenant: str, call_id: str) -> AsyncIterator[common_pb2.Interaction]:
        cache = self._views.cache(tenant)
        if cache is not None:
            changes = cache.subscribe_call(call_id)
            try:
                view = await self._views.read(tenant)
                if call_id not in view.calls:  # enqueued through another node, its event not applied yet
                    view = await self._views.load(tenant)
                first = view.calls.get(call_id), view.reservations.get(call_id), view.revision
                async for message in self._follow(tenant, call_id, first, changes):
                    yield message
            finally:
                cache.unsubscribe_call(call_id, changes)
            return
        changes = asyncio.Queue()
        found, revision = await self._store.read_prefix(keys.call(tenant, call_id))
        offers, _ = await self._store.read_prefix(keys.reservation(tenant, call_id))
        call = next((decode(Call, value) for key, value, _ in found if key == keys.call(tenant, call_id)), None)
        offer = next((decode(Reservation, v) for k, v, _ in offers if k == keys.reservation(tenant, call_id)), None)
        followers = [
            asyncio.create_task(
                pump(self._changes(key, kind, revision + 1), changes,
                     end=StateUnavailable("the interaction watch ended; reopen it")),
                name=f"watch-{kind}-{call_id}",
            )
            for key, kind in ((keys.call(tenant, call_id), "call"), (keys.reservation(tenant, call_id), "offer"))
        ]
        try:
            async for message in self._follow(tenant, call_id, (call, offer, revision), changes):
                yield message
        finally:
            for follower in followers:
                follower.cancel()
            await asyncio.wait(followers, timeout=WATCH_RELEASE_TIMEOUT_S)

    async def _changes(self, key: str, kind: str, start_revision: int) -> AsyncIterator[CallChange]:
        """The changes of exactly ``key`` as ``CallChange``s."""
        async for event in self._store.watch_prefix(key, start_revision=start_revision, prev_kv=False):
            if event.key != key:
                continue
            record_type = Call if kind == "call" else Reservation
            record = decode(record_type, event.value) if event.kind == "put" and event.value else None
            yield CallChange(kind, record, event.revision)  # type: ignore[arg-type]

    async def _follow(
        self, tenant: str, call_id: str, first: tuple[Call | None, Reservation | None, int], changes: asyncio.Queue
    ) -> AsyncIterator[common_pb2.Interaction]:
        call, offer, revision = first
        if call is None:
            ended = await self._store.get_call(tenant, call_id)  # NotFound for an unknown id
            yield convert.interaction(ended)
            return
        last = await self._message(tenant, call, offer)
        yield last
        while True:
            batch = await self._next(changes, waiting=call.state is CallState.QUEUED)
            ended = False
            for change in batch:
                if change.revision <= revision:
                    continue  # the first read already shows it
                if change.kind == "offer":
                    offer = change.record  # type: ignore[assignment]
                elif change.record is None:
                    ended = True
                else:
                    call = change.record  # type: ignore[assignment]
            if ended:
                try:
                    final = await self._store.get_call(tenant, call_id)
                except NotFound:  # deleted without a final record (a queue drained by hand): its last state
                    final = call
                yield convert.interaction(final)
                return
            message = await self._message(tenant, call, offer)
            if message != last:
                last = message
                yield message

    async def _next(self, changes: asyncio.Queue, *, waiting: bool) -> list[CallChange]:
        """The changes of the next revision (one etcd revision's changes make one message); [] after a quiet
        ``refresh_s`` while waiting (a position re-check). An exception in the queue ends the stream."""
        first = None
        if waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    first = await changes.get()
            if first is None:
                return []
        else:
            first = await changes.get()
        batch = [first]
        # Events of one revision are queued together (state.live applies a response without yielding).
        while not changes.empty() and not isinstance(batch[-1], BaseException):
            peeked = changes._queue[0]  # noqa: SLF001 - asyncio.Queue has no peek; same-revision grouping
            if isinstance(peeked, CallChange) and peeked.revision != first.revision:
                break
            batch.append(changes.get_nowait())
        for item in batch:
            if isinstance(item, BaseException):
                raise item
        return batch

    async def _message(self, tenant: str, call: Call, offer: Reservation | None) -> common_pb2.Interaction:
        if call.state is CallState.QUEUED:
            view = await self._views.read(tenant)
            queues = await self._views.queue_configs(tenant)
            message = convert.interaction(call, view=view, queues=queues, now=self._clock())
            message.offered_to = offer.agent_id if offer is not None else ""
            return message
        message = convert.interaction(call)
        if call.state is CallState.CONNECTED:
            message.agent_sip_uri = await self.sip_uri(tenant, call.agent_id)
        return message

    async def sip_uri(self, tenant: str, agent_id: str) -> str:
        """The agent's SIP URI: from the node's live view when it routes the tenant, else one etcd read."""
        cache = self._views.cache(tenant)
        agent = cache.view().agents.get(agent_id) if cache is not None else None
        if agent is None:
            try:
                agent = await self._store.get_agent(tenant, agent_id)
            except NotFound:
                return ""  # deleted while connected (an admin's doing): no phone to bridge to
        return agent.sip_uri
