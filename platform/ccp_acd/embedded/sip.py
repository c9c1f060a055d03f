"""The SIP part of ``ccp up``: one ``ccp sip`` adapter per site, sipp phones for a few desk agents, and a bounded
number of real SIP calls from a sipp caller (the carrier) through the IVR (an RFC 2833 digit) to those agents.

The examples stay unchanged: the run writes an embedded copy of the tenant's trunks into etcd, each served on a
free loopback port and replying to a free carrier port (the sipp caller's), with the IVR entering its main menu
directly and the digit ``SIP_DIGIT`` leading to the queue ``SIP_QUEUE`` (a copy of that option's queue asking for
the skill of the same name). Only the desk agents created here have that skill and a ``sip_uri`` (their sipp
phone), so the simulated agents, which take only their own run's calls, never hold a SIP call's offer.

A desk accepts every offer; its phone answers, holds ``PHONE_HOLD_MS`` and hangs up, the adapter ends the
interaction (Hangup AGENT) and BYEs the caller. A call is completed when the caller got that BYE, failed when sipp
counted it failed, lost otherwise (no final state within the bounds): ``ccp up`` then exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2

from ccp_acd.domain.ivr import IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import Action, ActionKind, QueueConfig, SkillRequirement
from ccp_acd.embedded import sipp_peers
from ccp_acd.embedded.processes import Child, _spawn, stop_all
from ccp_acd.recordings import KeyRing
from ccp_acd.state.store import TrunkConfig, TrunkSip
from ccp_acd.tls import ChannelSecurity, GeneratedCerts, open_channel

SIP_QUEUE = "sip-desk"
SIP_DIGIT = "1"
PHONE_HOLD_MS = 1500
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SipOptions:
    calls: int = 20
    rate_per_s: float = 2.0  # new SIP calls per real second
    phones: int = 4  # desk agents with a sipp phone


@dataclass(frozen=True)
class SipResult:
    placed: int
    answered: int  # answered by the adapter (the IVR)
    completed: int  # ended by the platform's BYE after the agent hung up
    failed: int  # sipp's failed calls (its final statuses in its error log)
    errors: str = ""

    @property
    def lost(self) -> int:
        return max(0, self.placed - self.completed - self.failed)

    @property
    def ok(self) -> bool:
        return self.lost == 0

    def line(self) -> str:
        return (f"SIP calls: placed {self.placed}, answered by the adapter {self.answered}, completed {self.completed}, "
                f"failed {self.failed}, lost {self.lost}")


def embedded_trunk(trunk: TrunkConfig, *, port: int, carrier_port: int) -> TrunkConfig:
    """``trunk`` served on ``port``, replying to 127.0.0.1:``carrier_port``; its IVR (if any) starts at the menu
    offering ``SIP_DIGIT``, which now leads to ``SIP_QUEUE``."""
    sip = TrunkSip(port=port, carrier_host=sipp_peers.HOST, carrier_port=carrier_port)
    if trunk.ivr is None:
        return replace(trunk, sip=sip)
    menus = []
    entry = trunk.ivr.entry
    for menu in trunk.ivr.menus:
        if any(o.digits == SIP_DIGIT for o in menu.options):
            entry = menu.name
            menu = replace(menu, options=tuple(
                IvrOption(digits=o.digits, target=IvrTarget(kind=TargetKind.QUEUE, name=SIP_QUEUE))
                if o.digits == SIP_DIGIT else o for o in menu.options))
        menus.append(menu)
    return replace(trunk, sip=sip, ivr=replace(trunk.ivr, entry=entry, menus=tuple(menus)))


def sip_queue(base: QueueConfig) -> QueueConfig:
    """The desk agents' queue: ``base`` asking for the skill ``SIP_QUEUE``, waiting for them (no overflow)."""
    wait = Action(kind=ActionKind.WAIT)
    return replace(base, name=SIP_QUEUE, skills=(SkillRequirement(name=SIP_QUEUE, min_level=1),), rings=(),
                   on_no_agents=wait, on_max_wait=wait, on_max_length=wait, max_wait_s=None, max_length=None,
                   wrap_up_s=0.0)


@dataclass
class SipLoad:
    """Everything SIP one ``ccp up`` starts; ``stop()`` is safe at any point and more than once."""

    workdir: Path
    options: SipOptions
    trunks: dict[str, TrunkConfig] = field(default_factory=dict)
    adapters: list[Child] = field(default_factory=list)
    phones: list[sipp_peers.SippRun] = field(default_factory=list)
    caller: sipp_peers.SippRun | None = None
    desks: list[asyncio.Task] = field(default_factory=list)
    carrier_port: int = 0
    call_trunk: TrunkConfig | None = None

    @property
    def children(self) -> list[Child | sipp_peers.SippRun]:
        return [*self.adapters, *self.phones, *([self.caller] if self.caller else [])]

    async def configure(self, store, tenant: str, trunks: dict[str, TrunkConfig], queues: dict[str, QueueConfig]) -> None:
        """Write the embedded trunk copies and the desk queue into etcd."""
        self.carrier_port = sipp_peers.free_udp_port()
        for name, trunk in sorted(trunks.items()):
            copy = embedded_trunk(trunk, port=sipp_peers.free_udp_port(), carrier_port=self.carrier_port)
            self.trunks[name] = copy
            await store.put_trunk_config(tenant, copy)
        with_ivr = [t for t in self.trunks.values() if t.ivr is not None and t.numbers]
        self.call_trunk = (with_ivr or [t for t in self.trunks.values() if t.numbers])[0]
        option_queue = next((o.target.name for t in trunks.values() if t.ivr for m in t.ivr.menus for o in m.options
                             if o.digits == SIP_DIGIT and o.target.kind == TargetKind.QUEUE), None)
        base = queues.get(option_queue or "") or next(iter(queues.values()))
        await store.put_queue_config(tenant, sip_queue(base))

    def start_phones(self) -> list[str]:
        """One sipp phone per desk agent; returns their SIP URIs."""
        uris = []
        for i in range(self.options.phones):
            phone = sipp_peers.start(
                f"phone-{i + 1}", "uas_answers_hangs_up.xml", self.workdir / f"phone-{i + 1}",
                media_pcap=sipp_peers.PHONE_PCAP, calls=self.options.calls, timeout_s=self.bound_s(),
                variables={"hold_ms": PHONE_HOLD_MS}, rtp_echo=True)
            self.phones.append(phone)
            uris.append(f"sip:agent@{sipp_peers.HOST}:{phone.port}")
        return uris

    def bound_s(self) -> float:
        return self.options.calls / self.options.rate_per_s + 120.0

    def start_adapters(self, tenant: str, token: str, addresses: dict[str, list[str]], etcd_endpoint: str,
                       tls: GeneratedCerts, etcd_security: ChannelSecurity) -> None:
        token_file = self.workdir / "interaction.token"
        token_file.write_text(token)
        keys_file = self.workdir / "recording-keys.json"
        keys_file.write_text(json.dumps({"active": "k1", "keys": {"k1": KeyRing.new_key()}}))
        for i, (site, nodes) in enumerate(sorted(addresses.items())):
            mine = [t for t in self.trunks.values() if t.home_site in (site, "")]
            if not mine:
                continue
            rtp_low = 20000 + 2000 * i
            env = {
                "CCP_SIP_TENANT": tenant, "CCP_SIP_SITE": site, "CCP_SIP_NODES": ",".join(nodes),
                "CCP_SIP_TOKEN_FILE": str(token_file), "CCP_SIP_ETCD_ENDPOINT": etcd_endpoint,
                "CCP_SIP_BIND": sipp_peers.HOST, "CCP_SIP_CARRIER": f"{sipp_peers.HOST}:{self.carrier_port}",
                "CCP_SIP_RTP_PORT_LOW": str(rtp_low), "CCP_SIP_RTP_PORT_HIGH": str(rtp_low + 1999),
                "CCP_SIP_AGENT_PORT_LOW": str(28000 + 400 * i),
                "CCP_SIP_RECORDINGS_DIR": str(self.workdir / f"recordings-{site}"),
                "CCP_RECORDINGS_KEY_FILE": str(keys_file), "CCP_SIP_CONFIG_REFRESH_S": "1",
                "CCP_PLAINTEXT": "false", "CCP_TLS_CA_FILE": str(tls.ca_file),
                "CCP_TLS_CERT_FILE": "", "CCP_TLS_KEY_FILE": "",
                "CCP_ETCD_CA_FILE": etcd_security.ca_file, "CCP_ETCD_CERT_FILE": etcd_security.cert_file,
                "CCP_ETCD_KEY_FILE": etcd_security.key_file, "CCP_ETCD_PLAINTEXT": "false",
            }
            argv = [str(Path(sys.executable).with_name("ccp")), "sip"]
            child = _spawn(f"ccp-sip-{site}", argv, self.workdir / f"ccp-sip-{site}.log", env={**os.environ, **env})
            child.ports = [t.sip.port for t in mine if t.sip]  # type: ignore[attr-defined]
            self.adapters.append(child)

    def wait_adapters(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        for adapter in self.adapters:
            while not all(sipp_peers.udp_bound(p) for p in adapter.ports):  # type: ignore[attr-defined]
                if not adapter.alive():
                    raise RuntimeError(f"{adapter.name} exited with {adapter.process.returncode}:\n{adapter.log()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{adapter.name} did not bind its trunks' SIP ports:\n{adapter.log()[-3000:]}")
                time.sleep(0.05)

    async def create_desks(self, address: str, admin_token: str, site: str, issue, security: ChannelSecurity,
                           uris: list[str]) -> list[str]:
        """Create one desk agent per phone and start its desktop (login, available, accept every offer)."""
        ids = []
        metadata = (("authorization", f"Bearer {admin_token}"),)
        async with open_channel(address, security) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            for i, uri in enumerate(uris):
                agent_id = f"sip-desk-{i + 1}"
                capacity = [common_pb2.ChannelCapacity(channel=common_pb2.CHANNEL_VOICE, max=1)]
                await admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(
                    id=agent_id, skills={SIP_QUEUE: 5}, site=site, capacity=capacity, sip_uri=uri)),
                    metadata=metadata, timeout=10)
                ids.append(agent_id)
        for agent_id in ids:
            token = await issue(agent_id)
            self.desks.append(asyncio.create_task(_desk(address, security, agent_id, token), name=agent_id))
        return ids

    def start_caller(self) -> None:
        assert self.call_trunk is not None and self.call_trunk.sip is not None
        self.caller = sipp_peers.start(
            "sip-caller", "uac_call_waits_for_bye.xml", self.workdir / "caller",
            media_pcap=sipp_peers.DTMF_PCAP.format(digit=SIP_DIGIT), calls=self.options.calls,
            timeout_s=self.bound_s(), remote=f"{sipp_peers.HOST}:{self.call_trunk.sip.port}", port=self.carrier_port,
            service=self.call_trunk.numbers[0], rate=self.options.rate_per_s, recv_timeout_ms=60_000)

    def result(self) -> SipResult:
        caller = self.caller
        if caller is None:
            return SipResult(placed=0, answered=0, completed=0, failed=0)
        return SipResult(placed=self.options.calls, answered=caller.events("answered"),
                         completed=caller.events("bye-received"), failed=caller.count("FailedCall"),
                         errors=caller.errors()[-1500:])

    def done(self) -> bool:
        return self.caller is None or not self.caller.alive()

    async def finish(self) -> SipResult:
        """Wait (bounded by sipp's own -timeout) for the caller's last call to end."""
        deadline = time.monotonic() + self.bound_s() + 10
        while not self.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if self.caller is not None:
            self.caller.stop()
        return self.result()

    async def stop_desks(self) -> None:
        for task in self.desks:
            task.cancel()
        for task in self.desks:
            with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
                await task

    def stop(self) -> None:
        for task in self.desks:
            task.cancel()
        for run in [*([self.caller] if self.caller else []), *self.phones]:
            run.stop()
        stop_all(self.adapters, timeout_s=10.0)


async def _desk(address: str, security: ChannelSecurity, agent_id: str, token: str) -> None:
    """A desk agent: logs in, goes available and accepts every offer (its phone and the adapter do the rest)."""
    md = (("authorization", f"Bearer {token}"),)
    async with open_channel(address, security) as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        await agents.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=md, timeout=10)
        available = agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE)
        await agents.SetState(available, metadata=md, timeout=10)
        async for event in agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent_id), metadata=md):
            if not event.HasField("offer"):
                continue
            with contextlib.suppress(grpc.aio.AioRpcError):  # expired or withdrawn: the router offers it again
                await agents.AcceptOffer(agent_pb2.AcceptOfferRequest(
                    agent_id=agent_id, interaction_id=event.offer.interaction.id), metadata=md, timeout=10)
