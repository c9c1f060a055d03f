"""Fixtures for tests of the etcd store and the router against a real etcd."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from ccp_acd.domain.models import Presence, QueueConfig
from ccp_acd.routing import Router
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig

# Seconds each step of stopping an in-process node may take (a real node's stop is bounded too).
STOP_STEP_TIMEOUT_S = 30.0


class RouterNode:
    """A router with its own etcd connection and lease: one ACD node's routing, in-process."""

    def __init__(self, store: EtcdStore, router: Router, session, task: asyncio.Task):
        self.store, self.router, self.session, self.task = store, router, session, task

    async def crash(self) -> None:
        """Stop routing and keepalives without revoking the lease, as a killed process would."""
        for task in (self.task, self.session._task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.store.close()

    async def stop(self) -> None:
        """Stop as a node does; each step bounded, so a hang fails fast and names the step."""
        self.task.cancel()
        for step, stop in (("router", self._finished), ("session", self.session.close), ("store", self.store.close)):
            try:
                async with asyncio.timeout(STOP_STEP_TIMEOUT_S):
                    await stop()
            except TimeoutError:
                raise AssertionError(f"stopping {step} took over {STOP_STEP_TIMEOUT_S}s") from None

    async def _finished(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def start_router(etcd_server):
    started: list[RouterNode] = []

    async def start(
        node_id: str, *, site: str = "a", ttl_s: int = 2, tenants: str = "", offer_on_arrival: bool = True
    ) -> RouterNode:
        store = await EtcdStore.connect(etcd_server.endpoint)
        settings = NodeSettings(
            site=site, node_id=node_id, lease_ttl_s=ttl_s, dispatch_interval_s=0.2, tenants=tenants,
            offer_on_arrival=offer_on_arrival,
        )
        session = await store.open_session(site=site, node_id=node_id, ttl_s=ttl_s, grpc_address="-")
        router = Router(store, session=session, settings=settings)
        node = RouterNode(store, router, session, asyncio.create_task(router.run()))
        started.append(node)
        return node

    yield start
    for node in started:
        if not node.task.done():
            await node.stop()


async def seed_tenant(store: EtcdStore, tenant: str, *, queue: QueueConfig, agents: dict[str, AgentProfile]) -> None:
    await store.put_tenant_config(TenantConfig(name=tenant))
    await store.put_queue_config(tenant, queue)
    for agent_id, profile in agents.items():
        await store.create_agent(tenant, agent_id, profile, now=time.time())
        await store.set_presence(tenant, agent_id, Presence.AVAILABLE, reason_code="", now=time.time())
