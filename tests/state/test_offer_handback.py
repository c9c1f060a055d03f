"""A node's offers live on its lease: when the node dies, its calls go back in line."""

from __future__ import annotations

import asyncio
import time

from ccp_acd.domain.models import Call, Channel, QueueConfig
from ccp_acd.state.store import AgentProfile

from tests.helpers import eventually
from tests.state.conftest import seed_tenant

TENANT = "handback"


async def test_offers_of_a_node_whose_lease_lapses_return_to_the_queue_in_order(store, start_router):
    await seed_tenant(
        store, TENANT, queue=QueueConfig("q", offer_timeout_s=60),
        agents={"solo": AgentProfile(capacity={Channel.VOICE: 1}, site="a")},
    )
    for n in (1, 2, 3):
        now = time.time()
        await store.enqueue(TENANT, Call(id=f"{time.time_ns():020d}-c{n}", queue="q", site="a",
                                         enqueued_at=now, queued_since=now))
    ids = sorted((await store.load_live(TENANT)).calls)

    async def offer():
        reservations = (await store.load_live(TENANT)).reservations
        return next(iter(reservations.values()), None)

    node_a = await start_router("node-a", ttl_s=2, tenants=TENANT)
    first = await eventually(offer, timeout_s=10, what="node-a's first offer")
    assert (first.call_id, first.node_id) == (ids[0], "node-a")

    await node_a.crash()
    crashed_at = time.monotonic()
    await start_router("node-b", ttl_s=2, tenants=TENANT)

    async def reoffered():
        r = await offer()
        return r if r is not None and r.node_id == "node-b" else None

    again = await eventually(reoffered, timeout_s=15, what="the offer to come back through node-b")
    handback_s = time.monotonic() - crashed_at
    assert again.call_id == ids[0], "the call must keep its place at the head of the line"

    served = []
    for expected in ids:
        reservation = await eventually(offer, timeout_s=10, what=f"offer of {expected}")
        served.append(reservation.call_id)
        await store.accept(TENANT, "solo", reservation.call_id, now=time.time())
        await store.complete(TENANT, "solo", reservation.call_id, disposition="", wrap_up_s=0, now=time.time())
    assert served == ids
    assert {c.id: c.state.value for c in await store.history_since(TENANT, 0)} == dict.fromkeys(ids, "completed")
    # The lease TTL is 2 s; etcd may take up to one more TTL to expire it.
    assert handback_s < 8, f"offer came back after {handback_s:.1f}s"
    print(f"offer handed back {handback_s:.2f}s after the node died (lease ttl 2s)")
    await asyncio.sleep(0)
