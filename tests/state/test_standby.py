"""Hot standby and site failover on a real etcd, with in-process routers (one etcd client and lease each)."""

from __future__ import annotations

import asyncio
import time

from ccp_acd.domain.models import Call, Channel, Presence, QueueConfig
from ccp_acd.domain.sites import SiteStatus
from ccp_acd.failover import SiteMonitor
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.sites import Owner, SiteDirectory, declared
from ccp_acd.state.store import AgentProfile, TenantConfig

from tests.helpers import eventually
from tests.state.conftest import seed_tenant


async def _enqueue(store, tenant: str, n: int, *, site: str, queue: str = "q") -> str:
    now = time.time()
    call_id = f"{time.time_ns():020d}-c{n}"
    await store.enqueue(tenant, Call(id=call_id, queue=queue, site=site, enqueued_at=now, queued_since=now))
    return call_id


async def _two_site_tenant(store, prefix: str, home: str, failover: str) -> str:
    tenant = f"{prefix}-{time.time_ns()}"
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=60), agents={})
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=home, failover_sites=(failover,)))
    return tenant


async def _owner(store, site: str, tenant: str, queue: str = "q") -> str:
    records, _ = await store.read_prefix(keys.owner(site, tenant, queue))
    return decode(Owner, records[0][1]).node if records else ""


async def test_one_owner_per_queue_and_a_standby_takes_over_when_it_dies(store, start_router):
    tenant = f"standby-{time.time_ns()}"
    await seed_tenant(store, tenant, queue=QueueConfig("q", offer_timeout_s=60),
                      agents={"ann": AgentProfile(capacity={Channel.VOICE: 1}, site="hs")})
    first = await start_router("hs-1", site="hs", ttl_s=1, tenants=tenant)
    owner = await eventually(lambda: _owner(store, "hs", tenant), what="an owner for q")
    assert owner == "hs-1"
    second = await start_router("hs-2", site="hs", ttl_s=1, tenants=tenant)
    call_1 = await _enqueue(store, tenant, 1, site="hs")
    offered = await eventually(lambda: _reservation(store, tenant, call_1), what="the owner's offer")
    assert offered.node_id == "hs-1", "only the owner routes the queue"
    assert second.router.directory.owned(tenant) == {}

    await store.accept(tenant, "ann", call_1, now=time.time())
    await store.complete(tenant, "ann", call_1, disposition="", wrap_up_s=0, now=time.time())
    await first.crash()
    killed = time.monotonic()
    call_2 = await _enqueue(store, tenant, 2, site="hs")
    again = await eventually(lambda: _reservation(store, tenant, call_2), timeout_s=10, what="the standby's offer")
    resumed_s = time.monotonic() - killed
    assert again.node_id == "hs-2"
    assert await _owner(store, "hs", tenant) == "hs-2"
    # Lease TTL 1 s (etcd tuned to allow it) plus etcd's 0.5 s expiry sweep; generous for a loaded machine.
    assert resumed_s < 5, f"routing resumed {resumed_s:.2f}s after the owner died"
    print(f"routing resumed {resumed_s:.2f}s after the owner died (lease ttl 1s)")


async def _reservation(store, tenant: str, call_id: str):
    return (await store.load_live(tenant)).reservations.get(call_id)


async def test_a_site_declared_down_is_fenced_and_its_calls_are_adopted_in_order(store, start_router):
    tenant = await _two_site_tenant(store, "failover", "fa", "fb")
    node_a = await start_router("fa-1", site="fa", ttl_s=1, tenants=tenant)
    node_b = await start_router("fb-1", site="fb", ttl_s=1, tenants=tenant)
    await eventually(lambda: _owner(store, "fa", tenant), what="an owner at fa")
    await eventually(lambda: _owner(store, "fb", tenant), what="an owner at fb")
    waiting = [await _enqueue(store, tenant, n, site="fa") for n in range(3)]

    # An SRE declares fa down while its node is alive: fa's node must stop routing at once.
    assert await node_a.router.directory.set_state("fa", declared(SiteStatus.DOWN, "drill", by="sre"))

    async def adopted():
        calls = (await store.load_live(tenant)).calls
        return all(calls[c].site == "fb" for c in waiting) and calls

    calls = await eventually(adopted, timeout_s=10, what="fb to adopt fa's waiting calls")
    assert [calls[c].visited_sites for c in waiting] == [("fa",)] * 3
    assert all("site fa is down" in calls[c].reason for c in waiting)
    assert await eventually(lambda: _no_owner(store, "fa", tenant), what="fa's owner to resign")

    # fa's agent gets nothing; fb's agent gets the adopted calls in their original order.
    await store.create_agent(tenant, "fa-agent", AgentProfile(capacity={Channel.VOICE: 1}, site="fa"), now=time.time())
    await store.create_agent(tenant, "fb-agent", AgentProfile(capacity={Channel.VOICE: 1}, site="fb"), now=time.time())
    for agent in ("fa-agent", "fb-agent"):
        await store.set_presence(tenant, agent, Presence.AVAILABLE, reason_code="", now=time.time())
    served = []
    for expected in waiting:
        res = await eventually(lambda c=expected: _reservation(store, tenant, c), what=f"offer of {expected}")
        assert (res.agent_id, res.node_id) == ("fb-agent", "fb-1")
        served.append(res.call_id)
        await store.accept(tenant, "fb-agent", res.call_id, now=time.time())
        await store.complete(tenant, "fb-agent", res.call_id, disposition="", wrap_up_s=0, now=time.time())
    assert served == waiting
    assert node_b.router.directory.is_up("fb") and not node_b.router.directory.is_up("fa")


async def _no_owner(store, site: str, tenant: str) -> bool:
    return await _owner(store, site, tenant) == ""


async def test_a_site_with_no_live_node_is_declared_down_and_fenced_when_it_returns(store, start_router):
    tenant = await _two_site_tenant(store, "lost", "la", "lb")
    node_a = await start_router("la-1", site="la", ttl_s=1, tenants=tenant)
    await start_router("lb-1", site="lb", ttl_s=1, tenants=tenant)
    await eventually(lambda: _owner(store, "la", tenant), what="an owner at la")
    call = await _enqueue(store, tenant, 1, site="la")
    await node_a.crash()
    lost = time.monotonic()

    async def moved():
        c = (await store.load_live(tenant)).calls[call]
        return c.site == "lb" and c

    await eventually(moved, timeout_s=15, what="lb to adopt la's call")
    adopted_s = time.monotonic() - lost
    state = (await store.read_prefix(keys.site_state("la")))[0]
    assert state and b'"down"' in state[0][1] and b"monitor/lb/lb-1" in state[0][1]
    # TTL 1 s + sweep, then site_lost_after_s (3 s), then one dispatch.
    assert adopted_s < 10, f"la's call was adopted {adopted_s:.1f}s after the site was lost"
    print(f"lost site's call adopted after {adopted_s:.2f}s")

    # la comes back: fenced (manual failback), it owns nothing and routes nothing.
    returned = await start_router("la-2", site="la", ttl_s=1, tenants=tenant)
    await eventually(lambda: _directory_has(returned, "la"), what="la-2's directory")
    assert not returned.router.directory.is_up("la")
    assert await _owner(store, "la", tenant) == ""


async def _directory_has(node, site: str) -> bool:
    await node.router.directory.ready.wait()
    return bool(node.router.directory.live_nodes(site))


async def test_auto_failback_returns_a_site_the_monitor_declared_down_but_not_one_an_sre_did(store):
    """SiteMonitor.check on a real directory: live registrations are leased keys put here by hand."""

    suffix = time.time_ns()
    back, sre_down, judge = f"back-{suffix}", f"held-{suffix}", f"judge-{suffix}"
    lease = await store.client.lease(30)
    for site in (back, sre_down, judge):
        await store.client.put(keys.node(site, "n1").encode(), b"{}", lease=lease.id)
    await store.put_record(keys.site_state(back), declared(SiteStatus.DOWN, "lost", by="monitor/x/y"))
    await store.put_record(keys.site_state(sre_down), declared(SiteStatus.DOWN, "maintenance", by="sre"))
    directory = SiteDirectory(store, site=judge, node_id="n1")
    mirror = asyncio.create_task(directory.run())
    try:
        await asyncio.wait_for(directory.ready.wait(), 10)
        settings = NodeSettings(site=judge, node_id="n1", failback="auto", failback_after_s=0.3)
        monitor = SiteMonitor(directory, settings=settings)
        await monitor.check()  # starts the clock: live for 0 s
        assert not directory.is_up(back)
        await asyncio.sleep(0.4)
        await monitor.check()
        await eventually(lambda: _up(directory, back), what=f"{back} to fail back")
        assert not directory.is_up(sre_down), "a site an SRE declared down stays down"
    finally:
        mirror.cancel()
        await store.client.revoke_lease(lease.id)


async def _up(directory, site: str) -> bool:
    return directory.is_up(site)
