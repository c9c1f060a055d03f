"""AgentService: presence, accept / reject / complete, screen pop; the offer stream is ``api.offers``.

Login puts the agent on BREAK with reason code ``logged-in``: the agent goes
AVAILABLE explicitly (SetState) once the desktop is ready and its offer stream
is open, so no offer rings on a desktop that is still starting. Login of an
agent already logged in changes nothing (retries are harmless).

StreamOffers (pending offers, then changes, revocations and heartbeats, from
the node's live cache or an etcd watch) is the ``api.offers.OfferStreams``
mixin that ``AgentServicer`` inherits; its module doc says what a stream sends.

Roles (``api.roles``): an agent token acts only as its own agent; an admin as
any agent; a supervisor as any agent for GetStatus, SetState and Logout only.
Login, Logout and SetState made by anyone but the agent itself are audited
(``api.audit``), whether allowed or refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc.aio
from ccpapi.v1 import agent_pb2, agent_pb2_grpc

from ccp_acd.api import convert, validate
from ccp_acd.api.audit import AuditTrail, agent_target
from ccp_acd.api.auth import Authenticator, Principal
from ccp_acd.api.offers import HEARTBEAT_INTERVAL_S, OfferStreams
from ccp_acd.api.roles import AGENT
from ccp_acd.api.status import grpc_errors
from ccp_acd.domain.models import CallState, LiveView, Presence
from ccp_acd.errors import NotFound, PermissionDenied
from ccp_acd.state.live import LiveViews
from ccp_acd.state.store import Store
from ccp_acd.telemetry import CallEvents

log = logging.getLogger(__name__)

# Presence reason code set by Login (see module doc).
REASON_LOGGED_IN = "logged-in"


class AgentServicer(OfferStreams, agent_pb2_grpc.AgentServiceServicer):
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
