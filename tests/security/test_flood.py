"""The flood test (issue 8, overload protection): one tenant floods Enqueue against one real node while its
neighbour's steady traffic keeps being routed and answered.

One node process (its own core, as in production; the clients run here), two tenants:

- B, the neighbour: a steady load of ``B_RATE`` calls/s answered by simulated agents (``ccp_acd.sim``), played
  twice: a baseline without the flood, then the same load during the flood;
- A, the flooder: limits in its Tenant config (``A_LIMITS``); a few calls enqueued before the flood, then
  ``FLOOD_WORKERS`` clients sending Enqueue back to back for as long as B's second run lasts (bounded by count
  and time).

Asserted: A is refused RESOURCE_EXHAUSTED for most of the flood and never answered anything but OK or that;
every call of B is taken, routed and answered, none lost (both runs); B's service level within
``THRESHOLD_S`` stays at least ``SL_TARGET`` - ``SL_TOLERANCE``; B's p99 enqueue->offer during the flood stays
within ``P99_SLACK_S`` of the baseline (generous: the machine is shared); A's calls from before the flood are
still waiting. The figures are printed (pytest -s) and attached with ``record_property``.

The p99 bound, on a shared machine: on a quiet machine B's p99 is tens of milliseconds with or without the
flood; a fresh-clone CI run beside chaos drills once saw 3.0 s against a bound of baseline + 2 s, one stall of
the machine landing in the flooded run (the p99 of 30 calls is about their slowest) and not in the baseline.
So when the flooded run's p99 is over the bound, the measurement is made once more, a new baseline then a
new flooded run (the same flood; A's admitted calls stay waiting), and that pair must meet the same bound. A flood
that starves B slows every flooded run and fails both; a passing stall of the machine rarely hits both. Every
other assert (the codes, nothing of B refused, lost or duplicated, B's service level) holds for every run,
the retried ones too: only the latency comparison gets a second measurement.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from statistics import quantiles

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.sim import PlannedCall, Recording, SimAgent, Tokens, check, run
from ccp_acd.state.store import AgentProfile, TenantConfig, TenantLimits
from ccpapi.v1 import common_pb2, interaction_pb2, interaction_pb2_grpc

from tests.helpers import bearer, scaled

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

SITE = "site-a"
# B: calls/s, calls per run (baseline, flood), handle time (s), agents. 2 calls/s x 0.5 s on 4 agents: light.
B_RATE = 2.0
B_CALLS = (12, 30)
B_HANDLE_S = 0.5
B_AGENTS = 4
# B's queue's service-level threshold (s), its target, and how far below it the flood may push it.
THRESHOLD_S = 3.0
SL_TARGET, SL_TOLERANCE = 1.0, 0.1
# How much later B's p99 enqueue->offer may be during the flood than in the baseline (s).
P99_SLACK_S = 2.0
# A: 10 calls/s, 10 at once, at most 40 waiting; calls enqueued before the flood; the flood's bounds.
A_LIMITS = TenantLimits(enqueue_per_s=10.0, burst=10, max_waiting=40)
A_BEFORE = 5
FLOOD_WORKERS = 8
FLOOD_MAX_REQUESTS = 60_000
FLOOD_MAX_S = 40.0


async def _tenant(store, *, limits: TenantLimits, agents: list[SimAgent]) -> tuple[str, Tokens]:
    name = f"flood-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=name, home_site=SITE, limits=limits))
    await store.put_queue_config(name, QueueConfig(name="support", sl_threshold_s=THRESHOLD_S))
    for agent in agents:
        await store.create_agent(name, agent.id, AgentProfile(capacity=agent.capacity, site=SITE), now=time.time())
    tokens = Tokens(
        interaction=await issue_token(store, tenant=name, role="interaction"),
        agents={a.id: await issue_token(store, tenant=name, role="agent", agent_id=a.id) for a in agents},
    )
    return name, tokens


def _enqueue(index: int) -> interaction_pb2.EnqueueRequest:
    caller = common_pb2.Caller(address=f"+1555{index % 10_000_000:07d}")
    return interaction_pb2.EnqueueRequest(queue="support", channel=common_pb2.CHANNEL_VOICE, caller=caller)


def _steady(calls: int) -> list[PlannedCall]:
    return [PlannedCall(at_s=i / B_RATE, queue="support", handle_s=B_HANDLE_S, site=SITE) for i in range(calls)]


def _figures(recording: Recording) -> dict[str, float]:
    verdict = check(recording, threshold_s=THRESHOLD_S)
    to_offer = sorted(t.offered_at - t.enqueued_at for t in recording.timelines if t.offered_at is not None)
    p99 = quantiles(to_offer, n=100, method="inclusive")[98] if len(to_offer) > 1 else float("nan")
    return {
        "planned": verdict.planned, "enqueued": verdict.enqueued, "refused": verdict.refused,
        "answered": verdict.answered, "completed": verdict.completed, "lost": len(verdict.lost),
        "duplicated": len(verdict.duplicated), "service_level": verdict.service_level, "p99_to_offer_s": p99,
        "p50_to_offer_s": to_offer[len(to_offer) // 2] if to_offer else float("nan"),
    }


async def _flood(address: str, token: str, stop: asyncio.Event) -> Counter[str]:
    """FLOOD_WORKERS clients sending Enqueue back to back until ``stop`` (bounded); status codes counted."""
    codes: Counter[str] = Counter()
    sent = 0
    deadline = time.monotonic() + scaled(FLOOD_MAX_S)
    metadata = bearer(token)

    async def worker(stub: interaction_pb2_grpc.InteractionServiceStub) -> None:
        nonlocal sent
        while not stop.is_set() and sent < FLOOD_MAX_REQUESTS and time.monotonic() < deadline:
            sent += 1
            try:
                await stub.Enqueue(_enqueue(sent), metadata=metadata, timeout=5)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as e:
                codes[e.code().name] += 1
                details = e.details() or ""
                codes["  of which: over the rate" if "enqueue rate" in details else
                      "  of which: at maxWaiting" if "maxWaiting" in details else "  of which: other"] += 1

    channels = [grpc.aio.insecure_channel(address) for _ in range(2)]
    try:
        stubs = [interaction_pb2_grpc.InteractionServiceStub(channels[i % 2]) for i in range(FLOOD_WORKERS)]
        await asyncio.gather(*(worker(stub) for stub in stubs))
    finally:
        for channel in channels:
            await channel.close()
    return codes


async def _measure(address: str, agents: list[SimAgent], b_tokens: Tokens, a_token: str) -> dict:
    """B's baseline run, then B's run during A's flood: their figures and the flood's."""
    baseline = _figures(await run(
        _steady(B_CALLS[0]), agents, targets=[address], tokens=b_tokens, time_scale=1.0, drain_timeout_s=20
    ))
    stop = asyncio.Event()
    flood = asyncio.create_task(_flood(address, a_token, stop))
    started = time.monotonic()
    try:
        during = await run(
            _steady(B_CALLS[1]), agents, targets=[address], tokens=b_tokens, time_scale=1.0, drain_timeout_s=20,
        )
    finally:
        stop.set()
        codes = await flood
    flood_s = time.monotonic() - started
    sent = sum(count for code, count in codes.items() if not code.startswith(" "))
    return {"baseline": baseline, "flooded": _figures(during), "codes": codes, "sent": sent, "flood_s": flood_s}


def _report(measured: dict, record_property, prefix: str) -> None:
    codes, sent, flood_s = measured["codes"], measured["sent"], measured["flood_s"]
    refused_share = codes["RESOURCE_EXHAUSTED"] / sent if sent else 0.0
    figures = {
        "flood_requests": sent, "flood_per_s": sent / flood_s, "flood_refused_share": refused_share,
        "flood_admitted": codes["OK"], **{f"baseline_{k}": v for k, v in measured["baseline"].items()},
        **{f"flood_{k}": v for k, v in measured["flooded"].items()},
    }
    for name, value in figures.items():
        record_property(f"{prefix}{name}", value)
    print(
        f"\n{prefix}flood: {sent} Enqueue of tenant A in {flood_s:.1f} s ({sent / flood_s:.0f}/s), {codes['OK']} "
        f"admitted, {refused_share:.1%} RESOURCE_EXHAUSTED; codes {dict(codes)}\n"
        f"B baseline: {measured['baseline']}\nB during the flood: {measured['flooded']}"
    )


def _assert_refused_and_routed(measured: dict) -> None:
    """A refused with RESOURCE_EXHAUSTED and nothing else; every call of B taken, answered, none lost; B's SL."""
    codes, sent = measured["codes"], measured["sent"]
    assert {code for code in codes if not code.startswith(" ")} <= {"OK", "RESOURCE_EXHAUSTED"}, codes
    assert codes["  of which: other"] == 0, codes
    assert sent >= 1000, f"the flood sent only {sent} requests: it did not flood"
    assert codes["RESOURCE_EXHAUSTED"] / sent >= 0.9, codes
    for run_figures in (measured["baseline"], measured["flooded"]):
        assert run_figures["enqueued"] == run_figures["planned"], run_figures  # no call of B refused
        assert run_figures["answered"] == run_figures["completed"] == run_figures["planned"], run_figures
        assert run_figures["lost"] == run_figures["duplicated"] == 0, run_figures
    assert measured["flooded"]["service_level"] >= SL_TARGET - SL_TOLERANCE, measured["flooded"]


def _p99_within_bound(measured: dict) -> bool:
    return measured["flooded"]["p99_to_offer_s"] <= measured["baseline"]["p99_to_offer_s"] + scaled(P99_SLACK_S)


async def test_a_flooding_tenant_is_refused_while_its_neighbours_calls_still_route(
    store, node_processes, record_property
):
    agents = [SimAgent(f"b{i}", site=SITE) for i in range(B_AGENTS)]
    neighbour, b_tokens = await _tenant(store, limits=TenantLimits(), agents=agents)
    flooder, a_tokens = await _tenant(store, limits=A_LIMITS, agents=[])
    node = await asyncio.to_thread(
        node_processes, f"flood-{secrets.token_hex(3)}",
        env={"CCP_TENANTS": f"{neighbour},{flooder}", "CCP_DISPATCH_INTERVAL_S": "0.1"},
    )

    async with grpc.aio.insecure_channel(node.address) as channel:
        a_stub = interaction_pb2_grpc.InteractionServiceStub(channel)
        a_metadata = bearer(a_tokens.interaction)
        before = [(await a_stub.Enqueue(_enqueue(i), metadata=a_metadata, timeout=10)).id for i in range(A_BEFORE)]

        first = measured = await _measure(node.address, agents, b_tokens, a_tokens.interaction)
        _report(measured, record_property, "")
        _assert_refused_and_routed(measured)
        if not _p99_within_bound(measured):
            # Once more, a new baseline and a new flooded run (module doc): a stall of the shared machine in
            # the first flooded run does not hit this pair as well; a flood that starves B does.
            measured = await _measure(node.address, agents, b_tokens, a_tokens.interaction)
            _report(measured, record_property, "retry_")
            _assert_refused_and_routed(measured)

        after = [
            (await a_stub.GetInteraction(
                interaction_pb2.GetInteractionRequest(interaction_id=call_id), metadata=a_metadata, timeout=10
            )).state
            for call_id in before
        ]

    # B's p99 enqueue->offer during the flood within P99_SLACK_S of its baseline (the retry's, if it was made).
    assert _p99_within_bound(measured), {  # (baseline, flooded) p99 of each measurement; all figures printed above
        name: (m["baseline"]["p99_to_offer_s"], m["flooded"]["p99_to_offer_s"])
        for name, m in (("first", first), ("retry", measured))
    }
    assert after == [common_pb2.INTERACTION_STATE_QUEUED] * A_BEFORE
