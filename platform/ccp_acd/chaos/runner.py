"""Run a drill: start the platform, play the load, inject the method's faults on time, roll back, judge.

``run_drill(drill)`` returns a ``Report``: the Jepsen-style verdict on every
call's recorded history (lost, duplicated, completed, abandoned), how long
routing stopped for the measured scope, the service level overall and from
the first fault on, what etcd saw happen to sites and queue owners (a watch
on ``/ccp/v1/sites/`` from the runner), and per-second queue figures.
Everything is bounded: the load by count and time, the drain by
``DRAIN_TIMEOUT_S``, each platform start by its own timeout; the platform is
stopped whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ccpapi.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from ccp_acd.api.auth import issue_token
from ccp_acd.chaos import measure
from ccp_acd.chaos.drill import Drill, LoadSpec
from ccp_acd.chaos.local import LocalPlatform
from ccp_acd.domain.models import QueueConfig
from ccp_acd.errors import StateUnavailable
from ccp_acd.sim.driver import Simulation, Tokens
from ccp_acd.sim.history import Recording
from ccp_acd.sim.workload import PlannedCall, SimAgent, Stream, poisson_workload
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from ccp_acd.tls import ChannelSecurity, open_channel

log = logging.getLogger(__name__)

TENANT = "drill"
QUEUE = "main"
# Real seconds the calls still in the system get to end after the load.
DRAIN_TIMEOUT_S = 40.0
# Real seconds to wait for every site to have an owner for the queue before the load starts.
READY_TIMEOUT_S = 30.0


@dataclass
class Report:
    drill: str
    form: str
    started_at: float
    platform: dict
    load: dict
    events: list[dict] = field(default_factory=list)
    etcd_events: list[dict] = field(default_factory=list)
    verdict: dict = field(default_factory=dict)
    routing_stop: dict = field(default_factory=dict)
    service_level: float = 0.0
    service_level_during: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    series: list[dict] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "passed": self.passed}, indent=2)

    def summary(self) -> list[str]:
        v, stop = self.verdict, self.routing_stop
        resumed = stop.get("resumed_after_s")
        longest = stop.get("longest_s")
        lines = [
            f"{self.drill} ({self.form}): {'PASSED' if self.passed else 'FAILED'} in {self.duration_s:.0f}s",
            f"  calls: {v['enqueued']} taken, {v['answered']} answered, {v['completed']} completed, "
            f"{v['abandoned']} abandoned, {v['unresolved']} still in the system",
            f"  lost {len(v['lost'])}, duplicated {len(v['duplicated'])}, inconsistent {len(v['inconsistent'])}",
            "  routing stopped: "
            + (
                f"resumed {resumed:.2f}s after the fault, longest hold-up {longest:.2f}s over {stop['calls']} calls"
                if resumed is not None
                else "no call in the measured scope was routed after the fault"
                if stop
                else "no fault"
            ),
            f"  service level {self.service_level:.1%} overall"
            + (f", {self.service_level_during:.1%} from the fault on" if self.service_level_during is not None else ""),
            *(f"  {_when(e['t'])} {e['what']}" for e in self.events),
            *(f"  {_when(e['t'])} etcd: {e['key']} {e['value']}" for e in self.etcd_events if e["key"].endswith("/state")),
            *(f"  check {name}: {'ok' if ok else 'FAILED'}" for name, ok in self.checks.items()),
        ]
        return lines


def _when(t: float | None) -> str:
    return "afterwards" if t is None else f"at {t:6.2f}s"


def build_workload(load: LoadSpec, seed: int) -> list[PlannedCall]:
    rate = sum(s.rate_per_s for s in load.streams)
    streams = [Stream(QUEUE, site=s.site, weight=s.rate_per_s) for s in load.streams]
    calls = poisson_workload(
        random.Random(seed), rate_per_s=rate, duration_s=load.duration_s, max_calls=load.max_calls,
        aht_s=load.aht_s, mix=streams, patience_s=load.patience_s,
    )
    if load.surge is not None and load.surge.from_s < load.duration_s:
        window = min(load.surge.to_s, load.duration_s) - load.surge.from_s
        extra = poisson_workload(
            random.Random(seed + 1), rate_per_s=rate * (load.surge.factor - 1), duration_s=window,
            max_calls=load.max_calls, aht_s=load.aht_s, mix=streams, patience_s=load.patience_s,
        )
        calls += [
            PlannedCall(
                at_s=c.at_s + load.surge.from_s, queue=c.queue, site=c.site, handle_s=c.handle_s,
                patience_s=c.patience_s, caller=c.caller,
            )
            for c in extra
        ]
    return sorted(calls, key=lambda c: c.at_s)[: load.max_calls]


def build_agents(load: LoadSpec) -> list[SimAgent]:
    return [SimAgent(id=f"{site}-agent-{i + 1}", site=site) for site, n in load.agents.items() for i in range(n)]


async def _seed(
    store: EtcdStore, drill: Drill, agents: list[SimAgent], address: str, security: ChannelSecurity
) -> Tokens:
    sites = drill.platform.sites
    await store.put_tenant_config(TenantConfig(name=TENANT, home_site=sites[0], failover_sites=tuple(sites[1:])))
    await store.put_queue_config(
        TENANT,
        QueueConfig(
            name=QUEUE, sl_threshold_s=drill.load.sl_threshold_s, offer_timeout_s=10.0,
            expected_handle_s=drill.load.aht_s, site_overflow_margin_s=drill.platform.site_overflow_margin_s,
        ),
    )
    admin = await issue_token(store, tenant=TENANT, role="admin")
    async with open_channel(address, security) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        for agent in agents:
            await stub.CreateAgent(
                admin_pb2.CreateAgentRequest(
                    agent=admin_pb2.Agent(
                        id=agent.id, site=agent.site,
                        capacity=[common_pb2.ChannelCapacity(channel=common_pb2.CHANNEL_VOICE, max=1)],
                    )
                ),
                metadata=(("authorization", f"Bearer {admin}"),),
                timeout=10,
            )
    return Tokens(
        interaction=await issue_token(store, tenant=TENANT, role="interaction"),
        agents={a.id: await issue_token(store, tenant=TENANT, role="agent", agent_id=a.id) for a in agents},
    )


async def _owners_ready(store: EtcdStore, sites: list[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = [bool((await store.read_prefix(keys.owner(site, TENANT, QUEUE)))[0]) for site in sites]
        if all(found):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"not every site of {sites} elected an owner for {QUEUE} within {READY_TIMEOUT_S}s")


async def _observe(store: EtcdStore, clock, into: list[dict]) -> None:
    """Record site states and queue owners as etcd changes them (for the report's timeline)."""
    while True:
        with contextlib.suppress(StateUnavailable):
            async for event in store.watch_prefix(keys.sites_prefix()):
                if "/nodes/" in event.key:
                    continue
                value = event.value.decode() if event.value else ""
                into.append({"t": round(clock(), 3), "kind": event.kind, "key": event.key, "value": value})
        await asyncio.sleep(0.2)


async def run_drill(drill: Drill, *, short: bool = False, seed: int = 1, workdir: Path | None = None) -> Report:
    if short:
        drill = drill.shortened()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="ccp-chaos-"))
    platform = LocalPlatform(drill.platform, workdir)
    report = Report(
        drill=drill.title, form="short" if short else "full", started_at=time.time(),
        platform=drill.platform.model_dump(), load=drill.load.model_dump(),
    )
    began = time.monotonic()
    try:
        await platform.start()
        store = await EtcdStore.connect(platform.control_endpoint, timeout_s=5.0, security=platform.etcd_security)
        try:
            agents = build_agents(drill.load)
            first = next(iter(platform.nodes.values())).address
            tokens = await _seed(store, drill, agents, first, platform.client_security)
            await _owners_ready(store, drill.platform.sites)
            recording = await _play(drill, platform, store, agents, tokens, seed, report)
            for action in drill.rollbacks:
                what = await platform.do(action, store=store, tenant=TENANT)
                report.events.append({"t": None, "what": f"rollback: {what}"})
        finally:
            await store.close()
    finally:
        await platform.stop()
    _judge(drill, recording, platform, report)
    report.duration_s = time.monotonic() - began
    return report


async def _play(drill, platform, store, agents, tokens, seed, report) -> Recording:
    addresses = platform.addresses()
    targets = {
        site: [*addresses[site], *(a for other, nodes in addresses.items() if other != site for a in nodes)]
        for site in addresses
    }
    workload = build_workload(drill.load, seed)
    simulation = Simulation(
        workload, agents, targets=targets, tokens=tokens, time_scale=1.0, drain_timeout_s=DRAIN_TIMEOUT_S,
        security=platform.client_security,
    )
    run = asyncio.create_task(simulation.run())
    await asyncio.sleep(0)  # let the run start its clock: the method's times count from it
    observer = asyncio.create_task(_observe(store, simulation.now, report.etcd_events))
    try:
        for action in sorted(drill.method, key=lambda a: a.at_s):
            await asyncio.sleep(max(0.0, action.at_s - simulation.now()))
            at = simulation.now()
            what = await platform.do(action, store=store, tenant=TENANT)
            report.events.append({"t": round(at, 3), "what": what})
            log.info("at %.2fs: %s", at, what)
        return await run
    finally:
        observer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await observer
        if not run.done():
            run.cancel()


def _judge(drill: Drill, recording: Recording, platform: LocalPlatform, report: Report) -> None:
    threshold = drill.load.sl_threshold_s
    verdict = recording.verdict(threshold_s=threshold)
    report.verdict = asdict(verdict)
    report.service_level = verdict.service_level
    faults = [e["t"] for e in report.events if e["t"] is not None]
    fault_at = faults[0] if faults else None
    if fault_at is None and drill.load.surge is not None:
        fault_at = drill.load.surge.from_s  # the surge is the fault
    tolerances = drill.steady_state_hypothesis.tolerances
    report.checks = {
        "lost": len(verdict.lost) <= tolerances.lost,
        "duplicated": len(verdict.duplicated) <= tolerances.duplicated,
        "consistent": not verdict.inconsistent,
    }
    if fault_at is not None:
        stop = measure.routing_stop(
            recording.timelines, fault_at=fault_at, site=drill.measure.site, queue=drill.measure.queue,
            calls=drill.measure.calls, site_of=platform.site_of,
        )
        report.routing_stop = asdict(stop)
        report.service_level_during = measure.service_level_during(
            recording.timelines, since=fault_at, threshold_s=threshold
        )
        if tolerances.routing_stopped_s is not None:
            figure = stop.longest_s if drill.measure.calls == "affected" else stop.resumed_after_s
            report.checks["routing_stopped"] = figure is not None and figure <= tolerances.routing_stopped_s
    if tolerances.service_level_min is not None:
        during = report.service_level_during if report.service_level_during is not None else verdict.service_level
        report.checks["service_level"] = during >= tolerances.service_level_min
    report.series = measure.series(recording.timelines, until=drill.load.duration_s)


def write_report(report: Report, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(report.to_json())
    (path.with_suffix(".txt")).write_text("\n".join(report.summary()) + "\n")
    return path


def summarize_runs(reports: list[Report]) -> list[str]:
    """Median and worst of the per-run figures, for drills run several times."""
    from statistics import median

    def figures(key: str) -> list[float]:
        return [r.routing_stop[key] for r in reports if r.routing_stop.get(key) is not None]

    lines = [f"{len(reports)} runs of {reports[0].drill}: {sum(r.passed for r in reports)} passed"]
    lost = sum(len(r.verdict["lost"]) for r in reports)
    duplicated = sum(len(r.verdict["duplicated"]) for r in reports)
    lines.append(f"  calls lost {lost}, duplicated {duplicated} over all runs")
    for key, label in (("resumed_after_s", "routing resumed after"), ("longest_s", "longest hold-up")):
        values = figures(key)
        if values:
            lines.append(f"  {label}: median {median(values):.2f}s, worst {max(values):.2f}s")
    levels = [r.service_level_during for r in reports if r.service_level_during is not None]
    if levels:
        lines.append(f"  service level from the fault on: median {median(levels):.1%}, worst {min(levels):.1%}")
    return lines


async def compare_overflow(drill: Drill, *, short: bool, seed: int) -> tuple[Report, Report]:
    """The same load twice, same seed: without N-way overflow, then with the drill's margin."""
    platform_off = drill.platform.model_copy(update={"site_overflow_margin_s": None})
    without = await run_drill(drill.model_copy(update={"platform": platform_off}), short=short, seed=seed)
    with_ = await run_drill(drill, short=short, seed=seed)
    return without, with_
