"""``apply_desired`` writes the examples into a real etcd, where the ACD nodes read them."""

from __future__ import annotations

import secrets
from pathlib import Path

from ccp_operator.apply import apply_desired
from ccp_operator.specs.loader import parse_documents, read_documents

ROOT = Path(__file__).resolve().parents[2]


def _examples_for(tenant: str):
    """The examples with the tenant renamed, so tests sharing the etcd never meet."""
    documents = []
    for document in read_documents([ROOT / "examples"]):
        document = dict(document)
        if document["kind"] == "Tenant":
            document["metadata"] = {**document["metadata"], "name": tenant}
        else:
            document["spec"] = {**document["spec"], "tenant": tenant}
        documents.append(document)
    return parse_documents(documents)


async def test_examples_are_applied_and_read_back_idempotently(store):
    tenant = f"acme-{secrets.token_hex(3)}"
    desired = _examples_for(tenant)
    written = await apply_desired(store, desired)
    assert f"tenant/{tenant}" in written and f"queue/{tenant}/support" in written
    assert await store.get_tenant_config(tenant) == desired.tenants[tenant]
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
    assert await store.get_trunk_configs(tenant) == desired.trunks[tenant]
    assert await apply_desired(store, desired) == written
    assert await store.get_queue_configs(tenant) == desired.queues[tenant]
