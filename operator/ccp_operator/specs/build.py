"""Pure builders: a custom resource (as a mapping) in, the routing config ACD nodes read out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccp_acd.domain.models import Action, ActionKind, QueueConfig, SkillRequirement, SkillRing, Strategy
from ccp_acd.state.store import TenantConfig, TrunkConfig
from pydantic import BaseModel, ValidationError

from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.schema import Metadata, QueueSpec, SkillSpec, TenantSpec, TrunkSpec


def field_path(loc: tuple[Any, ...], prefix: str = "spec") -> str:
    """('skills', 0, 'minLevel') -> 'spec.skills[0].minLevel'."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _parse(resource: Mapping, kind: str, model: type[BaseModel]) -> tuple[str, Any]:
    metadata = resource.get("metadata") or {}
    raw_name = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    try:
        name = Metadata.model_validate(metadata).name
    except ValidationError as e:
        first = e.errors()[0]
        raise SpecError(kind, str(raw_name) or "?", field_path(first["loc"], "metadata"), first["msg"]) from None
    spec = resource.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError(kind, name, "spec", "is required and must be a mapping")
    try:
        return name, model.model_validate(spec)
    except ValidationError as e:
        first = e.errors()[0]
        problem = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            problem = "is not a field of this resource (check the spelling)"
        raise SpecError(kind, name, field_path(first["loc"]), problem) from None


def tenant_config(resource: Mapping) -> TenantConfig:
    name, spec = _parse(resource, "Tenant", TenantSpec)
    return TenantConfig(
        name=name, display_name=spec.display_name, home_site=spec.home_site, failover_sites=tuple(spec.failover_sites)
    )


def trunk_config(resource: Mapping) -> tuple[str, TrunkConfig]:
    name, spec = _parse(resource, "Trunk", TrunkSpec)
    return spec.tenant, TrunkConfig(
        name=name,
        numbers=tuple(spec.numbers),
        carrier=spec.carrier,
        codecs=tuple(spec.codecs),
        home_site=spec.home_site,
        default_queue=spec.default_queue,
        allowed_sources=tuple(spec.allowed_sources),
    )


def _skills(skills: list[SkillSpec]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(s.name, s.min_level) for s in skills)


def queue_config(resource: Mapping) -> tuple[str, QueueConfig]:
    name, spec = _parse(resource, "Queue", QueueSpec)
    actions = {"onMaxWait": spec.on_max_wait, "onMaxLength": spec.on_max_length, "onNoAgents": spec.on_no_agents}
    for field, action in actions.items():
        if action.target_queue == name:
            raise SpecError("Queue", name, f"spec.{field}.targetQueue", "must name another queue, not the queue itself")
    return spec.tenant, QueueConfig(
        name=name,
        skills=_skills(spec.skills),
        rings=tuple(SkillRing(r.after_seconds, _skills(r.skills)) for r in spec.rings),
        strategy=Strategy(spec.strategy),
        priority=spec.priority,
        sl_threshold_s=spec.service_level.threshold_seconds,
        sl_target=spec.service_level.target,
        max_wait_s=spec.max_wait_seconds,
        max_length=spec.max_length,
        on_max_wait=Action(ActionKind(spec.on_max_wait.action), spec.on_max_wait.target_queue),
        on_max_length=Action(ActionKind(spec.on_max_length.action), spec.on_max_length.target_queue),
        on_no_agents=Action(ActionKind(spec.on_no_agents.action), spec.on_no_agents.target_queue),
        wrap_up_s=spec.wrap_up_seconds,
        offer_timeout_s=spec.offer_timeout_seconds,
        aging_per_minute=spec.aging_per_minute,
        expected_handle_s=spec.expected_handle_seconds,
    )
