"""The fault proxy: byte-exact forwarding, ordered latency, upstream choice, and etcd
(gRPC over HTTP/2, through aetcd) partitioned, healed and slowed down through it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from ccp_acd.chaos.proxy import FaultProxy
from ccp_acd.embedded.processes import EtcdProcess, free_port
from ccp_acd.errors import StateUnavailable
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig

CLIENT_TIMEOUT_S = 2.0
RECONNECT_WITHIN_S = 15.0


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[:2]
    server.close()
    await server.wait_closed()


async def _proxy(upstreams) -> FaultProxy:
    proxy = FaultProxy(upstreams=upstreams)
    await proxy.start()
    return proxy


async def _roundtrip(address: str, chunks: list[bytes]) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return await reader.readexactly(sum(map(len, chunks)))
    finally:
        writer.close()
        await writer.wait_closed()


async def test_forwards_bytes_in_order_with_latency_and_counts_them(echo_server):
    proxy = await _proxy([echo_server])
    try:
        chunks = [f"chunk-{i:03d};".encode() for i in range(200)]
        assert await _roundtrip(proxy.address, chunks) == b"".join(chunks)

        proxy.set_latency(0.1)
        started = time.monotonic()
        assert await _roundtrip(proxy.address, chunks) == b"".join(chunks)
        # Both directions are delayed, and the chunks are pipelined, not delayed one after another.
        assert 0.2 <= time.monotonic() - started < 2.0

        assert proxy.connections_accepted == 2
        assert proxy.bytes_up == proxy.bytes_down == 2 * len(b"".join(chunks))
    finally:
        await proxy.stop()


async def test_uses_the_first_upstream_that_accepts(echo_server):
    dead = ("127.0.0.1", free_port())
    proxy = await _proxy([dead, echo_server])
    try:
        assert await _roundtrip(proxy.address, [b"hello"]) == b"hello"
        assert proxy.last_upstream == tuple(echo_server)
    finally:
        await proxy.stop()


async def test_partition_drops_open_and_new_connections_until_healed(echo_server):
    proxy = await _proxy([echo_server])
    try:
        host, _, port = proxy.address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"

        proxy.partition()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await asyncio.wait_for(reader.readexactly(1), 2)
        writer.close()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await asyncio.wait_for(_roundtrip(proxy.address, [b"during"]), 2)

        proxy.heal()
        assert await _roundtrip(proxy.address, [b"after"]) == b"after"
    finally:
        await proxy.stop()


@pytest.fixture
async def etcd_proxy(etcd_server: EtcdProcess) -> AsyncIterator[FaultProxy]:
    proxy = await _proxy([(etcd_server.host, etcd_server.port)])
    yield proxy
    await proxy.stop()


async def _until_available(what, *, within_s: float = RECONNECT_WITHIN_S) -> float:
    """Retry ``what()`` while etcd is unavailable; the seconds it took to succeed."""
    started = time.monotonic()
    while True:
        try:
            await what()
            return time.monotonic() - started
        except StateUnavailable:
            if time.monotonic() - started > within_s:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.etcd
async def test_etcd_through_the_proxy_partitioned_healed_and_slowed(etcd_proxy: FaultProxy):
    store = await EtcdStore.connect(etcd_proxy.address, timeout_s=CLIENT_TIMEOUT_S)
    tenant = f"proxy-{secrets.token_hex(3)}"
    try:
        await store.put_tenant_config(TenantConfig(tenant, display_name="before"))
        assert (await store.get_tenant_config(tenant)).display_name == "before"
        assert etcd_proxy.connections_accepted >= 1 and etcd_proxy.bytes_up > 0 and etcd_proxy.bytes_down > 0

        etcd_proxy.partition()
        started = time.monotonic()
        with pytest.raises(StateUnavailable):
            await store.get_tenant_config(tenant)
        with pytest.raises(StateUnavailable):
            await store.put_tenant_config(TenantConfig(tenant, display_name="during"))
        assert time.monotonic() - started <= 2 * CLIENT_TIMEOUT_S + 1

        etcd_proxy.heal()
        took = await _until_available(lambda: store.put_tenant_config(TenantConfig(tenant, display_name="after")))
        print(f"etcd usable again {took:.2f}s after heal()")
        assert (await store.get_tenant_config(tenant)).display_name == "after"

        etcd_proxy.set_latency(0.2)
        started = time.monotonic()
        assert (await store.get_tenant_config(tenant)).display_name == "after"
        slowed = time.monotonic() - started
        print(f"get with 0.2 s latency each way took {slowed:.3f}s")
        assert slowed >= 0.2
    finally:
        etcd_proxy.heal()
        etcd_proxy.set_latency(0)
        with contextlib.suppress(StateUnavailable):
            await _until_available(lambda: store.delete_tenant_config(tenant))
        await store.close()
