"""The schema of the ccp.dev/v1alpha1 resources: one source for validation here and,
through ``model_json_schema()``, for the CRDs' OpenAPI schemas (issue 3).

Field names are the user's (camelCase); unknown fields are refused, not ignored,
so a typo never silently falls back to a default. Defaults match
``ccp_acd.domain.models.QueueConfig``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "ccp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
OPTIONAL_DNS_LABEL = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$"
E164 = r"^\+[1-9][0-9]{1,14}$"
SKILL_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

Name = Annotated[str, Field(pattern=DNS_LABEL)]
Seconds = Annotated[float, Field(ge=0)]


class Spec(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class TenantSpec(Spec):
    display_name: str = Field(default="", max_length=256)
    home_site: Name
    failover_sites: list[Name] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _home_is_not_a_failover(self) -> TenantSpec:
        if self.home_site in self.failover_sites:
            raise ValueError(f"failoverSites lists the home site {self.home_site!r}")
        return self


class TrunkSpec(Spec):
    tenant: Name
    home_site: Name
    numbers: list[Annotated[str, Field(pattern=E164)]] = Field(min_length=1, max_length=1000)
    carrier: str = Field(default="", max_length=256)
    codecs: list[Literal["PCMU", "PCMA"]] = Field(default_factory=lambda: ["PCMU"], min_length=1)
    default_queue: Annotated[str, Field(pattern=OPTIONAL_DNS_LABEL)] = ""
    allowed_sources: list[str] = Field(default_factory=list, max_length=256)


class SkillSpec(Spec):
    name: Annotated[str, Field(pattern=SKILL_NAME)]
    min_level: int = Field(default=1, ge=1, le=10)


class RingSpec(Spec):
    after_seconds: Seconds
    skills: list[SkillSpec] = Field(max_length=64)


class ServiceLevelSpec(Spec):
    threshold_seconds: float = Field(default=20.0, gt=0, le=3600)
    target: float = Field(default=0.8, ge=0, le=1)


class ActionSpec(Spec):
    action: Literal["wait", "queue", "voicemail", "callback"] = "wait"
    target_queue: Name | None = None

    @model_validator(mode="after")
    def _target_only_for_queue(self) -> ActionSpec:
        if self.action == "queue" and not self.target_queue:
            raise ValueError("action 'queue' needs targetQueue")
        if self.action != "queue" and self.target_queue:
            raise ValueError(f"targetQueue is only for action 'queue', not {self.action!r}")
        return self


class QueueSpec(Spec):
    tenant: Name
    strategy: Literal["longest-idle", "round-robin", "fewest-calls", "least-talk-time", "best-skill-match"] = (
        "longest-idle"
    )
    priority: int = Field(default=0, ge=0, le=100)
    skills: list[SkillSpec] = Field(default_factory=list, max_length=64)
    rings: list[RingSpec] = Field(default_factory=list, max_length=16)
    service_level: ServiceLevelSpec = ServiceLevelSpec()
    max_wait_seconds: Seconds | None = None
    max_length: int | None = Field(default=None, ge=0)
    on_max_wait: ActionSpec = ActionSpec()
    on_max_length: ActionSpec = ActionSpec()
    on_no_agents: ActionSpec = ActionSpec()
    wrap_up_seconds: Seconds = 0.0
    offer_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    aging_per_minute: float = Field(default=1.0, ge=0, le=100)
    expected_handle_seconds: float = Field(default=180.0, gt=0)


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: Name


SPECS: dict[str, type[Spec]] = {"Tenant": TenantSpec, "Trunk": TrunkSpec, "Queue": QueueSpec}
