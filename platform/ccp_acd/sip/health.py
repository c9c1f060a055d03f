"""The adapter's HTTP listener (``CCP_SIP_HEALTH_LISTEN``): health for probes, Prometheus metrics for scrapes.

- ``GET /healthz``: 200 and a JSON summary when the adapter works, 503 and the reasons when not. Not working:
  the RTP engine thread died (no call would have audio), a trunk's SIP receive thread died (that trunk answers
  nothing), or the adapter is shutting down. That the asyncio loop answers at all is the loop's own check. A
  trunk that cannot bind its port is not served (logged, retried each refresh) and is listed, not failed: the
  other trunks work.
- ``GET /metrics``: the process's Prometheus registry: ``ccp_sip_calls_active{trunk}``, ``ccp_sip_calls_total
  {trunk}`` (calls that reached a session), ``ccp_sip_rtp_legs``, ``ccp_sip_rtp_packets_total{direction}``,
  read when scraped.

Not for: the node's metrics and traces (``telemetry``), which the adapter's calls show up in anyway.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from ccp_acd.sip.adapter import Adapter

log = logging.getLogger(__name__)


def problems(adapter: Adapter) -> list[str]:
    """Why the adapter is not healthy; empty when it is."""
    found = []
    if adapter.stopping.is_set():
        found.append("shutting down")
    if adapter.engine.died:
        found.append("the RTP engine thread died")
    for name, trunk in sorted(adapter.trunks.items()):
        if not trunk.phone.sip.receiving:
            found.append(f"trunk {name}: its SIP receive thread died")
    return found


def summary(adapter: Adapter) -> dict:
    return {
        "trunks": {name: {"port": trunk.phone.sip.myPort, "calls": len(trunk.sessions)}
                   for name, trunk in sorted(adapter.trunks.items())},
        "rtp_legs": adapter.engine.legs,
    }


class AdapterCollector:
    """The adapter's figures, read at scrape time (nothing to keep up to date on the call path)."""

    def __init__(self, adapter: Adapter):
        self._adapter = adapter

    def collect(self):
        adapter = self._adapter
        active = GaugeMetricFamily("ccp_sip_calls_active", "Calls with a session on the trunk now", labels=["trunk"])
        total = CounterMetricFamily("ccp_sip_calls", "Calls that reached a session on the trunk", labels=["trunk"])
        for name, trunk in sorted(adapter.trunks.items()):
            active.add_metric([name], len(trunk.sessions))
            total.add_metric([name], trunk.calls_total)
        yield active
        yield total
        yield GaugeMetricFamily("ccp_sip_rtp_legs", "RTP legs on the adapter's engine", value=adapter.engine.legs)
        packets = CounterMetricFamily("ccp_sip_rtp_packets", "RTP packets through the engine", labels=["direction"])
        packets.add_metric(["sent"], adapter.engine.sent)
        packets.add_metric(["received"], adapter.engine.received)
        yield packets


def app(adapter: Adapter) -> web.Application:
    registry = CollectorRegistry()
    registry.register(AdapterCollector(adapter))

    async def healthz(_request: web.Request) -> web.Response:
        found = problems(adapter)
        body = {"status": "ok" if not found else "failing", "problems": found, **summary(adapter)}
        return web.json_response(body, status=200 if not found else 503)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    application = web.Application()
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/metrics", metrics)
    return application


async def start(adapter: Adapter, listen: str) -> web.AppRunner:
    """Serve ``app(adapter)`` on ``listen`` ("host:port"); the runner's ``cleanup`` stops it."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app(adapter), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or "0.0.0.0", int(port))  # noqa: S104 - the operator binds the pod IP
    await site.start()
    log.info("health and metrics on http://%s/healthz, /metrics", listen)
    return runner
