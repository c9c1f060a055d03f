"""The offer stream of AgentService (StreamOffers): a mixin of ``api.agents.AgentServicer``.

StreamOffers first sends the offers already pending for the agent (read from
one live view), then follows the reservation keys from the next revision, so
nothing is missed or sent twice between the read and the watch. A reservation
deleted because the agent accepted it is not reported; any other deletion is
an ``OfferRevoked`` with reason ``expired`` (the offer timed out),
``rejected`` (this agent rejected it), ``caller-hung-up``, or ``withdrawn``
(another node or policy took it back: the offering node died, the agent's
presence changed, the call moved). A heartbeat is sent every
``HEARTBEAT_INTERVAL_S`` so desktops and proxies see a live stream. If etcd
becomes unreachable the stream ends with UNAVAILABLE and the client reopens it.

For a tenant this node routes, streams do not open etcd watches: they
subscribe to the node's live cache of the tenant (``state.live``), which hands
each reservation change, decoded once, only to the streams of the agent it
concerns, and the call records come from that cache (etcd if it lacks one). The
initial offers come from a view taken after subscribing; changes at or below
its revision are skipped, and an offer already sent is not sent again. A
broken watch does not end these streams: the cache resyncs and hands them the
difference (offers that appeared, revocations of those that vanished), so
nothing is lost; a deletion is reported only for an offer the stream sent.
When the node stops routing the tenant, the stream ends with UNAVAILABLE and
the client reopens it. Other tenants' streams keep their own etcd watch.

The mixin uses the servicer's ``_principal``, ``_store``, ``_views``, ``_clock``
and ``_heartbeat_s``. Not for: presence, accept / reject / complete or the
other AgentService RPCs (``api.agents``), nor who may open a stream
(``api.roles``, applied through ``_principal``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ccpapi.v1 import agent_pb2, common_pb2

from ccp_acd.api import convert, validate
from ccp_acd.api.pump import pump
from ccp_acd.api.status import grpc_errors
from ccp_acd.domain.models import Call, CallState, Reservation
from ccp_acd.errors import NotFound, StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.live import LiveCache, OfferChange
from ccp_acd.state.store import WatchEvent

# Seconds between heartbeats on an open offer stream.
HEARTBEAT_INTERVAL_S = 5.0
# Seconds a closing offer stream waits for its watch to be released.
WATCH_RELEASE_TIMEOUT_S = 2.0


class _StreamEnded(StateUnavailable):
    """The store's watch ended without an error; the client should reopen the stream."""


class OfferStreams:
    """``AgentServicer``'s StreamOffers and its helpers (module doc)."""

    @grpc_errors
    async def StreamOffers(self, request, context):
        validate.stream_offers(request)
        agent_id = request.agent_id
        tenant = await self._principal(context, agent_id, "StreamOffers")
        cache = self._views.cache(tenant)
        if cache is not None:
            async for event in self._offers_from_cache(tenant, agent_id, cache):
                yield event
            return
        view = await self._store.load_live(tenant)
        if agent_id not in view.agents:
            raise NotFound(f"agent {agent_id!r} not found")
        for reservation in sorted(view.reservations.values(), key=lambda r: r.offered_at):
            call = view.calls.get(reservation.call_id)
            if reservation.agent_id == agent_id and call is not None:
                yield _offer(convert.interaction(call, view=view), reservation)

        events: asyncio.Queue[WatchEvent | BaseException] = asyncio.Queue()
        follower = asyncio.create_task(
            pump(
                self._store.watch_prefix(keys.reservations_prefix(tenant), start_revision=view.revision + 1),
                events, end=_StreamEnded("the reservation watch ended"),
            ),
            name=f"offers-{tenant}-{agent_id}",
        )
        try:
            async for item in self._with_heartbeats(events):
                if isinstance(item, agent_pb2.OfferEvent):
                    yield item
                    continue
                event = await self._offer_event(tenant, agent_id, item)
                if event is not None:
                    yield event
        finally:
            # Bounded: releasing the etcd watch must not hold the stream's task if etcd is slow to answer.
            follower.cancel()
            await asyncio.wait({follower}, timeout=WATCH_RELEASE_TIMEOUT_S)

    async def _offers_from_cache(self, tenant: str, agent_id: str, cache: LiveCache):
        """StreamOffers of a tenant this node routes: fed by the live cache's one watch (module doc)."""
        changes = cache.subscribe_offers(agent_id)
        try:
            # Subscribed first: every change after the view below is in the queue (older ones are skipped).
            view = await self._views.read(tenant)
            if agent_id not in view.agents:  # created through another node, its watch event not applied yet
                view = await self._views.load(tenant)
            if agent_id not in view.agents:
                raise NotFound(f"agent {agent_id!r} not found")
            sent: dict[str, Reservation] = {}  # the offers this stream has sent, by call id
            for reservation in sorted(view.reservations.values(), key=lambda r: r.offered_at):
                call = view.calls.get(reservation.call_id)
                if reservation.agent_id == agent_id and call is not None:
                    sent[reservation.call_id] = reservation
                    yield _offer(convert.interaction(call, view=view), reservation)
            async for item in self._with_heartbeats(changes):
                if isinstance(item, agent_pb2.OfferEvent):
                    yield item
                    continue
                change: OfferChange = item
                reservation = change.reservation
                if change.revision <= view.revision:
                    continue  # the initial view already shows it
                if change.kind == "put":
                    if sent.get(reservation.call_id) == reservation:
                        continue  # already sent (a resync's difference repeats it)
                    event = await self._offered(tenant, agent_id, reservation, self._cached_call(tenant, cache))
                    if event is not None:
                        sent[reservation.call_id] = reservation
                        yield event
                elif sent.pop(reservation.call_id, None) is not None:
                    event = await self._revoked(tenant, agent_id, reservation, self._cached_call(tenant, cache))
                    if event is not None:
                        yield event
        finally:
            cache.unsubscribe_offers(agent_id, changes)

    def _cached_call(self, tenant: str, cache: LiveCache) -> Callable[[str], Awaitable[Call]]:
        """The call record from the cache (which has applied at least the change at hand), else etcd."""

        async def get_call(call_id: str) -> Call:
            call = cache.view().calls.get(call_id)
            return call if call is not None else await self._store.get_call(tenant, call_id)

        return get_call

    async def _with_heartbeats(self, items: asyncio.Queue) -> AsyncIterator[Any]:
        """The queue's items, with a heartbeat ``OfferEvent`` after each quiet interval; an exception ends it."""
        next_heartbeat = time.monotonic() + self._heartbeat_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_heartbeat - time.monotonic())):
                    item = await items.get()
            except TimeoutError:
                next_heartbeat = time.monotonic() + self._heartbeat_s
                yield agent_pb2.OfferEvent(heartbeat=agent_pb2.Heartbeat(at=convert.timestamp(self._clock())))
                continue
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _offer_event(
        self, tenant: str, agent_id: str, event: WatchEvent
    ) -> agent_pb2.OfferEvent | None:
        async def get_call(call_id: str) -> Call:
            return await self._store.get_call(tenant, call_id)

        if event.kind == "put":
            if event.value is None:
                return None
            return await self._offered(tenant, agent_id, decode(Reservation, event.value), get_call)
        if event.prev_value is None:
            return None
        return await self._revoked(tenant, agent_id, decode(Reservation, event.prev_value), get_call)

    async def _offered(
        self, tenant: str, agent_id: str, reservation: Reservation, get_call: Callable[[str], Awaitable[Call]]
    ) -> agent_pb2.OfferEvent | None:
        if reservation.agent_id != agent_id:
            return None
        try:
            call = await get_call(reservation.call_id)
        except NotFound:
            return None  # the call ended between the offer and this read: nothing to ring
        if call.state is not CallState.QUEUED:
            return None
        message = convert.interaction(call)
        message.offered_to = agent_id
        return _offer(message, reservation)

    async def _revoked(
        self, tenant: str, agent_id: str, reservation: Reservation, get_call: Callable[[str], Awaitable[Call]]
    ) -> agent_pb2.OfferEvent | None:
        if reservation.agent_id != agent_id:
            return None
        reason = await self._revocation_reason(agent_id, reservation, get_call)
        if reason is None:
            return None
        return agent_pb2.OfferEvent(
            revoked=agent_pb2.OfferRevoked(interaction_id=reservation.call_id, reason=reason)
        )

    async def _revocation_reason(
        self, agent_id: str, reservation: Reservation, get_call: Callable[[str], Awaitable[Call]]
    ) -> str | None:
        try:
            call = await get_call(reservation.call_id)
        except NotFound:
            return "withdrawn"
        if call.state is CallState.CONNECTED and call.agent_id == agent_id:
            return None  # this agent accepted it: not a revocation
        if call.state is CallState.ABANDONED:
            return "caller-hung-up"
        if agent_id in call.declined_by:
            return "rejected"
        if reservation.expires_at <= self._clock():
            return "expired"
        return "withdrawn"


def _offer(interaction: common_pb2.Interaction, reservation: Reservation) -> agent_pb2.OfferEvent:
    interaction.offered_to = reservation.agent_id
    return agent_pb2.OfferEvent(
        offer=agent_pb2.Offer(interaction=interaction, expires_at=convert.timestamp(reservation.expires_at))
    )
