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
    assert f"tenant/{tenant}" in written and f"queue/{tenant}/support" in written
    assert await store.get_tenant_config(tenant) == desired.tenants[tenant]
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
    assert await store.get_trunk_configs(tenant) == desired.trunks[tenant]
    assert await apply_desired(store, desired) == written
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
