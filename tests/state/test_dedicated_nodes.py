"""A node started for some tenants (CCP_TENANTS) routes only them; others wait for their own nodes."""

from __future__ import annotations

import asyncio
import secrets
import time

from ccp_acd.domain.models import Call, Channel, QueueConfig
from ccp_acd.state.store import AgentProfile

from tests.helpers import eventually
from tests.state.conftest import seed_tenant


async def test_a_dedicated_router_leaves_other_tenants_alone(store, start_router):
    mine, other = f"mine-{secrets.token_hex(3)}", f"other-{secrets.token_hex(3)}"
    for tenant in (mine, other):
        agents = {"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="a")}
        await seed_tenant(store, tenant, queue=QueueConfig("q"), agents=agents)
        now = time.time()
        call = Call(id=f"{time.time_ns():020d}-c", queue="q", site="a", enqueued_at=now, queued_since=now)
        await store.enqueue(tenant, call)
    await start_router("dedicated", tenants=f"{mine},unrelated")

    async def offered(tenant):
        return bool((await store.load_live(tenant)).reservations)

    await eventually(lambda: offered(mine), timeout_s=10, what="the dedicated tenant's call offered")
    await asyncio.sleep(1.0)  # five dispatch intervals
    assert not await offered(other)
