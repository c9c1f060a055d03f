"""Telemetry of a node: metrics through OpenTelemetry, for Prometheus (``CCP_METRICS_LISTEN``) and OTLP.

Observable instruments read what the router last saw (one live view per
tenant, refreshed at every dispatch) and its counters, so a scrape costs no
etcd read. Names follow OpenTelemetry's Prometheus conventions (``ccp_`` prefix).

- ``ccp_queue_waiting{tenant,queue,site}``: interactions waiting (offered ones included)
- ``ccp_queue_oldest_wait_seconds{tenant,queue,site}``: the longest current wait
- ``ccp_agents{tenant,site,state}``: agents by state (busy = holding work)
- ``ccp_router_commits_total`` / ``ccp_router_conflicts_total``: decisions committed / lost compare-and-sets
- ``ccp_router_dispatch_seconds{tenant}``: one dispatch (view, plan, commits, re-plans after lost compares)
- ``ccp_overload_refusals_total{tenant,reason}``: new work refused (reason ``rate``, ``max_waiting`` or
  ``shed``; tenant empty when shed before authentication), ``api.overload``
- ``ccp_event_loop_lag_seconds``: how late the node's event loop ran a timer due every
  ``LOOP_LAG_INTERVAL_S`` (``watch_loop_lag``): the time any request waits behind the work already queued on
  the node's one thread (its tail is most of the enqueue to offer tail under load, docs/performance.md)

Call counters and histograms are recorded where the event happens, by the
node that commits it (``CallEvents``, with the call's spans from ``tracing``):

- ``ccp_calls_{enqueued,answered,abandoned,voicemail,completed}_total{tenant,queue,site}`` and
  ``ccp_calls_{answered,abandoned}_within_threshold_total`` (the queue's service-level threshold)
- ``ccp_call_wait_seconds{tenant,queue,site}`` (enqueue to answer), ``ccp_call_talk_seconds`` (answer to end)

``site`` is the site routing the call at the event. Without a scrape endpoint
or an OTLP endpoint the instruments are no-ops, and so are the reads they need.
Docs: docs/observability.md.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc.aio
from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.metrics import CallbackOptions, Meter, NoOpMeterProvider, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from prometheus_client import start_http_server

from ccp_acd import tracing
from ccp_acd.domain.models import (
    ActionKind,
    Call,
    CallState,
    Decision,
    LiveView,
    Presence,
    QueueConfig,
    RerouteDecision,
    Reservation,
)
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.codec import decode

if TYPE_CHECKING:  # the router records through CallEvents: importing it here at run time would be a cycle
    from ccp_acd.routing import Router
    from ccp_acd.state.etcd import EtcdStore

SERVICE_NAME = "ccp-acd"
# Seconds, around the usual service-level thresholds; floats, so the scrape shows le="20.0" as client_python does.
WAIT_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
# Seconds. Talk time: from a short chat answer to an hour-long support call.
TALK_BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
# Seconds. One router dispatch: well under a millisecond idle, hundreds under overload.
DISPATCH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Seconds. The event loop's lag: well under a millisecond idle; tens of milliseconds when busy.
LOOP_LAG_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Seconds between two samples of the event loop's lag (ten wake-ups a second: nothing to the node's work).
LOOP_LAG_INTERVAL_S = 0.1
# Used when the queue's config is gone by the time its call is answered (the QueueConfig default).
DEFAULT_SL_THRESHOLD_S = 20.0


def queue_figures(view: LiveView, *, now: float) -> dict[tuple[str, str], tuple[int, float]]:
    """(queue, site) -> (waiting, oldest wait in seconds)."""
    figures: dict[tuple[str, str], tuple[int, float]] = {}
    for call in view.calls.values():
        if call.state is CallState.QUEUED:
            count, oldest = figures.get((call.queue, call.site), (0, 0.0))
            figures[(call.queue, call.site)] = (count + 1, max(oldest, call.waited(now)))
    return figures


def agent_states(view: LiveView, *, now: float) -> Counter[tuple[str, str]]:
    """(site, state) -> agents; states: busy, available, wrap-up, break (logged-out agents are left out)."""
    working = {c.agent_id for c in view.calls.values() if c.agent_id and not c.state.terminal}
    working |= {r.agent_id for r in view.reservations.values()}
    states: Counter[tuple[str, str]] = Counter()
    for agent in view.agents.values():
        if not agent.logged_in:
            continue
        if agent.id in working:
            state = "busy"
        elif agent.ready(now):
            state = "available"
        else:
            state = str(Presence.WRAP_UP if agent.presence is Presence.WRAP_UP else Presence.BREAK)
        states[(agent.site, state)] += 1
    return states


class CallMetrics:
    """The call counters and histograms (module doc); no-ops on a no-op meter."""

    def __init__(self, meter: Meter, *, active: bool):
        self.active = active
        self.enqueued = meter.create_counter("ccp_calls_enqueued", description="Calls admitted into a queue")
        self.answered = meter.create_counter("ccp_calls_answered", description="Calls an agent accepted")
        self.within = meter.create_counter("ccp_calls_answered_within_threshold",
                                           description="Answered within the queue's service-level threshold")
        # Answers a Requeue took back (the agent's leg never came up): answered minus these is what was talked.
        self.requeued = meter.create_counter("ccp_calls_requeued", description="Answered calls put back in their queue")
        self.requeued_within = meter.create_counter(
            "ccp_calls_requeued_within_threshold", description="Requeued calls whose answer had been within the threshold")
        self.abandoned = meter.create_counter("ccp_calls_abandoned", description="Calls the caller left while queued")
        self.short_abandons = meter.create_counter("ccp_calls_abandoned_within_threshold",
                                                   description="Abandoned within the service-level threshold")
        self.voicemail = meter.create_counter("ccp_calls_voicemail", description="Calls sent to voicemail")
        self.completed = meter.create_counter("ccp_calls_completed", description="Calls an agent completed")
        self.wait = meter.create_histogram("ccp_call_wait", unit="s", description="Wait from first arrival to answer",
                                           explicit_bucket_boundaries_advisory=WAIT_BUCKETS_S)
        self.talk = meter.create_histogram("ccp_call_talk", unit="s", description="Talk time, answer to completion",
                                           explicit_bucket_boundaries_advisory=TALK_BUCKETS_S)
        self.refusals = meter.create_counter("ccp_overload_refusals",
                                             description="New work refused by overload protection (api.overload)")
        self.dispatch = meter.create_histogram("ccp_router_dispatch", unit="s",
                                               description="One router dispatch of a tenant: view, plan, commits",
                                               explicit_bucket_boundaries_advisory=DISPATCH_BUCKETS_S)
        self.loop_lag = meter.create_histogram("ccp_event_loop_lag", unit="s",
                                               description="How late the node's event loop ran a timer",
                                               explicit_bucket_boundaries_advisory=LOOP_LAG_BUCKETS_S)


async def watch_loop_lag(metrics: CallMetrics, *, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
    """Record, every ``interval_s``, how late the loop woke this task (module doc); until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        metrics.loop_lag.record(max(0.0, loop.time() - due))


def _labels(tenant: str, call: Call) -> dict[str, str]:
    return {"tenant": tenant, "queue": call.queue, "site": call.site}


class CallEvents:
    """What a node records as a call's life moves on: its spans and its metrics together.

    Call the methods after the step was committed, with the call as stored.
    """

    def __init__(self, spans: tracing.CallSpans, metrics: CallMetrics):
        self.spans = spans
        self.metrics = metrics

    @classmethod
    def noop(cls) -> CallEvents:
        return cls(tracing.CallSpans(trace.NoOpTracerProvider(), site=""), CallMetrics(_NOOP_METER, active=False))

    @property
    def active(self) -> bool:
        """Whether anything is recorded: when not, callers skip the reads recording needs."""
        return self.spans.enabled or self.metrics.active

    async def offer_before(
        self, store: EtcdStore, tenant: str, call_id: str, *, cached: LiveView | None = None
    ) -> Reservation | None:
        """The offer pending now, before accept / reject delete it; None when spans are not recorded.

        From ``cached`` (the node's live view of a tenant it routes, which holds every offer its
        agents were sent), else read from etcd.
        """
        if not self.spans.enabled:
            return None
        if cached is not None and call_id in cached.reservations:
            return cached.reservations[call_id]
        records, _ = await store.read_prefix(keys.reservation(tenant, call_id))
        return decode(Reservation, records[0][1]) if records else None

    async def threshold_s(
        self, queues: Callable[[str], Awaitable[Mapping[str, QueueConfig]]], tenant: str, queue: str
    ) -> float:
        """The queue's service-level threshold, from ``queues(tenant)`` (the node's config cache), read only
        when metrics are recorded: else the default."""
        config = (await queues(tenant)).get(queue) if self.metrics.active else None
        return config.sl_threshold_s if config is not None else DEFAULT_SL_THRESHOLD_S

    def refused(self, tenant: str, reason: str) -> None:
        """New work refused by overload protection; ``tenant`` empty when shed before authentication."""
        self.metrics.refusals.add(1, {"tenant": tenant, "reason": reason})

    def dispatched(self, tenant: str, seconds: float) -> None:
        self.metrics.dispatch.record(seconds, {"tenant": tenant})

    def enqueued(self, tenant: str, call: Call, *, created: bool) -> None:
        self.spans.admitted(tenant, call)
        if not created:
            return  # a retried Enqueue: counted the first time
        self.metrics.enqueued.add(1, _labels(tenant, call))
        if call.state is CallState.VOICEMAIL and call.ended_at is not None:  # max-length voicemail at admission
            self.spans.queued(tenant, call, outcome="voicemail", end=call.ended_at)
            self.metrics.voicemail.add(1, _labels(tenant, call))

    def answered(self, tenant: str, call: Call, *, offer: Reservation | None, threshold_s: float) -> None:
        answered_at = call.answered_at if call.answered_at is not None else time.time()
        if offer is not None:
            self.spans.offer(tenant, call, offer, outcome="accepted", end=answered_at)
        self.spans.queued(tenant, call, outcome="answered", end=answered_at)
        labels = _labels(tenant, call)
        wait = call.waited(answered_at)
        self.metrics.answered.add(1, labels)
        self.metrics.wait.record(wait, labels)
        if wait <= threshold_s:
            self.metrics.within.add(1, labels)

    def requeued(self, tenant: str, call: Call, *, answered_at: float | None, threshold_s: float) -> None:
        """A Requeue took back the answer at ``answered_at`` (None: unknown): the counters answered ones pair with."""
        labels = _labels(tenant, call)
        self.metrics.requeued.add(1, labels)
        if answered_at is not None and call.waited(answered_at) <= threshold_s:
            self.metrics.requeued_within.add(1, labels)

    def rejected(self, tenant: str, call: Call, offer: Reservation, *, at: float) -> None:
        self.spans.offer(tenant, call, offer, outcome="rejected", end=at)

    def abandoned(self, tenant: str, call: Call, *, threshold_s: float) -> None:
        end = call.ended_at if call.ended_at is not None else time.time()
        self.spans.queued(tenant, call, outcome="abandoned", end=end)
        self.metrics.abandoned.add(1, _labels(tenant, call))
        if call.waited(end) <= threshold_s:  # "short abandons": left out of service level (docs/kpis.md)
            self.metrics.short_abandons.add(1, _labels(tenant, call))

    def completed(self, tenant: str, call: Call) -> None:
        self.spans.talk(tenant, call)
        labels = _labels(tenant, call)
        self.metrics.completed.add(1, labels)
        if call.answered_at is not None and call.ended_at is not None:
            self.metrics.talk.record(max(0.0, call.ended_at - call.answered_at), labels)

    def decided(self, tenant: str, view: LiveView, decision: Decision, *, now: float) -> None:
        """A routing decision the router committed on ``view`` (offers are recorded when they end)."""
        call = view.calls.get(decision.call_id)
        if call is None:
            return
        self.spans.decided(tenant, call, decision, offer=view.reservations.get(decision.call_id), now=now)
        if isinstance(decision, RerouteDecision) and decision.action.kind is ActionKind.VOICEMAIL:
            self.metrics.voicemail.add(1, _labels(tenant, call))


_NOOP_METER = NoOpMeterProvider().get_meter("ccp_acd")


@dataclass
class Telemetry:
    """A node's telemetry: call events, tracer and meter providers, the scrape endpoint."""

    settings: NodeSettings
    events: CallEvents
    tracer_provider: trace.TracerProvider
    # Whether this node built the tracer provider (from the environment): then it flushes and stops with the node.
    owns_tracer_provider: bool = False
    meter_provider: MeterProvider | None = None
    server: object | None = None
    loop_lag_task: asyncio.Task[None] | None = None

    def server_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """A server span for every gRPC method but health checks, when spans are recorded at all."""
        if not self.events.spans.enabled:
            return []
        return [aio_server_interceptor(tracer_provider=self.tracer_provider, filter_=tracing.grpc_server_filter())]

    def observe(self, router: Router) -> None:
        """Gauges of what the router sees and the event loop's lag; then open the scrape endpoint (if configured)."""
        if self.meter_provider is None:
            return
        _router_gauges(self.meter_provider.get_meter("ccp_acd"), router)
        self.loop_lag_task = asyncio.create_task(watch_loop_lag(self.events.metrics), name="loop-lag")
        if self.settings.metrics_listen:
            host, _, port = self.settings.metrics_listen.rpartition(":")
            self.server, _thread = start_http_server(int(port), addr=host or "127.0.0.1")

    def shutdown(self) -> None:
        if self.loop_lag_task is not None:
            self.loop_lag_task.cancel()
        if self.server is not None:
            self.server.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.owns_tracer_provider:
            tracing.shutdown(self.tracer_provider)


def start_telemetry(settings: NodeSettings, *, tracer_provider: trace.TracerProvider | None = None) -> Telemetry:
    """Providers from the settings and OTEL_* variables; a given ``tracer_provider`` (tests) is used as is."""
    attributes = {"ccp.site": settings.site, "ccp.node": settings.node_id}
    owned = tracer_provider is None
    if tracer_provider is None:
        tracer_provider = tracing.tracer_provider_from_env(service_name=SERVICE_NAME, attributes=attributes)
    spans = tracing.CallSpans(tracer_provider, site=settings.site)
    readers: list[MetricReader] = [PrometheusMetricReader()] if settings.metrics_listen else []
    for name in sorted(tracing.exporters_from_env("metrics")):  # the reader reads OTEL_METRIC_EXPORT_INTERVAL itself
        readers.append(PeriodicExportingMetricReader(tracing.metric_exporter(name)))
    provider = None
    metrics = CallMetrics(_NOOP_METER, active=False)
    if readers:
        resource = tracing.node_resource(service_name=SERVICE_NAME, attributes=attributes)
        provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics = CallMetrics(provider.get_meter("ccp_acd"), active=True)
    return Telemetry(settings, CallEvents(spans, metrics), tracer_provider, owned, meter_provider=provider)

def _router_gauges(meter: Meter, router: Router) -> None:
    def waiting(_: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        for tenant, view in list(router.last_views.items()):
            for (queue, site), (count, _oldest) in queue_figures(view, now=now).items():
                yield Observation(count, {"tenant": tenant, "queue": queue, "site": site})

    def oldest(_: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        for tenant, view in list(router.last_views.items()):
            for (queue, site), (_count, wait) in queue_figures(view, now=now).items():
                yield Observation(wait, {"tenant": tenant, "queue": queue, "site": site})

    def agents(_: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        for tenant, view in list(router.last_views.items()):
            for (site, state), count in agent_states(view, now=now).items():
                yield Observation(count, {"tenant": tenant, "site": site, "state": state})

    meter.create_observable_gauge("ccp_queue_waiting", [waiting], description="Interactions waiting")
    meter.create_observable_gauge("ccp_queue_oldest_wait", [oldest], unit="s", description="Longest current wait")
    meter.create_observable_gauge("ccp_agents", [agents], description="Logged-in agents by state")
    meter.create_observable_counter(
        "ccp_router_commits", [lambda _: [Observation(router.commits)]], description="Routing decisions committed"
    )
    meter.create_observable_counter(
        "ccp_router_conflicts", [lambda _: [Observation(router.conflicts)]], description="Lost compare-and-sets"
    )
