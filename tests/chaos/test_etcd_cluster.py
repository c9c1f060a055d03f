"""A real 3-member etcd cluster behind one fault proxy: a client with a single endpoint
keeps writing and reading after the member it used is killed, nothing written is lost,
and the tuned election timeout lets a 1 s lease stay 1 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ccp_acd.chaos.proxy import FaultProxy
from ccp_acd.embedded.processes import EtcdProcess, start_etcd, start_etcd_cluster, stop_all
from ccp_acd.errors import StateUnavailable
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig

pytestmark = pytest.mark.etcd

CLIENT_TIMEOUT_S = 2.0
RECOVER_WITHIN_S = 15.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[EtcdProcess]]:
    members = start_etcd_cluster(tmp_path)
    yield members
    started = time.monotonic()
    stop_all(members)
    # One member at a time (about 0.1 s); SIGTERM to all at once took 6.25 s.
    assert time.monotonic() - started < 3


async def _retry(what, *, within_s: float = RECOVER_WITHIN_S):
    """``what()`` retried while etcd is unavailable: (its result, seconds until it succeeded)."""
    started = time.monotonic()
    while True:
        try:
            return await what(), time.monotonic() - started
        except StateUnavailable:
            if time.monotonic() - started > within_s:
                raise
            await asyncio.sleep(0.1)


async def _leader(cluster: list[EtcdProcess]) -> EtcdProcess:
    store = await EtcdStore.connect(cluster[0].endpoint, timeout_s=CLIENT_TIMEOUT_S)
    try:
        status = await store.client.status()
    finally:
        await store.close()
    return next(m for m in cluster if m.name == status.leader.name)


@pytest.mark.parametrize("victim", ["leader", "follower"])
async def test_a_client_behind_the_proxy_survives_the_death_of_its_member(cluster: list[EtcdProcess], victim: str):
    assert len(cluster) == 3 and len({m.endpoint for m in cluster}) == 3
    leader = await _leader(cluster)
    first = leader if victim == "leader" else next(m for m in cluster if m is not leader)
    # The proxy tries its upstreams in order: the victim first, so it is the member the client uses.
    proxy = FaultProxy(upstreams=[(m.host, m.port) for m in [first, *(m for m in cluster if m is not first)]])
    await proxy.start()
    store = await EtcdStore.connect(proxy.address, timeout_s=CLIENT_TIMEOUT_S)
    try:
        written = [TenantConfig(f"before-{i}", display_name=f"tenant {i}") for i in range(10)]
        for config in written:
            await store.put_tenant_config(config)
        used = next(m for m in cluster if (m.host, m.port) == proxy.last_upstream)
        assert used is first

        await asyncio.to_thread(used.kill)
        _, write_after_s = await _retry(lambda: store.put_tenant_config(TenantConfig("after", display_name="x")))
        read, read_after_s = await _retry(lambda: store.get_tenant_config("after"))
        print(f"SIGKILL of the {victim} {used.name}: write ok after {write_after_s:.2f}s, read {read_after_s:.2f}s later")

        assert read == TenantConfig("after", display_name="x")
        assert proxy.last_upstream != (used.host, used.port)
        for config in written:
            assert await store.get_tenant_config(config.name) == config
        if victim == "leader":
            assert (await _leader([m for m in cluster if m is not used])) is not used
    finally:
        await store.close()
        await proxy.stop()


async def _granted_ttl(endpoint: str, ttl_s: int) -> tuple[int, int]:
    store = await EtcdStore.connect(endpoint, timeout_s=CLIENT_TIMEOUT_S)
    try:
        lease = await store.client.lease(ttl_s)
        refreshed = await store.client.refresh_lease(lease.id)
        await store.client.revoke_lease(lease.id)
        return lease.ttl, refreshed.TTL
    finally:
        await store.close()


async def test_a_one_second_lease_stays_one_second_on_the_cluster(cluster: list[EtcdProcess]):
    # etcd would raise it to ceil(1.5 x election timeout): 2 s with the default 1000 ms.
    granted, refreshed = await _granted_ttl(cluster[0].endpoint, 1)
    assert granted == 1 and 0 < refreshed <= 1


async def test_a_one_second_lease_stays_one_second_on_a_single_etcd(tmp_path: Path):
    etcd = await asyncio.to_thread(start_etcd, tmp_path)
    try:
        granted, refreshed = await _granted_ttl(etcd.endpoint, 1)
        assert granted == 1 and 0 < refreshed <= 1
    finally:
        etcd.stop()
