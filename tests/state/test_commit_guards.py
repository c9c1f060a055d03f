"""Each planner decision is one guarded transaction: a decision made on a stale view loses.

Accept and Complete may decide on the node's live view instead of reading etcd; a view that is behind
costs them a retry on fresh records, never a wrong commit.
"""

from __future__ import annotations

import secrets
import time

import pytest
from ccp_acd.domain.models import (
    Action,
    ActionKind,
    Call,
    CallState,
    Channel,
    ExpireOfferDecision,
    OfferDecision,
    Presence,
    QueueConfig,
    RerouteDecision,
)
from ccp_acd.errors import FailedPrecondition
from ccp_acd.routing import independent
from ccp_acd.state.store import AgentProfile

from .conftest import seed_tenant


async def _tenant_with_one_call(store) -> tuple[str, str]:
    tenant = f"guards-{secrets.token_hex(3)}"
    await seed_tenant(
        store, tenant, queue=QueueConfig("q"), agents={"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="a")}
    )
    now = time.time()
    call_id = f"{time.time_ns():020d}-c1"
    await store.enqueue(tenant, Call(id=call_id, queue="q", site="a", enqueued_at=now, queued_since=now))
    return tenant, call_id


async def test_a_reroute_planned_before_a_concurrent_offer_loses(store):
    tenant, call_id = await _tenant_with_one_call(store)
    stale = await store.load_live(tenant)
    now = time.time()
    offered = await store.commit(tenant, stale, OfferDecision(call_id, "a1", expires_at=now + 30), node_id="n1", now=now)
    assert offered
    reroute = RerouteDecision(call_id, Action(ActionKind.VOICEMAIL), reason="max-wait")
    assert not await store.commit(tenant, stale, reroute, node_id="n2", now=now)
    live = await store.load_live(tenant)
    assert call_id in live.calls and live.reservations[call_id].agent_id == "a1"


async def test_two_offers_planned_on_the_same_view_commit_once(store):
    tenant, call_id = await _tenant_with_one_call(store)
    view = await store.load_live(tenant)
    now = time.time()
    decision = OfferDecision(call_id, "a1", expires_at=now + 30)
    results = [await store.commit(tenant, view, decision, node_id=n, now=now) for n in ("n1", "n2")]
    assert results == [True, False]
    assert (await store.load_live(tenant)).reservations[call_id].node_id == "n1"


async def _offered(store) -> tuple[str, str]:
    tenant, call_id = await _tenant_with_one_call(store)
    now = time.time()
    view = await store.load_live(tenant)
    assert await store.commit(tenant, view, OfferDecision(call_id, "a1", expires_at=now + 30), node_id="n1", now=now)
    return tenant, call_id


async def test_accept_on_a_view_whose_offer_was_withdrawn_since_fails(store):
    tenant, call_id = await _offered(store)
    stale = await store.load_live(tenant)
    # The agent goes on break: the pending offer is withdrawn; the stale view still shows it.
    await store.set_presence(tenant, "a1", Presence.BREAK, reason_code="lunch", now=time.time())
    with pytest.raises(FailedPrecondition):
        await store.accept(tenant, "a1", call_id, now=time.time(), view=stale)
    assert (await store.get_call(tenant, call_id)).state is CallState.QUEUED


async def test_complete_on_a_view_older_than_the_agent_record_keeps_the_newer_record(store):
    tenant, call_id = await _offered(store)
    await store.accept(tenant, "a1", call_id, now=time.time(), view=await store.load_live(tenant))
    stale = await store.load_live(tenant)
    await store.update_agent(tenant, "a1", AgentProfile(display_name="Ada", capacity={Channel.VOICE: 1}, site="a"))
    agent = await store.complete(tenant, "a1", call_id, disposition="done", wrap_up_s=0.0, now=time.time(), view=stale)
    assert agent.display_name == "Ada" and agent.calls_handled == 1
    assert (await store.get_call(tenant, call_id)).state is CallState.COMPLETED


async def test_complete_on_a_view_from_before_the_answer_reads_etcd(store):
    tenant, call_id = await _offered(store)
    before_answer = await store.load_live(tenant)
    await store.accept(tenant, "a1", call_id, now=time.time())
    await store.complete(
        tenant, "a1", call_id, disposition="done", wrap_up_s=0.0, now=time.time(), view=before_answer
    )
    assert (await store.get_call(tenant, call_id)).state is CallState.COMPLETED


def test_a_plan_commits_at_once_only_decisions_on_distinct_calls_and_agents():
    first, second_to_a1 = OfferDecision("c1", "a1", expires_at=1.0), OfferDecision("c2", "a1", expires_at=1.0)
    to_a2, expiry = OfferDecision("c3", "a2", expires_at=1.0), ExpireOfferDecision("c3", "a3")
    reroute = RerouteDecision("c4", Action(ActionKind.VOICEMAIL), reason="max-wait")
    assert independent([first, second_to_a1, to_a2, expiry, reroute]) == [first, to_a2, reroute]
