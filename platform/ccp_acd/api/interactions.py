"""InteractionService: put work into a queue, withdraw it, follow it.

Enqueue persists the call record (one etcd transaction, idempotent on
``request_id``) before it answers, so a caller told to hold is never lost.
Interaction ids are ``{time_ns:020d}-{8 hex}``: they sort by arrival time,
which the history key range (reports) relies on.

Admission, in order: the tenant's enqueue rate (RESOURCE_EXHAUSTED,
``api.overload``); the queue must exist (NOT_FOUND); the caller must not be
on the tenant's blocklist (FAILED_PRECONDITION); the tenant's cap on waiting
calls (RESOURCE_EXHAUSTED); then the queue's ``max_length``. A full queue
applies ``on_max_length``:

- ``queue``: the call is enqueued into the target queue instead, with the full
  queue in its route history and the reason on the record (one hop; a missing
  or identical target counts as "no overflow");
- ``callback``: the call is enqueued in the same queue as a callback (the
  caller hangs up and keeps their place);
- ``voicemail``: the call is enqueued (so it has a record) and immediately
  routed to voicemail by committing the same re-route the router would;
  unless an agent was offered it in between, in which case the caller simply
  gets the agent;
- ``wait`` (or no usable action): RESOURCE_EXHAUSTED "queue X is full".

Caveats: the length check reads a snapshot, so concurrent Enqueues can
overshoot ``max_length`` by the number racing (the limit is a guard, not an
invariant). A retried Enqueue (same request_id) whose call is still live is
answered with that call even if the queue is now full; one whose call already
ended and whose queue is now full gets RESOURCE_EXHAUSTED.

Live views: the replies' position and expected wait come from the node's
watch-fed live view of the tenant (``state.live.LiveViews.read``), which
first shows this node's own writes (the call just enqueued counts in its own
position); for a tenant this node does not route, and when the view lags,
they come from a range read of etcd.

Config: the queues and the blocklist come from the node's watch-fed config
cache of the tenant (``LiveViews.queue_configs`` / ``blocked``), not from two
etcd range reads per call. A change made elsewhere (``ccp apply``, another
node's admin API) applies eventually, within milliseconds (its watch event);
a blocklist change through this node applies to the next Enqueue. A queue the
cache does not know yet is looked up in etcd before NOT_FOUND.

Voice (issue 5, the SIP trunk adapter is the client): Enqueue takes the
trunk, the IVR answers and the arrival time onto the record's timeline
(``domain.timeline``); WatchInteraction follows an interaction (``api.watch``);
Hangup ends a CONNECTED one like the agent's Complete (no disposition, reason
"caller hung up" / "agent hung up", the agent's wrap-up follows), returns an
ended one as it is, and refuses a QUEUED one (Cancel is the caller leaving the
queue); LeaveVoicemail and RequestCallback are ``state.voice``'s transitions.
LeaveVoicemail without request_id uses ``voicemail-{interaction id}``, so the
adapter's retry finds the first item either way. Requeue puts a CONNECTED one
whose agent leg never came up back in its queue, same id and place, its agent on
a no-answer break (``state.requeue``); the reply shows it as the live view does.

Telemetry: Enqueue opens the call's trace (``tracing``: the ``call`` span,
whose traceparent the record carries) and counts admitted calls; Cancel
records the abandoned wait.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping

import grpc.aio
from ccpapi.v1 import interaction_pb2, interaction_pb2_grpc

from ccp_acd.api import convert, validate, validate_voice
from ccp_acd.api.auth import Authenticator
from ccp_acd.api.overload import EffectiveLimits, Overload
from ccp_acd.api.roles import INTERACTION
from ccp_acd.api.status import ResourceExhausted, grpc_errors
from ccp_acd.api.watch import InteractionWatch
from ccp_acd.domain import timeline
from ccp_acd.domain.admission import admit
from ccp_acd.domain.models import Action, ActionKind, Call, CallState, Channel, QueueConfig, RerouteDecision
from ccp_acd.domain.sites import adopter
from ccp_acd.errors import FailedPrecondition, NotFound
from ccp_acd.state.live import LiveViews
from ccp_acd.state.sites import SiteDirectory
from ccp_acd.state.store import Store
from ccp_acd.telemetry import CallEvents

# Attempts at committing a voicemail re-route at admission before leaving the call to the router.
VOICEMAIL_ATTEMPTS = 3

# Creates an admitted call: (call, created) as ``Store.enqueue``; the node's router may offer it at once.
Enqueuer = Callable[[str, Call, Mapping[str, QueueConfig]], Awaitable[tuple[Call, bool]]]


def new_call_id() -> str:
    """A time-sortable, unique interaction id (see module doc)."""
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


class InteractionServicer(interaction_pb2_grpc.InteractionServiceServicer):
    def __init__(
        self,
        store: Store,
        auth: Authenticator,
        *,
        site: str,
        node_id: str,
        directory: SiteDirectory | None = None,
        clock: Callable[[], float] = time.time,
        events: CallEvents | None = None,
        views: LiveViews | None = None,
        overload: Overload | None = None,
    ):
        self._store = store
        # Without the node's views (no router): every read is a range read of etcd.
        self._views = views or LiveViews(store)
        self._events = events or CallEvents.noop()
        self._auth = auth
        self._site = site
        self._directory = directory
        self._node_id = node_id
        self._clock = clock
        # The node's overload protection (per-tenant rate and waiting cap); None: no limits.
        self._overload = overload
        self._watch = InteractionWatch(store, self._views, clock=clock)  # type: ignore[arg-type]
        self._enqueue: Enqueuer = lambda tenant, call, queues: store.enqueue(tenant, call)

    def route_arrivals(self, enqueue: Enqueuer) -> None:
        """Create calls through ``enqueue`` (the node's router, offer on arrival) instead of the store."""
        self._enqueue = enqueue

    async def _tenant(self, context: grpc.aio.ServicerContext, rpc: str) -> str:
        return (await self._auth.principal(context, method=f"{INTERACTION}{rpc}")).tenant

    async def _routing_site(self, tenant: str) -> str:
        """This node's site; while it is declared down, the site adopting it for the tenant (failover)."""
        directory = self._directory
        if directory is None or directory.is_up(self._site):
            return self._site
        config = await self._store.get_tenant_config(tenant)
        order = [s for s in (config.home_site, *config.failover_sites) if s] if config else []
        return adopter(self._site, order, directory.live_sites()) or self._site

    @grpc_errors
    async def Enqueue(self, request, context):
        validate.enqueue(request)
        arrived_at, ivr = validate_voice.enqueue_voice(request, now=self._clock())
        tenant = await self._tenant(context, "Enqueue")
        limits = await self._limits(tenant)  # first: a tenant over its rate costs nothing more
        queues = await self._views.queue_configs(tenant, require=request.queue)
        queue = queues.get(request.queue)
        if queue is None:
            raise NotFound(f"queue: queue {request.queue!r} not found")
        address = request.caller.address
        for blocked in await self._views.blocked(tenant):
            if blocked.matches(address):
                raise FailedPrecondition("caller.address: the caller is on the tenant's blocklist")
        now = self._clock()
        call = Call(
            id=new_call_id(),
            queue=queue.name,
            channel=convert.CHANNELS_FROM_PB[request.channel],
            priority=request.priority,
            caller=convert.caller(request.caller),
            site=await self._routing_site(tenant),
            state=CallState.QUEUED,
            enqueued_at=now,
            queued_since=now,
            request_id=request.request_id,
            trunk=request.trunk,
            arrived_at=arrived_at or now,
        )
        with self._events.spans.enqueueing(tenant, call) as call:
            return await self._admit(
                tenant, call, request_id=request.request_id, queue=queue, queues=queues, now=now, limits=limits,
                ivr=ivr,
            )

    async def _limits(self, tenant: str) -> EffectiveLimits | None:
        """The tenant's overload limits, one of its enqueue tokens taken (``api.overload``); None: no limits."""
        if self._overload is None:
            return None
        config = await self._views.tenant_config(tenant)
        return await self._overload.admit_enqueue(tenant, config.limits if config is not None else None)

    async def _admit(
        self,
        tenant: str,
        call: Call,
        *,
        request_id: str,
        queue: QueueConfig,
        queues: dict[str, QueueConfig],
        now: float,
        limits: EffectiveLimits | None = None,
        ivr: list[tuple[str, str, float]] | tuple = (),
    ):
        """Enqueue ``call`` under the tenant's waiting cap and the queue's max-length policy (module doc)."""
        to_voicemail = False
        capped = self._overload is not None and limits is not None and limits.max_waiting is not None
        if queue.max_length is not None or capped:
            view = await self._views.read(tenant)
            tenant_waiting = queue_waiting = 0
            for existing in view.calls.values():
                if request_id and existing.request_id == request_id:
                    return convert.interaction(existing, view=view, queues=queues, now=now)
                if existing.state is CallState.QUEUED:
                    tenant_waiting += 1
                    queue_waiting += existing.queue == queue.name
            if capped:
                self._overload.check_waiting(tenant, waiting=tenant_waiting, limits=limits)
            overflow = queue.on_max_length.target_queue if queue.on_max_length.kind is ActionKind.QUEUE else ""
            if overflow and overflow not in queues:
                # A target queue created a moment ago may not be in the config cache yet: etcd has it.
                queues = await self._views.queue_configs(tenant, require=overflow)
            call, outcome = admit(call, queue, queues, waiting=queue_waiting)
            if outcome == "refused":
                raise ResourceExhausted(f"queue {queue.name!r} is full (max_length {queue.max_length})")
            to_voicemail = outcome == "voicemail"
        # After admission, so "queued" names the queue and channel the call really waits in.
        call = timeline.arrival(call, arrived_at=call.arrived_at, ivr=ivr)
        if to_voicemail:  # it goes to voicemail, never to an agent
            call, created = await self._store.enqueue(tenant, call)
        else:
            call, created = await self._enqueue(tenant, call, queues)
        if created and to_voicemail:
            call = await self._to_voicemail(tenant, call, queue, now=now)
        self._events.enqueued(tenant, call, created=created)
        view = await self._views.read(tenant)
        return convert.interaction(view.calls.get(call.id, call), view=view, queues=queues, now=self._clock())

    async def _to_voicemail(self, tenant: str, call: Call, queue: QueueConfig, *, now: float) -> Call:
        decision = RerouteDecision(
            call_id=call.id,
            action=Action(kind=ActionKind.VOICEMAIL),
            reason=f"max-length {queue.max_length} in {queue.name}: voicemail",
        )
        for attempt in range(VOICEMAIL_ATTEMPTS):
            # After a lost compare, a range read: the live view may not show the change yet.
            view = await (self._views.read(tenant) if attempt == 0 else self._views.load(tenant))
            live = view.calls.get(call.id)
            if live is None or live.state is not CallState.QUEUED or call.id in view.reservations:
                break  # something else already moved it on: report what it is now
            if await self._store.commit(tenant, view, decision, node_id=self._node_id, now=now):
                break
        return await self._store.get_call(tenant, call.id)

    @grpc_errors
    async def Cancel(self, request, context):
        validate.cancel(request)
        tenant = await self._tenant(context, "Cancel")
        now = self._clock()
        call = await self._store.cancel(tenant, request.interaction_id, reason=request.reason, now=now)
        if call.state is CallState.ABANDONED and call.ended_at == now:  # ended by this request, not an earlier one
            threshold_s = await self._events.threshold_s(self._views.queue_configs, tenant, call.queue)
            self._events.abandoned(tenant, call, threshold_s=threshold_s)
        return convert.interaction(call)

    @grpc_errors
    async def GetInteraction(self, request, context):
        validate.get_interaction(request)
        tenant = await self._tenant(context, "GetInteraction")
        call = await self._store.get_call(tenant, request.interaction_id)
        if call.state is CallState.CONNECTED:
            message = convert.interaction(call)
            message.agent_sip_uri = await self._watch.sip_uri(tenant, call.agent_id)
            return message
        if call.state is not CallState.QUEUED:
            return convert.interaction(call)
        view = await self._views.read(tenant)
        if call.id not in view.calls:  # enqueued through another node, its watch event not applied yet
            view = await self._views.load(tenant)
        queues = await self._views.queue_configs(tenant, require=call.queue)
        return convert.interaction(view.calls.get(call.id, call), view=view, queues=queues, now=self._clock())

    # -- voice --------------------------------------------------------------

    @grpc_errors
    async def WatchInteraction(self, request, context):
        validate_voice.watch_interaction(request)
        tenant = await self._tenant(context, "WatchInteraction")
        async for message in self._watch.stream(tenant, request.interaction_id):
            yield message

    @grpc_errors
    async def Hangup(self, request, context):
        validate_voice.hangup(request)
        tenant = await self._tenant(context, "Hangup")
        call_id = request.interaction_id
        call = await self._store.get_call(tenant, call_id)
        if call.state is CallState.QUEUED:
            raise FailedPrecondition(f"interaction {call_id!r} is queued, not connected: use Cancel")
        if call.state is CallState.CONNECTED:
            party = "caller" if request.party == interaction_pb2.HANGUP_PARTY_CALLER else "agent"
            try:
                cached = self._views.cache(tenant)
                await self._store.complete(
                    tenant, call.agent_id, call_id, disposition="", wrap_up_s=None, now=self._clock(),
                    hung_up=f"{party} hung up", recording_id=request.recording_id,
                    view=cached.view() if cached is not None else None,
                    queues=self._views.queue_configs,
                )
            except FailedPrecondition:
                pass  # ended meanwhile (the agent's Complete, the other party's Hangup): answered as it is below
            call = await self._store.get_call(tenant, call_id)
            if call.state is CallState.COMPLETED and self._events.active:
                self._events.completed(tenant, call)
        return convert.interaction(call)

    @grpc_errors
    async def LeaveVoicemail(self, request, context):
        validate_voice.leave_voicemail(request)
        tenant = await self._tenant(context, "LeaveVoicemail")
        now = self._clock()
        item = Call(
            id=new_call_id(), queue="", channel=Channel.VOICEMAIL, recording_id=request.recording_id,
            enqueued_at=now, queued_since=now,
        )
        request_id = request.request_id or f"voicemail-{request.interaction_id}"
        item = await self._store.leave_voicemail(
            tenant, request.interaction_id, item=item, request_id=request_id, now=now
        )
        return await self._current(tenant, item)

    @grpc_errors
    async def RequestCallback(self, request, context):
        validate_voice.request_callback(request)
        tenant = await self._tenant(context, "RequestCallback")
        call = await self._store.request_callback(
            tenant, request.interaction_id, number=request.number, now=self._clock()
        )
        return await self._current(tenant, call)

    @grpc_errors
    async def Requeue(self, request, context):
        validate_voice.requeue(request)
        tenant = await self._tenant(context, "Requeue")
        now = self._clock()
        call = await self._store.requeue(
            tenant, request.interaction_id, reason=request.reason, request_id=request.request_id, now=now
        )
        last = call.timeline[-1] if call.timeline else None
        if self._events.active and last is not None and last.kind == timeline.Kind.REQUEUED and last.at == now:
            # Requeued by this request, not an earlier one: the answer it took back is the last acceptance.
            accepted = next((e.at for e in reversed(call.timeline) if e.kind == timeline.Kind.ACCEPTED), None)
            threshold_s = await self._events.threshold_s(self._views.queue_configs, tenant, call.queue)
            self._events.requeued(tenant, call, answered_at=accepted, threshold_s=threshold_s)
        return await self._current(tenant, call)

    async def _current(self, tenant: str, call: Call):
        """``call`` as the live view shows it now (position, expected wait, offer), after this node's write."""
        view = await self._views.read(tenant)
        queues = await self._views.queue_configs(tenant, require=call.queue)
        return convert.interaction(view.calls.get(call.id, call), view=view, queues=queues, now=self._clock())
