"""A Trunk resource in, its tenant and the trunk config the SIP side reads out. Pure.

Whether the tenant exists, the default queue exists and a number belongs to one
trunk only are questions about a set of resources: see ``loader``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccp_acd.state.store import TrunkConfig

from ccp_operator.specs.schema import TrunkSpec, validated


def trunk_config(resource: Mapping) -> tuple[str, TrunkConfig]:
    """(tenant, config); raises SpecError naming the first wrong field."""
    name, spec = validated(resource, TrunkSpec)
    return spec.tenant, TrunkConfig(
        name=name,
        numbers=tuple(spec.numbers),
        carrier=spec.carrier,
        codecs=tuple(spec.codecs),
        home_site=spec.home_site,
        default_queue=spec.default_queue,
        allowed_sources=tuple(spec.allowed_sources),
    )
