"""The platform side of the voice tests and the SIP benchmark: a tenant with trunks and queues in etcd, the
``ccp sip`` adapter as a subprocess for it, and desktop agents driven over gRPC (AgentService).

The adapter runs exactly as in production (its own process, the tenant's ``interaction`` token from a file,
plaintext gRPC and etcd as every test here); it is ready when every trunk's SIP port is bound (polled).

Not for: asserting. Tests decide; this only starts, drives and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc.aio
from ccp_acd.api.auth import issue_token
from ccp_acd.recordings import KeyRing
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TrunkConfig, TrunkSip
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2_grpc

from tests import ports as port_ranges
from tests.helpers import bearer, scaled
from tests.voice.sipp import HOST, free_udp_port

CCP = str(Path(sys.executable).with_name("ccp"))


def trunk_with_ports(trunk: TrunkConfig, *, carrier_port: int) -> TrunkConfig:
    """``trunk`` served by the adapter on a free port of 127.0.0.1, replying to a carrier at ``carrier_port``."""
    from dataclasses import replace

    return replace(trunk, sip=TrunkSip(port=free_udp_port(), carrier_host=HOST, carrier_port=carrier_port))


@dataclass
class Adapter:
    """A running ``ccp sip``: its process, its log file, the trunks' SIP addresses."""

    process: subprocess.Popen
    log_path: Path
    recordings_dir: Path
    keys: KeyRing
    trunk_ports: dict[str, int]

    def address(self, trunk: str) -> str:
        return f"{HOST}:{self.trunk_ports[trunk]}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=scaled(15))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_adapter(
    *, workdir: Path, tenant: str, token: str, node_address: str, etcd_endpoint: str, trunks: list[TrunkConfig],
    env: dict[str, str] | None = None, ready_within_s: float = 20.0,
) -> Adapter:
    """Start ``ccp sip`` for ``tenant``'s ``trunks`` (each with ``sip`` set) and wait until their ports are bound."""
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "interaction.token"
    token_file.write_text(token)
    keys_file = workdir / "recording-keys.json"
    keys_file.write_text(json.dumps({"active": "k1", "keys": {"k1": KeyRing.new_key()}}))
    recordings = workdir / "recordings"
    ports = {t.name: t.sip.port for t in trunks if t.sip is not None}
    rtp_low, rtp_high = port_ranges.rtp_range("voice")
    settings = {
        "CCP_SIP_TENANT": tenant,
        "CCP_SIP_SITE": "site-a",
        "CCP_SIP_NODES": node_address,
        "CCP_SIP_TOKEN_FILE": str(token_file),
        "CCP_SIP_ETCD_ENDPOINT": etcd_endpoint,
        "CCP_SIP_BIND": HOST,
        "CCP_SIP_TRUNK_PORTS": ",".join(f"{name}={port}" for name, port in ports.items()),
        "CCP_SIP_TRUNK_CARRIERS": ",".join(
            f"{t.name}={t.sip.carrier_host}:{t.sip.carrier_port}" for t in trunks if t.sip is not None),
        "CCP_SIP_RTP_PORT_LOW": str(rtp_low),
        "CCP_SIP_RTP_PORT_HIGH": str(rtp_high),
        "CCP_SIP_AGENT_PORT_LOW": str(port_ranges.agent_port_low("voice")),
        "CCP_SIP_RECORDINGS_DIR": str(recordings),
        "CCP_RECORDINGS_KEY_FILE": str(keys_file),
        "CCP_SIP_CONFIG_REFRESH_S": "0.5",
        "CCP_PLAINTEXT": "true",
        "CCP_ETCD_PLAINTEXT": "true",
    }
    log_path = workdir / "adapter.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([CCP, "sip"], env={**os.environ, **settings, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT)
    adapter = Adapter(process=process, log_path=log_path, recordings_dir=recordings,
                      keys=KeyRing.load(keys_file), trunk_ports=ports)
    deadline = time.monotonic() + scaled(ready_within_s)
    waiting = set(ports.values())
    while waiting:
        if process.poll() is not None:
            raise AssertionError(f"ccp sip exited {process.returncode} at start:\n{adapter.log()[-3000:]}")
        if time.monotonic() > deadline:
            adapter.stop()
            raise AssertionError(f"ccp sip did not bind {sorted(waiting)} within {ready_within_s:g}s:\n"
                                 f"{adapter.log()[-3000:]}")
        for port in list(waiting):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    waiting.discard(port)
        time.sleep(0.05)
    return adapter


@dataclass
class Desk:
    """One agent's desktop: logged in, available, its offers streamed into a queue."""

    agent_id: str
    metadata: tuple[tuple[str, str], ...]
    agents: agent_pb2_grpc.AgentServiceStub
    offers: asyncio.Queue = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task | None = None
    _stream: object | None = None

    async def open(self) -> Desk:
        await self.agents.Login(agent_pb2.LoginRequest(agent_id=self.agent_id), metadata=self.metadata)
        await self.agents.SetState(agent_pb2.SetStateRequest(agent_id=self.agent_id, state=common_pb2.AGENT_STATE_AVAILABLE),
                                   metadata=self.metadata)
        self._stream = self.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=self.agent_id),
                                                metadata=self.metadata)

        async def pump() -> None:
            async for event in self._stream:
                if event.HasField("offer"):
                    self.offers.put_nowait(event.offer)

        self._reader = asyncio.create_task(pump())
        return self

    async def next_offer(self, *, timeout_s: float = 30.0):
        return await asyncio.wait_for(self.offers.get(), timeout=scaled(timeout_s))

    async def accept(self, interaction_id: str):
        return await self.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id=self.agent_id, interaction_id=interaction_id), metadata=self.metadata)

    async def reject(self, interaction_id: str, reason: str = "busy with something else"):
        return await self.agents.RejectOffer(
            agent_pb2.RejectOfferRequest(agent_id=self.agent_id, interaction_id=interaction_id, reason=reason),
            metadata=self.metadata)

    async def status(self):
        return await self.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id=self.agent_id), metadata=self.metadata)

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._reader


@dataclass
class VoiceTenant:
    """A tenant on the test's node: its tokens and stubs, its agents' desks."""

    name: str
    store: EtcdStore
    channel: grpc.aio.Channel
    admin_md: tuple[tuple[str, str], ...]
    interaction_md: tuple[tuple[str, str], ...]
    interaction_token: str
    desks: list[Desk] = field(default_factory=list)

    @property
    def admin(self) -> admin_pb2_grpc.AdminServiceStub:
        return admin_pb2_grpc.AdminServiceStub(self.channel)

    @property
    def interactions(self) -> interaction_pb2_grpc.InteractionServiceStub:
        return interaction_pb2_grpc.InteractionServiceStub(self.channel)

    async def agent(self, agent_id: str, *, sip_uri: str, login: bool = True) -> Desk:
        """Create agent ``agent_id`` whose phone is ``sip_uri``; with ``login`` its desk is open and available."""
        await self.admin.CreateAgent(admin_pb2.CreateAgentRequest(
            agent=admin_pb2.Agent(id=agent_id, display_name=agent_id.title(), sip_uri=sip_uri)), metadata=self.admin_md)
        token = await issue_token(self.store, tenant=self.name, role="agent", agent_id=agent_id)
        desk = Desk(agent_id=agent_id, metadata=bearer(token), agents=agent_pb2_grpc.AgentServiceStub(self.channel))
        self.desks.append(desk)
        return await desk.open() if login else desk

    async def record(self, interaction_id: str):
        return await self.admin.GetCallRecord(admin_pb2.GetCallRecordRequest(interaction_id=interaction_id),
                                              metadata=self.admin_md)

    async def close(self) -> None:
        for desk in self.desks:
            await desk.close()
