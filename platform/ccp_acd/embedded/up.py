"""``ccp up``: the whole platform on one machine, under a bounded simulated load.

Starts a local etcd and ACD node processes for every site the example tenant
uses (home and failover sites, and the agents' sites), writes ``examples/``
into etcd the way the operator will, creates the roster's agents through the
admin API, plays a Poisson workload with simulated callers and agents, shows
live KPIs, and stops everything it started, whatever happens.

Two clocks: the nodes run in real time; the simulation runs ``time_scale``
times faster (a 180 s call lasts 3 s at 60x). Service level and ASA are shown
in model seconds, from the simulation's own record of every call; queue
lengths and agent states come live from the nodes' admin API.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
from ccp_operator.apply import apply_desired
from ccp_operator.specs.loader import load_paths
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ccp_acd.api.auth import issue_token
from ccp_acd.api.convert import seconds_of
from ccp_acd.domain.models import Channel
from ccp_acd.embedded.processes import Child, EtcdProcess, NodeProcess, start_etcd, start_node
from ccp_acd.sim.driver import CHANNELS, Endpoints, Simulation
from ccp_acd.sim.history import CallTimeline, Verdict, check
from ccp_acd.sim.workload import Roster, SimAgent, load_roster, poisson_workload
from ccp_acd.state.etcd import EtcdStore

# Planned load when no rate is given: this share of the voice agents' capacity.
DEFAULT_OCCUPANCY = 0.75


@dataclass(frozen=True)
class UpOptions:
    examples: Path
    roster: Path
    duration_s: float = 60.0       # real seconds of arrivals
    max_calls: int = 400
    time_scale: float = 60.0
    seed: int = 1
    rate_per_s: float | None = None  # model calls per second; None: from the roster
    nodes_per_site: int = 1
    drain_timeout_s: float = 30.0


@dataclass
class Platform:
    workdir: Path
    etcd: EtcdProcess
    nodes: list[NodeProcess]

    @property
    def children(self) -> list[Child]:
        return [*self.nodes, self.etcd]

    def addresses(self) -> dict[str, list[str]]:
        by_site: dict[str, list[str]] = {}
        for node in self.nodes:
            by_site.setdefault(node.site, []).append(node.address)
        return by_site

    def stop(self) -> None:
        for child in self.children:
            child.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)


def _sites(roster: Roster, home: str, failover: Sequence[str]) -> list[str]:
    return sorted({home, *failover, *(a.site for a in roster.agents), *(s.site for s in roster.traffic)} - {""})


async def start_platform(sites: Sequence[str], *, nodes_per_site: int, cluster_token: str) -> Platform:
    workdir = Path(tempfile.mkdtemp(prefix="ccp-up-"))
    etcd = await asyncio.to_thread(start_etcd, workdir)
    platform = Platform(workdir, etcd, [])
    atexit.register(platform.stop)  # a safety net if the interpreter exits without our finally
    try:
        starts = [
            asyncio.to_thread(
                start_node, workdir, etcd.endpoint, node_id=f"{site}-{i + 1}", site=site,
                env={"CCP_CLUSTER_TOKEN": cluster_token},
            )
            for site in sites
            for i in range(nodes_per_site)
        ]
        results = await asyncio.gather(*starts, return_exceptions=True)
        platform.nodes = [r for r in results if isinstance(r, NodeProcess)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
    except BaseException:
        platform.stop()
        raise
    return platform


async def _create_agents(address: str, admin_token: str, agents: Sequence[SimAgent]) -> None:
    metadata = (("authorization", f"Bearer {admin_token}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        for agent in agents:
            capacity = [common_pb2.ChannelCapacity(channel=CHANNELS[c], max=n) for c, n in agent.capacity.items()]
            await admin.CreateAgent(
                admin_pb2.CreateAgentRequest(
                    agent=admin_pb2.Agent(id=agent.id, skills=agent.skills, site=agent.site, capacity=capacity)
                ),
                metadata=metadata,
            )


def _queue_table(stats: Sequence[admin_pb2.QueueStats], timelines: Sequence[CallTimeline], scale: float) -> Table:
    table = Table(title="queues (SL and ASA in model seconds; waiting and agents live from the nodes)")
    for column in ("queue", "waiting", "longest", "ended", "abandoned", "SL", "ASA", "agents free/busy/wrap/break"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for queue in stats:
        mine = [t for t in timelines if t.planned.queue == queue.queue and t.call_id]
        verdict = check(mine, threshold_s=seconds_of(queue.service_level_threshold))
        a = queue.agents
        table.add_row(
            queue.queue,
            str(queue.waiting),
            f"{seconds_of(queue.longest_wait) * scale:.0f}s",
            str(verdict.completed + verdict.abandoned + verdict.voicemail),
            str(verdict.abandoned),
            f"{verdict.service_level:.0%}",
            f"{verdict.asa_s:.1f}s",
            f"{a.available}/{a.busy}/{a.wrap_up}/{a.on_break}",
        )
    return table


async def run_up(options: UpOptions, console: Console) -> Verdict:
    desired = load_paths([options.examples])
    roster = load_roster(options.roster)
    tenant = desired.tenants.get(roster.tenant)
    if tenant is None:
        raise ValueError(f"{options.roster}: tenant {roster.tenant!r} is not declared in {options.examples}")
    agents = roster.sim_agents()
    voice_agents = sum(1 for a in agents if Channel.VOICE in a.capacity)
    rate = options.rate_per_s or DEFAULT_OCCUPANCY * voice_agents / roster.aht_seconds
    workload = poisson_workload(
        random.Random(options.seed),
        rate_per_s=rate,
        duration_s=options.duration_s * options.time_scale,
        max_calls=options.max_calls,
        aht_s=roster.aht_seconds,
        streams=roster.streams(),
        patience_s=roster.patience_seconds,
    )
    sites = _sites(roster, tenant.home_site, tenant.failover_sites)
    console.print(
        f"starting etcd and {len(sites) * options.nodes_per_site} ACD node(s) for sites {', '.join(sites)}; "
        f"{len(workload)} calls planned at {rate * 3600:.0f}/h (model), time x{options.time_scale:g}"
    )
    platform = await start_platform(sites, nodes_per_site=options.nodes_per_site, cluster_token=secrets.token_hex(16))
    console.print("started " + ", ".join(f"{c.name} (pid {c.pid})" for c in platform.children))
    try:
        store = await EtcdStore.connect(platform.etcd.endpoint)
        try:
            for line in await apply_desired(store, desired):
                console.print(f"  applied {line}")
            admin_token = await issue_token(store, tenant=tenant.name, role="admin")
            endpoints = Endpoints(
                addresses=platform.addresses(),
                interaction_token=await issue_token(store, tenant=tenant.name, role="interaction"),
                agent_tokens={
                    a.id: await issue_token(store, tenant=tenant.name, role="agent", agent_id=a.id) for a in agents
                },
            )
        finally:
            await store.close()
        home = platform.addresses()[tenant.home_site][0]
        await _create_agents(home, admin_token, agents)
        simulation = Simulation(
            workload, agents, endpoints, time_scale=options.time_scale, drain_timeout_s=options.drain_timeout_s
        )
        verdict = await _run_with_display(simulation, home, admin_token, console)
    finally:
        console.print()
        platform.stop()
        survivors = [c.name for c in platform.children if c.alive()]
        console.print(f"stopped {len(platform.children)} processes" + (f"; STILL RUNNING: {survivors}" if survivors else ""))
    for line in verdict.lines():
        console.print(line)
    return verdict


async def _run_with_display(simulation: Simulation, address: str, admin_token: str, console: Console) -> Verdict:
    metadata = (("authorization", f"Bearer {admin_token}"),)
    progress = Progress(
        TextColumn("calls ended"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("calls", total=len(simulation.workload))
    running = asyncio.create_task(simulation.run())
    stats: Sequence[admin_pb2.QueueStats] = []
    async with grpc.aio.insecure_channel(address) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                try:
                    answer = await admin.ListQueueStats(admin_pb2.ListQueueStatsRequest(), metadata=metadata, timeout=2)
                    stats = answer.queues
                except grpc.aio.AioRpcError:
                    pass  # a node restarting; keep the last figures
                ended = sum(
                    1 for t in simulation.timelines
                    if t.completed_at is not None or t.abandoned_at is not None or t.final_state == "voicemail"
                    or t.enqueue_error
                )
                progress.update(task, completed=ended)
                live.update(Group(_queue_table(stats, simulation.timelines, simulation.time_scale), progress))
                if running.done():
                    break
                await asyncio.sleep(0.5)
    timelines = await running
    return check(timelines)


def up(options: UpOptions, console: Console | None = None) -> Verdict:
    console = console or Console()
    started = time.monotonic()
    verdict = asyncio.run(run_up(options, console))
    console.print(f"done in {time.monotonic() - started:.0f}s: " + ("OK" if verdict.ok else "CALLS LOST OR DUPLICATED"))
    return verdict
