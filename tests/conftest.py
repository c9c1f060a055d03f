"""Shared fixtures: one real etcd server per test session, and a store on it.

Tests isolate themselves by tenant name (random per test), so they can share
the server; tests that break etcd itself start their own with ``start_etcd``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from ccp_acd.embedded.processes import EtcdProcess, NodeProcess, start_etcd, start_node
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.tls import ChannelSecurity

from tests.tally import TALLY, WORKER_OUTPUT_KEY, Tally


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TALLY] = Tally()
    _plaintext_for_tests()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its security tally to the controller (tests/tally.py)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = session.config.stash[TALLY].dumps()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller adds up its workers' tallies (an xdist hook: optional without xdist)."""
    dumped = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if dumped:
        node.config.stash[TALLY].add(dumped)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, None)
    if tally:
        terminalreporter.section("security suites: cases tried")
        for line in tally.summary():
            terminalreporter.write_line(line)


def _plaintext_for_tests() -> None:
    """Nodes started in-process (NodeSettings()) and as subprocesses, the operator and the CLIs run plaintext
    gRPC and etcd in tests: a node needs a certificate or CCP_PLAINTEXT=true, every etcd client an etcd CA or
    CCP_ETCD_PLAINTEXT=true, and TLS is not the subject of most tests. Tests where it is opt in:
    tests/security/test_tls.py, and the embedded platform (ccp up, chaos drills) always generates certificates.
    """
    os.environ["CCP_PLAINTEXT"] = "true"
    os.environ["CCP_ETCD_PLAINTEXT"] = "true"
    # Nodes started in-process share the test's event loop, and on a shared 2-core machine that loop can run
    # late by more than the production bound (0.5 s) for reasons that are the test's, not the node's: lag-based
    # shedding would then refuse a test's Enqueue at random. tests/api/test_overload.py sets its own bounds.
    os.environ.setdefault("CCP_SHED_MAX_LOOP_LAG_S", "30")


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory) -> Iterator[EtcdProcess]:
    server = start_etcd(tmp_path_factory.mktemp("etcd"))
    yield server
    server.stop()


def _forget_site_states(endpoint: str) -> None:
    """Delete every site's state record: a site a test left declared down must not fence the next test."""

    async def forget() -> None:
        store = await EtcdStore.connect(endpoint)
        try:
            records, _ = await store.read_prefix(keys.sites_prefix())
            for key, _, _ in records:
                if key.endswith("/state"):
                    await store.client.delete(key.encode())
        finally:
            await store.close()

    # Its own thread and loop: this runs in a synchronous teardown, whatever loop the test had.
    thread = threading.Thread(target=asyncio.run, args=(forget(),))
    thread.start()
    thread.join()


@pytest.fixture(autouse=True)
def _sites_up_again(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "etcd_server" in request.fixturenames:
        _forget_site_states(request.getfixturevalue("etcd_server").endpoint)


@pytest.fixture
async def store(etcd_server: EtcdProcess) -> AsyncIterator[EtcdStore]:
    s = await EtcdStore.connect(etcd_server.endpoint)
    yield s
    await s.close()


@pytest.fixture
def node_processes(etcd_server: EtcdProcess, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start ACD node processes on the session's etcd; all are stopped after the test."""
    started: list[NodeProcess] = []

    def start(
        node_id: str, *, site: str = "site-a", lease_ttl_s: int = 3, env: dict[str, str] | None = None, tenants: str = ""
    ) -> NodeProcess:
        """``tenants``: route only these (comma-separated); a node routing every tenant the session's earlier
        tests left in etcd starts and dispatches slower, which timing-sensitive tests must not pay for."""
        env = {**(env or {}), **({"CCP_TENANTS": tenants} if tenants else {})}
        node = start_node(
            tmp_path, etcd_server.endpoint, node_id=node_id, site=site, tls=None,
            etcd_security=ChannelSecurity(plaintext=True), lease_ttl_s=lease_ttl_s, env=env,
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
