"""Credential expiry (a rotated-out token's grace): refused from ``expires_at`` on, never served from the
verification cache past it. Real etcd; the node's two clocks are fakes the test moves."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from ccp_acd.api.auth import Authenticator, issue_token
from ccp_acd.errors import Unauthenticated

pytestmark = pytest.mark.etcd

EPOCH = 1_800_000_000.0


class Clocks:
    """A monotonic and a wall clock that move together, as on a node."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return 100.0 + self.elapsed

    def wall(self) -> float:
        return EPOCH + self.elapsed


def _key_id(token: str) -> str:
    return token.split(".")[1]


async def test_an_expiring_token_works_until_its_expiry_even_from_the_cache_then_is_refused(store):
    tenant = f"exp-{secrets.token_hex(3)}"
    clocks = Clocks()
    auth = Authenticator(store, cache_ttl_s=5.0, clock=clocks.monotonic, wall_clock=clocks.wall)
    token = await issue_token(store, tenant=tenant, role="admin", expires_at=EPOCH + 2.0)

    assert (await auth.verify(token)).tenant == tenant  # read from etcd, cached
    clocks.elapsed = 1.9
    assert (await auth.verify(token)).role == "admin"
    clocks.elapsed = 2.0  # within the 5 s cache lifetime, but at the expiry
    with pytest.raises(Unauthenticated, match="^invalid or revoked token$"):
        await auth.verify(token)


async def test_an_expiry_set_later_ends_a_cached_token_at_the_latest_when_the_cache_entry_lapses(store):
    tenant = f"exp-{secrets.token_hex(3)}"
    clocks = Clocks()
    auth = Authenticator(store, cache_ttl_s=5.0, clock=clocks.monotonic, wall_clock=clocks.wall)
    token = await issue_token(store, tenant=tenant, role="interaction")
    assert (await auth.verify(token)).role == "interaction"

    credential = await store.get_credential(tenant, _key_id(token))
    await store.put_credential(tenant, _key_id(token), dataclasses.replace(credential, expires_at=EPOCH + 1.0))
    clocks.elapsed = 4.9  # cached before the expiry was written: the documented caveat
    assert (await auth.verify(token)).role == "interaction"
    clocks.elapsed = 5.0
    with pytest.raises(Unauthenticated, match="^invalid or revoked token$"):
        await auth.verify(token)


async def test_a_token_without_expiry_keeps_working(store):
    tenant = f"exp-{secrets.token_hex(3)}"
    clocks = Clocks()
    auth = Authenticator(store, cache_ttl_s=5.0, clock=clocks.monotonic, wall_clock=clocks.wall)
    token = await issue_token(store, tenant=tenant, role="admin")
    clocks.elapsed = 10 * 365 * 86400.0
    assert (await auth.verify(token)).tenant == tenant


async def test_revoking_a_tenants_credentials_removes_every_one_of_them_and_only_theirs(store):
    tenant, other = f"rev-{secrets.token_hex(3)}", f"rev-{secrets.token_hex(3)}"
    tokens = [await issue_token(store, tenant=tenant, role=role) for role in ("admin", "interaction")]
    kept = await issue_token(store, tenant=other, role="admin")
    assert set(await store.list_credentials(tenant)) == {_key_id(t) for t in tokens}

    await store.revoke_credentials(tenant)
    auth = Authenticator(store)
    for token in tokens:
        with pytest.raises(Unauthenticated, match="^invalid or revoked token$"):
            await auth.verify(token)
    assert await store.list_credentials(tenant) == {}
    assert (await auth.verify(kept)).tenant == other
