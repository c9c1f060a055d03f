"""Calls routed end to end per second at one site, ramped to the sustained maximum (``bench.load``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ccp_acd.state.etcd import EtcdStore

from bench import harness, load, reference


@dataclass(frozen=True)
class Plan:
    nodes: int
    tenants: int
    agents_per_tenant: int
    rates: tuple[float, ...]   # offered calls/s per step, rising; the ramp stops after the first step not sustained
    seconds: float             # arrival window per step
    max_calls: int             # per step
    drain_s: float             # per step, after the last arrival
    refine: int = 0            # steps bisecting between the last sustained rate and the first not sustained


def _geometric(start: float, factor: float, steps: int) -> tuple[float, ...]:
    return tuple(round(start * factor**i, 1) for i in range(steps))


FULL = Plan(nodes=1, tenants=1, agents_per_tenant=40, rates=_geometric(25, 1.5, 12), seconds=10.0, max_calls=25_000,
            drain_s=10.0, refine=3)
QUICK = Plan(nodes=1, tenants=1, agents_per_tenant=4, rates=(10.0, 30.0), seconds=1.5, max_calls=60, drain_s=3.0)


async def measure(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    """Start etcd and ``plan.nodes`` nodes, seed the tenants, run the ramp; everything stopped after."""
    with harness.cluster("ccp-bench-routing-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint)
        try:
            tenants = await load.seed_tenants(
                store, tenants=plan.tenants, agents_per_tenant=plan.agents_per_tenant, nodes=plan.nodes
            )
            running.start_nodes(plan.nodes)
            found = await load.ramp(
                running, store, tenants, rates=plan.rates, seconds=plan.seconds, max_calls=plan.max_calls,
                drain_s=plan.drain_s, refine=plan.refine, say=say,
            )
        finally:
            await store.close()
    return found


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    ref = await reference.raw_etcd_limit(say=say)
    say(f"routing: {plan.nodes} node(s), {plan.tenants} tenant(s) x {plan.agents_per_tenant} agents, "
        f"steps of {plan.seconds:g} s at {', '.join(f'{r:g}' for r in plan.rates)} calls/s")
    found = await measure(plan, say=say)
    busiest = found["busiest"]
    writes = busiest["etcd_per_call"].get("etcd_server_proposals_committed_total", 0.0)
    best = found["sustained_calls_per_s"]
    figures = {
        "plan": plan.__dict__ | {"rates": list(plan.rates)},
        **found,
        "etcd_writes_per_call": writes,
        "etcd_fsyncs_per_call": busiest["etcd_per_call"].get("etcd_disk_wal_fsync_duration_seconds_count", 0.0),
        "etcd_ranges_per_call": busiest["etcd_per_call"].get("etcd_mvcc_range_total", 0.0),
        "reference": ref,
        **reference.ratios(best, writes, ref["raw_txn_per_s"]),
    }
    say(
        f"routing: sustained {best:.1f} calls/s (peak {found['peak_calls_per_s']:.1f}); {writes:.2f} etcd writes "
        f"per call; raw etcd limit {ref['raw_txn_per_s']:.0f} txn/s -> calls/raw txn = {figures['calls_vs_raw']:.3f}, "
        f"writes/raw txn = {figures['writes_vs_raw']:.3f}"
    )
    return figures
