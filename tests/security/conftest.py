"""Fixtures of the isolation and fuzzing suites, and the count of cases they tried.

The suites share one tally per session (tests/tally.py; tests/conftest.py prints
it in the terminal summary, adding up the workers' under pytest-xdist), so CI
output shows how much was tried ("isolation: N cases; fuzz: M cases across K methods").

Nodes: each module gets one real node (etcd on the session's server, gRPC on
127.0.0.1, port 0) for all its tests (``module_node``), because hypothesis
runs many examples against one server; tenants have random names, so
modules sharing the etcd never see each other's data.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from pydantic import SecretStr

from tests.helpers import bearer
from tests.tally import TALLY, Tally

SITE = "site-a"


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config) -> Tally:
    return pytestconfig.stash[TALLY]


def node_settings(etcd_endpoint: str, *, cluster_token: str = "") -> NodeSettings:
    return NodeSettings(
        site=SITE,
        node_id=f"sec-{secrets.token_hex(3)}",
        grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_endpoint,
        lease_ttl_s=2,
        dispatch_interval_s=0.1,
        cluster_token=SecretStr(cluster_token),
        plaintext=True,  # these suites test the API, not the transport (tests/security/test_tls.py does)
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_store(etcd_server) -> AsyncIterator[EtcdStore]:
    s = await EtcdStore.connect(etcd_server.endpoint)
    yield s
    await s.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_node(etcd_server, request: pytest.FixtureRequest) -> AsyncIterator[Node]:
    """A module may set ``CLUSTER_TOKEN`` to enable SiteService (empty: disabled)."""
    cluster_token = getattr(request.module, "CLUSTER_TOKEN", "")
    started = await start_node(node_settings(etcd_server.endpoint, cluster_token=cluster_token))
    yield started
    await started.stop(grace_s=0.5)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_channel(module_node: Node) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(module_node.address) as ch:
        yield ch


Metadata = tuple[tuple[str, str], ...]


async def new_tenant(store: EtcdStore, prefix: str, *queues: str) -> str:
    """A tenant with a random name (``prefix-xxxxxxxx``) homed at this site, with the given queues."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=name, home_site=SITE))
    for queue in queues:
        await store.put_queue_config(name, QueueConfig(name=queue))
    return name


async def token(store: EtcdStore, tenant: str, role: str, agent_id: str = "") -> Metadata:
    return bearer(await issue_token(store, tenant=tenant, role=role, agent_id=agent_id))  # type: ignore[arg-type]


async def tenant_records(store: EtcdStore, tenant: str) -> dict[str, bytes]:
    """Every key and value under the tenant's prefix, at one revision."""
    records, _ = await store.read_prefix(keys.tenant_prefix(tenant))
    return {key: value for key, value, _ in records}
