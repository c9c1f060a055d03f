"""One trace per call, end to end through a real node (etcd, gRPC, router): the spans of the call's life
share the trace the Enqueue request came with, with the right parents, attributes and times; offers that
are rejected or expire show as such; the caller's number and name appear nowhere. The operator's
reconciles are spans too. Also the provider built from OTEL_* variables, exporting over OTLP/HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc.aio
import kopf
import pytest
from ccp_acd import tracing
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import (
    Action,
    ActionKind,
    Call,
    Caller,
    Channel,
    LiveView,
    QueueConfig,
    RerouteDecision,
    SiteMoveDecision,
)
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.store import AgentProfile, TenantConfig
from ccp_acd.telemetry import CallEvents
from ccp_operator.handlers import queue_changed
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from tests.helpers import bearer, eventually

pytestmark = pytest.mark.etcd

SITE = "site-a"
CALLER = "+15550123"
CALLER_NAME = "Jane Caller"
# A trunk's span, as the SIP adapter (or any client) sends it in the gRPC metadata.
TRUNK_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
TRUNK_SPAN_ID = 0xB7AD6B7169203331
TRUNK_TRACEPARENT = f"00-{TRUNK_TRACE_ID:032x}-{TRUNK_SPAN_ID:016x}-01"
ENQUEUE = "/ccpapi.v1.InteractionService/Enqueue"


def _settings(etcd_server) -> NodeSettings:
    return NodeSettings(
        site=SITE, node_id=f"trace-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1,
    )


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def node(etcd_server, exporter) -> AsyncIterator[Node]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    started = await start_node(_settings(etcd_server), tracer_provider=provider)
    yield started
    await started.stop(grace_s=0.5)
    provider.shutdown()


class Desk:
    """A tenant on a node, with agents logged in and available, their offer streams merged into one queue."""

    def __init__(self, channel: grpc.aio.Channel, store, tenant: str):
        self.agents = agent_pb2_grpc.AgentServiceStub(channel)
        self.interactions = interaction_pb2_grpc.InteractionServiceStub(channel)
        self.store, self.tenant = store, tenant
        self.offers: asyncio.Queue[agent_pb2.Offer] = asyncio.Queue()
        self.tokens: dict[str, tuple] = {}
        self._streams: list = []
        self._pumps: list[asyncio.Task] = []

    async def agent(self, agent_id: str) -> None:
        await self.store.create_agent(
            self.tenant, agent_id, AgentProfile(capacity={Channel.VOICE: 1}, site=SITE), now=time.time()
        )
        token = self.tokens[agent_id] = bearer(
            await issue_token(self.store, tenant=self.tenant, role="agent", agent_id=agent_id)
        )
        await self.agents.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=token)
        stream = self.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent_id), metadata=token)
        self._streams.append(stream)
        self._pumps.append(asyncio.create_task(self._pump(stream)))
        await self.agents.SetState(
            agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE), metadata=token
        )

    async def _pump(self, stream) -> None:
        async for event in stream:
            if event.HasField("offer"):
                self.offers.put_nowait(event.offer)

    async def next_offer(self) -> agent_pb2.Offer:
        return await asyncio.wait_for(self.offers.get(), timeout=15)

    async def enqueue(self, *, metadata: tuple = ()) -> common_pb2.Interaction:
        token = bearer(await issue_token(self.store, tenant=self.tenant, role="interaction"))
        request = interaction_pb2.EnqueueRequest(
            queue="support", channel=common_pb2.CHANNEL_VOICE,
            caller=common_pb2.Caller(address=CALLER, display_name=CALLER_NAME),
        )
        return await self.interactions.Enqueue(request, metadata=token + metadata)

    async def close(self) -> None:
        for stream in self._streams:
            stream.cancel()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump


@contextlib.asynccontextmanager
async def desk(node: Node, store, queue: QueueConfig) -> AsyncIterator[Desk]:
    tenant = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=SITE))
    await store.put_queue_config(tenant, queue)
    async with grpc.aio.insecure_channel(node.address) as channel:
        d = Desk(channel, store, tenant)
        try:
            yield d
        finally:
            await d.close()


def _call_spans(exporter: InMemorySpanExporter, call_id: str) -> dict[str, list[ReadableSpan]]:
    spans: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        if span.attributes.get("ccp.call_id") == call_id:
            spans.setdefault(span.name, []).append(span)
    return spans


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _no_caller_anywhere(spans) -> None:
    for span in spans:
        values = [str(v) for v in span.attributes.values()]
        values += [str(v) for event in span.events for v in (event.attributes or {}).values()]
        assert not any(CALLER in v or CALLER_NAME in v for v in values), span.name


async def test_one_call_is_one_trace_from_the_trunk_to_completion(node, store, exporter):
    async with desk(node, store, QueueConfig(name="support", offer_timeout_s=60, sl_threshold_s=30)) as d:
        await d.agent("alice")
        call = await d.enqueue(metadata=(("traceparent", TRUNK_TRACEPARENT),))
        offer = await d.next_offer()
        assert offer.interaction.id == call.id
        await d.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=call.id), metadata=d.tokens["alice"]
        )
        await d.agents.Complete(
            agent_pb2.CompleteRequest(agent_id="alice", interaction_id=call.id, disposition="resolved"),
            metadata=d.tokens["alice"],
        )
    record = await store.get_call(d.tenant, call.id)

    async def accept_span_finished():  # server spans end after the status has gone out
        return any(s.name.endswith("/AcceptOffer") for s in exporter.get_finished_spans())

    await eventually(accept_span_finished, timeout_s=5, what="AcceptOffer's server span")
    spans = _call_spans(exporter, call.id)
    assert sorted(spans) == ["call", "call.offer", "call.queued", "call.talk"]
    assert all(len(found) == 1 for found in spans.values())
    root, queued, offered, talk = (spans[n][0] for n in ("call", "call.queued", "call.offer", "call.talk"))
    enqueue = next(
        s for s in exporter.get_finished_spans()
        if s.name == ENQUEUE and s.context.span_id == root.parent.span_id
    )
    # The trunk's trace goes on: Enqueue's server span under the trunk's span, the call under Enqueue,
    # every later step under the call, whatever RPC or router loop recorded it.
    assert enqueue.context.trace_id == TRUNK_TRACE_ID and enqueue.parent.span_id == TRUNK_SPAN_ID
    for span in (root, queued, offered, talk):
        assert span.context.trace_id == TRUNK_TRACE_ID
    for span in (queued, offered, talk):
        assert span.parent.span_id == root.context.span_id
    assert record.trace_parent == f"00-{TRUNK_TRACE_ID:032x}-{root.context.span_id:016x}-01"

    for span in (root, queued, offered, talk):
        assert (span.attributes["ccp.tenant"], span.attributes["ccp.queue"], span.attributes["ccp.site"]) == (
            d.tenant, "support", SITE,
        )
        assert span.attributes["ccp.channel"] == "voice"
    assert queued.attributes["ccp.outcome"] == "answered"
    assert (offered.attributes["ccp.agent"], offered.attributes["ccp.outcome"]) == ("alice", "accepted")
    assert (talk.attributes["ccp.agent"], talk.attributes["ccp.disposition"]) == ("alice", "resolved")

    # Times come from the call record: queued from arrival to answer, talk from answer to end.
    assert (queued.start_time, queued.end_time) == (_ns(record.enqueued_at), _ns(record.answered_at))
    assert (talk.start_time, talk.end_time) == (_ns(record.answered_at), _ns(record.ended_at))
    assert queued.start_time <= offered.start_time <= offered.end_time == queued.end_time <= talk.end_time
    assert root.start_time == queued.start_time

    # The step links to the RPC that recorded it (AcceptOffer's server span, in its own trace).
    accept = next(s for s in exporter.get_finished_spans() if s.name.endswith("/AcceptOffer"))
    assert [link.context.span_id for link in queued.links] == [accept.context.span_id]
    _no_caller_anywhere(exporter.get_finished_spans())


async def test_a_rejected_offer_and_the_accepted_one_are_two_offer_spans(node, store, exporter):
    async with desk(node, store, QueueConfig(name="support", offer_timeout_s=60)) as d:
        await d.agent("alice")
        await d.agent("bob")
        call = await d.enqueue()
        first = await d.next_offer()
        rejecter = first.interaction.offered_to
        await d.agents.RejectOffer(
            agent_pb2.RejectOfferRequest(agent_id=rejecter, interaction_id=call.id), metadata=d.tokens[rejecter]
        )
        second = await d.next_offer()
        taker = second.interaction.offered_to
        assert {rejecter, taker} == {"alice", "bob"}
        await d.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id=taker, interaction_id=call.id), metadata=d.tokens[taker]
        )

    offers = sorted(_call_spans(exporter, call.id)["call.offer"], key=lambda s: s.start_time)
    assert [(s.attributes["ccp.agent"], s.attributes["ccp.outcome"]) for s in offers] == [
        (rejecter, "rejected"), (taker, "accepted"),
    ]
    assert offers[0].end_time <= offers[1].start_time
    assert offers[0].context.trace_id == offers[1].context.trace_id
    assert offers[0].parent.span_id == offers[1].parent.span_id
    _no_caller_anywhere(exporter.get_finished_spans())


async def test_an_offer_nobody_answers_expires_and_the_caller_who_hangs_up_abandons(node, store, exporter):
    async with desk(node, store, QueueConfig(name="support", offer_timeout_s=1)) as d:
        await d.agent("alice")
        call = await d.enqueue()
        await d.next_offer()

        async def expired():
            return [s for s in _call_spans(exporter, call.id).get("call.offer", [])
                    if s.attributes["ccp.outcome"] == "expired"]

        (offer,) = await eventually(expired, what="the router's offer expiry span")
        await d.interactions.Cancel(
            interaction_pb2.CancelRequest(interaction_id=call.id, reason="hung up"),
            metadata=bearer(await issue_token(store, tenant=d.tenant, role="interaction")),
        )
    assert offer.attributes["ccp.agent"] == "alice"
    assert offer.end_time - offer.start_time == pytest.approx(1_000_000_000, abs=1_000_000)  # offered_at -> expires_at
    (queued,) = _call_spans(exporter, call.id)["call.queued"]
    assert queued.attributes["ccp.outcome"] == "abandoned"
    assert queued.context.trace_id == offer.context.trace_id
    record = await store.get_call(d.tenant, call.id)
    assert queued.end_time == _ns(record.ended_at)


async def test_a_reconcile_is_a_span_with_its_outcome(store, exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    body = kopf.Body({
        "apiVersion": "ccp.dev/v1alpha1", "kind": "Queue",
        "metadata": {"name": "q", "namespace": "contact", "generation": 1},
        "spec": {"tenant": f"bad-{secrets.token_hex(3)}", "serviceLevel": {"target": 80}},
    })
    memo = kopf.Memo(store=store, tracer=provider.get_tracer("test"))
    with pytest.raises(kopf.PermanentError):
        await queue_changed(body=body, patch=kopf.Patch(), status={}, memo=memo)
    (span,) = exporter.get_finished_spans()
    assert span.name == "reconcile Queue"
    assert dict(span.attributes) == {"ccp.namespace": "contact", "ccp.name": "q", "ccp.outcome": "InvalidSpec"}


async def test_rpcs_get_server_spans_and_health_checks_do_not(node, exporter):
    async with grpc.aio.insecure_channel(node.address) as channel:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await agent_pb2_grpc.AgentServiceStub(channel).Login(agent_pb2.LoginRequest(agent_id="nobody"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # The server span ends after the status has gone out, so the client may see the status first.
    async def login_span_finished():
        return any(s.name == "/ccpapi.v1.AgentService/Login" for s in exporter.get_finished_spans())

    await eventually(login_span_finished, timeout_s=5, what="Login's server span")
    names = [s.name for s in exporter.get_finished_spans()]
    assert not [name for name in names if "Health" in name]


def test_router_decisions_mark_the_call_trace(exporter):
    """Re-routes and site moves the router commits; a re-route to voicemail also ends the wait."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    events = CallEvents(tracing.CallSpans(provider, site=SITE), CallEvents.noop().metrics)
    call = Call(id="c1", queue="support", site=SITE, enqueued_at=100.0, queued_since=100.0,
                caller=Caller(address=CALLER, display_name=CALLER_NAME), trace_parent=TRUNK_TRACEPARENT)
    view = LiveView(agents={}, calls={"c1": call}, reservations={})
    events.decided("t", view, SiteMoveDecision(call_id="c1", to_site="site-b", reason="site-a down"), now=130.0)
    events.decided("t", view, RerouteDecision(call_id="c1", action=Action(ActionKind.VOICEMAIL), reason="max wait"),
                   now=160.0)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert sorted(spans) == ["call.queued", "call.reroute", "call.site_move"]
    assert all(s.context.trace_id == TRUNK_TRACE_ID and s.parent.span_id == TRUNK_SPAN_ID for s in spans.values())
    move = spans["call.site_move"]
    assert (move.attributes["ccp.from_site"], move.attributes["ccp.to_site"], move.start_time) == (
        SITE, "site-b", _ns(130.0),
    )
    assert spans["call.reroute"].attributes["ccp.action"] == "voicemail"
    queued = spans["call.queued"]
    assert (queued.attributes["ccp.outcome"], queued.start_time, queued.end_time) == ("voicemail", _ns(100.0), _ns(160.0))
    _no_caller_anywhere(spans.values())


def test_the_provider_follows_the_otel_variables():
    assert isinstance(tracing.tracer_provider_from_env(service_name="ccp-acd", attributes={}, env={}), NoOpTracerProvider)
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "acd-eu",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_TRACES_SAMPLER": "always_off",
    }
    with pytest.MonkeyPatch.context() as mp:  # the sampler and Resource.create read os.environ
        for key, value in env.items():
            mp.setenv(key, value)
        provider = tracing.tracer_provider_from_env(service_name="ccp-acd", attributes={"ccp.site": SITE}, env=env)
    try:
        attributes = provider.resource.attributes
        assert (attributes["service.name"], attributes["deployment.environment"], attributes["ccp.site"]) == (
            "acd-eu", "test", SITE,
        )
        assert provider.sampler.get_description() == "AlwaysOffSampler"
    finally:
        provider.shutdown()
    assert tracing.exporters_from_env("traces", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}) == {
        "otlp"
    }
    assert tracing.exporters_from_env("traces", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}) \
        == set()
    with pytest.raises(ValueError, match="zipkin"):
        tracing.exporters_from_env("traces", {"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An OTLP/HTTP receiver on 127.0.0.1 standing in for an OpenTelemetry collector, which cannot run here."""
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


async def test_spans_and_call_metrics_reach_an_otlp_endpoint_configured_by_the_environment(
    etcd_server, store, collector, monkeypatch
):
    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    node = await start_node(_settings(etcd_server))
    try:
        async with desk(node, store, QueueConfig(name="support", offer_timeout_s=60)) as d:
            await d.agent("alice")
            call = await d.enqueue()
            await d.next_offer()
            await d.agents.AcceptOffer(
                agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=call.id), metadata=d.tokens["alice"]
            )
            await d.agents.Complete(
                agent_pb2.CompleteRequest(agent_id="alice", interaction_id=call.id), metadata=d.tokens["alice"]
            )
        assert await asyncio.to_thread(node.telemetry.tracer_provider.force_flush)
    finally:
        await node.stop(grace_s=0.5)  # also flushes the metrics

    spans = {}
    for path, body in received:
        if path == "/v1/traces":
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                assert (resource["service.name"], resource["ccp.site"]) == ("ccp-acd", SITE)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value.string_value for a in span.attributes}
                        if attributes.get("ccp.call_id") == call.id or span.name == ENQUEUE:
                            spans.setdefault(span.name, []).append(span)
    assert {"call", "call.queued", "call.offer", "call.talk", ENQUEUE} <= spans.keys()
    assert len({s.trace_id for name in ("call", "call.queued", "call.offer", "call.talk") for s in spans[name]}) == 1

    answered = []
    for path, body in received:
        if path == "/v1/metrics":
            for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name == "ccp_calls_answered":
                            answered += [p.as_int for p in metric.sum.data_points
                                         if {a.key: a.value.string_value for a in p.attributes}.get("tenant") == d.tenant]
    assert answered and answered[-1] == 1
