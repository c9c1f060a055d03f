"""Where a queue is routed: the owner site and its ordered standbys (pure).

A tenant's queues are owned by its home site; its failover sites, in the
order the Tenant lists them, stand by. A site an SRE declared down is passed
over (issue 4 adds the declaration and the adoption of calls). Inside the
owning site, which node routes is decided at run time by etcd (lease
election), not here.
"""

from __future__ import annotations

from collections.abc import Set

from ccp_acd.state.store import QueuePlacement, TenantConfig


def place(tenant: TenantConfig, *, down: Set[str] = frozenset()) -> QueuePlacement:
    ordered = [tenant.home_site, *[s for s in tenant.failover_sites if s != tenant.home_site]]
    alive = [s for s in ordered if s not in down]
    if not alive:
        return QueuePlacement(owner_site=ordered[0], standby_sites=tuple(ordered[1:]))  # nowhere better to go
    return QueuePlacement(owner_site=alive[0], standby_sites=tuple(alive[1:]))
