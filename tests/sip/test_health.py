"""The adapter's health and metrics listener (ccp_acd.sip.health) against a running adapter: what a probe and a
Prometheus scrape get, and a trunk whose SIP receive thread died failing the health check."""

from __future__ import annotations

import aiohttp
import pytest
from ccp_acd.embedded.sipp_peers import free_udp_port
from ccp_acd.sip import health

from tests.helpers import eventually
from tests.sip.conftest import Running, answered_scenario, start_sipp

pytestmark = pytest.mark.etcd


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_healthz_and_metrics_report_the_trunks_and_fail_when_a_trunks_receiver_dies(running: Running, tmp_path):
    listen = f"127.0.0.1:{_free_tcp_port()}"
    listener = await health.start(running.adapter, listen)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{listen}/healthz") as reply:
                assert reply.status == 200, await reply.text()
                body = await reply.json()
            assert body["status"] == "ok" and body["problems"] == []
            assert body["trunks"] == {"main": {"port": running.port, "calls": 0}}

            caller = await start_sipp(answered_scenario("+15557770020", hold_ms=500), port=running.port,
                                      tmp_path=tmp_path)
            assert await caller.wait() == 0, caller.output()

            async def scraped() -> str | None:
                async with http.get(f"http://{listen}/metrics") as reply:
                    text = await reply.text()
                return text if 'ccp_sip_calls_total{trunk="main"} 1.0' in text else None

            text = await eventually(scraped, what="the call counted")
            assert 'ccp_sip_calls_active{trunk="main"}' in text and "ccp_sip_rtp_legs" in text
            assert 'ccp_sip_rtp_packets_total{direction="sent"}' in text

            running.adapter.trunks["main"].phone.sip.NSD = False  # its receive loop ends within 0.2 s

            async def failing() -> dict | None:
                async with http.get(f"http://{listen}/healthz") as reply:
                    return await reply.json() if reply.status == 503 else None

            failed = await eventually(failing, what="the health check failing")
            assert failed["problems"] == ["trunk main: its SIP receive thread died"]
            running.adapter.trunks["main"].phone.sip._close_sockets()  # its loop is gone: nobody else closes it
    finally:
        await listener.cleanup()


def test_the_listen_setting_is_read_from_the_environment(monkeypatch, tmp_path):
    from ccp_acd.sip.settings import SipSettings

    token = tmp_path / "token"
    token.write_text("t")
    monkeypatch.setenv("CCP_SIP_HEALTH_LISTEN", f"0.0.0.0:{free_udp_port()}")
    settings = SipSettings(tenant="t", site="s", nodes="127.0.0.1:1", token_file=token, etcd_endpoint="127.0.0.1:2379")
    assert settings.health_listen.startswith("0.0.0.0:")
