"""Blocklist keys name a hash of the pattern, never the caller's number; keys of before still work.

Against a real etcd: what ``etcdctl get --keys-only`` would list is checked for the number itself.
"""

from __future__ import annotations

import secrets

import pytest
from ccp_acd.errors import NotFound
from ccp_acd.state import keys
from ccp_acd.state.codec import encode
from ccp_acd.state.store import BlockedCaller

NUMBER = "+4930555123"


async def _key_names(store, tenant: str) -> list[str]:
    return [kv.key.decode() for kv in await store._prefix(keys.blocklist_prefix(tenant))]


async def test_a_blocked_number_is_not_in_any_key_name(store):
    tenant = f"block-{secrets.token_hex(3)}"
    await store.add_blocked(tenant, BlockedCaller(NUMBER, reason="fraud"))
    await store.add_blocked(tenant, BlockedCaller("+1900*", reason="premium"))
    names = await _key_names(store, tenant)
    assert len(names) == 2 and not any("4930555123" in n or "1900" in n for n in names)
    assert {b.pattern for b in await store.list_blocked(tenant)} == {NUMBER, "+1900*"}
    await store.remove_blocked(tenant, NUMBER)
    assert [b.pattern for b in await store.list_blocked(tenant)] == ["+1900*"]
    with pytest.raises(NotFound):
        await store.remove_blocked(tenant, NUMBER)


async def test_a_pattern_stored_under_its_own_name_before_is_listed_replaced_and_removed(store):
    """Entries written before keys were hashed stay in force; adding the pattern again moves it to its
    hashed key (listed once), and removing it removes whichever key holds it."""
    tenant = f"block-{secrets.token_hex(3)}"
    legacy = keys.blocked_by_pattern(tenant, NUMBER)
    await store.client.put(legacy.encode(), encode(BlockedCaller(NUMBER, reason="old")))
    assert [b.pattern for b in await store.list_blocked(tenant)] == [NUMBER]

    await store.add_blocked(tenant, BlockedCaller(NUMBER, reason="new"))
    assert [(b.pattern, b.reason) for b in await store.list_blocked(tenant)] == [(NUMBER, "new")]
    assert await _key_names(store, tenant) == [keys.blocked(tenant, NUMBER)]

    await store.client.put(legacy.encode(), encode(BlockedCaller(NUMBER, reason="old")))
    await store.remove_blocked(tenant, NUMBER)
    assert await store.list_blocked(tenant) == []


def test_blocklist_keys_differ_by_tenant_and_pattern():
    assert keys.blocked("a", NUMBER) != keys.blocked("b", NUMBER) != keys.blocked("a", "+1")
    assert keys.blocked_by_pattern("a", "x/y") is None
