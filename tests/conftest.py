"""Shared fixtures: one real etcd server per test session, and a store on it.

Tests isolate themselves by tenant name (random per test), so they can share
the server; tests that break etcd itself start their own with ``start_etcd``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from ccp_acd.embedded.processes import EtcdProcess, NodeProcess, start_etcd, start_node
from ccp_acd.state.etcd import EtcdStore


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory) -> Iterator[EtcdProcess]:
    server = start_etcd(tmp_path_factory.mktemp("etcd"))
    yield server
    server.stop()


@pytest.fixture
async def store(etcd_server: EtcdProcess) -> AsyncIterator[EtcdStore]:
    s = await EtcdStore.connect(etcd_server.endpoint)
    yield s
    await s.close()


@pytest.fixture
def node_processes(etcd_server: EtcdProcess, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start ACD node processes on the session's etcd; all are stopped after the test."""
    started: list[NodeProcess] = []

    def start(node_id: str, *, site: str = "site-a", lease_ttl_s: int = 3, env: dict[str, str] | None = None) -> NodeProcess:
        node = start_node(
            tmp_path, etcd_server.endpoint, node_id=node_id, site=site, lease_ttl_s=lease_ttl_s, env=env
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
