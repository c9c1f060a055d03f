"""Several routers racing on one queue never double-assign a call or over-fill an agent.

Three routers (each its own etcd connection and lease, as three ACD nodes
would have) route one tenant while in-process agents accept and complete
everything offered to them. The checker replays etcd's own revision history
and checks the invariants after every revision.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from ccp_acd.domain.models import Call, CallState, Channel, QueueConfig, Reservation
from ccp_acd.errors import FailedPrecondition
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.store import AgentProfile

from tests.helpers import eventually
from tests.state.conftest import seed_tenant

from .checker import LiveReplica

TENANT = "race"
CALLS = 240
PHONE_AGENTS = 8
CHAT_AGENTS = 4


async def test_racing_routers_never_double_assign_a_call_or_overfill_an_agent(store, start_router):
    agents = {f"phone{i}": AgentProfile(capacity={Channel.VOICE: 1}, site="a") for i in range(PHONE_AGENTS)}
    agents |= {
        f"chat{i}": AgentProfile(capacity={Channel.VOICE: 1, Channel.CHAT: 3}, site="a") for i in range(CHAT_AGENTS)
    }
    await seed_tenant(store, TENANT, queue=QueueConfig("q", offer_timeout_s=60), agents=agents)

    replica = LiveReplica(TENANT)

    async def record_history():
        async for event in store.watch_prefix(keys.live_prefix(TENANT), start_revision=1):
            replica.feed(event)

    recorder = asyncio.create_task(record_history())
    accepted: Counter[str] = Counter()
    rng = random.Random(7)
    handling: set[asyncio.Task] = set()

    async def handle(reservation: Reservation):
        try:
            await store.accept(TENANT, reservation.agent_id, reservation.call_id, now=time.time())
        except FailedPrecondition:
            return  # the offer was withdrawn first; the router offers the call again
        accepted[reservation.call_id] += 1
        await asyncio.sleep(rng.uniform(0, 0.03))
        await store.complete(
            TENANT, reservation.agent_id, reservation.call_id, disposition="done", wrap_up_s=0, now=time.time()
        )

    async def desks():
        async for event in store.watch_prefix(keys.reservations_prefix(TENANT)):
            if event.kind == "put":
                task = asyncio.create_task(handle(decode(Reservation, event.value)))
                handling.add(task)
                task.add_done_callback(handling.discard)

    desk_task = asyncio.create_task(desks())
    routers = [await start_router(f"n{i}", tenants=TENANT) for i in range(3)]

    for burst in range(CALLS // 30):
        channel_for = [Channel.CHAT if rng.random() < 0.3 else Channel.VOICE for _ in range(30)]
        await asyncio.gather(*(
            store.enqueue(TENANT, Call(
                id=f"{time.time_ns():020d}-{burst:02d}{i:02d}", queue="q", channel=channel_for[i], site="a",
                enqueued_at=time.time(), queued_since=time.time(), request_id=f"r{burst}-{i}",
            ))
            for i in range(30)
        ))
        await asyncio.sleep(0.05)

    async def all_ended():
        return len(await store.history_since(TENANT, 0)) == CALLS

    await eventually(all_ended, timeout_s=120, what=f"{CALLS} calls to complete")
    await asyncio.sleep(0.3)  # let the recorder drain the last revisions
    for task in (recorder, desk_task):
        task.cancel()
    replica.check()

    history = await store.history_since(TENANT, 0)
    assert Counter(c.state for c in history) == {CallState.COMPLETED: CALLS}
    assert len({c.id for c in history}) == CALLS
    assert [cid for cid, n in accepted.items() if n != 1] == []
    assert sum(accepted.values()) == CALLS
    assert replica.violations == []
    assert replica.revisions_checked > CALLS
    # The routers really did race: some of their commits lost a compare-and-set.
    assert sum(r.router.conflicts for r in routers) > 0
    print(f"commits per router: {[r.router.commits for r in routers]}, "
          f"conflicts: {[r.router.conflicts for r in routers]}, revisions checked: {replica.revisions_checked}")
