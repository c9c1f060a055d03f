"""Offers at commit: an offer committed on a call's arrival reaches the agent's offer streams when its
transaction returns, before its watch event (``LiveCache.offer_committed``), and never after a later change.

Against a real etcd. The cache is fed by hand here (``install``, then ``apply`` of the commit's own records
read back from etcd), not by its watch, so the order "commit returned, watch event not yet applied" is
certain instead of a race.
"""

from __future__ import annotations

import secrets
import time

from ccp_acd.domain.models import Call, Channel, OfferDecision, QueueConfig
from ccp_acd.state import keys
from ccp_acd.state.live import LiveCache
from ccp_acd.state.store import AgentProfile, ArrivalOffer, Fence, WatchEvent

from tests.state.conftest import seed_tenant

QUEUE = QueueConfig("q", offer_timeout_s=60)


async def _tenant_with_cache(store) -> tuple[str, LiveCache]:
    tenant = f"at-commit-{secrets.token_hex(3)}"
    await seed_tenant(store, tenant, queue=QUEUE, agents={"a1": AgentProfile(capacity={Channel.VOICE: 1}, site="a")})
    cache = LiveCache(store, tenant)
    cache.install(await store.load_live(tenant))
    return tenant, cache


async def _commit_arrival(store, tenant: str, cache: LiveCache) -> tuple[ArrivalOffer, Call]:
    now = time.time()
    call = Call(id=f"{time.time_ns():020d}-c", queue="q", site="a", enqueued_at=now, queued_since=now)
    offer = ArrivalOffer(
        decision=OfferDecision(call.id, "a1", expires_at=now + 60), view=cache.view(), fence=Fence(), node_id="n1",
        lease_id=0, now=now,
    )
    made, created = await store.enqueue_offered(tenant, call, offer)
    assert created
    return offer, made


async def _watch_events(store, tenant: str, call_id: str) -> list[WatchEvent]:
    """The puts the cache's watch would deliver for the commit: its call and reservation records."""
    events = []
    for key in (keys.call(tenant, call_id), keys.reservation(tenant, call_id)):
        record = await store.client.get(key.encode())
        events.append(WatchEvent("put", key, record.value, None, record.mod_revision))
    return events


async def test_the_offer_reaches_the_stream_at_commit_and_the_watch_repeats_the_same_offer(store):
    tenant, cache = await _tenant_with_cache(store)
    changes = cache.subscribe_offers("a1")
    offer, made = await _commit_arrival(store, tenant, cache)

    cache.offer_committed(offer.reservation, made, call_version=0)
    early = changes.get_nowait()
    assert (early.kind, early.reservation, early.call) == ("put", offer.reservation, made)
    assert early.revision == cache.revision + 1, "no view the streams were sent can already count it"

    for event in await _watch_events(store, tenant, made.id):
        cache.apply(event)
    late = changes.get_nowait()
    assert late.call is None and late.reservation == early.reservation, "streams drop it as already sent"
    assert changes.empty()


async def test_nothing_is_handed_over_once_the_cache_has_applied_the_commit_or_a_later_change(store):
    tenant, cache = await _tenant_with_cache(store)
    changes = cache.subscribe_offers("a1")
    offer, made = await _commit_arrival(store, tenant, cache)
    call_event, offer_event = await _watch_events(store, tenant, made.id)

    cache.apply(call_event)  # the call record is newer than the version the commit compared (absent)
    cache.offer_committed(offer.reservation, made, call_version=0)
    assert changes.empty()

    cache.apply(offer_event)
    changes.get_nowait()  # the watch's own put
    cache.offer_committed(offer.reservation, made, call_version=0)
    assert changes.empty(), "the cache holds the offer: the watch has handed it over already"


async def test_only_the_offered_agents_streams_get_it(store):
    tenant, cache = await _tenant_with_cache(store)
    others = cache.subscribe_offers("a2")
    offer, made = await _commit_arrival(store, tenant, cache)
    cache.offer_committed(offer.reservation, made, call_version=0)
    assert others.empty()
