"""Fixtures of the voice suite: sipp peers (carrier and phones) and RTP taps, all stopped after each test.

``peers.call(...)`` runs a carrier-side scenario to its end; ``peers.phone(...)`` starts a phone (agent or the
carrier's callback leg) that waits for calls; ``peers.tap()`` opens an RTP tap. Each sipp gets its own directory
under the test's tmp_path, so its logs and statistics are the test's evidence (tests/voice/sipp.py).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.voice import media, rtp, sipp

CALLER_HZ = 440.0  # the caller's voice (media.caller_packets)
AGENT_HZ = 1000.0  # the agent's voice: what phones play once answered


def agent_voice(seconds: float = 8.0, hz: float = AGENT_HZ) -> list[tuple[float, bytes]]:
    """What a phone says once answered: ``hz`` (the agent's voice, or the caller's on a callback)."""
    audio = media.tone_ulaw(seconds=seconds, hz=hz)
    size = media.SAMPLES_PER_FRAME
    return [(n * media.FRAME_MS / 1000,
             media.rtp_packet(payload_type=media.PCMU, seq=n, timestamp=n * size, payload=audio[n * size:(n + 1) * size],
                              ssrc=0xA6E7))
            for n in range(len(audio) // size)]


@dataclass
class Peers:
    root: Path
    started: list[sipp.Sipp] = field(default_factory=list)
    taps: list[rtp.RtpTap] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    def _dir(self, scenario: str) -> Path:
        return self.root / f"{next(self._names):02d}-{Path(scenario).stem}"

    def tap(self) -> rtp.RtpTap:
        tap = rtp.open_tap()
        self.taps.append(tap)
        return tap

    def phone(self, scenario: str = "uas_answers.xml", *, calls: int = 1, timeout_s: float = 60.0,
              hold_ms: int | None = None, rtp_port: int | None = None, rtp_echo: bool = False,
              seconds: float = 8.0, hz: float = AGENT_HZ, port: int | None = None) -> sipp.Sipp:
        """A phone waiting for ``calls`` calls on its own port (``.port``, or ``port``); it speaks ``hz`` once
        answered."""
        peer = sipp.start(scenario, self._dir(scenario), calls=calls, timeout_s=timeout_s, rtp_port=rtp_port,
                          rtp_echo=rtp_echo, variables={"hold_ms": hold_ms} if hold_ms is not None else None,
                          media_packets=agent_voice(seconds, hz), port=port)
        self.started.append(peer)
        return peer

    def start_call(self, scenario: str, *, to: str, number: str, caller: str, timeout_s: float = 30.0,
                   digits: str = "", talk_ms: int | None = None, cancel_ms: int | None = None,
                   rtp_port: int | None = None, talk_s: float = 6.0, recv_timeout_ms: int | None = None,
                   port: int | None = None, extra: list[str] | None = None) -> sipp.Sipp:
        """A carrier call to ``number`` at ``to`` ("127.0.0.1:port") from ``caller``, pressing ``digits``."""
        variables = {k: v for k, v in (("talk_ms", talk_ms), ("cancel_ms", cancel_ms)) if v is not None}
        peer = sipp.start(scenario, self._dir(scenario), remote=to, service=number, keys={"caller": caller},
                          timeout_s=timeout_s, variables=variables, rtp_port=rtp_port, recv_timeout_ms=recv_timeout_ms,
                          media_packets=media.caller_packets(digits=digits, talk_s=talk_s), port=port, extra=extra)
        self.started.append(peer)
        return peer

    def call(self, scenario: str, **kwargs) -> sipp.Outcome:
        """``start_call`` and wait for its end."""
        return self.start_call(scenario, **kwargs).wait()

    def close(self) -> None:
        for peer in self.started:
            if peer.process is not None and peer.process.stdout is not None and not peer.process.stdout.closed:
                peer.stop()
        for tap in self.taps:
            tap.close()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    made = Peers(root=tmp_path / "sipp")
    yield made
    made.close()


# -- the platform: one in-process node per test, tenants and ``ccp sip`` adapters started on demand ------------

@dataclass
class Voice:
    """Starts tenants (queues, trunks, tokens) on the test's node and an adapter for each; all stopped after."""

    node_address: str
    etcd_endpoint: str
    store: object
    root: Path
    tenants: list = field(default_factory=list)
    adapters: list = field(default_factory=list)

    async def tenant(self, *, queues, trunks, carrier_port: int, env: dict[str, str] | None = None,
                     blocked: tuple[str, ...] = ()):
        """A tenant with ``queues`` and ``trunks`` (given SIP ports here, replying to ``carrier_port``), its blocked
        callers, and a running adapter: returns (VoiceTenant, Adapter)."""
        import grpc.aio
        from ccp_acd.api.auth import issue_token
        from ccp_acd.state.store import TenantConfig

        from tests.helpers import bearer
        from tests.voice.platform import VoiceTenant, start_adapter, trunk_with_ports

        name = f"v-{secrets.token_hex(4)}"
        store = self.store
        await store.put_tenant_config(TenantConfig(name=name, home_site="site-a"))
        for queue in queues:
            await store.put_queue_config(name, queue)
        served = [trunk_with_ports(trunk, carrier_port=carrier_port) for trunk in trunks]
        for trunk in served:
            await store.put_trunk_config(name, trunk)
        interaction = await issue_token(store, tenant=name, role="interaction")
        channel = grpc.aio.insecure_channel(self.node_address)
        tenant = VoiceTenant(name=name, store=store, channel=channel,
                             admin_md=bearer(await issue_token(store, tenant=name, role="admin")),
                             interaction_md=bearer(interaction), interaction_token=interaction)
        self.tenants.append(tenant)
        for number in blocked:
            from ccpapi.v1 import admin_pb2

            entry = admin_pb2.BlockedCaller(pattern=number, reason="test")
            await tenant.admin.AddBlockedCaller(admin_pb2.AddBlockedCallerRequest(blocked=entry), metadata=tenant.admin_md)
        adapter = await asyncio.to_thread(
            start_adapter, workdir=self.root / name, tenant=name, token=interaction, node_address=self.node_address,
            etcd_endpoint=self.etcd_endpoint, trunks=served, env=env)
        self.adapters.append(adapter)
        return tenant, adapter

    async def close(self) -> None:
        for adapter in self.adapters:
            await asyncio.to_thread(adapter.stop)
        for tenant in self.tenants:
            await tenant.close()
            await tenant.channel.close()


@pytest.fixture
async def voice(etcd_server, store, tmp_path: Path):
    from ccp_acd.server import start_node
    from ccp_acd.settings import NodeSettings
    from pydantic import SecretStr

    settings = NodeSettings(site="site-a", node_id=f"voice-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0",
                            etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1,
                            cluster_token=SecretStr("cluster-secret-for-voice-tests"))
    node = await start_node(settings)
    made = Voice(node_address=node.address, etcd_endpoint=etcd_server.endpoint, store=store, root=tmp_path / "platform")
    try:
        yield made
    finally:
        await made.close()
        await node.stop(grace_s=0.5)
