"""A node's Prometheus endpoint, scraped: queue and agent gauges for what the router sees, and its counters."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.request

import pytest
from ccp_acd.domain.models import Call, Channel, Presence, QueueConfig
from ccp_acd.embedded.processes import free_port
from ccp_acd.state.store import AgentProfile
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import eventually
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
