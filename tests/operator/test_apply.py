"""``apply_desired`` writes the examples into a real etcd, where the ACD nodes read them."""

from __future__ import annotations

import secrets

from ccp_operator.apply import apply_desired
from ccp_operator.specs.loader import parse_documents

from tests.helpers import examples_for_tenant


async def test_examples_are_applied_and_read_back_idempotently(store):
    tenant = f"acme-{secrets.token_hex(3)}"
    desired = parse_documents(examples_for_tenant(tenant))
    written = await apply_desired(store, desired)
    assert written == [
        f"tenant/{tenant}",
        *(f"queue/{tenant}/{q}" for q in ("general", "sales", "support")),
        *(f"trunk/{tenant}/{t}" for t in ("acme-main", "acme-west")),
    ]
    assert await store.get_tenant_config(tenant) == desired.tenants[tenant]
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
    assert await store.get_trunk_configs(tenant) == desired.trunks[tenant]

    assert await apply_desired(store, desired) == written
    assert await store.get_tenant_config(tenant) == desired.tenants[tenant]
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
    assert await store.get_trunk_configs(tenant) == desired.trunks[tenant]


async def test_applying_an_edit_replaces_the_config(store):
    tenant = f"acme-{secrets.token_hex(3)}"
    documents = examples_for_tenant(tenant)
    await apply_desired(store, parse_documents(documents))
    edited = [
        {**d, "spec": {**d["spec"], "strategy": "fewest-calls"}} if d["metadata"]["name"] == "general" else d
        for d in documents
    ]
    await apply_desired(store, parse_documents(edited))
    queues = await store.get_queue_configs(tenant)
    assert str(queues["general"].strategy) == "fewest-calls"
    assert str(queues["support"].strategy) == "best-skill-match"
