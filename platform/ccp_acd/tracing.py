"""Traces: providers configured from the standard ``OTEL_*`` variables, and the spans of a call's life.

One trace per call. Enqueue opens a ``call`` span (under the Enqueue server
span, itself under the trunk's or client's span when it sent a
``traceparent``) and stores its W3C traceparent on the call record
(``Call.trace_parent``). Every later step, on whatever node handles it, adds a
span under that parent with start and end times taken from the call record:
``call.queued`` (enqueue to answer / abandon / voicemail), ``call.offer`` (one
per offer: offered to accepted / rejected / expired), ``call.talk`` (answer to
completion), and ``call.reroute`` / ``call.site_move`` marks. The node that
records a step links its span to the RPC span it was recorded in.

Not for: metrics (``telemetry``). Privacy: the caller's address and display
name never go into a span (issue 8); attributes are ids, names of queues and
sites, channel and outcomes only.

Caveats: a step is recorded by the node that commits it, after the commit; a
node that dies in between loses that span (the call is not affected). Offers
withdrawn for other reasons (the offering node died, the agent's presence
changed, the caller hung up during the ring) get no ``call.offer`` span.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import filters
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, NoOpTracer, NoOpTracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ccp_acd.domain.models import (
    ActionKind,
    Call,
    Decision,
    ExpireOfferDecision,
    RerouteDecision,
    Reservation,
    SiteMoveDecision,
)

PROPAGATOR = TraceContextTextMapPropagator()
SCOPE = "ccp_acd.calls"
EXPORTERS = {"otlp", "console", "none"}


def node_resource(*, service_name: str, attributes: Mapping[str, str]) -> Resource:
    """``Resource.create`` (so OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME apply) plus our own attributes.

    ``service_name`` is only the default: an operator's OTEL_SERVICE_NAME wins.
    """
    resource = Resource.create(dict(attributes))
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service_name}))
    return resource


def exporters_from_env(signal: str, env: Mapping[str, str] | None = None) -> set[str]:
    """The exporters OTEL_{signal}_EXPORTER asks for; by default ``otlp`` when an OTLP endpoint is set, else none.

    ``signal`` is ``traces`` or ``metrics``. Unknown names fail at start-up.
    """
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return set()
    asked = env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip()
    if not asked:
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        return {"otlp"} if endpoint else set()
    names = {name.strip().lower() for name in asked.split(",") if name.strip()}
    # Prometheus is served from CCP_METRICS_LISTEN, not chosen here.
    known = EXPORTERS | {"prometheus"} if signal == "metrics" else EXPORTERS
    unknown = names - known
    if unknown:
        raise ValueError(f"OTEL_{signal.upper()}_EXPORTER: unsupported exporter(s) {', '.join(sorted(unknown))}")
    return names - {"none", "prometheus"}


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    # Imported here: the exporter pulls in requests, which a node without OTLP does not need.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_* variables


def metric_exporter(name: str) -> MetricExporter:
    """The metric exporter named in OTEL_METRICS_EXPORTER (for ``telemetry``)."""
    if name == "console":
        return ConsoleMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # as in _span_exporter

    return OTLPMetricExporter()


def grpc_server_filter(env: Mapping[str, str] | None = None) -> filters.Condition:
    """Which RPCs get a server span: all but health checks (probes every few seconds would drown the calls)
    and the services in OTEL_PYTHON_GRPC_EXCLUDED_SERVICES (comma-separated, as the instrumentation reads it)."""
    env = os.environ if env is None else env
    excluded = {"grpc.health.v1.Health", *(s.strip() for s in env.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "").split(","))}
    return filters.negate(filters.any_of(*(filters.service_name(name) for name in sorted(excluded) if name)))


def tracer_provider_from_env(
    *, service_name: str, attributes: Mapping[str, str], env: Mapping[str, str] | None = None
) -> trace.TracerProvider:
    """The provider the environment asks for; a no-op provider when no exporter is asked (spans cost nothing).

    The SDK itself reads OTEL_TRACES_SAMPLER / _ARG and the OTEL_BSP_* batch settings.
    """
    names = exporters_from_env("traces", env)
    if not names:
        return NoOpTracerProvider()
    provider = TracerProvider(resource=node_resource(service_name=service_name, attributes=attributes))
    for name in sorted(names):
        provider.add_span_processor(BatchSpanProcessor(_span_exporter(name)))
    return provider


def shutdown(provider: trace.TracerProvider) -> None:
    """Flush and stop a provider this process built (the no-op one has nothing to do)."""
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


class CallSpans:
    """Records the spans of calls' lives on one node (see module doc); a no-op when the provider is."""

    def __init__(self, provider: trace.TracerProvider, *, site: str):
        self._tracer = provider.get_tracer(SCOPE)
        self._site = site
        # Whether spans are recorded at all: callers skip the extra reads spans need when not.
        self.enabled = not isinstance(self._tracer, NoOpTracer)

    def _attributes(self, tenant: str, call: Call) -> dict[str, str]:
        # Ids and names only: never call.caller (privacy, issue 8).
        return {
            "ccp.tenant": tenant,
            "ccp.queue": call.queue,
            "ccp.call_id": call.id,
            "ccp.channel": str(call.channel),
            "ccp.site": call.site or self._site,
            **({"ccp.agent": call.agent_id} if call.agent_id else {}),
        }

    @contextlib.contextmanager
    def enqueueing(self, tenant: str, call: Call) -> Iterator[Call]:
        """Open the call's root span for the length of Enqueue; yields the call carrying its traceparent."""
        attributes = self._attributes(tenant, call)
        with self._tracer.start_as_current_span("call", start_time=_ns(call.enqueued_at), attributes=attributes):
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
            yield replace(call, trace_parent=carrier.get("traceparent", ""))

    def admitted(self, tenant: str, call: Call) -> None:
        """Inside ``enqueueing``: the call as admitted (its queue or channel may differ from the request's)."""
        trace.get_current_span().set_attributes(self._attributes(tenant, call))

    def record(
        self, name: str, tenant: str, call: Call, *, start: float, end: float, attributes: Mapping[str, str] | None = None
    ) -> None:
        """A finished span of ``call``'s trace from ``start`` to ``end`` (POSIX seconds)."""
        if not self.enabled:
            return
        if call.trace_parent:
            parent = PROPAGATOR.extract({"traceparent": call.trace_parent})
        else:  # a call enqueued without tracing: its steps hang under the RPC that records them
            parent = None
        here = trace.get_current_span().get_span_context()
        span = self._tracer.start_span(
            name,
            context=parent,
            start_time=_ns(start),
            attributes={**self._attributes(tenant, call), **(attributes or {})},
            links=[Link(here)] if here.is_valid and call.trace_parent else None,
        )
        span.end(end_time=_ns(max(start, end)))

    def queued(self, tenant: str, call: Call, *, outcome: str, end: float) -> None:
        """The wait: from first arrival (``enqueued_at``, as service level counts) to ``end``."""
        self.record("call.queued", tenant, call, start=call.enqueued_at, end=end, attributes={"ccp.outcome": outcome})

    def offer(self, tenant: str, call: Call, offer: Reservation, *, outcome: str, end: float) -> None:
        self.record(
            "call.offer", tenant, call, start=offer.offered_at, end=end,
            attributes={"ccp.agent": offer.agent_id, "ccp.outcome": outcome, "ccp.node": offer.node_id},
        )

    def talk(self, tenant: str, call: Call) -> None:
        if call.answered_at is None or call.ended_at is None:
            return
        self.record(
            "call.talk", tenant, call, start=call.answered_at, end=call.ended_at,
            attributes={"ccp.disposition": call.disposition} if call.disposition else None,
        )

    def mark(self, name: str, tenant: str, call: Call, *, at: float, attributes: Mapping[str, str]) -> None:
        """A moment in the call's life (a re-route, a site move): a span without duration."""
        self.record(name, tenant, call, start=at, end=at, attributes=attributes)

    def decided(self, tenant: str, call: Call, decision: Decision, *, offer: Reservation | None, now: float) -> None:
        """A routing decision committed at ``now``: an offer expiry, a re-route, a site move."""
        if isinstance(decision, ExpireOfferDecision) and offer is not None:
            self.offer(tenant, call, offer, outcome="expired", end=min(now, offer.expires_at))
        elif isinstance(decision, RerouteDecision):
            action = decision.action
            self.mark("call.reroute", tenant, call, at=now, attributes={
                "ccp.action": str(action.kind), "ccp.target_queue": action.target_queue or "", "ccp.reason": decision.reason,
            })
            if action.kind is ActionKind.VOICEMAIL:
                self.queued(tenant, call, outcome="voicemail", end=now)
        elif isinstance(decision, SiteMoveDecision):
            self.mark("call.site_move", tenant, call, at=now, attributes={
                "ccp.from_site": call.site, "ccp.to_site": decision.to_site, "ccp.reason": decision.reason,
            })
