"""Calls routed end to end through real node processes: tenants, agents, one bounded load step, a ramp.

The clients are the simulator's (``ccp_acd.sim.driver.Simulation``): callers send
Enqueue at their arrival time, agents take each offer from their StreamOffers
stream, accept it at once and complete it at once (talk and wrap-up zero). A
call counts as routed when its Complete returned. One ``Simulation`` per tenant
runs in this process's event loop; its per-site targets are used to spread the
RPCs over the site's nodes (calls and agents are given a node key ``n<k>`` as
their "site", which only chooses the node a client talks to).

A step is open-loop: Poisson arrivals at a fixed rate for a fixed time, bounded
by a call count, then a bounded drain. It is *sustained* when every call was
routed and the last one completed within ``max(0.5 s, 10 % of the step)`` of
the last arrival (no backlog built up). Its throughput is routed calls divided
by the time from the first Enqueue to the last Complete, so an overloaded step
measures the capacity it saturated at.

CPU seconds of the driver (this process), each node and etcd are read over the
window, and etcd's own counters before and after give its writes per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import CallState, Channel, Presence, QueueConfig, Reservation, Strategy
from ccp_acd.errors import CcpError
from ccp_acd.sim.driver import Simulation, Tokens
from ccp_acd.sim.history import CallTimeline
from ccp_acd.sim.workload import PlannedCall, SimAgent
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig

from bench import harness

QUEUE = "q"
# Real seconds between the step's start and its first arrival: the agents' streams open meanwhile.
WARM_UP_S = 0.5
# Concurrent etcd writes while seeding tenants and agents (not measured).
SEED_CONCURRENCY = 32


@dataclass(frozen=True)
class Tenant:
    name: str
    tokens: Tokens
    agents: list[SimAgent]


@dataclass(frozen=True)
class Step:
    rate: float      # calls per second offered, all tenants together
    seconds: float   # arrival window
    max_calls: int
    drain_s: float


async def _bounded(coroutines, *, limit: int = SEED_CONCURRENCY) -> list:
    gate = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))


async def seed_tenants(store: EtcdStore, *, tenants: int, agents_per_tenant: int, nodes: int) -> list[Tenant]:
    """Tenants ``bench-t<i>`` with one FIFO queue and their agents (created, then available); their tokens."""
    queue = QueueConfig(QUEUE, strategy=Strategy.LONGEST_IDLE, wrap_up_s=0.0)
    names = [f"bench-t{i}" for i in range(tenants)]
    await _bounded([store.put_queue_config(name, queue) for name in names])
    now = time.time()
    agent_ids = [f"a{j:03d}" for j in range(agents_per_tenant)]
    profile = AgentProfile(site=harness.SITE, capacity={Channel.VOICE: 1})
    await _bounded([store.create_agent(n, a, profile, now=now) for n in names for a in agent_ids])
    interaction = await _bounded([issue_token(store, tenant=n, role="interaction") for n in names])
    agent_tokens = await _bounded(
        [issue_token(store, tenant=n, role="agent", agent_id=a) for n in names for a in agent_ids]
    )
    # Tenant configs last: a node starts routing a tenant once its config exists.
    await _bounded([store.put_tenant_config(TenantConfig(name=n, home_site=harness.SITE)) for n in names])
    found = []
    for i, name in enumerate(names):
        tokens = dict(zip(agent_ids, agent_tokens[i * len(agent_ids):(i + 1) * len(agent_ids)], strict=True))
        agents = [
            SimAgent(id=a, site=f"n{(i * len(agent_ids) + j) % nodes}", wrap_up_s=0.0) for j, a in enumerate(agent_ids)
        ]
        found.append(Tenant(name=name, tokens=Tokens(interaction=interaction[i], agents=tokens), agents=agents))
    return found


async def make_available(store: EtcdStore, tenants: Sequence[Tenant]) -> None:
    """Agents available before a step (the previous step's driver logged them out at its end)."""
    now = time.time()
    await _bounded(
        [store.set_presence(t.name, a.id, Presence.AVAILABLE, reason_code="", now=now) for t in tenants for a in t.agents]
    )


async def clear_leftovers(store: EtcdStore, tenants: Sequence[Tenant]) -> int:
    """End the calls an earlier step left in the system (a saturated step's backlog); how many.

    Left there, they would be offered to the next step's agents, whose driver does not know them
    and lets the offers time out: every agent would end on a no-answer break and the step would
    route nothing.
    """
    now = time.time()
    ends = []
    for tenant in tenants:
        for call in (await store.load_live(tenant.name)).calls.values():
            if call.state is CallState.CONNECTED and call.agent_id:
                ends.append(store.complete(tenant.name, call.agent_id, call.id, disposition="bench-reset",
                                           wrap_up_s=0.0, now=now))
            else:
                ends.append(store.cancel(tenant.name, call.id, reason="bench-reset", now=now))

    async def ended(end) -> bool:
        try:
            await end
        except CcpError:  # ended meanwhile (the old driver's last accepts and cancels)
            return False
        return True

    return sum(await _bounded([ended(end) for end in ends]))


def workloads(tenants: Sequence[Tenant], step: Step, *, nodes: int, seed: int) -> list[list[PlannedCall]]:
    """One Poisson stream at ``step.rate`` dealt round-robin to the tenants, and to the nodes within each."""
    rng = random.Random(seed)
    plans: list[list[PlannedCall]] = [[] for _ in tenants]
    t, i = WARM_UP_S, 0
    while i < step.max_calls:
        t += rng.expovariate(step.rate)
        if t > WARM_UP_S + step.seconds:
            break
        k = i % len(tenants)
        plans[k].append(
            PlannedCall(at_s=t, queue=QUEUE, handle_s=0.0, site=f"n{(i // len(tenants)) % nodes}",
                        caller=f"+1555{i:07d}")
        )
        i += 1
    return plans


class _Driver(Simulation):
    """The simulator, minus its closing read of every call's record (this suite measures, ``history.check`` is
    not run on the recording): at thousands of calls per step that read would cost more than the step."""

    async def _read_final_records(self, timelines: Sequence[CallTimeline] | None = None) -> None:
        if timelines is not None:
            await super()._read_final_records(timelines)


def quantiles_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 (and the count and max) of durations in seconds, in milliseconds."""
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    if len(values) == 1:
        q = [values[0]] * 99
    else:
        q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50_ms": round(q[49] * 1000, 2),
        "p90_ms": round(q[89] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


async def _revision(store: EtcdStore) -> int:
    return (await store.read_prefix("/bench/revision-probe"))[1]


async def play(
    running: harness.Cluster, store: EtcdStore, tenants: Sequence[Tenant], step: Step, *, seed: int = 1,
    node_side: bool = False,
) -> dict:
    """One bounded step against the cluster's nodes; its throughput, latency, CPU and etcd cost."""
    nodes = len(running.nodes)
    addresses = [n.address for n in running.nodes]
    targets = {f"n{k}": addresses[k:] + addresses[:k] for k in range(nodes)}
    await clear_leftovers(store, tenants)
    await make_available(store, tenants)
    plans = workloads(tenants, step, nodes=nodes, seed=seed)
    sims = [
        _Driver(
            plan, t.agents, targets=targets, tokens=t.tokens, time_scale=1.0, drain_timeout_s=step.drain_s,
            security=harness.PLAINTEXT,
        )
        for t, plan in zip(tenants, plans, strict=True)
        if plan
    ]
    planned = sum(len(s.timelines) for s in sims)
    meter = harness.CpuMeter(running.pids())
    counters_before = await asyncio.to_thread(harness.etcd_counters, running.etcd.endpoint)
    revision_before = await _revision(store)
    meter.start()
    window: dict = {}

    async def watch_window() -> None:
        deadline = time.monotonic() + WARM_UP_S + step.seconds + step.drain_s + 5.0
        while time.monotonic() < deadline:
            if all(t.completed_at is not None or t.enqueue_error for s in sims for t in s.timelines):
                break
            await asyncio.sleep(0.05)
        window.update(meter.stop())

    monitor = asyncio.create_task(watch_window())
    try:
        await asyncio.gather(*(s.run() for s in sims))
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
    counters = harness.counters_delta(
        counters_before, await asyncio.to_thread(harness.etcd_counters, running.etcd.endpoint)
    )
    timelines = [(s, t) for s in sims for t in s.timelines]
    wall = [(s.recording.started_wall, t) for s, t in timelines]
    enqueued = [base + t.enqueued_at for base, t in wall if t.enqueued_at is not None and t.call_id]
    completed = [base + t.completed_at for base, t in wall if t.completed_at is not None]
    routed = len(completed)
    span = (max(completed) - min(enqueued)) if completed and enqueued else 0.0
    lag = (max(completed) - max(enqueued)) if completed and enqueued else float("inf")
    offer_waits = [
        t.offered_at - t.enqueued_at for _, t in timelines if t.offered_at is not None and t.enqueued_at is not None
    ]
    replies = [t.acked_at - t.enqueued_at for _, t in timelines if t.acked_at is not None and t.enqueued_at is not None]
    sustained = is_sustained(routed=routed, planned=planned, lag_s=lag, seconds=step.seconds)
    result = {
        "offered_per_s": step.rate,
        "seconds": step.seconds,
        "planned": planned,
        "routed": routed,
        "enqueue_errors": sum(1 for _, t in timelines if t.enqueue_error),
        # How many of each status code (the first error's details as an example): shed, timed out, refused...
        "enqueue_error_kinds": _error_kinds([t.enqueue_error for _, t in timelines if t.enqueue_error]),
        "calls_per_s": round(routed / span, 1) if span > 0 else 0.0,
        "drain_lag_s": round(lag, 3) if lag != float("inf") else None,
        "sustained": sustained,
        "enqueue_to_offer": quantiles_ms(offer_waits),
        # Enqueue sent -> its reply: the node's admission and the call's transaction (with its offer, on arrival).
        "enqueue_reply": quantiles_ms(replies),
        "cpu": window,
        "etcd": counters,
        "etcd_per_call": {name: round(v / routed, 2) for name, v in counters.items()} if routed else {},
    }
    if node_side:
        result["node_enqueue_to_offer"] = quantiles_ms(
            await node_offer_waits(store, tenants, [t for _, t in timelines], since_revision=revision_before)
        )
    return result


def _error_kinds(errors: Sequence[str]) -> dict[str, dict]:
    """``"CODE: details"`` strings grouped by code: ``{code: {"count": n, "example": details}}``."""
    kinds: dict[str, dict] = {}
    for error in errors:
        code, _, details = error.partition(": ")
        kinds.setdefault(code, {"count": 0, "example": details})["count"] += 1
    return kinds


async def node_offer_waits(
    store: EtcdStore, tenants: Sequence[Tenant], timelines: Sequence[CallTimeline], *, since_revision: int,
    timeout_s: float = 15.0,
) -> list[float]:
    """Node clocks: the reservation's ``offered_at`` (replayed from etcd's history) minus the call's ``enqueued_at``.

    ``offered_at`` is when the planner decided the offer, just before its commit;
    ``enqueued_at`` is when the node accepted the Enqueue, before its write.
    """
    wanted = {t.call_id for t in timelines if t.offered_at is not None and t.call_id}
    offered: dict[str, float] = {}
    enqueued: dict[str, float] = {}
    for tenant in tenants:
        for call in await store.history_since(tenant.name, 0):
            if call.id in wanted:
                enqueued[call.id] = call.enqueued_at

    async def replay(tenant: Tenant) -> None:
        async for event in store.watch_prefix(keys.reservations_prefix(tenant.name), start_revision=since_revision + 1):
            if event.kind == "put" and event.value is not None:
                reservation = decode(Reservation, event.value)
                offered.setdefault(reservation.call_id, reservation.offered_at)
            if wanted <= offered.keys():
                return

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(replay(t) for t in tenants))
    return [offered[c] - enqueued[c] for c in wanted if c in offered and c in enqueued]


def is_sustained(*, routed: int, planned: int, lag_s: float, seconds: float) -> bool:
    """Every call routed, the last within ``max(0.5 s, 10 % of the step)`` of the last arrival (module doc)."""
    return routed == planned > 0 and lag_s <= max(0.5, 0.1 * seconds)


async def ramp_rates(step_at: Callable[[float], Awaitable[dict]], rates: Sequence[float], *, refine: int) -> None:
    """Run ``step_at`` at rising ``rates`` until a step is not sustained, then ``refine`` bisections (``ramp``)."""
    low = 0.0
    high = None
    for rate in rates:
        if not (await step_at(rate))["sustained"]:
            high = rate
            break
        low = rate
    for _ in range(refine if high is not None and low > 0 else 0):
        middle = round((low + high) / 2, 1)
        if (await step_at(middle))["sustained"]:
            low = middle
        else:
            high = middle


async def ramp(
    running: harness.Cluster, store: EtcdStore, tenants: Sequence[Tenant], *, rates: Sequence[float],
    seconds: float, max_calls: int, drain_s: float, refine: int = 0, say: Callable[[str], None] = print,
) -> dict:
    """Steps at rising rates until one is not sustained (that one is kept: it shows the saturated capacity),
    then ``refine`` steps bisecting between the last sustained rate and the first that was not.

    The rates rise geometrically (x1.5 in the full plan), so without the bisection a node 40 % faster could
    report the same sustained figure; three bisections narrow the bracket to about 6 %.
    """
    steps = []

    async def step_at(rate: float) -> dict:
        step = Step(rate=rate, seconds=seconds, max_calls=max_calls, drain_s=drain_s)
        steps.append(await play(running, store, tenants, step, seed=100 + len(steps)))
        say(step_line(steps[-1]))
        return steps[-1]

    await ramp_rates(step_at, rates, refine=refine)
    sustained = [s for s in steps if s["sustained"]]
    best = max(sustained, key=lambda s: s["calls_per_s"]) if sustained else None
    peak = max(steps, key=lambda s: s["calls_per_s"])
    return {
        "steps": steps,
        "sustained_calls_per_s": best["calls_per_s"] if best else 0.0,
        "peak_calls_per_s": peak["calls_per_s"],
        # The cost per call of the busiest step (most calls): least noise from fixed per-step writes.
        "busiest": max(steps, key=lambda s: s["routed"]),
    }


def step_line(s: dict) -> str:
    cpu = s["cpu"].get("cpu_s", {})
    wall = s["cpu"].get("wall_s", 0) or 1
    shares = "  ".join(f"{name} {used / wall:.0%}" for name, used in cpu.items())
    per_call = s["etcd_per_call"].get("etcd_server_proposals_committed_total", 0)
    lat = s["enqueue_to_offer"]
    return (
        f"  offered {s['offered_per_s']:>7.1f}/s: routed {s['routed']}/{s['planned']} at {s['calls_per_s']:>7.1f} calls/s"
        f"  {'sustained' if s['sustained'] else 'NOT sustained'} (drain lag {s['drain_lag_s']} s)"
        + "".join(f"  {k['count']} enqueues failed {code} ({k['example']})"
                  for code, k in s.get("enqueue_error_kinds", {}).items())
        + f"  enqueue->offer p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms  etcd writes/call {per_call:.2f}"
        f"  CPU of a core: {shares}"
    )
