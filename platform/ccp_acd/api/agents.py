"""AgentService: presence, the offer stream, accept / reject / complete.

Login puts the agent on BREAK with reason code ``logged-in``: the agent goes
AVAILABLE explicitly (SetState) once the desktop is ready and its offer stream
is open, so no offer rings on a desktop that is still starting. Login of an
agent already logged in changes nothing (retries are harmless).

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

Roles (``api.roles``): an agent token acts only as its own agent; an admin as
any agent; a supervisor as any agent for GetStatus, SetState and Logout only.
Login, Logout and SetState made by anyone but the agent itself are audited
(``api.audit``), whether allowed or refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc.aio
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2

from ccp_acd.api import convert, validate
from ccp_acd.api.audit import AuditTrail, agent_target
from ccp_acd.api.auth import Authenticator, Principal
from ccp_acd.api.roles import AGENT
from ccp_acd.api.status import grpc_errors
from ccp_acd.domain.models import Call, CallState, LiveView, Presence, Reservation
from ccp_acd.errors import NotFound, PermissionDenied, StateUnavailable
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.live import LiveCache, LiveViews, OfferChange
from ccp_acd.state.store import Store, WatchEvent
from ccp_acd.telemetry import CallEvents

log = logging.getLogger(__name__)

# Presence reason code set by Login (see module doc).
REASON_LOGGED_IN = "logged-in"
# Seconds between heartbeats on an open offer stream.
HEARTBEAT_INTERVAL_S = 5.0
# Seconds a closing offer stream waits for its watch to be released.
WATCH_RELEASE_TIMEOUT_S = 2.0


class _StreamEnded(StateUnavailable):
    """The store's watch ended without an error; the client should reopen the stream."""


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        events: CallEvents | None = None,
        views: LiveViews | None = None,
        audit: AuditTrail | None = None,
    ):
        self._store = store
        self._audit = audit or AuditTrail(store, auth, clock=clock)
        # The node's watch-fed live views (``state.live``): this node's writes shown, no etcd read.
        self._views = views or LiveViews(store)
        # Spans and metrics of answers, rejections and completions (module ``telemetry``).
        self._events = events or CallEvents.noop()
        self._auth = auth
        self._clock = clock
        self._heartbeat_s = heartbeat_interval_s

    async def _principal(self, context: grpc.aio.ServicerContext, agent_id: str, rpc: str) -> str:
        principal = await self._auth.principal(context, method=f"{AGENT}{rpc}")
        principal.act_as(agent_id, method=f"{AGENT}{rpc}")
        return principal.tenant

    def _presence_change(self, context: grpc.aio.ServicerContext, agent_id: str, rpc: str):
        """Authorize a presence change of ``agent_id``; audited unless the agent makes it itself (module doc)."""
        target = agent_target(agent_id)

        def audited(principal: Principal) -> bool:
            return not principal.is_agent(agent_id)

        return self._audit.action(context, f"{AGENT}{rpc}", target=lambda _: target, audited=audited)

    async def _status(self, tenant: str, agent_id: str) -> agent_pb2.AgentStatus:
        view = await self._views.read(tenant)
        if agent_id not in view.agents:  # created through another node, its watch event not applied yet
            view = await self._views.load(tenant)
        agent = view.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return convert.agent_status(agent, active=convert.active_calls(view, agent_id), now=self._clock())

    @grpc_errors
    async def Login(self, request, context):
        async with self._presence_change(context, request.agent_id, "Login") as principal:
            validate.login(request)
            principal.act_as(request.agent_id, method=f"{AGENT}Login")
            tenant = principal.tenant
            agent = await self._store.get_agent(tenant, request.agent_id)
            if agent.presence is Presence.LOGGED_OUT:
                await self._store.set_presence(
                    tenant, request.agent_id, Presence.BREAK, reason_code=REASON_LOGGED_IN, now=self._clock()
                )
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def Logout(self, request, context):
        async with self._presence_change(context, request.agent_id, "Logout") as principal:
            validate.logout(request)
            principal.act_as(request.agent_id, method=f"{AGENT}Logout")
            tenant = principal.tenant
            await self._store.set_presence(
                tenant, request.agent_id, Presence.LOGGED_OUT, reason_code="", now=self._clock()
            )
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def SetState(self, request, context):
        async with self._presence_change(context, request.agent_id, "SetState") as principal:
            validate.set_state(request)
            principal.act_as(request.agent_id, method=f"{AGENT}SetState")
            tenant = principal.tenant
            presence = convert.PRESENCE_FROM_PB[request.state]
            await self._store.set_presence(
                tenant, request.agent_id, presence, reason_code=request.reason_code, now=self._clock()
            )
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def GetStatus(self, request, context):
        validate.get_status(request)
        tenant = await self._principal(context, request.agent_id, "GetStatus")
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def AcceptOffer(self, request, context):
        validate.accept_offer(request)
        tenant = await self._principal(context, request.agent_id, "AcceptOffer")
        offer = await self._events.offer_before(
            self._store, tenant, request.interaction_id, cached=self._cached_view(tenant)
        )
        call = await self._store.accept(
            tenant, request.agent_id, request.interaction_id, now=self._clock(), view=self._cached_view(tenant)
        )
        if self._events.active:
            threshold_s = await self._events.threshold_s(self._views.queue_configs, tenant, call.queue)
            self._events.answered(tenant, call, offer=offer, threshold_s=threshold_s)
        message = convert.interaction(call)
        message.agent_sip_uri = await self._sip_uri(tenant, request.agent_id)  # as GetInteraction/WatchInteraction
        return message

    @grpc_errors
    async def RejectOffer(self, request, context):
        validate.reject_offer(request)
        tenant = await self._principal(context, request.agent_id, "RejectOffer")
        offer = await self._events.offer_before(
            self._store, tenant, request.interaction_id, cached=self._cached_view(tenant)
        )
        now = self._clock()
        await self._store.reject(tenant, request.agent_id, request.interaction_id, reason=request.reason, now=now)
        if offer is not None:
            self._events.rejected(tenant, await self._store.get_call(tenant, request.interaction_id), offer, at=now)
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def Complete(self, request, context):
        wrap_up_s = validate.complete(request)
        tenant = await self._principal(context, request.agent_id, "Complete")
        await self._store.complete(
            tenant,
            request.agent_id,
            request.interaction_id,
            disposition=request.disposition,
            wrap_up_s=wrap_up_s,
            now=self._clock(),
            view=await self._routed_view(tenant),
            queues=self._views.queue_configs,
        )
        if self._events.active:
            self._events.completed(tenant, await self._store.get_call(tenant, request.interaction_id))
        return await self._status(tenant, request.agent_id)

    @grpc_errors
    async def GetCallerHistory(self, request, context):
        """Screen pop. Any interaction the agent does not hold (offered or connected), including unknown
        or ended ones, is PERMISSION_DENIED: the answer never tells whether an id exists."""
        limit = validate.agent_caller_history(request)
        tenant = await self._principal(context, request.agent_id, "GetCallerHistory")
        view = await self._store.load_live(tenant)
        call, offer = view.calls.get(request.interaction_id), view.reservations.get(request.interaction_id)
        holds = call is not None and (
            (call.state is CallState.CONNECTED and call.agent_id == request.agent_id)
            or (call.state is CallState.QUEUED and offer is not None and offer.agent_id == request.agent_id)
        )
        if not holds:
            raise PermissionDenied(f"interaction_id: agent {request.agent_id!r} does not hold {request.interaction_id!r}")
        past = await self._store.caller_history(tenant, call.caller.address, limit=limit + 1)
        return convert.caller_history(call.caller.address, [c for c in past if c.id != call.id][:limit])

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
            self._follow(keys.reservations_prefix(tenant), view.revision + 1, events),
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

    async def _sip_uri(self, tenant: str, agent_id: str) -> str:
        """The agent's SIP URI: from the live view when this node routes the tenant, else one etcd read."""
        view = self._cached_view(tenant)
        agent = view.agents.get(agent_id) if view is not None else None
        if agent is None:
            try:
                agent = await self._store.get_agent(tenant, agent_id)
            except NotFound:
                return ""
        return agent.sip_uri

    def _cached_view(self, tenant: str) -> LiveView | None:
        """The node's live view of ``tenant`` when it routes it (no read), else None."""
        cache = self._views.cache(tenant)
        return cache.view() if cache is not None else None

    async def _routed_view(self, tenant: str) -> LiveView | None:
        """The node's live view of ``tenant`` with this node's writes applied when it routes it, else None
        (the store then reads etcd itself: no range read here that it would repeat)."""
        return await self._views.read(tenant) if self._views.cache(tenant) is not None else None

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

    async def _follow(self, prefix: str, start_revision: int, events: asyncio.Queue) -> None:
        try:
            async for event in self._store.watch_prefix(prefix, start_revision=start_revision):
                events.put_nowait(event)
            events.put_nowait(_StreamEnded("the reservation watch ended"))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - handed to the stream, which maps it to a status
            events.put_nowait(e)

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
