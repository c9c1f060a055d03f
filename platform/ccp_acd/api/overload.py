"""Overload protection of a node: per-tenant limits on new work, load shedding, bounds on every RPC.

What it protects: calls already queued. One tenant (or a broken client) sending
new work faster than the node can route it must not stop the routing of the
calls waiting, its own or any other tenant's. So new work is refused early and
cheaply with RESOURCE_EXHAUSTED, and the work of queued calls is never refused.

Layers, cheapest first (docs/security.md, "Overload protection"):

1. Load shedding (``Shedder``, applied by ``OverloadInterceptor`` before
   authentication; a shed request is not even decoded): a new-work RPC
   (``SHED_METHODS``: Enqueue, Login and the two history reports) is refused
   while the node is saturated, i.e. while ``shed_max_in_flight`` new-work
   handlers are already running, or while the event loop was late by more
   than ``shed_max_loop_lag_s`` at the last tick of ``Shedder.monitor`` (a
   timer every ``LAG_INTERVAL_S``; a loop that runs late delays every RPC and
   every dispatch alike). Never shed: AcceptOffer, RejectOffer, Complete,
   Cancel, SetState, Logout, StreamOffers, GetInteraction, the admin API,
   SiteService (overflow hand-overs move queued calls) and health; the router
   is not an RPC and is never refused anything.
2. Per-tenant rate on Enqueue (``TenantRates``): a token bucket per tenant on
   this node, ``burst`` deep, refilled at ``enqueue_per_s`` (aiolimiter's leaky
   bucket, which is the same thing). Refused: "tenant X exceeds its enqueue
   rate of N/s".
3. Per-tenant cap on waiting calls (``max_waiting``): Enqueue refused while
   the tenant already has that many calls waiting, counted in the node's live
   view of the tenant (no etcd read per request).

The tenant's limits come from its Tenant resource (``spec.limits``, stored in
``TenantConfig.limits``); a limit it does not set takes the node's default
(``CCP_TENANT_ENQUEUE_RATE``, ``_BURST``, ``_MAX_WAITING``; see
``effective_limits``). Every refusal is counted in
``ccp_overload_refusals_total{tenant,reason}`` (tenant empty: shed before
authentication).

Also here: the server's gRPC options (``server_options``: max receive message
size, max concurrent streams per connection, keepalive policy) and a bound on
unary handler time (``OverloadInterceptor``: DEADLINE_EXCEEDED after
``max_handler_s``, so a handler stuck on a hung dependency cannot pile up).

Caveats: the limits are per node (a tenant reaching two nodes gets twice the
rate); the waiting count reads a snapshot, so Enqueues racing each other can
overshoot ``max_waiting`` by their number (a guard, not an invariant, like a
queue's max length). A refused request still costs its HTTP/2 frames and, for
the per-tenant limits, the token check; it costs no etcd write. A retried
Enqueue (same request_id) takes a token again.

Not for: what a tenant may do (``auth``), nor queue admission (``domain.admission``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from aiolimiter import AsyncLimiter

from ccp_acd.api.status import ResourceExhausted
from ccp_acd.settings import NodeSettings
from ccp_acd.state.store import TenantLimits

log = logging.getLogger(__name__)

# Seconds between the shedder's event-loop ticks: short enough to notice a stall within a dispatch interval.
LAG_INTERVAL_S = 0.1
# New work: what a saturated node refuses first (module doc). Everything else serves calls already queued.
SHED_METHODS = frozenset({
    "/ccpapi.v1.InteractionService/Enqueue",
    "/ccpapi.v1.AgentService/Login",
    "/ccpapi.v1.AdminService/GetReport",
    "/ccpapi.v1.AdminService/ListAgentReports",
})
# Reasons of ccp_overload_refusals_total.
RATE, MAX_WAITING, SHED = "rate", "max_waiting", "shed"


@dataclass(frozen=True)
class EffectiveLimits:
    """A tenant's limits on this node; None: unlimited."""

    enqueue_per_s: float | None
    burst: int
    max_waiting: int | None


def effective_limits(limits: TenantLimits | None, settings: NodeSettings) -> EffectiveLimits:
    """The tenant's own limits where it sets them, the node's defaults elsewhere (0 in a default: unlimited)."""
    limits = limits or TenantLimits()
    rate = limits.enqueue_per_s if limits.enqueue_per_s is not None else settings.tenant_enqueue_rate or None
    burst = limits.burst if limits.burst is not None else settings.tenant_enqueue_burst
    waiting = limits.max_waiting if limits.max_waiting is not None else settings.tenant_max_waiting or None
    return EffectiveLimits(enqueue_per_s=rate, burst=max(1, burst), max_waiting=waiting)


def waiting_refusal(tenant: str, *, waiting: int, limits: EffectiveLimits) -> str | None:
    """Why an Enqueue of ``tenant`` is refused with ``waiting`` calls of it waiting; None: admitted."""
    if limits.max_waiting is not None and waiting >= limits.max_waiting:
        return f"tenant {tenant!r} already has {waiting} calls waiting (its maxWaiting is {limits.max_waiting})"
    return None


def shed_reason(*, in_flight: int, lag_s: float, max_in_flight: int, max_lag_s: float) -> str | None:
    """Why the node sheds new work now; None: it does not. A bound of 0 sheds everything (drills, tests)."""
    if in_flight >= max_in_flight:
        return f"{in_flight} new-work requests in progress (the node's bound is {max_in_flight})"
    if lag_s > max_lag_s:
        return f"its event loop runs {lag_s:.2f} s late (the node's bound is {max_lag_s:g} s)"
    return None


class TenantRates:
    """One token bucket per tenant (module doc, layer 2); a bucket is rebuilt when the tenant's limits change."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[tuple[float, int], AsyncLimiter]] = {}

    async def take(self, tenant: str, *, rate: float, burst: int) -> bool:
        """Whether a token was taken (never waits: a refused request is answered at once)."""
        entry = self._buckets.get(tenant)
        if entry is None or entry[0] != (rate, burst):
            # A leaky bucket of capacity ``burst`` draining at ``rate``/s: ``burst`` calls per burst/rate seconds.
            entry = self._buckets[tenant] = ((rate, burst), AsyncLimiter(burst, burst / rate))
        limiter = entry[1]
        if not limiter.has_capacity():
            return False
        await limiter.acquire()  # returns at once: the capacity was just seen, and nothing ran in between
        return True


class Shedder:
    """The node's saturation (module doc, layer 1): new-work handlers in progress and the event loop's lag."""

    def __init__(self, *, max_in_flight: int, max_lag_s: float):
        self.max_in_flight = max_in_flight
        self.max_lag_s = max_lag_s
        self.in_flight = 0
        self.lag_s = 0.0
        self.ticks = 0  # measurements taken

    def reason(self) -> str | None:
        return shed_reason(
            in_flight=self.in_flight, lag_s=self.lag_s, max_in_flight=self.max_in_flight, max_lag_s=self.max_lag_s
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def monitor(self, *, interval_s: float = LAG_INTERVAL_S) -> None:
        """Measure the loop's lag every ``interval_s`` until cancelled: how much later than asked a timer fires."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + interval_s
            await asyncio.sleep(interval_s)
            lag = max(0.0, loop.time() - asked)
            if lag > self.max_lag_s >= self.lag_s:
                log.warning("event loop %.2f s late: shedding new work", lag)
            self.lag_s = lag
            self.ticks += 1


Refused = Callable[[str, str], None]  # (tenant, reason): counts a refusal


class OverloadInterceptor(grpc.aio.ServerInterceptor):
    """Sheds new work while the node is saturated; bounds unary handlers to ``max_handler_s`` (module doc).

    Install it after the tracing interceptor (a shed request still gets its span) and before the
    request decoding one (a shed request is not even decoded).
    """

    def __init__(self, shedder: Shedder, *, max_handler_s: float, refused: Refused):
        self._shedder = shedder
        self._max_handler_s = max_handler_s
        self._refused = refused

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streams (StreamOffers) are never shed and live as long as the agent is connected
        new_work = handler_call_details.method in SHED_METHODS
        if new_work and (reason := self._shedder.reason()) is not None:
            self._refused("", SHED)
            message = f"the node is overloaded and sheds new work: {reason}; retry with backoff"
            return handler._replace(unary_unary=_refuse(message), request_deserializer=_ignored)
        return handler._replace(unary_unary=self._bounded(handler.unary_unary, counted=new_work))

    def _bounded(self, behavior: Callable[..., Awaitable[Any]], *, counted: bool) -> Callable[..., Awaitable[Any]]:
        limit_s = self._max_handler_s

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._shedder.running() if counted else contextlib.nullcontext():
                try:
                    async with asyncio.timeout(limit_s) as deadline:
                        return await behavior(request, context)
                except TimeoutError:
                    if not deadline.expired():
                        raise  # the handler's own TimeoutError, not this bound
                    log.warning("a handler ran past %ss and was cancelled", limit_s)
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"the node did not finish the request within its {limit_s:g} s limit"
            )

        return unary


def _ignored(raw: bytes) -> None:
    return None


def _refuse(message: str) -> Callable[..., Awaitable[Any]]:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

    return unary


class Overload:
    """A node's overload protection (module doc): the shedder, the tenant buckets and where refusals are counted."""

    def __init__(self, settings: NodeSettings, *, refused: Refused | None = None):
        self.settings = settings
        self.shedder = Shedder(max_in_flight=settings.shed_max_in_flight, max_lag_s=settings.shed_max_loop_lag_s)
        self.rates = TenantRates()
        self._refused = refused or (lambda tenant, reason: None)
        self._monitor: asyncio.Task[None] | None = None

    def interceptor(self) -> OverloadInterceptor:
        return OverloadInterceptor(self.shedder, max_handler_s=self.settings.max_handler_s, refused=self._refused)

    def start(self) -> None:
        self._monitor = asyncio.create_task(self.shedder.monitor(), name="overload-lag-monitor")

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor

    async def admit_enqueue(self, tenant: str, limits: TenantLimits | None) -> EffectiveLimits:
        """Take one of the tenant's enqueue tokens (ResourceExhausted when there is none); its limits."""
        effective = effective_limits(limits, self.settings)
        rate = effective.enqueue_per_s
        if rate is not None and not await self.rates.take(tenant, rate=rate, burst=effective.burst):
            self._refused(tenant, RATE)
            raise ResourceExhausted(f"tenant {tenant!r} exceeds its enqueue rate of {rate:g}/s; retry later")
        return effective

    def check_waiting(self, tenant: str, *, waiting: int, limits: EffectiveLimits) -> None:
        """ResourceExhausted when the tenant's waiting calls have reached its cap."""
        refusal = waiting_refusal(tenant, waiting=waiting, limits=limits)
        if refusal is not None:
            self._refused(tenant, MAX_WAITING)
            raise ResourceExhausted(refusal)


def server_options(settings: NodeSettings) -> list[tuple[str, int]]:
    """grpc.aio.server options bounding each connection (module doc)."""
    return [
        # No RPC of ccpapi needs more than a few KiB; a bigger message is refused RESOURCE_EXHAUSTED by gRPC itself.
        ("grpc.max_receive_message_length", settings.grpc_max_receive_bytes),
        # HTTP/2 streams (RPCs) at once on one connection; a client multiplexing more agents opens more channels.
        ("grpc.max_concurrent_streams", settings.grpc_max_concurrent_streams),
        # Keepalive enforcement: a client pinging more often than every 10 s (or without any RPC) is sent GOAWAY
        # after two strikes, so pings cannot be used as a flood; the node pings idle clients every 60 s and drops
        # one that does not answer within 20 s (a half-open connection keeps no stream alive for long).
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
