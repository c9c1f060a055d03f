"""The schema of the ccp.dev/v1alpha1 resources: one source for validation here and,
through ``model_json_schema()``, for the CRDs' OpenAPI schemas (``ccp_operator.crds``).

Field names are the user's (camelCase); unknown fields are refused, not ignored,
so a typo never silently falls back to a default. Types are strict, as in the
CRDs: ``"30"`` is not a number and ``true`` is not an integer. Defaults match
``ccp_acd.domain.models.QueueConfig``.

Not for: rules that need more than one resource (a queue's overflow target
exists, names are unique in a set): those are in ``loader``. Rules checked here
in code (validators) do not appear in ``model_json_schema()``; ``crds`` restates
the ones the API server must enforce as CEL rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ccp_operator.specs.base import (  # noqa: F401 (GROUP, VERSION, API_VERSION and the patterns are imported from here)
    API_VERSION,
    DNS_LABEL,
    E164,
    GROUP,
    OPTIONAL_DNS_LABEL,
    SKILL_NAME,
    VERSION,
    FieldProblem,
    Name,
    Seconds,
    Spec,
    cidr,
    distinct,
    object_or_absent,
)
from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.voice import (
    AnnouncementsSpec,
    IvrSpec,
    MusicOnHold,
    SipSpec,
    VoicemailSpec,
    every_call_reaches_a_queue,
)

# A week: long enough for any client to pick up a rotated Secret, short enough that a leaked token dies.
MAX_GRACE_SECONDS = 7 * 86400


class CredentialsSpec(Spec):
    rotation: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Raise it to issue new API tokens into the credentials Secret; it may only go up.",
    )
    grace_seconds: int = Field(
        default=3600,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="How long the tokens a rotation replaces keep working (0: they stop at once).",
    )


class LimitsSpec(Spec):
    enqueue_per_second: float | None = Field(
        default=None, gt=0, le=100_000,
        description="Enqueues per second this tenant may send to one ACD node (absent: the node's default).",
    )
    burst: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="Enqueues the tenant may send at once above its rate (absent: the node's default).",
    )
    max_waiting: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="Calls the tenant may have waiting; Enqueue is refused beyond (absent: the node's default).",
    )


class RetentionSpec(Spec):
    call_records_days: int = Field(
        default=400,
        ge=1,
        le=3650,
        description="Days ended call records, their caller index, the presence log and the audit log are kept "
        "(docs/security.md, Data protection).",
    )


class TenantSpec(Spec):
    kind: ClassVar[str] = "Tenant"
    limits: LimitsSpec | None = Field(
        default=None,
        json_schema_extra=object_or_absent,
        description="Overload limits (docs/security.md): further Enqueues are refused RESOURCE_EXHAUSTED.",
    )
    credentials: CredentialsSpec = CredentialsSpec()
    display_name: str = Field(default="", max_length=256)
    home_site: Name
    failover_sites: Annotated[list[Name], AfterValidator(distinct)] = Field(default_factory=list, max_length=16)
    retention: RetentionSpec = RetentionSpec()

    @model_validator(mode="after")
    def _home_is_not_a_failover(self) -> TenantSpec:
        if self.home_site in self.failover_sites:
            index = self.failover_sites.index(self.home_site)
            raise FieldProblem(("failoverSites", index), f"lists the home site {self.home_site!r}")
        return self


class TrunkSpec(Spec):
    kind: ClassVar[str] = "Trunk"
    tenant: Name
    home_site: Name
    numbers: Annotated[list[Annotated[str, Field(pattern=E164)]], AfterValidator(distinct)] = Field(
        min_length=1, max_length=1000
    )
    carrier: str = Field(default="", max_length=256, description="The carrier's name, for people (sip.carrier: where).")
    codecs: Annotated[list[Literal["PCMU"]], AfterValidator(distinct)] = Field(
        default_factory=lambda: ["PCMU"],
        min_length=1,
        description="PCMU only: the SIP adapter's library (pyVoIP 1.6.8) sends PCMA wrongly encoded.",
    )
    default_queue: Annotated[str, Field(pattern=OPTIONAL_DNS_LABEL, max_length=63)] = ""
    allowed_sources: list[Annotated[str, AfterValidator(cidr)]] = Field(default_factory=list, max_length=256)
    sip: SipSpec | None = Field(
        default=None,
        json_schema_extra=object_or_absent,
        description="Where the SIP adapter serves this trunk. Absent: no adapter serves it (config only).",
    )
    ivr: IvrSpec | None = Field(
        default=None,
        json_schema_extra=object_or_absent,
        description="A DTMF menu tree played before the call is queued. Absent: calls go to defaultQueue.",
    )

    @model_validator(mode="after")
    def _every_call_reaches_a_queue(self) -> TrunkSpec:
        every_call_reaches_a_queue(default_queue=self.default_queue, sip=self.sip, ivr=self.ivr)
        return self
        if self.ivr is None:
            if self.sip is not None:
                raise FieldProblem(("defaultQueue",), "is needed by a trunk with sip and no ivr: calls must reach a queue")
            return self
        for i, menu in enumerate(self.ivr.menus):
            if menu.on_timeout is None:
                raise FieldProblem(
                    ("ivr", "menus", i, "onTimeout"),
                    "is needed when the trunk has no defaultQueue: a caller who presses nothing must reach a queue",
                )
            targets = [(("ivr", "menus", i, "onTimeout"), menu.on_timeout)]
            targets += [(("ivr", "menus", i, "options", j), o) for j, o in enumerate(menu.options)]
            for loc, target in targets:
                if target.action is not None and target.queue is None:
                    raise FieldProblem(
                        (*loc, "queue"), f"action {target.action!r} needs queue when the trunk has no defaultQueue"
                    )
        return self


class SkillSpec(Spec):
    name: Annotated[str, Field(pattern=SKILL_NAME)]
    min_level: int = Field(default=1, ge=1, le=10)


def _distinct_skills(skills: list[SkillSpec]) -> list[SkillSpec]:
    return list(distinct(skills, key=lambda s: s.name, field=("name",)))


Skills = Annotated[list[SkillSpec], AfterValidator(_distinct_skills)]


class RingSpec(Spec):
    after_seconds: Seconds
    skills: Skills = Field(max_length=64)


class ServiceLevelSpec(Spec):
    threshold_seconds: float = Field(default=20.0, gt=0, le=3600)
    target: float = Field(default=0.8, ge=0, le=1)


class ActionSpec(Spec):
    action: Literal["wait", "queue", "voicemail", "callback"] = "wait"
    target_queue: Name | None = None

    @model_validator(mode="after")
    def _target_only_for_queue(self) -> ActionSpec:
        if self.action == "queue" and not self.target_queue:
            raise FieldProblem(("targetQueue",), "action 'queue' needs targetQueue")
        if self.action != "queue" and self.target_queue:
            raise FieldProblem(("targetQueue",), f"targetQueue is only for action 'queue', not {self.action!r}")
        return self


class SiteOverflowSpec(Spec):
    margin_seconds: Seconds = Field(
        description="How many seconds worse this site's expected wait must be than another site's before the call"
        " at the head of the queue moves there."
    )


class QueueSpec(Spec):
    kind: ClassVar[str] = "Queue"
    tenant: Name
    strategy: Literal["longest-idle", "round-robin", "fewest-calls", "least-talk-time", "best-skill-match"] = (
        "longest-idle"
    )
    priority: int = Field(default=0, ge=0, le=100)
    skills: Skills = Field(default_factory=list, max_length=64)
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
    site_overflow: SiteOverflowSpec | None = Field(
        default=None,
        json_schema_extra=object_or_absent,
        description="N-way cross-site overflow: the call at the head of the queue moves to the site with the lowest"
        " expected wait when this site's expected wait is worse by more than marginSeconds. Absent: calls stay at"
        " the site they arrived at (site failover still moves them).",
    )
    music_on_hold: MusicOnHold = Field(
        default="", description="A prompt looped while callers wait (tone:... or file:...); empty: the default."
    )
    announcements: AnnouncementsSpec = AnnouncementsSpec()
    voicemail: VoicemailSpec = VoicemailSpec()
    record_calls: bool = Field(
        default=False, description="Record each bridged call (caller left, agent right, encrypted at rest like"
        " voicemail); the recording is attached to the call's record.",
    )

    @model_validator(mode="after")
    def _rings_widen_in_order(self) -> QueueSpec:
        # The domain would sort them, but two rings at one time, or a list out of order, is a mistake to point at.
        for index in range(1, len(self.rings)):
            before, after = self.rings[index - 1].after_seconds, self.rings[index].after_seconds
            if after <= before:
                raise FieldProblem(
                    ("rings", index, "afterSeconds"), f"must be later than the ring before it ({before:g} s)"
                )
        return self


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    name: Name


SPECS: dict[str, type[Spec]] = {spec.kind: spec for spec in (TenantSpec, TrunkSpec, QueueSpec)}

S = TypeVar("S", bound=Spec)


def field_path(loc: Sequence[Any], prefix: str = "spec") -> str:
    """('skills', 0, 'minLevel') -> 'spec.skills[0].minLevel'."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _first_problem(error: ValidationError, prefix: str) -> tuple[str, str]:
    first = error.errors()[0]
    loc, problem = tuple(first["loc"]), first["msg"].removeprefix("Value error, ")
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, FieldProblem):
        loc += cause.loc
        problem = str(cause)
    if first["type"] == "extra_forbidden":
        problem = "is not a field of this resource (check the spelling)"
    return field_path(loc, prefix), problem


def validated(resource: Mapping, schema: type[S]) -> tuple[str, S]:
    """A resource's name and its spec validated against ``schema``; a SpecError names the first wrong field."""
    metadata = resource.get("metadata") or {}
    raw_name = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    try:
        name = Metadata.model_validate(dict(metadata) if isinstance(metadata, Mapping) else metadata).name
    except ValidationError as e:
        raise SpecError(schema.kind, str(raw_name) or "?", *_first_problem(e, "metadata")) from None
    spec = resource.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError(schema.kind, name, "spec", "is required and must be a mapping")
    try:
        return name, schema.model_validate(dict(spec))
    except ValidationError as e:
        raise SpecError(schema.kind, name, *_first_problem(e, "spec")) from None
