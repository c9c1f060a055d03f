"""Resident memory of one node with many waiting calls and logged-in agents, and one dispatch's time at that size.

The calls stay waiting: every agent is logged in on break, so the router reads
and plans over the whole view on every dispatch and offers nothing. Agents and
calls are written straight into etcd through the store (agents as records, calls
with ``EtcdStore.enqueue``), the tenant's config last, so the node starts routing
the tenant only once it is all there. RSS is VmRSS of the node process: at idle
(no tenant), then sampled over several dispatch intervals after the node has
read the full view (its ``ccp_queue_waiting`` gauge shows every call), the
largest sample reported.

One dispatch (a full live read and a plan) is timed in this process on the same
data (``store.load_live`` + ``domain.routing.plan``): the node exports no
dispatch-duration metric.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from ccp_acd.domain.models import Agent, Call, Channel, Presence, QueueConfig
from ccp_acd.domain.routing import plan as plan_routes
from ccp_acd.embedded.processes import free_port
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig

from bench import harness, load

TENANT = "bench-mem"
TARGET_MB = 300.0


@dataclass(frozen=True)
class Plan:
    calls: int
    agents: int
    samples: int          # RSS samples after the view is loaded, one per second
    dispatch_timings: int  # in-process load_live + plan repetitions


FULL = Plan(calls=10_000, agents=1_000, samples=10, dispatch_timings=5)
QUICK = Plan(calls=300, agents=30, samples=2, dispatch_timings=2)


async def _seed(store: EtcdStore, plan: Plan) -> None:
    now = time.time()
    await store.put_queue_config(TENANT, QueueConfig(load.QUEUE))
    agents = [
        Agent(id=f"a{i:04d}", capacity={Channel.VOICE: 1}, site=harness.SITE, presence=Presence.BREAK,
              presence_since=now, idle_since=now)
        for i in range(plan.agents)
    ]
    await load._bounded([store.put_record(keys.agent(TENANT, a.id), a) for a in agents], limit=64)
    calls = [
        Call(id=f"{time.time_ns():020d}-m{i:05d}", queue=load.QUEUE, site=harness.SITE, enqueued_at=now + i * 1e-4,
             queued_since=now + i * 1e-4, request_id=f"mem-{i}")
        for i in range(plan.calls)
    ]
    await load._bounded([store.enqueue(TENANT, c) for c in calls], limit=64)
    await store.put_tenant_config(TenantConfig(name=TENANT, home_site=harness.SITE))


def _waiting(metrics: str) -> float:
    """The node's ccp_queue_waiting for the benchmark's tenant (0 when not reported yet)."""
    url = f"http://{metrics}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("ccp_queue_waiting") and f'tenant="{TENANT}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _wait_loaded(metrics: str, calls: int, *, timeout_s: float) -> float:
    """Seconds until the node's gauge shows every call waiting (bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if await asyncio.to_thread(_waiting, metrics) >= calls:
                return time.monotonic() - started
        except OSError:
            pass  # the metrics endpoint may not listen yet
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the node did not report {calls} waiting calls within {timeout_s:g}s")


async def _time_dispatch(store: EtcdStore, repeats: int) -> dict:
    queues = await store.get_queue_configs(TENANT)
    reads, plans = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        view = await store.load_live(TENANT)
        read = time.perf_counter()
        plan_routes(view, queues, site=harness.SITE, now=time.time())
        plans.append(time.perf_counter() - read)
        reads.append(read - started)
    return {
        "load_live_ms": round(min(reads) * 1000, 1),
        "plan_ms": round(min(plans) * 1000, 1),
        "dispatch_ms": round(min(r + p for r, p in zip(reads, plans, strict=True)) * 1000, 1),
        "repeats": repeats,
    }


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    say(f"memory: one node, {plan.calls} waiting calls, {plan.agents} agents on break")
    with harness.cluster("ccp-bench-memory-") as running:
        metrics = f"127.0.0.1:{free_port()}"
        (node,) = running.start_nodes(1, env={"CCP_METRICS_LISTEN": metrics, "CCP_TENANTS": TENANT})
        await asyncio.sleep(2.0)
        idle_mb = harness.rss_mb(node.pid)
        store = await EtcdStore.connect(running.etcd.endpoint, timeout_s=30)
        try:
            started = time.monotonic()
            await _seed(store, plan)
            seeded_s = time.monotonic() - started
            say(f"  idle RSS {idle_mb:.1f} MiB; seeded in {seeded_s:.1f} s")
            loaded_after_s = await _wait_loaded(metrics, plan.calls, timeout_s=120 + plan.calls / 100)
            meter = harness.CpuMeter({"node": node.pid})
            meter.start()
            samples = []
            for _ in range(plan.samples):
                await asyncio.sleep(1.0)
                samples.append(harness.rss_mb(node.pid))
            cpu = meter.stop()
            dispatch = await _time_dispatch(store, plan.dispatch_timings)
        finally:
            await store.close()
    loaded_mb = max(samples)
    busy = cpu["cpu_s"]["node"] / cpu["wall_s"] if cpu["wall_s"] else 0.0
    say(
        f"memory: RSS {loaded_mb:.1f} MiB with {plan.calls} calls and {plan.agents} agents (idle {idle_mb:.1f} MiB); "
        f"target <= {TARGET_MB:g} MB: {loaded_mb * 1.048576 / TARGET_MB:.2f} of it. "
        f"One dispatch: {dispatch['dispatch_ms']} ms "
        f"(read {dispatch['load_live_ms']} ms + plan {dispatch['plan_ms']} ms); the node was busy {busy:.0%} of a core "
        f"while idle-routing this view"
    )
    return {
        "calls": plan.calls,
        "agents": plan.agents,
        "idle_rss_mb": round(idle_mb, 1),
        "rss_mb": round(loaded_mb, 1),
        "rss_samples_mb": [round(s, 1) for s in samples],
        "seed_s": round(seeded_s, 1),
        "view_loaded_after_s": round(loaded_after_s, 1),
        "node_cpu_share_while_waiting": round(busy, 2),
        "dispatch": dispatch,
        "target_mb": TARGET_MB,
    }
