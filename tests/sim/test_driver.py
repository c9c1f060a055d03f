"""The load generator against real node processes: every call accounted for, consistent timelines,
abandons when nobody answers, waits in model time, and a node killed under the load."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Channel, QueueConfig
from ccp_acd.sim import PlannedCall, SimAgent, Stream, Tokens, check, poisson_workload, run
from ccp_acd.sim.history import problems
from ccp_acd.state.store import AgentProfile, TenantConfig

from tests.helpers import scaled

pytestmark = [pytest.mark.etcd]

SCALE = 100.0


async def _tenant(store, agents: list[SimAgent], queue: QueueConfig) -> tuple[str, Tokens]:
    tenant = f"sim-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site="site-a"))
    await store.put_queue_config(tenant, queue)
    for agent in agents:
        profile = AgentProfile(skills=agent.skills, capacity=agent.capacity, site=agent.site)
        await store.create_agent(tenant, agent.id, profile, now=time.time())
    tokens = Tokens(
        interaction=await issue_token(store, tenant=tenant, role="interaction"),
        agents={a.id: await issue_token(store, tenant=tenant, role="agent", agent_id=a.id) for a in agents},
    )
    return tenant, tokens


async def test_every_call_is_answered_once_and_its_timeline_is_consistent(store, node_processes):
    agents = [SimAgent(f"a{i}", site="site-a", wrap_up_s=5.0) for i in range(3)] + [
        SimAgent("chatty", site="site-a", capacity={Channel.VOICE: 1, Channel.CHAT: 2})
    ]
    tenant, tokens = await _tenant(store, agents, QueueConfig("q"))
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", tenants=tenant)
    workload = poisson_workload(
        5, rate_per_s=1 / 15, duration_s=3600, max_calls=30, aht_s=30,
        mix=[Stream("q", "site-a", 3), Stream("q", "site-a", 1, Channel.CHAT)],
    )
    recording = await run(workload, agents, targets=[node.address], tokens=tokens, time_scale=SCALE, drain_timeout_s=20)
    verdict = check(recording)
    assert verdict.ok, verdict.lines()
    assert (verdict.enqueued, verdict.answered, verdict.completed, verdict.unresolved) == (30, 30, 30, 0)
    assert [t.planned for t in recording.timelines] == workload
    for t in recording.timelines:
        assert problems(t) == []
        (agent, answered), = t.accepts
        assert t.planned.at_s <= t.enqueued_at <= t.acked_at
        assert t.offered_at is not None and t.enqueued_at <= t.offered_at <= answered
        assert t.completed_at >= answered + t.planned.handle_s
        assert (t.final_state, t.final_agent, t.final_queue) == ("completed", agent, "q")
        assert t.enqueue_node == t.answer_node == node.address
        if t.planned.channel is Channel.CHAT:
            assert agent == "chatty"
    records = await store.history_since(tenant, 0)
    assert len(records) == 30 and {r.state.value for r in records} == {"completed"}


async def test_callers_nobody_answers_abandon_and_are_recorded_as_abandoned(store, node_processes):
    # An agent who never logs in: the queue waits (the default policy), the callers give up.
    tenant, tokens = await _tenant(store, [SimAgent("ghost", site="site-a")], QueueConfig("q"))
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", tenants=tenant)
    workload = poisson_workload(9, rate_per_s=1, duration_s=60, max_calls=8, aht_s=30, mix={"q": 1}, patience_s=20)
    recording = await run(workload, [], targets=[node.address], tokens=tokens, time_scale=SCALE, drain_timeout_s=10)
    verdict = check(recording)
    assert verdict.ok, verdict.lines()
    assert (verdict.abandoned, verdict.completed, verdict.answered) == (8, 0, 0)
    for t in recording.timelines:
        assert not t.accepts and not t.offers
        # The caller hangs up once its patience is over, not before.
        assert t.abandoned_at >= t.enqueued_at + t.planned.patience_s
    assert {r.state.value for r in await store.history_since(tenant, 0)} == {"abandoned"}


async def test_a_pre_drawn_workload_gets_waits_in_model_seconds(store, node_processes):
    # One agent, three callers 5 s apart, 30 s each: they wait 0, 25 and 50 model seconds.
    scale = 20.0
    solo = SimAgent("solo", site="site-a")
    tenant, tokens = await _tenant(store, [solo], QueueConfig("q"))
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1", tenants=tenant)
    workload = [PlannedCall(at_s=at, queue="q", handle_s=30.0, caller=f"+1555000{i}") for i, at in enumerate((1, 6, 11))]
    recording = await run(
        workload, [solo], targets={"site-a": [node.address]}, tokens=tokens, time_scale=scale, drain_timeout_s=10
    )
    assert check(recording).ok
    # Model seconds of routing and RPC latency allowed per call: a budget in real seconds times the scale. A
    # call's wait carries the latency of every hop before its answer (its offer and accept, and each earlier
    # call's offer, accept and Complete, the agent being the same), and on a loaded CI machine one stall took
    # 1.5 real s (30 model s) where 0.5 real s was allowed. 2.5 real s (50 model s) still fails the bugs this
    # test is about: waits counted in real seconds (1.25 and 2.5: below the lower bound), a handle time
    # divided by the scale twice (waits near 0: below it too), a handle time not scaled (the second caller
    # waits about 600 model s), or an agent freed by Complete not offered the next call for 2.5 s or more.
    slack = scaled(2.5) * scale
    for t, expected in zip(recording.timelines, (0.0, 25.0, 50.0), strict=True):
        assert expected - 0.5 <= t.wait_s <= expected + slack, (t.index, t.wait_s)
        assert t.ended_at - t.answered_at >= 30.0
    assert recording.time_scale == scale and recording.started_wall > 0


@pytest.mark.slow
async def test_a_node_killed_under_load_loses_and_duplicates_nothing(store, node_processes):
    agents = [SimAgent(f"k{i}", site="site-a") for i in range(4)]
    tenant, tokens = await _tenant(store, agents, QueueConfig("q"))
    first = await asyncio.to_thread(node_processes, f"{tenant}-n1", tenants=tenant)
    second = await asyncio.to_thread(node_processes, f"{tenant}-n2", tenants=tenant)
    workload = poisson_workload(11, rate_per_s=1 / 8, duration_s=3600, max_calls=30, aht_s=25, mix={"q": 1})
    scale = 40.0  # about 6 real seconds of arrivals
    playing = asyncio.create_task(
        run(workload, agents, targets={"site-a": [first.address, second.address]}, tokens=tokens,
            time_scale=scale, drain_timeout_s=40)
    )
    await asyncio.sleep(workload[len(workload) // 3].at_s / scale)
    await asyncio.to_thread(first.kill)
    recording = await playing
    verdict = check(recording)
    assert verdict.ok, verdict.lines()
    assert (verdict.enqueued, verdict.completed, verdict.unresolved) == (30, 30, 0)
    # Calls after the kill were taken and answered by the surviving node.
    assert recording.timelines[-1].enqueue_node == recording.timelines[-1].answer_node == second.address
    assert {r.state.value for r in await store.history_since(tenant, 0)} == {"completed"}
