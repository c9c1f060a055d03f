"""Metrics of a node, through OpenTelemetry, exported for Prometheus (``CCP_METRICS_LISTEN``).

Observable instruments read what the router last saw (one live view per
tenant, refreshed at every dispatch) and its counters, so a scrape costs no
etcd read. Names follow OpenTelemetry's Prometheus conventions (``ccp_`` prefix).

- ``ccp_queue_waiting{tenant,queue,site}``: interactions waiting (offered ones included)
- ``ccp_queue_oldest_wait_seconds{tenant,queue,site}``: the longest current wait
- ``ccp_agents{tenant,site,state}``: agents by state (busy = holding work)
- ``ccp_router_commits_total`` / ``ccp_router_conflicts_total``: decisions committed / lost compare-and-sets
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

from ccp_acd.domain.models import CallState, LiveView, Presence
from ccp_acd.routing import Router
from ccp_acd.settings import NodeSettings


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


@dataclass
class Metrics:
    provider: MeterProvider
    server: object

    def shutdown(self) -> None:
        self.server.shutdown()
        self.provider.shutdown()


def start_metrics(settings: NodeSettings, router: Router) -> Metrics | None:
    if not settings.metrics_listen:
        return None
    host, _, port = settings.metrics_listen.rpartition(":")
    reader = PrometheusMetricReader()
    resource = Resource.create({"service.name": "ccp-acd", "ccp.site": settings.site, "ccp.node": settings.node_id})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("ccp_acd")

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
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1")
    return Metrics(provider, server)
