"""Fixtures for the gRPC API tests: a real node (etcd store, session, router, grpc.aio server).

Each test gets its own node on 127.0.0.1 with port 0 and its own tenants
(random names), so tests sharing one etcd never see each other's data.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from ccpapi.v1 import admin_pb2_grpc, agent_pb2_grpc, interaction_pb2_grpc, site_pb2_grpc
from pydantic import SecretStr

from tests.helpers import bearer

CLUSTER_TOKEN = "cluster-secret-for-tests"
SITE = "site-a"


@pytest.fixture
async def node(etcd_server) -> AsyncIterator[Node]:
    settings = NodeSettings(
        site=SITE,
        node_id=f"api-{secrets.token_hex(3)}",
        grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_server.endpoint,
        lease_ttl_s=2,
        dispatch_interval_s=0.1,
        cluster_token=SecretStr(CLUSTER_TOKEN),
    )
    started = await start_node(settings)
    yield started
    await started.stop(grace_s=0.5)


@pytest.fixture
async def channel(node: Node) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(node.address) as ch:
        yield ch


@dataclass
class Stubs:
    agents: agent_pb2_grpc.AgentServiceStub
    interactions: interaction_pb2_grpc.InteractionServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    sites: site_pb2_grpc.SiteServiceStub


@pytest.fixture
def stubs(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(
        agents=agent_pb2_grpc.AgentServiceStub(channel),
        interactions=interaction_pb2_grpc.InteractionServiceStub(channel),
        admin=admin_pb2_grpc.AdminServiceStub(channel),
        sites=site_pb2_grpc.SiteServiceStub(channel),
    )


@dataclass
class Tenant:
    name: str
    admin: tuple[tuple[str, str], ...]
    interaction: tuple[tuple[str, str], ...]
    store: EtcdStore

    async def agent_token(self, agent_id: str) -> tuple[tuple[str, str], ...]:
        return bearer(await issue_token(self.store, tenant=self.name, role="agent", agent_id=agent_id))


@pytest.fixture
def make_tenant(store: EtcdStore):
    async def make(*queues: QueueConfig) -> Tenant:
        name = f"t-{secrets.token_hex(4)}"
        await store.put_tenant_config(TenantConfig(name=name, home_site=SITE))
        for queue in queues or (QueueConfig(name="support"),):
            await store.put_queue_config(name, queue)
        return Tenant(
            name=name,
            admin=bearer(await issue_token(store, tenant=name, role="admin")),
            interaction=bearer(await issue_token(store, tenant=name, role="interaction")),
            store=store,
        )

    return make
