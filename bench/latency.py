"""Enqueue -> offer latency at half the measured maximum routing rate (or a given rate).

Client side: from the moment the caller sends Enqueue to the moment the offer
arrives on the agent's StreamOffers stream (both in this process, one clock).
Node side: the call record's ``enqueued_at`` to the reservation's ``offered_at``,
both written by the node, read back from etcd (the reservation is replayed from
etcd's history, since accepting an offer deletes it). With offer on arrival both
are taken before the call's one transaction, so the node's clock shows planning
only; the client's clock is the one the target is about.

The step runs ``Plan.runs`` times on the same cluster: on a shared machine one
run's p99 swings by an order of magnitude (a stalled fsync or a busy neighbour).
Each run is reported with etcd's slow WAL fsyncs, the transactions etcd itself
was slow to handle, and the node's event loop lag (``ccp_event_loop_lag_seconds``:
the node serves metrics here, as in production) in its window; the verdict is
on the median run's p99.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ccp_acd.state.etcd import EtcdStore

from bench import harness, load, results, routing

TARGET_P99_MS = 10.0


@dataclass(frozen=True)
class Plan:
    agents: int
    seconds: float
    max_calls: int
    drain_s: float
    default_rate: float   # when neither --rate nor a routing result gives one
    routing: routing.Plan  # the ramp run to find the maximum when no routing result exists
    runs: int = 3


FULL = Plan(agents=40, seconds=20.0, max_calls=40_000, drain_s=10.0, default_rate=50.0, routing=routing.FULL)
QUICK = Plan(agents=4, seconds=2.0, max_calls=100, drain_s=3.0, default_rate=10.0, routing=routing.QUICK, runs=1)


async def half_load(plan: Plan, rate: float | None, *, say: Callable[[str], None]) -> tuple[float, str]:
    """The rate to measure at and where it came from."""
    if rate is not None:
        return rate, "given (--rate)"
    found = results.read("routing")
    if found is None:
        say("no bench/results/routing.json: ramping routing first to find the maximum")
        maximum = (await routing.measure(plan.routing, say=say))["sustained_calls_per_s"]
        source = "half the maximum measured in this run"
    else:
        maximum = found["figures"]["sustained_calls_per_s"]
        source = f"half the sustained maximum of bench/results/routing.json ({found['date']})"
    if maximum <= 0:
        return plan.default_rate, "default (no sustained maximum measured)"
    return round(maximum / 2, 1), source


async def run(plan: Plan, *, rate: float | None = None, say: Callable[[str], None] = print) -> dict:
    at, source = await half_load(plan, rate, say=say)
    say(f"latency: {at:g} calls/s ({source}) for {plan.seconds:g} s, {plan.agents} agents, {plan.runs} run(s)")
    runs = []
    with harness.cluster("ccp-bench-latency-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint)
        try:
            tenants = await load.seed_tenants(store, tenants=1, agents_per_tenant=plan.agents, nodes=1)
            (node,) = running.start_nodes(1, metrics=True)
            scrape = running.metrics_addresses[node.name]
            step = load.Step(rate=at, seconds=plan.seconds, max_calls=plan.max_calls, drain_s=plan.drain_s)
            for k in range(plan.runs):
                lag_before = await asyncio.to_thread(harness.loop_lag_counts, scrape)
                found = await load.play(running, store, tenants, step, seed=7 + k, node_side=True)
                lag = harness.slow_lags(lag_before, await asyncio.to_thread(harness.loop_lag_counts, scrape))
                say(load.step_line(found))
                one = {"step": found, "client": found["enqueue_to_offer"], "node": found["node_enqueue_to_offer"],
                       "enqueue_reply": found["enqueue_reply"], "fsyncs": harness.slow_fsyncs(found["etcd"]),
                       "txns": harness.slow_txns(found["etcd"]), "loop_lag": lag}
                say(_run_line(k + 1, one))
                runs.append(one)
        finally:
            await store.close()
    median = sorted(runs, key=lambda r: r["client"]["p99_ms"])[len(runs) // 2]
    client = median["client"]
    say(f"latency: median run's p99 {client['p99_ms']} ms at the client; target p99 <= {TARGET_P99_MS:g} ms: "
        f"p99/target = {client['p99_ms'] / TARGET_P99_MS:.2f}")
    return {"rate": at, "rate_source": source, "runs": runs, "step": median["step"], "client": client,
            "node": median["node"], "target_p99_ms": TARGET_P99_MS}


def _run_line(k: int, one: dict) -> str:
    client, node, reply, fsyncs = one["client"], one["node"], one["enqueue_reply"], one["fsyncs"]
    return (
        f"latency run {k}: enqueue->offer p50/p90/p99 {client['p50_ms']}/{client['p90_ms']}/{client['p99_ms']} ms "
        f"at the client, {node['p50_ms']}/{node['p99_ms']} ms (p50/p99) on the node's clock; Enqueue reply "
        f"p50/p99 {reply['p50_ms']}/{reply['p99_ms']} ms; {fsyncs['fsyncs']} WAL fsyncs, over 8/32/128 ms: "
        f"{fsyncs['over_8_ms']}/{fsyncs['over_32_ms']}/{fsyncs['over_128_ms']}"
        + (f"; etcd handled {txns['txns']} Txn, over 5/10/25 ms: {txns['over_5_ms']}/{txns['over_10_ms']}/"
           f"{txns['over_25_ms']}" if (txns := one.get("txns")) else "")
        + (f"; node loop lag samples {lag['samples']}, over 5/10/25 ms: {lag['over_5_ms']}/{lag['over_10_ms']}/"
           f"{lag['over_25_ms']}" if (lag := one.get("loop_lag")) else "")
    )
