"""Shared fixtures: one real etcd server per test session, and a store on it.

Tests isolate themselves by tenant name (random per test), so they can share
the server; tests that break etcd itself start their own with ``start_etcd``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from ccp_acd.state.etcd import EtcdStore

from tests.etcd_server import EtcdServer, start_etcd


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    server = start_etcd()
    yield server
    server.stop()


@pytest.fixture
async def store(etcd_server: EtcdServer) -> AsyncIterator[EtcdStore]:
    s = await EtcdStore.connect(etcd_server.endpoint)
    yield s
    await s.close()
