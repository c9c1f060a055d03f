"""SIP calls one node and one ``ccp sip`` adapter sustain, with sipp as the carrier and as the agents' phones.

Per step, sipp places calls at ``rate`` calls/s (``-r``, ``-l`` concurrent at most, ``-m`` in total) to one trunk
with no IVR; the node offers each to a simulated desktop agent that accepts at once (gRPC AgentService); the
adapter bridges the caller to the agent's phone (sipp UAS instances that answer, echo RTP, and hang up after
``hold_s``: the agent ends the call and the caller gets the BYE). A step is sustained when every call the carrier
placed was answered and ended by the agent's BYE (sipp: successful == placed), no interaction is left live in
etcd after the drain (no lost call) and every agent ends available or in wrap-up (no stuck agent). The ramp stops
after the first step not sustained; the figures are the best sustained step's new calls/s and the peak of
concurrent calls sipp counted during it (its CurrentCall, sampled every second).

Targets (issue 5): >= 200 concurrent calls and >= 20 new calls/s per node. pyVoIP runs 3 threads per call leg
(two legs per bridged call) and relays audio in Python, so the adapter process, not the node, is expected to be
the limit on a 2-core machine: the CPU seconds of each process are reported to show which one it is.

The sipp runner and the adapter launcher are the voice suite's own (tests/voice), and the scenarios the packaged ones
(ccp_acd/embedded/sipp, also used by `ccp up`), so the benchmark drives exactly what the tests verify.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig, TrunkConfig, TrunkSip
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2

from bench import harness
from tests.voice import media, sipp
from tests.voice.platform import start_adapter

NUMBER = "+15550001000"
# Seconds after the carrier's last call for the platform to finish recording the calls' ends (then: lost, stuck).
SETTLE_S = 10.0


@dataclass(frozen=True)
class Plan:
    agents: int
    phones: int                       # sipp UAS instances the agents' SIP URIs are spread over
    steps: tuple[float, ...]          # offered new calls/s, rising
    seconds: float                    # arrival window per step
    hold_s: float                     # talk time: the agent's phone hangs up after it
    drain_s: float                    # after the window, for the last calls to end


FULL = Plan(agents=320, phones=8, steps=(5.0, 10.0, 15.0, 20.0, 25.0, 30.0), seconds=30.0, hold_s=10.0, drain_s=40.0)
QUICK = Plan(agents=4, phones=1, steps=(1.0, 2.0), seconds=3.0, hold_s=1.0, drain_s=15.0)


@dataclass
class Desks:
    """The simulated desktop agents: each accepts every offer as soon as it arrives."""

    channel: object
    tokens: dict[str, tuple[tuple[str, str], ...]]
    accepted: int = 0
    refused: int = 0

    async def run(self) -> list[asyncio.Task]:
        stub = agent_pb2_grpc.AgentServiceStub(self.channel)

        async def desk(agent_id: str, md) -> None:
            await stub.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=md)
            await stub.SetState(agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE),
                                metadata=md)
            async for event in stub.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent_id), metadata=md):
                if event.HasField("offer"):
                    try:
                        await stub.AcceptOffer(agent_pb2.AcceptOfferRequest(
                            agent_id=agent_id, interaction_id=event.offer.interaction.id), metadata=md)
                        self.accepted += 1
                    except Exception:  # noqa: BLE001 - a revoked or expired offer is counted, the desk goes on
                        self.refused += 1

        return [asyncio.create_task(desk(agent, md)) for agent, md in self.tokens.items()]


async def _seed(store: EtcdStore, *, trunk_port: int, carrier_port: int) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A tenant with queue ``sales`` (no wrap-up) and trunk ``main`` (no IVR): (tenant, interaction token, admin md)."""
    tenant = f"sip-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=harness.SITE))
    await store.put_queue_config(tenant, QueueConfig(name="sales", offer_timeout_s=10.0, wrap_up_s=0.0))
    await store.put_trunk_config(tenant, TrunkConfig(
        name="main", numbers=(NUMBER,), default_queue="sales", allowed_sources=("127.0.0.0/8",),
        sip=TrunkSip(port=trunk_port, carrier_host=sipp.HOST, carrier_port=carrier_port)))
    admin = (("authorization", f"Bearer {await issue_token(store, tenant=tenant, role='admin')}"),)
    interaction = await issue_token(store, tenant=tenant, role="interaction")
    return tenant, interaction, admin


async def _agents(channel, tenant: str, store: EtcdStore, admin, plan: Plan, phone_ports: list[int]) -> dict:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    tokens = {}
    for i in range(plan.agents):
        agent_id = f"a{i:03d}"
        uri = f"sip:{agent_id}@{sipp.HOST}:{phone_ports[i % len(phone_ports)]}"
        await stub.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id, sip_uri=uri)),
                               metadata=admin)
        token = await issue_token(store, tenant=tenant, role="agent", agent_id=agent_id)
        tokens[agent_id] = (("authorization", f"Bearer {token}"),)
    return tokens


def _rtp_slices(plan: Plan) -> dict[str, str]:
    """RTP ports per phone for this load: the trunk's phone carries every caller leg, each agent endpoint (one sipp
    phone) the legs of its agents; start_adapter gives the process 2,000 ports."""
    trunk = 600
    agent = min(1000, (2000 - trunk) // plan.phones)  # 1,000: the most the adapter takes per endpoint
    return {"CCP_SIP_TRUNK_RTP_PORTS": str(trunk), "CCP_SIP_AGENT_RTP_PORTS": str(agent)}


def _peak_current(workdir: Path) -> int:
    """The most concurrent calls sipp counted (CurrentCall of its per-second statistics rows)."""
    import csv

    path = workdir / "stat.csv"
    if not path.exists():
        return 0
    rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
    return max((int(row.get("CurrentCall") or 0) for row in rows), default=0)


async def _step(*, rate: float, plan: Plan, workdir: Path, trunk_address: str, carrier_port: int,
                phone_ports: list[int], store: EtcdStore, tenant: str, admin, channel) -> dict:
    calls = max(1, round(rate * plan.seconds))
    bound_s = plan.seconds + plan.hold_s + plan.drain_s
    phones = [sipp.start("uas_answers_hangs_up.xml", workdir / f"phone{i}", calls=calls, timeout_s=bound_s + 10,
                         port=port, rtp_echo=True, variables={"hold_ms": int(plan.hold_s * 1000)},
                         media_packets=media.caller_packets(talk_s=2.0)) for i, port in enumerate(phone_ports)]
    carrier = sipp.start("uac_call_waits_for_bye.xml", workdir / "carrier", remote=trunk_address, service=NUMBER,
                         keys={"caller": "+15550100"}, calls=calls, rate=rate,
                         limit=max(10, int(rate * (plan.hold_s + 20))), timeout_s=bound_s, port=carrier_port,
                         recv_timeout_ms=int((plan.hold_s + 30) * 1000), media_packets=media.caller_packets(talk_s=2.0))
    outcome = await asyncio.to_thread(carrier.wait)
    for phone in phones:
        await asyncio.to_thread(phone.stop)
    # The caller's BYE can reach sipp before the adapter's Hangup reaches etcd: settle for a bounded while.
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    idle = (common_pb2.AGENT_STATE_AVAILABLE, common_pb2.AGENT_STATE_WRAP_UP)
    settle_until = time.monotonic() + SETTLE_S
    while True:
        live = await store.load_live(tenant)
        statuses = (await stub.ListAgentStatuses(admin_pb2.ListAgentStatusesRequest(), metadata=admin)).agents
        stuck = sum(1 for s in statuses if s.state not in idle)
        if (not live.calls and not stuck) or time.monotonic() > settle_until:
            break
        await asyncio.sleep(0.2)
    placed = outcome.count("OutgoingCall") or outcome.count("TotalCallCreated")
    ok = outcome.count("SuccessfulCall")
    failed = outcome.count("FailedCall")
    row = {
        "rate": rate, "placed": placed, "completed": ok, "failed": failed,
        "failed_by": {k[:-3]: int(v) for k, v in outcome.stats.items()
                      if k.startswith("Failed") and k.endswith("(C)") and v not in ("", "0") and k != "FailedCall(C)"},
        "peak_concurrent": _peak_current(workdir / "carrier"),
        "lost": len(live.calls), "stuck_agents": stuck,
    }
    row["sustained"] = placed == calls and ok == calls and failed == 0 and row["lost"] == 0 and stuck == 0
    return row


async def measure(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    import grpc.aio

    rows: list[dict] = []
    with harness.cluster("ccp-bench-sip-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint)
        trunk_port, carrier_port = sipp.free_udp_port(), sipp.free_udp_port()
        phone_ports = [sipp.free_udp_port() for _ in range(plan.phones)]
        tenant, interaction, admin = await _seed(store, trunk_port=trunk_port, carrier_port=carrier_port)
        running.start_nodes(1, env={"CCP_TENANTS": tenant})
        node = running.nodes[0]
        adapter = start_adapter(workdir=running.workdir / "adapter", tenant=tenant, token=interaction,
                                node_address=node.address, etcd_endpoint=running.etcd.endpoint,
                                trunks=[TrunkConfig(name="main", sip=TrunkSip(port=trunk_port, carrier_host=sipp.HOST,
                                                                             carrier_port=carrier_port))],
                                env=_rtp_slices(plan))
        channel = grpc.aio.insecure_channel(node.address)
        tasks: list[asyncio.Task] = []
        try:
            tokens = await _agents(channel, tenant, store, admin, plan, phone_ports)
            desks = Desks(channel=channel, tokens=tokens)
            tasks = await desks.run()
            pids = {**running.pids(), "adapter": adapter.process.pid}
            for n, rate in enumerate(plan.steps):
                meter = harness.CpuMeter(pids)
                meter.start()
                row = await _step(rate=rate, plan=plan, workdir=running.workdir / f"step{n}", channel=channel,
                                  trunk_address=f"{sipp.HOST}:{trunk_port}", carrier_port=carrier_port,
                                  phone_ports=phone_ports, store=store, tenant=tenant, admin=admin)
                row["cpu"] = meter.stop()
                row["adapter_alive"] = adapter.alive()
                rows.append(row)
                say(step_line(row))
                if not row["sustained"] or not adapter.alive():
                    break
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await channel.close()
            adapter.stop()
            await store.close()
    sustained = [r for r in rows if r["sustained"]]
    best = max(sustained, key=lambda r: r["rate"]) if sustained else None
    return {
        "steps": rows,
        "sustained_calls_per_s": best["rate"] if best else 0.0,
        "sustained_concurrent": best["peak_concurrent"] if best else 0,
        "peak_concurrent_seen": max((r["peak_concurrent"] for r in rows), default=0),
    }


def step_line(row: dict) -> str:
    wall = max(row["cpu"]["wall_s"], 1e-9)
    cpu = ", ".join(f"{name} {seconds / wall:.0%}" for name, seconds in row["cpu"]["cpu_s"].items())
    return (f"  {row['rate']:g} calls/s: placed {row['placed']}, completed {row['completed']}, failed {row['failed']}"
            f" {row['failed_by'] or ''}, peak concurrent {row['peak_concurrent']}, lost {row['lost']}, stuck agents "
            f"{row['stuck_agents']} -> {'sustained' if row['sustained'] else 'NOT sustained'}; CPU of a core: {cpu}")


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    say(f"sip: 1 node, 1 adapter, {plan.agents} agents on {plan.phones} sipp phones, hold {plan.hold_s:g} s, "
        f"steps of {plan.seconds:g} s at {', '.join(f'{r:g}' for r in plan.steps)} calls/s")
    found = await measure(plan, say=say)
    targets = {"concurrent": 200, "calls_per_s": 20.0}
    figures = {
        "plan": plan.__dict__ | {"steps": list(plan.steps)},
        **found,
        "targets": targets,
        "met": {"concurrent": found["sustained_concurrent"] >= targets["concurrent"],
                "calls_per_s": found["sustained_calls_per_s"] >= targets["calls_per_s"]},
    }
    say(f"sip: sustained {found['sustained_calls_per_s']:g} new calls/s (target >= 20) with "
        f"{found['sustained_concurrent']} concurrent calls (target >= 200); most concurrent seen "
        f"{found['peak_concurrent_seen']}")
    return figures
