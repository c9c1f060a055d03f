"""Write a desired state into etcd through the store, the way the operator will (idempotent)."""

from __future__ import annotations

from ccp_acd.state.store import Store

from ccp_operator.specs.loader import Desired


async def apply_desired(store: Store, desired: Desired) -> list[str]:
    """Put every tenant, trunk and queue config; returns one line per object written."""
    written = []
    for tenant in sorted(desired.tenants.values(), key=lambda t: t.name):
        await store.put_tenant_config(tenant)
        written.append(f"tenant/{tenant.name}")
    for tenant, queues in sorted(desired.queues.items()):
        for queue in sorted(queues.values(), key=lambda q: q.name):
            await store.put_queue_config(tenant, queue)
            written.append(f"queue/{tenant}/{queue.name}")
    for tenant, trunks in sorted(desired.trunks.items()):
        for trunk in sorted(trunks.values(), key=lambda t: t.name):
            await store.put_trunk_config(tenant, trunk)
            written.append(f"trunk/{tenant}/{trunk.name}")
    return written
