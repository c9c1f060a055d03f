"""A tenant with no waiting call and no pending offer is planned only when something changes, not on the
router's timer: idle tenants cost a node nothing. One with a waiting call is planned on the timer (time moves
its skill rings, max wait and offer timeouts). Against a real etcd, with a real router."""

from __future__ import annotations

import asyncio
import secrets
import time

from ccp_acd.domain.models import Call, Channel, Presence, QueueConfig
from ccp_acd.state.store import AgentProfile

from tests.helpers import eventually
from tests.state.conftest import seed_tenant

INTERVAL_S = 0.2  # start_router's dispatch interval


def _count_dispatches(router) -> list[str]:
    """Observes (does not replace) the router's dispatches: the tenant of each."""
    seen: list[str] = []
    dispatch = router.dispatch

    async def counting(tenant, *args, **kwargs):
        seen.append(tenant)
        return await dispatch(tenant, *args, **kwargs)

    router.dispatch = counting
    return seen


async def test_an_idle_tenant_is_planned_on_changes_only_and_a_waiting_call_brings_the_timer_back(
    store, start_router
):
    tenant = f"idle-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=QueueConfig(name="q"), agents={})
    node = await start_router("idle-1", tenants=tenant)
    seen = _count_dispatches(node.router)

    async def routed() -> bool:
        cache = node.router.views.cache(tenant)
        return cache is not None and cache.ready.is_set() and tenant in node.router.last_views

    await eventually(routed, what="the router to route the tenant")
    await asyncio.sleep(2 * INTERVAL_S)
    seen.clear()
    await asyncio.sleep(5 * INTERVAL_S)
    assert seen == [], "no call, no offer: nothing to plan on the timer"

    now = time.time()
    await store.enqueue(tenant, Call(id=f"{time.time_ns():020d}-w", queue="q", site="a", enqueued_at=now,
                                     queued_since=now))
    await asyncio.sleep(5 * INTERVAL_S)
    assert len(seen) >= 3, f"a waiting call (no agent for it) is planned on the timer: {len(seen)} dispatches"

    await store.create_agent(tenant, "ann", AgentProfile(capacity={Channel.VOICE: 1}, site="a"), now=time.time())
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=time.time())

    async def offered() -> bool:
        return bool((await store.load_live(tenant)).reservations)

    await eventually(offered, what="the waiting call offered to the agent who became available")
