"""How cost grows with work: routing throughput and latency with 1, 2, 4 nodes per site and 1, 10, 100 tenants.

Each configuration gets a fresh etcd and fresh nodes, a short ramp, doubling then bisecting twice (its sustained
maximum and peak) and one step at a fixed moderate rate (its latency), so the
rows compare like with like. Load is spread evenly: calls round-robin over the
tenants, and each tenant's calls and agents round-robin over the nodes (every
node takes Enqueue, Accept and Complete; a queue is planned by its owner node).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ccp_acd.state.etcd import EtcdStore

from bench import harness, load, reference


@dataclass(frozen=True)
class Plan:
    nodes: tuple[int, ...]         # with one tenant
    tenants: tuple[int, ...]       # with one node
    agents: int                    # in total, split over the tenants (at least one each)
    rates: tuple[float, ...]       # the ramp
    seconds: float
    max_calls: int
    drain_s: float
    fixed_rate: float              # the latency step's rate, the same in every row
    refine: int = 0                # ramp steps bisecting the bracket of the sustained maximum (bench.load.ramp)


FULL = Plan(nodes=(1, 2, 4), tenants=(1, 10, 100), agents=200, rates=(50, 100, 200, 400, 800, 1600), seconds=8.0,
            max_calls=15_000, drain_s=8.0, fixed_rate=50.0, refine=2)
QUICK = Plan(nodes=(1, 2), tenants=(1, 10), agents=10, rates=(10.0,), seconds=1.0, max_calls=30, drain_s=3.0,
             fixed_rate=10.0)


async def _row(plan: Plan, *, nodes: int, tenants: int, rate: float, say: Callable[[str], None]) -> dict:
    with harness.cluster("ccp-bench-scaling-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint)
        try:
            seeded = await load.seed_tenants(
                store, tenants=tenants, agents_per_tenant=max(1, plan.agents // tenants), nodes=nodes
            )
            running.start_nodes(nodes)
            found = await load.ramp(
                running, store, seeded, rates=plan.rates, seconds=plan.seconds, max_calls=plan.max_calls,
                drain_s=plan.drain_s, refine=plan.refine, say=say,
            )
            fixed = await load.play(
                running, store, seeded,
                load.Step(rate=rate, seconds=plan.seconds, max_calls=plan.max_calls, drain_s=plan.drain_s), seed=9,
            )
            say(load.step_line(fixed))
        finally:
            await store.close()
    busiest = found["busiest"]
    cpu = busiest["cpu"]
    routed = busiest["routed"] or 1
    return {
        "nodes": nodes,
        "tenants": tenants,
        "agents_per_tenant": max(1, plan.agents // tenants),
        "sustained_calls_per_s": found["sustained_calls_per_s"],
        "peak_calls_per_s": found["peak_calls_per_s"],
        "etcd_writes_per_call": busiest["etcd_per_call"].get("etcd_server_proposals_committed_total", 0.0),
        "etcd_ranges_per_call": busiest["etcd_per_call"].get("etcd_mvcc_range_total", 0.0),
        # CPU milliseconds per routed call, by process kind, at the busiest step: the cost of one call.
        "cpu_ms_per_call": {
            "nodes": round(sum(v for k, v in cpu["cpu_s"].items() if k.startswith("node")) * 1000 / routed, 2),
            "etcd": round(cpu["cpu_s"].get("etcd", 0.0) * 1000 / routed, 2),
            "driver": round(cpu["cpu_s"].get("driver", 0.0) * 1000 / routed, 2),
        },
        "fixed_rate": rate,
        "fixed_sustained": fixed["sustained"],
        "fixed_enqueue_to_offer": fixed["enqueue_to_offer"],
        "steps": found["steps"],
    }


async def run(plan: Plan, *, rate: float | None = None, say: Callable[[str], None] = print) -> dict:
    ref = await reference.raw_etcd_limit(say=say)
    at = rate if rate is not None else plan.fixed_rate
    configurations = [(n, 1) for n in plan.nodes] + [(1, t) for t in plan.tenants if t != 1 or 1 not in plan.nodes]
    rows = []
    for nodes, tenants in configurations:
        say(f"scaling: {nodes} node(s), {tenants} tenant(s)")
        rows.append(await _row(plan, nodes=nodes, tenants=tenants, rate=at, say=say))
        r = rows[-1]
        say(
            f"  -> sustained {r['sustained_calls_per_s']:.1f} calls/s (peak {r['peak_calls_per_s']:.1f}, "
            f"{r['peak_calls_per_s'] / ref['raw_txn_per_s']:.3f} of raw etcd txn/s); at {at:g}/s enqueue->offer p99 "
            f"{r['fixed_enqueue_to_offer']['p99_ms']} ms; CPU ms/call {r['cpu_ms_per_call']}"
        )
    return {"rows": rows, "fixed_rate": at, "reference": ref}
