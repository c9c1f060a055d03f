"""Routing quality against queueing theory, on a real node process and a real etcd (was tests/quality).

The textbook case: Poisson arrivals, 100 calls per 30 min, exponential handle
times with mean 180 s, 14 agents, FIFO, T = 20 s. Erlang C (pyworkforce) says
P(wait) = 0.1741 and SL = P(W <= 20 s) = 0.8884.

Time is scaled: one model second is 1/scale real second, so a call lasts
180/scale s on the wire. Arrival and handle times are drawn up front; callers
enqueue over gRPC at their arrival time, fourteen agents accept offers from
their offer streams and hold each call for its drawn handle time.

Two comparisons, both on waits measured from the node's own call records:

1. Same sample path: the exact FIFO replay (``domain.queueing.fifo_waits``) of
   the very arrivals the node saw and the drawn handle times gives the waits an
   ideal, zero-latency FIFO ACD would produce. The node should match it closely;
   this is where any unfairness or lost capacity in routing shows.
2. Theory: the measured share waiting and service level should lie within the
   statistical spread of a run this short around Erlang C's figures; the spread
   is that of the same estimators over many replayed paths.

A caller counts as "waiting" when the wait exceeds ``RING_S`` model seconds: the
node's own dispatch (watch, offer, accept) takes milliseconds of real time,
a second or so of model time at 100x, which a phone would spend ringing. That
is why this is a benchmark and not a test: on a busy machine the dispatch
stretches and the agreement with theory with it.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Channel, QueueConfig, Strategy
from ccp_acd.domain.queueing import fifo_waits, service_level, share_waiting
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig
from ccp_acd.tls import open_channel
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc
from pyworkforce.queuing import ErlangC

from bench import harness

TENANT = "bench-erlang"
RATE_PER_S = 100 / 1800
AHT_S = 180.0
AGENTS = 14
THRESHOLD_S = 20.0
RING_S = 5.0          # model seconds of dispatch counted as ringing, not waiting
SEED = 1724


@dataclass(frozen=True)
class Plan:
    calls: int
    warm_up: int      # calls discarded before comparing with steady-state theory
    scale: float      # model seconds per real second
    band_paths: int   # replayed paths for the spread of the estimators


FULL = Plan(calls=600, warm_up=30, scale=100.0, band_paths=200)
QUICK = Plan(calls=40, warm_up=5, scale=200.0, band_paths=20)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def workload(rng: random.Random, n: int) -> tuple[list[float], list[float]]:
    arrivals, t = [], 0.0
    for _ in range(n):
        t += rng.expovariate(RATE_PER_S)
        arrivals.append(t)
    return arrivals, [rng.expovariate(1 / AHT_S) for _ in range(n)]


async def _agent(address: str, agent_id: str, token: str, *, scale: float) -> None:
    """Take every offer at once, hold it for the caller's drawn handle time, complete; until cancelled."""
    auth = _bearer(token)
    async with open_channel(address, harness.PLAINTEXT) as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        await agents.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=auth)
        stream = agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent_id), metadata=auth)
        await agents.SetState(
            agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE), metadata=auth
        )
        try:
            async for event in stream:
                if not event.HasField("offer"):
                    continue
                call = event.offer.interaction
                await agents.AcceptOffer(
                    agent_pb2.AcceptOfferRequest(agent_id=agent_id, interaction_id=call.id), metadata=auth
                )
                await asyncio.sleep(float(call.caller.data["handle_s"]) / scale)
                await agents.Complete(agent_pb2.CompleteRequest(agent_id=agent_id, interaction_id=call.id), metadata=auth)
        finally:
            stream.cancel()


async def _callers(address: str, token: str, arrivals: list[float], handles: list[float], *, scale: float) -> None:
    auth = _bearer(token)
    async with open_channel(address, harness.PLAINTEXT) as channel:
        calls = interaction_pb2_grpc.InteractionServiceStub(channel)
        started = time.monotonic()
        pending = []
        for seq, (at, handle) in enumerate(zip(arrivals, handles, strict=True)):
            await asyncio.sleep(max(0.0, started + at / scale - time.monotonic()))
            request = interaction_pb2.EnqueueRequest(
                queue="q",
                channel=common_pb2.CHANNEL_VOICE,
                caller=common_pb2.Caller(address=f"+1555{seq:07d}", data={"seq": str(seq), "handle_s": f"{handle:.6f}"}),
                request_id=f"erlang-{seq}",
            )
            pending.append(asyncio.ensure_future(calls.Enqueue(request, metadata=auth, timeout=30)))
        await asyncio.gather(*pending)


def theory_band(plan: Plan) -> dict[str, float]:
    """Standard deviation of each estimator over independent replayed paths of ``plan.calls`` calls."""
    rng = random.Random(SEED + 1)
    shares, levels = [], []
    for _ in range(plan.band_paths):
        arrivals, handles = workload(rng, plan.calls)
        waits = fifo_waits(arrivals, handles, AGENTS)[plan.warm_up:]
        shares.append(share_waiting(waits, longer_than_s=RING_S))
        levels.append(service_level(waits, threshold_s=THRESHOLD_S))
    return {"share": statistics.stdev(shares), "sl": statistics.stdev(levels)}


async def _play(store: EtcdStore, address: str, plan: Plan) -> list:
    agent_ids = [f"a{i:02d}" for i in range(AGENTS)]
    tokens = [await issue_token(store, tenant=TENANT, role="agent", agent_id=a) for a in agent_ids]
    tasks = [asyncio.create_task(_agent(address, a, t, scale=plan.scale)) for a, t in zip(agent_ids, tokens, strict=True)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            view = await store.load_live(TENANT)
            if sum(1 for a in view.agents.values() if a.ready(time.time())) == AGENTS:
                break
            await asyncio.sleep(0.05)
        arrivals, handles = workload(random.Random(SEED), plan.calls)
        interaction = await issue_token(store, tenant=TENANT, role="interaction")
        await _callers(address, interaction, arrivals, handles, scale=plan.scale)
        deadline = time.monotonic() + AHT_S * 20 / plan.scale + 60  # the last call's wait and talk, generously
        records = []
        while time.monotonic() < deadline:
            records = await store.history_since(TENANT, 0)
            if len(records) >= plan.calls:
                break
            await asyncio.sleep(0.5)
        return records
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    say(f"quality: {plan.calls} Poisson calls, {AGENTS} agents, AHT {AHT_S:g} s, at {plan.scale:g}x")
    with harness.cluster("ccp-bench-quality-") as running:
        store = await EtcdStore.connect(running.etcd.endpoint)
        try:
            await store.put_queue_config(TENANT, QueueConfig("q", strategy=Strategy.LONGEST_IDLE,
                                                             sl_threshold_s=THRESHOLD_S, wrap_up_s=0, offer_timeout_s=60))
            for i in range(AGENTS):
                await store.create_agent(TENANT, f"a{i:02d}", AgentProfile(site=harness.SITE,
                                                                           capacity={Channel.VOICE: 1}), now=time.time())
            await store.put_tenant_config(TenantConfig(name=TENANT, home_site=harness.SITE))
            (node,) = running.start_nodes(1)
            records = await _play(store, node.address, plan)
        finally:
            await store.close()
    return figures(records, plan, say=say)


def figures(records: list, plan: Plan, *, say: Callable[[str], None] = print) -> dict:
    """The comparison of the node's waits with the FIFO replay and with Erlang C (pure)."""
    _, handles = workload(random.Random(SEED), plan.calls)
    by_seq = sorted(records, key=lambda c: int(c.caller.data["seq"]))
    completed = [c for c in by_seq if c.state.value == "completed" and c.answered_at is not None]
    first = by_seq[0].enqueued_at
    seen = [(c.enqueued_at - first) * plan.scale for c in completed]
    order = sorted(range(len(completed)), key=lambda i: seen[i])
    measured = [(completed[i].answered_at - completed[i].enqueued_at) * plan.scale for i in order][plan.warm_up:]
    seqs = [int(completed[i].caller.data["seq"]) for i in order]
    replay = fifo_waits([seen[i] for i in order], [handles[s] for s in seqs], AGENTS)[plan.warm_up:]
    reference = ErlangC(transactions=100, aht=AHT_S / 60, asa=THRESHOLD_S / 60, interval=30)
    p_wait = reference.waiting_probability(AGENTS)
    decay = AGENTS / AHT_S - RATE_PER_S  # P(W > t) = P(wait) * exp(-(c*mu - lambda) * t)
    theory = {"share": p_wait * math.exp(-decay * RING_S), "sl": reference.service_level(AGENTS)}
    node = {"share": share_waiting(measured, longer_than_s=RING_S), "sl": service_level(measured, threshold_s=THRESHOLD_S)}
    ideal = {"share": share_waiting(replay, longer_than_s=RING_S), "sl": service_level(replay, threshold_s=THRESHOLD_S)}
    band = theory_band(plan)
    ring = sorted(w for w in measured if w <= RING_S)
    asa, asa_replay = statistics.fmean(measured), statistics.fmean(replay)
    checks = {
        # 1. Same path: routing adds no more than a small, latency-sized amount of waiting.
        "share_vs_replay": abs(node["share"] - ideal["share"]) <= 0.05,
        "sl_vs_replay": abs(node["sl"] - ideal["sl"]) <= 0.04,
        "asa_vs_replay": abs(asa - asa_replay) <= 4.0,
        # 2. Theory: within 3.5 standard deviations of a run this long.
        "share_vs_erlang_c": abs(node["share"] - theory["share"]) <= max(3.5 * band["share"], 0.02),
        "sl_vs_erlang_c": abs(node["sl"] - theory["sl"]) <= max(3.5 * band["sl"], 0.02),
    }
    say(
        f"Erlang C  P(W>{RING_S:g}s)={theory['share']:.3f} (P(wait)={p_wait:.4f})  SL={theory['sl']:.4f}\n"
        f"replay    P(W>{RING_S:g}s)={ideal['share']:.3f}  SL={ideal['sl']:.4f}  ASA={asa_replay:.1f}s\n"
        f"node      P(W>{RING_S:g}s)={node['share']:.3f}  SL={node['sl']:.4f}  ASA={asa:.1f}s\n"
        f"sd of a {plan.calls}-call run: share {band['share']:.3f}, SL {band['sl']:.3f}; dispatch (ring) median "
        f"{ring[len(ring) // 2] if ring else 0:.2f} model s; agreement: "
        + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items())
    )
    return {
        "calls": plan.calls,
        "completed": len(completed),
        "scale": plan.scale,
        "erlang_c": {"share_over_ring": round(theory["share"], 4), "p_wait": round(p_wait, 4), "sl": round(theory["sl"], 4)},
        "replay": {"share_over_ring": round(ideal["share"], 4), "sl": round(ideal["sl"], 4), "asa_s": round(asa_replay, 2)},
        "node": {"share_over_ring": round(node["share"], 4), "sl": round(node["sl"], 4), "asa_s": round(asa, 2)},
        "band": {k: round(v, 4) for k, v in band.items()},
        "ring_median_model_s": round(ring[len(ring) // 2], 3) if ring else 0.0,
        "checks": checks,
    }
