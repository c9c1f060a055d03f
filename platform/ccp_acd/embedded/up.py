"""``ccp up``: the whole platform on one machine, under a bounded simulated load.

Starts a local etcd and ACD node processes for every site the example tenant
uses (home and failover sites, and the agents' and traffic's sites), writes
``examples/`` into etcd the way the operator does (``load_paths`` +
``apply_desired``), creates the roster's agents through the admin API, plays a
Poisson workload with simulated callers and agents (``ccp_acd.sim``), shows
live KPIs, prints the verdict, and stops everything it started, whatever
happens (error, Ctrl-C, SIGTERM): nodes get SIGTERM, then SIGKILL after a
timeout, then etcd, then the temporary folder goes.

Agents log in at their own site's node; calls come in at their stream's site
(a trunk's home site), so both sites work.

Everything speaks TLS: a throw-away CA and a certificate for 127.0.0.1 and
localhost are generated into the run folder (``tls.generate``); etcd requires
client certificates, the nodes serve gRPC with the certificate, and the
simulator, the KPI display and the set-up verify it with the CA.

Two clocks: the nodes run in real time; the simulation runs ``time_scale``
times faster (a 180 s call lasts 3 s at 60x). Service level, ASA and the
longest wait are shown in model seconds; SL and ASA come from the
simulation's own record of every call (the nodes measure in real seconds),
queue lengths and agent states live from the nodes' admin API.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import random
import secrets
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ccp_operator.apply import apply_desired
from ccp_operator.specs.loader import load_paths
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from grpc.aio import AioRpcError
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ccp_acd.api.auth import issue_token
from ccp_acd.api.convert import seconds_of
from ccp_acd.domain.models import Channel
from ccp_acd.embedded.processes import (
    Child,
    EtcdProcess,
    NodeProcess,
    free_ports,
    spawn_etcd,
    spawn_node,
    stop_all,
    wait_listening,
    wait_serving_respawned,
)
from ccp_acd.embedded.sip import SipLoad, SipOptions, SipResult
from ccp_acd.sim.driver import CHANNELS, RPC_TIMEOUT_S, Simulation, Tokens
from ccp_acd.sim.history import CallTimeline, Verdict, check
from ccp_acd.sim.workload import Roster, SimAgent, load_roster, poisson_workload
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.tls import ChannelSecurity, GeneratedCerts, generate, open_channel

log = logging.getLogger(__name__)

# Planned load when no rate is given: this share of the voice agents' capacity.
DEFAULT_OCCUPANCY = 0.75
# Real seconds a node gets to stop after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 10.0
# Real seconds for etcd to listen and for a node to report SERVING.
START_TIMEOUT_S = 30.0
# KPI refreshes per real second.
REFRESH_PER_S = 2.0
AGENT_STATES = {
    common_pb2.AGENT_STATE_AVAILABLE: "available",
    common_pb2.AGENT_STATE_BUSY: "busy",
    common_pb2.AGENT_STATE_WRAP_UP: "wrap-up",
    common_pb2.AGENT_STATE_BREAK: "break",
    common_pb2.AGENT_STATE_LOGGED_OUT: "logged out",
}


@dataclass(frozen=True)
class UpOptions:
    examples: Path
    roster: Path
    duration_s: float = 60.0  # real seconds of arrivals
    max_calls: int = 400
    time_scale: float = 60.0  # model seconds per real second
    seed: int = 1
    rate_per_s: float | None = None  # model calls per second; None: DEFAULT_OCCUPANCY of the voice agents
    nodes_per_site: int = 1
    drain_timeout_s: float = 30.0  # real seconds for the calls still in the system to end
    sip: SipOptions | None = None  # real SIP calls through ``ccp sip`` adapters and sipp (embedded/sip.py); None: none


@dataclass(frozen=True)
class UpOutcome:
    verdict: Verdict
    sip: SipResult | None = None

    @property
    def ok(self) -> bool:
        return self.verdict.ok and (self.sip is None or self.sip.ok)


@dataclass
class Platform:
    """The processes of one ``ccp up``; ``stop()`` is safe to call at any point, and more than once."""

    workdir: Path
    etcd: EtcdProcess | None = None
    nodes: list[NodeProcess] = field(default_factory=list)
    # node id -> (Prometheus port, wallboard port), both on 127.0.0.1
    http_ports: dict[str, tuple[int, int]] = field(default_factory=dict)
    tls: GeneratedCerts | None = None  # generated into the run folder at start

    @property
    def client_security(self) -> ChannelSecurity:
        """How clients reach the nodes: TLS, verified with the run's CA."""
        assert self.tls is not None
        return self.tls.client(with_cert=False)

    @property
    def children(self) -> list[Child]:
        return [*self.nodes, *([self.etcd] if self.etcd else [])]

    def addresses(self) -> dict[str, list[str]]:
        by_site: dict[str, list[str]] = {}
        for node in self.nodes:
            by_site.setdefault(node.site, []).append(node.address)
        return by_site

    async def start(self, sites: Sequence[str], *, nodes_per_site: int, cluster_token: str) -> None:
        """Spawn etcd, then the nodes; each is recorded before anything waits, so ``stop()`` finds it."""
        atexit.register(self.stop)  # a safety net if the interpreter exits past our finally
        self.tls = generate(self.workdir / "tls")
        self.etcd = spawn_etcd(self.workdir, tls=self.tls)
        await asyncio.to_thread(wait_listening, self.etcd, timeout_s=START_TIMEOUT_S)
        ports = iter(free_ports(2 * len(sites) * nodes_per_site, "127.0.0.1"))
        spawns: list[Callable[[], NodeProcess]] = []
        for site in sites:
            for i in range(nodes_per_site):
                node_id = f"{site}-{i + 1}"
                metrics, wallboard = self.http_ports[node_id] = (next(ports), next(ports))
                env = {
                    "CCP_CLUSTER_TOKEN": cluster_token,
                    "CCP_METRICS_LISTEN": f"127.0.0.1:{metrics}",
                    "CCP_WALLBOARD_LISTEN": f"127.0.0.1:{wallboard}",
                }
                spawns.append(functools.partial(
                    spawn_node, self.workdir, self.etcd.endpoint, node_id=node_id, site=site, tls=self.tls,
                    etcd_security=self.etcd.security, env=env,
                ))
        self.nodes = [spawn() for spawn in spawns]
        waits = [asyncio.to_thread(wait_serving_respawned, node, spawn, timeout_s=START_TIMEOUT_S)
                 for node, spawn in zip(self.nodes, spawns, strict=True)]
        results = await asyncio.gather(*waits, return_exceptions=True)
        self.nodes = [node if isinstance(result, BaseException) else result
                      for node, result in zip(self.nodes, results, strict=True)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    def stop(self) -> None:
        stop_all(self.nodes, timeout_s=STOP_TIMEOUT_S)
        if self.etcd is not None:
            self.etcd.stop(timeout_s=STOP_TIMEOUT_S)
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)


def _sites(roster: Roster, home: str, failover: Sequence[str], streams_sites: Sequence[str]) -> list[str]:
    return sorted({home, *failover, *(a.site for a in roster.agents), *streams_sites} - {""})


async def _create_agents(
    address: str, admin_token: str, agents: Sequence[SimAgent], security: ChannelSecurity
) -> None:
    metadata = (("authorization", f"Bearer {admin_token}"),)
    async with open_channel(address, security) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        for agent in agents:
            capacity = [common_pb2.ChannelCapacity(channel=CHANNELS[c], max=n) for c, n in agent.capacity.items()]
            await admin.CreateAgent(
                admin_pb2.CreateAgentRequest(
                    agent=admin_pb2.Agent(id=agent.id, skills=dict(agent.skills), site=agent.site, capacity=capacity)
                ),
                metadata=metadata,
                timeout=10,
            )


def _queue_table(stats: Sequence[admin_pb2.QueueStats], timelines: Sequence[CallTimeline], scale: float) -> Table:
    table = Table(
        title="queues (times in model seconds)",
        caption="SL: answered within the queue's threshold T. Waiting callers, oldest wait and agents "
        "(available/busy/wrap-up/break) live from the nodes; the rest from the simulated callers.",
        box=box.SIMPLE_HEAD,
    )
    for column in ("queue", "wait", "oldest", "calls", "done", "abandon", "SL in T", "ASA", "agents"):
        table.add_column(column, justify="left" if column == "queue" else "right", no_wrap=True)
    for queue in stats:
        mine = [t for t in timelines if t.planned.queue == queue.queue and t.call_id]
        verdict = check(mine, threshold_s=seconds_of(queue.service_level_threshold) or 20.0)
        a = queue.agents
        table.add_row(
            queue.queue,
            str(queue.waiting),
            f"{seconds_of(queue.longest_wait) * scale:.0f}s",
            str(verdict.enqueued),
            str(verdict.completed + verdict.abandoned + verdict.voicemail),
            f"{verdict.abandoned} {verdict.abandonment_rate:.0%}",
            f"{verdict.service_level:.0%} {verdict.threshold_s:g}s",
            f"{verdict.asa_s:.1f}s",
            f"{a.available}/{a.busy}/{a.wrap_up}/{a.on_break}",
        )
    return table


def _agent_table(statuses: Sequence[common_pb2.AgentStatus] | Sequence) -> Table:
    table = Table(title="agents by site and state", box=box.SIMPLE_HEAD)
    states = list(AGENT_STATES.values())
    table.add_column("site", no_wrap=True)
    for state in states:
        table.add_column(state, justify="right", no_wrap=True)
    by_site: dict[str, Counter] = {}
    for status in statuses:
        by_site.setdefault(status.site or "?", Counter())[AGENT_STATES.get(status.state, "logged out")] += 1
    for site, counts in sorted(by_site.items()):
        table.add_row(site, *(str(counts[s]) for s in states))
    return table


def _ended(t: CallTimeline) -> bool:
    return bool(
        t.enqueue_error or t.completed_at is not None or t.abandoned_at is not None or t.final_state == "voicemail"
    )


async def _run_with_display(
    simulation: Simulation, addresses: Sequence[str], admin_token: str, console: Console, security: ChannelSecurity,
    sip: SipLoad | None = None,
) -> Verdict:
    metadata = (("authorization", f"Bearer {admin_token}"),)
    progress = Progress(
        TextColumn("calls done / planned"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("calls", total=len(simulation.workload))
    running = asyncio.create_task(simulation.run(), name="simulation")
    stats: Sequence[admin_pb2.QueueStats] = []
    agents: Sequence = []
    which = 0
    channels = [open_channel(a, security) for a in addresses]
    try:
        with Live(console=console, refresh_per_second=REFRESH_PER_S * 2, transient=False) as live:
            while True:
                admin = admin_pb2_grpc.AdminServiceStub(channels[which])
                try:
                    queues = await admin.ListQueueStats(admin_pb2.ListQueueStatsRequest(), metadata=metadata, timeout=2)
                    people = await admin.ListAgentStatuses(
                        admin_pb2.ListAgentStatusesRequest(), metadata=metadata, timeout=2
                    )
                    stats, agents = queues.queues, people.agents
                except AioRpcError:
                    which = (which + 1) % len(channels)  # a node restarting: ask the next, keep the last figures
                progress.update(task, completed=sum(1 for t in simulation.timelines if _ended(t)))
                live.update(
                    Group(
                        _queue_table(stats, simulation.timelines, simulation.time_scale),
                        _agent_table(agents),
                        progress,
                        *([f"{sip.result().line()} (so far)"] if sip is not None else []),
                    )
                )
                if running.done():
                    break
                await asyncio.sleep(1 / REFRESH_PER_S)
    finally:
        if not running.done():
            running.cancel()  # interrupted: the simulation logs its agents out while the nodes still run
            await asyncio.wait({running}, timeout=RPC_TIMEOUT_S + 1)
        for channel in channels:
            await channel.close()
    return check(await running)


async def run_up(options: UpOptions, console: Console) -> UpOutcome:
    desired = load_paths([options.examples])
    roster = load_roster(options.roster)
    tenant = desired.tenants.get(roster.tenant)
    if tenant is None:
        raise ValueError(f"{options.roster}: tenant {roster.tenant!r} is not declared in {options.examples}")
    trunks = {name: (t.home_site, t.default_queue) for name, t in desired.trunks.get(tenant.name, {}).items()}
    streams = roster.streams(trunks)
    unknown = sorted({s.queue for s in streams} - set(desired.queues.get(tenant.name, {})))
    if unknown:
        raise ValueError(f"{options.roster}: traffic for queues {unknown} that {options.examples} does not declare")
    agents = roster.sim_agents()
    voice_agents = sum(1 for a in agents if Channel.VOICE in a.capacity)
    rate = options.rate_per_s or DEFAULT_OCCUPANCY * voice_agents / roster.aht_seconds
    workload = poisson_workload(
        random.Random(options.seed),
        rate_per_s=rate,
        duration_s=options.duration_s * options.time_scale,
        max_calls=options.max_calls,
        aht_s=roster.aht_seconds,
        mix=streams,
        patience_s=roster.patience_seconds,
    )
    sites = _sites(roster, tenant.home_site, tenant.failover_sites, [s.site for s in streams])
    console.print(
        f"starting etcd and {len(sites) * options.nodes_per_site} ACD node(s) for sites {', '.join(sites)}; "
        f"{len(workload)} calls planned at {rate * 3600:.0f}/h (model), time x{options.time_scale:g}"
    )
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    if me is not None:
        loop.add_signal_handler(signal.SIGTERM, me.cancel)  # SIGTERM stops cleanly, like Ctrl-C
    platform = Platform(Path(tempfile.mkdtemp(prefix="ccp-up-")))
    sip = SipLoad(platform.workdir / "sip", options.sip) if options.sip is not None else None
    sip_result: SipResult | None = None
    try:
        await platform.start(sites, nodes_per_site=options.nodes_per_site, cluster_token=secrets.token_hex(16))
        console.print("started " + ", ".join(f"{c.name} (pid {c.pid})" for c in platform.children), soft_wrap=True)
        console.print(f"  run folder {platform.workdir} (logs; removed at the end)", soft_wrap=True)
        where = [f"{n.node_id} at {n.address}" for n in platform.nodes]
        console.print(f"  {', '.join(where)}; etcd at {platform.etcd.endpoint}", soft_wrap=True)
        console.print(f"  TLS everywhere; CA {platform.tls.ca_file} (CCP_TLS_CA_FILE for clients)", soft_wrap=True)
        store = await EtcdStore.connect(platform.etcd.endpoint, security=platform.etcd.security)
        try:
            for line in await apply_desired(store, desired):
                console.print(f"  applied {line}")
            admin_token = await issue_token(store, tenant=tenant.name, role="admin")
            tokens = Tokens(
                interaction=await issue_token(store, tenant=tenant.name, role="interaction"),
                agents={a.id: await issue_token(store, tenant=tenant.name, role="agent", agent_id=a.id) for a in agents},
            )
            if sip is not None:
                await sip.configure(store, tenant.name, desired.trunks.get(tenant.name, {}),
                                    desired.queues.get(tenant.name, {}))
                desk_tokens = {f"sip-desk-{i + 1}": await issue_token(store, tenant=tenant.name, role="agent",
                                                                      agent_id=f"sip-desk-{i + 1}")
                               for i in range(sip.options.phones)}
        finally:
            await store.close()
        addresses = platform.addresses()
        home = addresses[tenant.home_site][0] if tenant.home_site in addresses else platform.nodes[0].address
        await _create_agents(home, admin_token, agents, platform.client_security)
        console.print(f"  created {len(agents)} agents: " + ", ".join(f"{a.id}@{a.site}" for a in agents), soft_wrap=True)
        metrics = ", ".join(f"http://127.0.0.1:{m}/metrics" for m, _ in platform.http_ports.values())
        console.print(f"  Prometheus: {metrics}", soft_wrap=True)
        board = platform.http_ports[next(n.node_id for n in platform.nodes if n.address == home)][1]
        console.print(f"  wallboard: http://127.0.0.1:{board}/wallboard#token={admin_token}", soft_wrap=True, markup=False)
        if sip is not None:
            await _start_sip(sip, platform, tenant.name, tokens.interaction, admin_token, desk_tokens, console)
        simulation = Simulation(
            workload, agents, targets=addresses, tokens=tokens, time_scale=options.time_scale,
            drain_timeout_s=options.drain_timeout_s, security=platform.client_security,
        )
        verdict = await _run_with_display(
            simulation, [n.address for n in platform.nodes], admin_token, console, platform.client_security, sip
        )
        if sip is not None:
            sip_result = await sip.finish()
            await sip.stop_desks()
    finally:
        console.print()
        if sip is not None:
            sip.stop()
            left = [f"{c.name} (sip pid {c.pid})" for c in sip.children if c.alive()]
            still = f"; STILL RUNNING: {', '.join(left)}" if left else ""
            console.print(f"stopped {len(sip.children)} SIP processes{still}", soft_wrap=True)
        platform.stop()  # blocking on purpose: nothing else should run, and no second Ctrl-C may cut it short
        survivors = [f"{c.name} (pid {c.pid})" for c in platform.children if c.alive()]
        console.print(
            f"stopped {len(platform.children)} processes"
            + (f"; STILL RUNNING: {', '.join(survivors)}" if survivors else ""),
            soft_wrap=True,
        )
        if me is not None:
            loop.remove_signal_handler(signal.SIGTERM)
    console.print("[bold]verdict[/bold]")
    for line in verdict.lines():
        console.print(f"  {line}", soft_wrap=True, markup=False)
    if sip_result is not None:
        console.print(f"  {sip_result.line()}", soft_wrap=True, markup=False)
        if sip_result.failed or sip_result.lost:
            console.print(f"  sipp's errors: {sip_result.errors or '(none logged)'}", soft_wrap=True, markup=False)
    return UpOutcome(verdict, sip_result)


async def _start_sip(
    sip: SipLoad, platform: Platform, tenant: str, interaction_token: str, admin_token: str,
    desk_tokens: dict[str, str], console: Console,
) -> None:
    """Phones, desk agents, one adapter per site, then the caller: the calls start with the simulated load."""
    assert platform.etcd is not None and platform.tls is not None and sip.call_trunk is not None
    addresses = platform.addresses()
    site = sip.call_trunk.home_site if sip.call_trunk.home_site in addresses else sorted(addresses)[0]
    uris = await asyncio.to_thread(sip.start_phones)

    async def issue(agent_id: str) -> str:
        return desk_tokens[agent_id]

    desks = await sip.create_desks(addresses[site][0], admin_token, site, issue, platform.client_security, uris)
    sip.start_adapters(tenant, interaction_token, addresses, platform.etcd.endpoint, platform.tls, platform.etcd.security)
    await asyncio.to_thread(sip.wait_adapters)
    sip.start_caller()
    console.print(
        "  SIP: " + ", ".join(f"{c.name} (sip pid {c.pid})" for c in sip.children), soft_wrap=True, markup=False
    )
    console.print(
        f"  SIP: desk agents {', '.join(desks)} with sipp phones; {sip.options.calls} calls to "
        f"{sip.call_trunk.numbers[0]} ({sip.call_trunk.name}) at {sip.options.rate_per_s:g}/s, "
        f"pressing {sip.call_trunk.ivr and '1' or 'nothing'} in the IVR", soft_wrap=True, markup=False,
    )


def up(options: UpOptions, console: Console | None = None) -> UpOutcome:
    """Run ``ccp up`` to the end; KeyboardInterrupt (Ctrl-C) and CancelledError (SIGTERM) propagate after the stop."""
    console = console or Console()
    started = time.monotonic()
    outcome = asyncio.run(run_up(options, console))
    console.print(f"done in {time.monotonic() - started:.0f}s: " + ("OK" if outcome.ok else "CALLS LOST OR DUPLICATED"))
    return outcome
