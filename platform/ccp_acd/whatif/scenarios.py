"""What the what-if engine plays and what it returns: callers, agents, bounds, the outcome of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ccp_acd.domain.models import Call, Channel


@dataclass(frozen=True, kw_only=True)
class Arrival:
    """One caller: arrives at ``at_s``, needs ``handle_s`` of talk, hangs up after ``patience_s`` unanswered."""

    id: str
    at_s: float
    queue: str
    handle_s: float
    patience_s: float | None = None  # None: waits as long as it takes
    channel: Channel = Channel.VOICE
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class StaffMember:
    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[Channel, int] = field(default_factory=lambda: {Channel.VOICE: 1})


@dataclass(frozen=True, kw_only=True)
class Options:
    # Seconds from an offer to the agent's accept; at or beyond the queue's offer timeout nobody answers.
    answer_delay_s: float = 0.0
    # The platform puts an agent whose offer timed out on a break; seconds until the simulated agent is back.
    no_answer_break_s: float = 60.0
    max_calls: int = 100_000
    # Virtual seconds after which the run stops; calls still in the system are reported unfinished.
    max_time_s: float = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Outcome:
    calls: tuple[Call, ...]  # the last record of every admitted call: ended, or still live when the run stopped
    refused: tuple[str, ...]  # arrivals a full queue turned away (max length, action wait)
    busy: Mapping[str, tuple[tuple[float, float], ...]]  # per agent: offered, talking or in wrap-up
    end_s: float
    agents: int

    @property
    def unfinished(self) -> tuple[Call, ...]:
        return tuple(c for c in self.calls if not c.state.terminal)
