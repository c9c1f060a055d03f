"""A real node with its wallboard listener (port 0), and a tenant with answered and waiting calls.

The tenant ``board``: queue ``sales`` (80 % in 20 s) answered its one call after
100 s (SL 0 %: red) and has two callers waiting, the longer one about 30 s;
queue ``support`` (80 % in 20 s) answered its call after 5 s (SL 100 %: green)
and has one caller waiting. Its one agent is on a break, so the waiting calls stay.
The calls go through the node's router and the agent API's store operations
(offer, accept, complete), nothing is written around them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Call, Channel, Presence, QueueConfig
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig

from tests.helpers import eventually

SITE = "site-a"
# Seconds between events: short, so tests see several without waiting long.
INTERVAL_S = 0.2


@pytest.fixture
async def node(etcd_server) -> AsyncIterator[Node]:
    """A node with a wallboard that routes one tenant, the ``board``'s: not every tenant earlier tests left in
    the session's etcd (a node starting among hundreds of them once took over 30 s to offer the board's calls)."""
    settings = NodeSettings(
        tenants=f"wb-{secrets.token_hex(4)}",
        site=SITE,
        node_id=f"wb-{secrets.token_hex(3)}",
        grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_server.endpoint,
        lease_ttl_s=2,
        dispatch_interval_s=0.1,
        wallboard_listen="127.0.0.1:0",
        wallboard_interval_s=INTERVAL_S,
    )
    started = await start_node(settings)
    yield started
    await started.stop(grace_s=0.5)


@pytest.fixture
def base_url(node: Node) -> str:
    assert node.wallboard is not None and node.wallboard.port > 0
    return f"http://127.0.0.1:{node.wallboard.port}"


@dataclass
class Board:
    tenant: str
    admin: str
    agent: str


async def make_tenant(store: EtcdStore, *queues: QueueConfig, name: str = "") -> str:
    tenant = name or f"wb-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=SITE))
    for queue in queues:
        await store.put_queue_config(tenant, queue)
    return tenant


async def _answer(store: EtcdStore, tenant: str, *, queue: str, waited_s: float, agent: str) -> None:
    """A call that arrived ``waited_s`` ago, offered by the node's router, answered now and completed."""
    now = time.time()
    call_id = f"{time.time_ns():020d}-{queue}"
    await store.enqueue(tenant, Call(id=call_id, queue=queue, site=SITE, enqueued_at=now - waited_s,
                                     queued_since=now - waited_s))

    async def offered() -> bool:
        return call_id in (await store.load_live(tenant)).reservations

    await eventually(offered, timeout_s=30, what=f"the router's offer of {call_id}")
    await store.accept(tenant, agent, call_id, now=time.time())
    await store.complete(tenant, agent, call_id, disposition="", wrap_up_s=0, now=time.time())


async def _wait(store: EtcdStore, tenant: str, *, queue: str, waited_s: float, n: int) -> None:
    now = time.time()
    await store.enqueue(tenant, Call(id=f"{time.time_ns():020d}-w{n}", queue=queue, site=SITE,
                                     enqueued_at=now - waited_s, queued_since=now - waited_s))


@pytest.fixture
async def board(node: Node, store: EtcdStore) -> Board:
    tenant = await make_tenant(store, QueueConfig(name="sales"), QueueConfig(name="support"), name=node.settings.tenants)
    await store.create_agent(tenant, "ann", AgentProfile(capacity={Channel.VOICE: 1}, site=SITE), now=time.time())
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=time.time())
    await _answer(store, tenant, queue="sales", waited_s=100, agent="ann")
    await _answer(store, tenant, queue="support", waited_s=5, agent="ann")
    await store.set_presence(tenant, "ann", Presence.BREAK, reason_code="lunch", now=time.time())
    await _wait(store, tenant, queue="sales", waited_s=30, n=1)
    await _wait(store, tenant, queue="sales", waited_s=10, n=2)
    await _wait(store, tenant, queue="support", waited_s=3, n=3)

    async def shown() -> bool:
        """The node reads its live view of a tenant it routes, which learns of writes made around it (this
        fixture's store) from its watch, a moment later: the board is ready once the view shows them."""
        cache = node.router.views.cache(tenant)
        return cache is None or len(cache.view().calls) == 3

    await eventually(shown, what="the node's view showing the three waiting calls")
    return Board(
        tenant=tenant,
        admin=await issue_token(store, tenant=tenant, role="admin"),
        agent=await issue_token(store, tenant=tenant, role="agent", agent_id="ann"),
    )
