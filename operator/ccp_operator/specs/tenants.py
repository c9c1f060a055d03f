"""A Tenant resource in, the tenant config ACD nodes and the operator read out. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from ccp_acd.state.store import TenantConfig, TenantLimits, TenantRetention

from ccp_operator.specs.schema import CredentialsSpec, TenantSpec, validated


def tenant_config(resource: Mapping) -> TenantConfig:
    """Raises SpecError naming the first wrong field."""
    name, spec = validated(resource, TenantSpec)
    given = spec.limits
    limits = (
        TenantLimits(enqueue_per_s=given.enqueue_per_second, burst=given.burst, max_waiting=given.max_waiting)
        if given is not None
        else TenantLimits()
    )
    return TenantConfig(
        retention=TenantRetention(call_records_days=spec.retention.call_records_days),
        name=name, display_name=spec.display_name, home_site=spec.home_site, failover_sites=tuple(spec.failover_sites),
        limits=limits,
    )


def tenant_credentials(resource: Mapping) -> CredentialsSpec:
    """The operator's side of the spec (rotation and grace; not routing config, so not in etcd)."""
    return validated(resource, TenantSpec)[1].credentials
