"""A node's Prometheus endpoint, scraped: queue and agent gauges for what the router sees, its counters,
and the call counters and histograms recorded as calls are answered, abandoned and completed."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.request

import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Action, ActionKind, Call, Channel, Presence, QueueConfig
from ccp_acd.embedded.processes import free_port
from ccp_acd.state.store import AgentProfile
from ccp_acd.telemetry import CallMetrics, watch_loop_lag
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import bearer, eventually
from tests.state.conftest import seed_tenant

pytestmark = [pytest.mark.etcd]


def _scrape(address: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope")))):
            sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_metrics_endpoint_reports_queues_agents_and_routing(store, node_processes):
    tenant = f"metrics-{secrets.token_hex(3)}"
    agents = {"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="site-a")}
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=60), agents=agents)
    await store.create_agent(tenant, "a2", AgentProfile(site="site-a"), now=time.time())
    await store.set_presence(tenant, "a2", Presence.BREAK, reason_code="lunch", now=time.time())
    now = time.time()
    for n in range(3):  # one gets offered to a1 (busy), two keep waiting
        await store.enqueue(tenant, Call(id=f"{time.time_ns():020d}-m{n}", queue="q", site="site-a",
                                         enqueued_at=now, queued_since=now))
    metrics = f"127.0.0.1:{free_port()}"
    await asyncio.to_thread(node_processes, f"{tenant}-n1", env={"CCP_METRICS_LISTEN": metrics})
    queue = (("queue", "q"), ("site", "site-a"), ("tenant", tenant))

    async def scraped():
        samples = await asyncio.to_thread(_scrape, metrics)
        return samples if samples.get(("ccp_queue_waiting", queue)) == 3 and \
            samples.get(("ccp_agents", (("site", "site-a"), ("state", "busy"), ("tenant", tenant)))) == 1 else None

    samples = await eventually(scraped, timeout_s=15, what="the node's metrics")
    assert samples[("ccp_agents", (("site", "site-a"), ("state", "break"), ("tenant", tenant)))] == 1
    assert samples[("ccp_queue_oldest_wait_seconds", queue)] >= 0
    assert samples[("ccp_router_commits_total", ())] >= 1
    dispatches = samples[("ccp_router_dispatch_seconds_count", (("tenant", tenant),))]
    assert dispatches >= 1 and samples[("ccp_router_dispatch_seconds_sum", (("tenant", tenant),))] > 0
    assert samples[("ccp_event_loop_lag_seconds_count", ())] >= 1, "the loop-lag probe runs in the node"


async def test_the_loop_lag_probe_records_how_long_the_loop_was_blocked():
    """``watch_loop_lag`` against the OpenTelemetry SDK with its in-memory reader (a real reader, no scrape)."""
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"), active=True)
    probe = asyncio.create_task(watch_loop_lag(metrics, interval_s=0.01))
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.08)  # the loop is blocked, as by a long piece of work on the node's thread
        await asyncio.sleep(0.05)
    finally:
        probe.cancel()
    (lag,) = [m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name == "ccp_event_loop_lag"]
    (point,) = lag.data.data_points
    assert point.count >= 3
    assert point.max >= 0.05, "the blocked stretch shows as lag"
    assert point.min < 0.05, "an unblocked wake-up does not"


async def _offered_to(store, tenant: str, call_id: str) -> str:
    async def reservation():
        found = (await store.load_live(tenant)).reservations.get(call_id)
        return found.agent_id if found else None

    return await eventually(reservation, timeout_s=15, what=f"an offer of {call_id}")


async def test_call_counters_and_histograms_follow_answers_abandons_and_completions(store, node_processes):
    """Service level needs the threshold of the call's own queue: ``slow`` (0 s) answers nothing within it."""
    tenant = f"calls-{secrets.token_hex(3)}"
    agents = {a: AgentProfile(capacity={Channel.VOICE: 1}, site="site-a") for a in ("a1", "a2")}
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=60, sl_threshold_s=30), agents=agents)
    await store.put_queue_config(tenant, QueueConfig("slow", offer_timeout_s=60, sl_threshold_s=0.0))
    await store.put_queue_config(tenant, QueueConfig("vm", max_length=0, on_max_length=Action(ActionKind.VOICEMAIL)))
    metrics = f"127.0.0.1:{free_port()}"
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", env={"CCP_METRICS_LISTEN": metrics})
    caller = bearer(await issue_token(store, tenant=tenant, role="interaction"))
    tokens = {a: bearer(await issue_token(store, tenant=tenant, role="agent", agent_id=a)) for a in agents}

    async with grpc.aio.insecure_channel(node.address) as channel:
        interactions = interaction_pb2_grpc.InteractionServiceStub(channel)
        desk = agent_pb2_grpc.AgentServiceStub(channel)

        async def enqueue(queue: str) -> str:
            request = interaction_pb2.EnqueueRequest(
                queue=queue, channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550100")
            )
            return (await interactions.Enqueue(request, metadata=caller)).id

        answered = {}
        for queue in ("q", "slow"):
            call_id = await enqueue(queue)
            agent = await _offered_to(store, tenant, call_id)
            await desk.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id=agent, interaction_id=call_id),
                                   metadata=tokens[agent])
            answered[call_id] = agent
        left = await enqueue("q")  # both agents busy: it waits, and the caller hangs up
        await interactions.Cancel(interaction_pb2.CancelRequest(interaction_id=left), metadata=caller)
        await enqueue("vm")  # full at once: straight to voicemail
        for call_id, agent in answered.items():
            await desk.Complete(agent_pb2.CompleteRequest(agent_id=agent, interaction_id=call_id), metadata=tokens[agent])
    records = {call_id: await store.get_call(tenant, call_id) for call_id in answered}
    q = next(r for r in records.values() if r.queue == "q")

    def labels(queue: str, **more: str) -> tuple:
        return tuple(sorted({"tenant": tenant, "queue": queue, "site": "site-a", **more}.items()))

    async def scraped():
        samples = await asyncio.to_thread(_scrape, metrics)
        return samples if samples.get(("ccp_calls_completed_total", labels("slow"))) == 1 else None

    samples = await eventually(scraped, timeout_s=15, what="the call metrics")
    for name, queue, value in [
        ("ccp_calls_enqueued_total", "q", 2), ("ccp_calls_enqueued_total", "slow", 1),
        ("ccp_calls_answered_total", "q", 1), ("ccp_calls_answered_total", "slow", 1),
        ("ccp_calls_answered_within_threshold_total", "q", 1),
        ("ccp_calls_abandoned_total", "q", 1), ("ccp_calls_abandoned_within_threshold_total", "q", 1),
        ("ccp_calls_completed_total", "q", 1),
        ("ccp_calls_enqueued_total", "vm", 1), ("ccp_calls_voicemail_total", "vm", 1),
        ("ccp_call_wait_seconds_count", "q", 1), ("ccp_call_talk_seconds_count", "q", 1),
        ("ccp_call_wait_seconds_bucket", "q", 1),
    ]:
        key = labels(queue, le="30.0") if name.endswith("_bucket") else labels(queue)
        assert samples[(name, key)] == value, name
    assert samples.get(("ccp_calls_answered_within_threshold_total", labels("slow")), 0) == 0
    assert ("ccp_calls_abandoned_total", labels("slow")) not in samples
    assert samples[("ccp_call_wait_seconds_sum", labels("q"))] == pytest.approx(q.answered_at - q.enqueued_at, abs=1e-3)
    assert samples[("ccp_call_talk_seconds_sum", labels("q"))] == pytest.approx(q.ended_at - q.answered_at, abs=1e-3)


async def test_a_requeue_is_counted_once_beside_the_answer_it_takes_back(store, node_processes):
    """The agent accepted, the phone never took the call (InteractionService.Requeue): answered stays 1, requeued
    becomes 1 (within the threshold too), and a retried Requeue with the same request id counts nothing more."""
    tenant = f"requeue-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=60, sl_threshold_s=30),
                      agents={"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="site-a")})
    metrics = f"127.0.0.1:{free_port()}"
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", env={"CCP_METRICS_LISTEN": metrics})
    caller = bearer(await issue_token(store, tenant=tenant, role="interaction"))
    agent = bearer(await issue_token(store, tenant=tenant, role="agent", agent_id="a1"))
    async with grpc.aio.insecure_channel(node.address) as channel:
        interactions = interaction_pb2_grpc.InteractionServiceStub(channel)
        call_id = (await interactions.Enqueue(interaction_pb2.EnqueueRequest(
            queue="q", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550100")),
            metadata=caller)).id
        await _offered_to(store, tenant, call_id)
        await agent_pb2_grpc.AgentServiceStub(channel).AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="a1", interaction_id=call_id), metadata=agent)
        for _ in range(2):  # the second is a retry: answered as it is, not counted again
            await interactions.Requeue(interaction_pb2.RequeueRequest(
                interaction_id=call_id, reason="agent-no-answer", request_id="r1"), metadata=caller)
    labels = tuple(sorted({"tenant": tenant, "queue": "q", "site": "site-a"}.items()))

    async def scraped():
        samples = await asyncio.to_thread(_scrape, metrics)
        return samples if samples.get(("ccp_calls_requeued_total", labels)) == 1 else None

    samples = await eventually(scraped, timeout_s=15, what="the requeue counted")
    assert samples[("ccp_calls_requeued_within_threshold_total", labels)] == 1
    assert samples[("ccp_calls_answered_total", labels)] == 1
    assert (await store.get_call(tenant, call_id)).state.name == "QUEUED"
