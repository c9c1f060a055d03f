"""Tenant discovery (``EtcdStore.list_tenants``, what the router, the site API and retention ask every few
seconds) reads the tenant index, one key per tenant, not every key the tenants hold; configs written before
the index existed are indexed once. Against a real etcd (shared with other tests: other tenants are there)."""

from __future__ import annotations

import secrets

from ccp_acd.state import keys
from ccp_acd.state.codec import encode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig


def _count_reads(store, monkeypatch) -> list[int]:
    """Observes (does not replace) the KV stub's range reads: how many key-values each returned."""
    returned: list[int] = []
    stub = store.client.kvstub
    real = stub.Range

    async def counting(request, **kwargs):
        response = await real(request, **kwargs)
        returned.append(len(response.kvs))
        return response

    monkeypatch.setattr(stub, "Range", counting)
    return returned


async def test_tenants_are_listed_while_they_have_a_config(store):
    base = f"disc-{secrets.token_hex(3)}"
    names = [base, f"{base}-2", f"{base}0"]
    for name in names:
        await store.put_tenant_config(TenantConfig(name=name))
    listed = await store.list_tenants()
    assert [t for t in listed if t.startswith(base)] == sorted(names)
    assert listed == sorted(listed)

    await store.delete_tenant_config(f"{base}-2")
    assert f"{base}-2" not in await store.list_tenants()
    assert await store.client.get(keys.tenant_index(f"{base}-2").encode()) is None


async def test_discovery_reads_one_key_per_tenant_however_many_records_they_hold(store, monkeypatch):
    tenant = f"disc-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant))
    await store.list_tenants()  # the store's first discovery, which may index older configs, is done
    for n in range(300):
        await store.client.put(keys.history(tenant, f"{n:06d}").encode(), b"{}")

    returned = _count_reads(store, monkeypatch)
    listed = await store.list_tenants()
    assert tenant in listed
    assert returned == [len(listed)], "one read of the index, one key per tenant"


async def test_configs_written_before_the_index_are_indexed_once(store, etcd_server):
    """A config put without its index entry (as before the index existed) is found by the first discovery
    after the migration marker is gone; a prefix with records but no config is not indexed."""
    legacy, orphan = f"disc-{secrets.token_hex(3)}", f"disc-{secrets.token_hex(3)}"
    await store.client.put(keys.tenant_config(legacy).encode(), encode(TenantConfig(name=legacy)))
    await store.client.put(keys.history(orphan, "c1").encode(), b"{}")
    await store.client.delete(keys.migration("tenant-index").encode())

    upgraded = await EtcdStore.connect(etcd_server.endpoint)
    try:
        listed = await upgraded.list_tenants()
    finally:
        await upgraded.close()
    assert legacy in listed
    assert orphan not in listed
    assert await store.client.get(keys.migration("tenant-index").encode()) is not None
    assert legacy in await store.list_tenants()
