"""The load generator against a real node process: every call accounted for, abandons when nobody answers."""

from __future__ import annotations

import asyncio
import random
import secrets
import time

import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Channel, QueueConfig
from ccp_acd.sim.driver import Endpoints, Simulation
from ccp_acd.sim.history import check
from ccp_acd.sim.workload import SimAgent, Stream, poisson_workload
from ccp_acd.state.store import AgentProfile

from tests.state.conftest import seed_tenant

pytestmark = [pytest.mark.etcd]

SCALE = 100.0


async def _setup(store, node_processes, agents: list[SimAgent], queue: QueueConfig):
    tenant = f"sim-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=queue, agents={})
    for agent in agents:
        await store.create_agent(
            tenant, agent.id, AgentProfile(skills=agent.skills, capacity=agent.capacity, site=agent.site), now=time.time()
        )
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1")
    endpoints = Endpoints(
        addresses={"site-a": [node.address]},
        interaction_token=await issue_token(store, tenant=tenant, role="interaction"),
        agent_tokens={a.id: await issue_token(store, tenant=tenant, role="agent", agent_id=a.id) for a in agents},
    )
    return tenant, endpoints


async def test_every_call_is_answered_once_and_its_timeline_is_consistent(store, node_processes):
    agents = [SimAgent(f"a{i}", "site-a") for i in range(3)] + [
        SimAgent("chatty", "site-a", capacity={Channel.VOICE: 1, Channel.CHAT: 2})
    ]
    tenant, endpoints = await _setup(store, node_processes, agents, QueueConfig("q", wrap_up_s=0))
    workload = poisson_workload(
        random.Random(5), rate_per_s=1 / 15, duration_s=3600, max_calls=30, aht_s=30,
        streams=[Stream("q", "site-a", 3), Stream("q", "site-a", 1, Channel.CHAT)],
    )
    timelines = await Simulation(workload, agents, endpoints, time_scale=SCALE, drain_timeout_s=20).run()
    verdict = check(timelines)
    assert verdict.ok, verdict.lines()
    assert (verdict.enqueued, verdict.completed, verdict.unresolved) == (30, 30, 0)
    for t in timelines:
        (agent, answered), = t.accepts
        assert t.enqueued_at is not None and answered >= t.enqueued_at - 1.0  # model seconds of clock skew
        assert t.completed_at >= answered
        assert (t.final_state, t.final_agent) == ("completed", agent)
    records = await store.history_since(tenant, 0)
    assert len(records) == 30 and {r.state.value for r in records} == {"completed"}


async def test_callers_nobody_answers_abandon_and_are_recorded_as_abandoned(store, node_processes):
    # One agent who is never logged in: the queue waits (the default policy), the callers give up.
    idle = SimAgent("ghost", "site-a")
    tenant, endpoints = await _setup(store, node_processes, [idle], QueueConfig("q"))
    workload = poisson_workload(
        random.Random(9), rate_per_s=1, duration_s=60, max_calls=8, aht_s=30,
        streams=[Stream("q", "site-a")], patience_s=20,
    )
    timelines = await Simulation(workload, [], endpoints, time_scale=SCALE, drain_timeout_s=10).run()
    verdict = check(timelines)
    assert verdict.ok, verdict.lines()
    assert verdict.abandoned == 8 and verdict.completed == 0
    assert all(t.abandoned_at is not None and not t.accepts for t in timelines)
    assert {r.state.value for r in await store.history_since(tenant, 0)} == {"abandoned"}
