"""A Queue resource in, its tenant and the routing config ACD nodes read out. Pure.

A queue overflowing into itself is refused here (the resource alone says so);
whether an overflow target exists is a question about a set: see ``loader``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccp_acd.domain.models import Action, ActionKind, QueueConfig, SkillRequirement, SkillRing, Strategy
from ccp_acd.domain.voice_settings import Announcements, VoicemailSettings

from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.schema import ActionSpec, QueueSpec, SkillSpec, validated

# The overflow fields, as the user writes them, with the QueueConfig field each becomes.
OVERFLOW_FIELDS = {"onMaxWait": "on_max_wait", "onMaxLength": "on_max_length", "onNoAgents": "on_no_agents"}


def _skills(skills: list[SkillSpec]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(s.name, s.min_level) for s in skills)


def _action(action: ActionSpec) -> Action:
    return Action(ActionKind(action.action), action.target_queue)


def queue_config(resource: Mapping) -> tuple[str, QueueConfig]:
    """(tenant, config); raises SpecError naming the first wrong field."""
    name, spec = validated(resource, QueueSpec)
    for field, attribute in OVERFLOW_FIELDS.items():
        if getattr(spec, attribute).target_queue == name:
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
        on_max_wait=_action(spec.on_max_wait),
        on_max_length=_action(spec.on_max_length),
        on_no_agents=_action(spec.on_no_agents),
        wrap_up_s=spec.wrap_up_seconds,
        offer_timeout_s=spec.offer_timeout_seconds,
        aging_per_minute=spec.aging_per_minute,
        expected_handle_s=spec.expected_handle_seconds,
        site_overflow_margin_s=None if spec.site_overflow is None else spec.site_overflow.margin_seconds,
        music_on_hold=spec.music_on_hold,
        announcements=Announcements(
            every_s=float(spec.announcements.every_seconds),
            position=spec.announcements.position,
            expected_wait=spec.announcements.expected_wait,
        ),
        voicemail=VoicemailSettings(max_s=spec.voicemail.max_seconds, prompt=spec.voicemail.prompt),
        record_calls=spec.record_calls,
    )
