"""Each planner decision is one guarded transaction: a decision made on a stale view loses."""

from __future__ import annotations

import secrets
import time

from ccp_acd.domain.models import (
    Action,
    ActionKind,
    Call,
    Channel,
    OfferDecision,
    QueueConfig,
    RerouteDecision,
)
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
