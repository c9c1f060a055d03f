"""Offer on arrival: a call the router would offer at once is created already offered, in one transaction.

``Router.enqueue`` (what the node's Enqueue calls) plans on the live view with the new call in it; the
offer it makes for that call is committed with the call's creation, under the same compares as a
dispatch's offer. Against a real etcd and a running router.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from ccp_acd.domain import timeline
from ccp_acd.domain.models import Call, Channel, OfferDecision, Presence, QueueConfig
from ccp_acd.state import keys
from ccp_acd.state.store import AgentProfile, ArrivalOffer, Fence

from tests.helpers import eventually
from tests.state.conftest import seed_tenant

QUEUES = {"q": QueueConfig("q", offer_timeout_s=60)}


def _call(n: int, **fields) -> Call:
    now = time.time()
    return Call(id=f"{time.time_ns():020d}-c{n}", queue="q", site="a", enqueued_at=now, queued_since=now, **fields)


async def _routed_tenant(store, start_router, *agents: str, offer_on_arrival: bool = True):
    tenant = f"arrival-{secrets.token_hex(3)}"
    await seed_tenant(
        store, tenant, queue=QUEUES["q"],
        agents={a: AgentProfile(capacity={Channel.VOICE: 1}, site="a") for a in agents},
    )
    node = await start_router("n1", tenants=tenant, offer_on_arrival=offer_on_arrival)

    async def routing():
        cache = node.router.views.cache(tenant)
        return "q" in node.router.directory.owned(tenant) and cache is not None and cache.ready.is_set()

    await eventually(routing, what="the router owning the queue with its live view ready")
    return tenant, node


async def _created_at(store, tenant: str, call_id: str) -> tuple[int, int]:
    """The revisions that created the call's record and its offer (0: none)."""
    call = await store.client.get(keys.call(tenant, call_id).encode())
    offer = await store.client.get(keys.reservation(tenant, call_id).encode())
    return (call.create_revision if call else 0, offer.create_revision if offer else 0)


async def test_a_call_for_a_free_agent_is_created_offered_in_one_transaction(store, start_router):
    tenant, node = await _routed_tenant(store, start_router, "a1")
    call, created = await node.router.enqueue(tenant, _call(1), QUEUES)
    assert created
    call_rev, offer_rev = await _created_at(store, tenant, call.id)
    assert call_rev == offer_rev > 0, "the call and its offer must be written by one transaction"
    live = await store.load_live(tenant)
    reservation = live.reservations[call.id]
    assert (reservation.agent_id, reservation.node_id) == ("a1", "n1")
    assert live.calls[call.id].timeline[-1].kind == timeline.Kind.OFFERED
    assert live.agents["a1"].last_offered_at == reservation.offered_at


async def test_off_the_call_is_created_queued_and_the_router_offers_it(store, start_router):
    tenant, node = await _routed_tenant(store, start_router, "a1", offer_on_arrival=False)
    call, _ = await node.router.enqueue(tenant, _call(1), QUEUES)

    async def offered():
        revisions = await _created_at(store, tenant, call.id)
        return revisions if revisions[1] else None

    call_rev, offer_rev = await eventually(offered, what="the router's offer")
    assert offer_rev > call_rev, "without offer on arrival the offer is a transaction of its own"


async def test_concurrent_arrivals_never_plan_the_same_agent(store, start_router):
    """Three calls arrive at once for two free agents: two are offered on arrival, to different agents,
    without a lost compare (each arrival sees the others' offers being committed); the third waits."""
    tenant, node = await _routed_tenant(store, start_router, "a1", "a2")
    conflicts = node.router.conflicts
    made = await asyncio.gather(*(node.router.enqueue(tenant, _call(n), QUEUES) for n in (1, 2, 3)))
    assert node.router.conflicts == conflicts
    revisions = [await _created_at(store, tenant, call.id) for call, _ in made]
    on_arrival = [call.id for (call, _), (call_rev, offer_rev) in zip(made, revisions, strict=True) if call_rev == offer_rev]
    assert len(on_arrival) == 2
    live = await store.load_live(tenant)
    assert {live.reservations[call_id].agent_id for call_id in on_arrival} == {"a1", "a2"}
    waiting = next(call.id for call, _ in made if call.id not in on_arrival)
    assert waiting in live.calls and waiting not in live.reservations


async def test_an_arrival_never_overtakes_a_waiting_call(store, start_router):
    """A call waits for the only agent; when a second agent frees up and a new call arrives at that
    moment, the agent goes to the call that waited, whoever plans first (router or arrival)."""
    tenant, node = await _routed_tenant(store, start_router, "a1", "a2")
    await node.store.set_presence(tenant, "a2", Presence.BREAK, reason_code="lunch", now=time.time())
    first, _ = await node.router.enqueue(tenant, _call(1), QUEUES)
    waiting, _ = await node.router.enqueue(tenant, _call(2), QUEUES)
    live = await store.load_live(tenant)
    assert live.reservations[first.id].agent_id == "a1" and waiting.id not in live.reservations

    await node.store.set_presence(tenant, "a2", Presence.AVAILABLE, reason_code="", now=time.time())
    await node.router.views.read(tenant)  # the live view shows a2 free (the router may have offered already)
    late, _ = await node.router.enqueue(tenant, _call(3), QUEUES)

    async def offered_to_a2():
        reservation = (await store.load_live(tenant)).reservations.get(waiting.id)
        return reservation if reservation is not None and reservation.agent_id == "a2" else None

    await eventually(offered_to_a2, what="the waiting call's offer to a2")
    assert late.id not in (await store.load_live(tenant)).reservations


async def test_a_stale_offer_writes_nothing_and_a_request_id_is_still_honoured(store):
    """``enqueue_offered`` compares the agent as the view saw it: after the agent changed, nothing is
    written (the caller enqueues plainly); a request id seen before returns the first call."""
    tenant = f"arrival-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=QUEUES["q"], agents={"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="a")})
    view = await store.load_live(tenant)

    def offer_of(call: Call) -> ArrivalOffer:
        now = time.time()
        return ArrivalOffer(
            decision=OfferDecision(call.id, "a1", expires_at=now + 60), view=view, fence=Fence(), node_id="n1",
            lease_id=0, now=now,
        )

    first = _call(1, request_id="r-1")
    made, created = await store.enqueue_offered(tenant, first, offer_of(first))
    assert created and (await store.load_live(tenant)).reservations[made.id].agent_id == "a1"

    retry = _call(2, request_id="r-1")
    again, created = await store.enqueue_offered(tenant, retry, offer_of(retry))
    assert (again.id, created) == (made.id, False)

    stale = _call(3)
    assert await store.enqueue_offered(tenant, stale, offer_of(stale)) is None
    assert stale.id not in (await store.load_live(tenant)).calls
