"""Skill matching: does an agent meet a set of requirements."""

from __future__ import annotations

from collections.abc import Iterable

from ccp_acd.domain.models import Agent, SkillRequirement


def eligible(agent: Agent, requirements: Iterable[SkillRequirement]) -> bool:
    """True when the agent has every required skill at or above its minimum level.

    No requirements means anyone can take the call.
    """
    return all(agent.skills.get(r.name, 0) >= r.min_level for r in requirements)
