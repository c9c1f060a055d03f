"""What to simulate: planned calls (Poisson arrivals, exponential handle times) and a roster.

All times are model seconds; the driver divides them by its time scale.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ccp_acd.domain.models import Channel


@dataclass(frozen=True)
class PlannedCall:
    seq: int
    at_s: float
    queue: str
    site: str
    handle_s: float
    channel: Channel = Channel.VOICE
    priority: int = 0
    # The caller hangs up after this long in queue (None: waits forever).
    patience_s: float | None = None
    address: str = ""


@dataclass(frozen=True)
class SimAgent:
    id: str
    site: str
    skills: dict[str, int] = field(default_factory=dict)
    capacity: dict[Channel, int] = field(default_factory=lambda: {Channel.VOICE: 1})


@dataclass(frozen=True)
class Stream:
    """One kind of traffic: calls of this queue, site and channel, in proportion to ``weight``."""

    queue: str
    site: str
    weight: float = 1.0
    channel: Channel = Channel.VOICE


def poisson_workload(
    rng: random.Random,
    *,
    rate_per_s: float,
    duration_s: float,
    max_calls: int,
    aht_s: float,
    streams: Sequence[Stream],
    patience_s: float | None = None,
) -> list[PlannedCall]:
    """Arrivals at ``rate_per_s`` until ``duration_s`` or ``max_calls``; each call picks a stream by weight.

    Handle times are exponential with mean ``aht_s``; patience, when given, is
    exponential with that mean.
    """
    if rate_per_s <= 0 or aht_s <= 0 or not streams:
        raise ValueError("rate_per_s and aht_s must be positive and there must be at least one stream")
    calls: list[PlannedCall] = []
    t = 0.0
    weights = [s.weight for s in streams]
    while len(calls) < max_calls:
        t += rng.expovariate(rate_per_s)
        if t > duration_s:
            break
        stream = rng.choices(streams, weights)[0]
        calls.append(
            PlannedCall(
                seq=len(calls),
                at_s=t,
                queue=stream.queue,
                site=stream.site,
                channel=stream.channel,
                handle_s=rng.expovariate(1 / aht_s),
                patience_s=rng.expovariate(1 / patience_s) if patience_s else None,
                address=f"+1555{rng.randrange(10**7):07d}",
            )
        )
    return calls


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgentEntry(_Model):
    id: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    site: str
    skills: dict[str, int] = {}
    chats: int = Field(default=0, ge=0, le=10)


class _StreamEntry(_Model):
    queue: str
    site: str
    weight: float = Field(default=1.0, gt=0)
    channel: Channel = Channel.VOICE


class Roster(_Model):
    """The simulated side of ``ccp up``: who the agents are, and the traffic mix."""

    tenant: str
    aht_seconds: float = Field(default=180.0, gt=0)
    patience_seconds: float | None = Field(default=None, gt=0)
    agents: list[_AgentEntry] = Field(min_length=1)
    traffic: list[_StreamEntry] = Field(min_length=1)

    def sim_agents(self) -> list[SimAgent]:
        agents = []
        for a in self.agents:
            capacity = {Channel.VOICE: 1} | ({Channel.CHAT: a.chats} if a.chats else {})
            agents.append(SimAgent(a.id, a.site, dict(a.skills), capacity))
        return agents

    def streams(self) -> list[Stream]:
        return [Stream(s.queue, s.site, s.weight, s.channel) for s in self.traffic]


def load_roster(path: str | Path) -> Roster:
    with open(path) as f:
        return Roster.model_validate(yaml.safe_load(f))
