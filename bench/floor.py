"""The gRPC floor: calls/s and CPU per call of the four RPCs of a routed call, with a server that does nothing.

A routed call is four gRPC messages between the agents' and callers' clients
and a node: Enqueue, the offer on the agent's StreamOffers, AcceptOffer and
Complete. Here they go to ``bench.floor_server`` (its own process; no etcd, no
state, no auth, no interceptors) from a minimal driver in this process: open-loop
arrivals at a fixed rate, each offer accepted and completed at once by the
agent's stream that got it. Steps and the sustained test are ``bench routing``'s
(``load.ramp_rates``, ``load.is_sustained``), as is the CPU meter.

What this measures is the platform's floor on this machine: no node written in
Python with grpcio can route faster than its server, and no client faster than
its driver. With the routing benchmark's figures beside it, it splits the
node's CPU per call into what gRPC costs and what routing (state in etcd) adds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import psutil
from ccp_acd.embedded.processes import free_port
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc

from bench import harness, load, results

AGENTS = 40


@dataclass(frozen=True)
class Plan:
    rates: tuple[float, ...]
    seconds: float
    max_calls: int
    drain_s: float
    refine: int


FULL = Plan(rates=(200.0, 400.0, 800.0, 1600.0, 3200.0), seconds=8.0, max_calls=30_000, drain_s=5.0, refine=3)
QUICK = Plan(rates=(50.0, 100.0), seconds=1.0, max_calls=200, drain_s=2.0, refine=0)


class Driver:
    """Agents on their StreamOffers, each offer accepted then completed; callers that Enqueue on a schedule."""

    def __init__(self, channel: grpc.aio.Channel):
        self._agents = agent_pb2_grpc.AgentServiceStub(channel)
        self._callers = interaction_pb2_grpc.InteractionServiceStub(channel)
        self.enqueued: dict[str, float] = {}
        self.offered: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self._streams: list[asyncio.Task] = []
        self._handlers: set[asyncio.Task] = set()

    async def open(self, agents: int) -> None:
        self._streams = [asyncio.create_task(self._agent(f"a{i}")) for i in range(agents)]
        await asyncio.sleep(0.5)  # the streams are open before the first call

    async def close(self) -> None:
        for task in (*self._streams, *self._handlers):
            task.cancel()
        await asyncio.gather(*self._streams, *self._handlers, return_exceptions=True)

    async def _agent(self, agent_id: str) -> None:
        async for event in self._agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent_id)):
            key = event.offer.interaction.caller.address
            self.offered[key] = time.perf_counter()
            task = asyncio.create_task(self._handle(agent_id, event.offer.interaction.id, key))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _handle(self, agent_id: str, interaction_id: str, key: str) -> None:
        await self._agents.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id=agent_id, interaction_id=interaction_id))
        await self._agents.Complete(agent_pb2.CompleteRequest(agent_id=agent_id, interaction_id=interaction_id))
        self.completed[key] = time.perf_counter()

    async def _call(self, key: str) -> None:
        self.enqueued[key] = time.perf_counter()
        await self._callers.Enqueue(interaction_pb2.EnqueueRequest(queue="q", caller=common_pb2.Caller(address=key)))

    async def step(self, rate: float, *, seconds: float, max_calls: int, drain_s: float, tag: str) -> int:
        """Open-loop arrivals at ``rate``; returns the calls planned once all completed or the drain ran out."""
        planned = min(max_calls, round(rate * seconds))
        start = time.perf_counter()
        calls = []
        for n in range(planned):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.create_task(self._call(f"{tag}-{n}")))
        await asyncio.gather(*calls, return_exceptions=True)
        deadline = time.perf_counter() + drain_s
        while time.perf_counter() < deadline and sum(1 for k in self.completed if k.startswith(f"{tag}-")) < planned:
            await asyncio.sleep(0.02)
        return planned


def _step_result(driver: Driver, tag: str, rate: float, plan: Plan, planned: int, cpu: dict) -> dict:
    mine = f"{tag}-"
    enqueued = {k: t for k, t in driver.enqueued.items() if k.startswith(mine)}
    completed = [t for k, t in driver.completed.items() if k.startswith(mine)]
    waits = [driver.offered[k] - t for k, t in enqueued.items() if k in driver.offered]
    routed = len(completed)
    span = max(completed) - min(enqueued.values()) if completed and enqueued else 0.0
    lag = max(completed) - max(enqueued.values()) if completed and enqueued else float("inf")
    per_call = {name: round(used / routed * 1000, 3) for name, used in cpu["cpu_s"].items()} if routed else {}
    return {
        "offered_per_s": rate, "planned": planned, "routed": routed,
        "calls_per_s": round(routed / span, 1) if span > 0 else 0.0,
        "drain_lag_s": round(lag, 3) if lag != float("inf") else None,
        "sustained": load.is_sustained(routed=routed, planned=planned, lag_s=lag, seconds=plan.seconds),
        "enqueue_to_offer": load.quantiles_ms(waits), "cpu": cpu, "cpu_ms_per_call": per_call,
    }


def _line(s: dict) -> str:
    shares = "  ".join(f"{name} {used / (s['cpu']['wall_s'] or 1):.0%}" for name, used in s["cpu"]["cpu_s"].items())
    per_call = "  ".join(f"{name} {ms} ms" for name, ms in s["cpu_ms_per_call"].items())
    return (f"  offered {s['offered_per_s']:>7.1f}/s: {s['routed']}/{s['planned']} at {s['calls_per_s']:>7.1f} calls/s  "
            f"{'sustained' if s['sustained'] else 'NOT sustained'}  enqueue->offer p50 "
            f"{s['enqueue_to_offer']['p50_ms']} ms p99 {s['enqueue_to_offer']['p99_ms']} ms  CPU of a core: {shares}  "
            f"CPU per call: {per_call}")


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    say(f"floor: the four RPCs of a call against a server that does nothing, {AGENTS} agent streams")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.floor_server", str(port)], cwd=results.ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "serving":
            raise RuntimeError("bench.floor_server did not start")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            driver = Driver(channel)
            await driver.open(AGENTS)
            steps = []

            async def step_at(rate: float) -> dict:
                tag = f"s{len(steps)}"
                meter = harness.CpuMeter({"server": server.pid, "driver": psutil.Process().pid})
                meter.start()
                planned = await driver.step(rate, seconds=plan.seconds, max_calls=plan.max_calls,
                                            drain_s=plan.drain_s, tag=tag)
                steps.append(_step_result(driver, tag, rate, plan, planned, meter.stop()))
                say(_line(steps[-1]))
                return steps[-1]

            await load.ramp_rates(step_at, plan.rates, refine=plan.refine)
            await driver.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    sustained = [s for s in steps if s["sustained"]]
    best = max(sustained, key=lambda s: s["calls_per_s"]) if sustained else None
    busiest = max(steps, key=lambda s: s["routed"])
    say(f"floor: {best['calls_per_s'] if best else 0.0:g} calls/s sustained; at the busiest step the server used "
        f"{busiest['cpu_ms_per_call'].get('server', 0)} ms and the driver {busiest['cpu_ms_per_call'].get('driver', 0)}"
        " ms of CPU per call")
    return {"steps": steps, "sustained_calls_per_s": best["calls_per_s"] if best else 0.0, "busiest": busiest,
            "agents": AGENTS}
