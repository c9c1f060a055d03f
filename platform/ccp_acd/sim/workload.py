"""What to simulate: planned calls (Poisson arrivals, exponential handle times) and a roster.

Pure: no I/O except reading the roster file. All times are *model* seconds; the
driver divides them by its time scale. A workload is a plain list of
``PlannedCall``, so a test can draw one here, hand-build one, or replay the
same sample path through the real nodes and through a reference model.

Not for: anything the nodes decide (routing, overflow). The roster file is not
a Kubernetes resource: it describes the people and the traffic the simulator
plays, not configuration.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ccp_acd.domain.models import Channel


@dataclass(frozen=True, kw_only=True)
class PlannedCall:
    """One caller: arrives at ``at_s``, needs ``handle_s`` of an agent, hangs up after ``patience_s`` in queue.

    ``caller`` is the caller's address (E.164 number, chat handle); ``site`` is
    the site whose nodes the caller reaches (the trunk's home site); empty:
    any node the driver knows.
    """

    at_s: float
    queue: str
    channel: Channel = Channel.VOICE
    priority: int = 0
    handle_s: float
    # None: waits as long as it takes.
    patience_s: float | None = None
    caller: str = ""
    site: str = ""


@dataclass(frozen=True)
class SimAgent:
    """A simulated agent: skills with levels, the site it logs in at, capacity per channel.

    ``wrap_up_s`` (model seconds) is sent with every Complete, scaled like
    everything else; None leaves it to the queue's wrap-up, which the node
    applies in real seconds.
    """

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    site: str = ""
    capacity: Mapping[Channel, int] = field(default_factory=lambda: {Channel.VOICE: 1})
    wrap_up_s: float | None = 0.0


@dataclass(frozen=True)
class Stream:
    """One kind of traffic: calls of this queue, site and channel, in proportion to ``weight``."""

    queue: str
    site: str = ""
    weight: float = 1.0
    channel: Channel = Channel.VOICE


def poisson_workload(
    rng: random.Random | int,
    *,
    rate_per_s: float,
    duration_s: float,
    max_calls: int,
    aht_s: float,
    mix: Mapping[str, float] | Sequence[Stream],
    patience_s: float | None = None,
) -> list[PlannedCall]:
    """Poisson arrivals at ``rate_per_s`` (all streams together) until ``duration_s`` or ``max_calls``.

    ``mix`` is either queue name -> weight, or a list of ``Stream`` (queue, site,
    channel, weight); each call picks one by weight, so each stream is itself
    Poisson at ``rate_per_s * weight / total weight``. Handle times are
    exponential with mean ``aht_s``; patience, when given, is exponential with
    mean ``patience_s``. ``rng`` is a ``random.Random`` or a seed: the same
    seed draws the same calls.
    """
    streams = [Stream(queue, weight=w) for queue, w in mix.items()] if isinstance(mix, Mapping) else list(mix)
    if rate_per_s <= 0 or aht_s <= 0 or duration_s < 0 or max_calls < 0:
        raise ValueError("rate_per_s and aht_s must be positive, duration_s and max_calls not negative")
    if not streams or any(s.weight <= 0 for s in streams):
        raise ValueError("the mix needs at least one stream, every weight positive")
    if patience_s is not None and patience_s <= 0:
        raise ValueError("patience_s must be positive (or None: callers wait forever)")
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    weights = [s.weight for s in streams]
    calls: list[PlannedCall] = []
    t = 0.0
    while len(calls) < max_calls:
        t += rng.expovariate(rate_per_s)
        if t > duration_s:
            break
        stream = rng.choices(streams, weights)[0]
        calls.append(
            PlannedCall(
                at_s=t,
                queue=stream.queue,
                site=stream.site,
                channel=stream.channel,
                handle_s=rng.expovariate(1 / aht_s),
                patience_s=rng.expovariate(1 / patience_s) if patience_s is not None else None,
                caller=f"+1555{rng.randrange(10**7):07d}",
            )
        )
    return calls


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgentEntry(_Model):
    id: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    site: str
    skills: dict[str, int] = {}
    # Chats at once on top of one voice call; 0: voice only.
    chats: int = Field(default=0, ge=0, le=10)
    # Model seconds; None: the roster's default.
    wrap_up_seconds: float | None = Field(default=None, ge=0)


class _StreamEntry(_Model):
    queue: str | None = None
    # Where the calls come in: a site, or a trunk whose home site (and default queue) is used.
    site: str | None = None
    trunk: str | None = None
    weight: float = Field(default=1.0, gt=0)
    channel: Channel = Channel.VOICE


class Roster(_Model):
    """The simulated side of ``ccp up``: who the agents are, and the traffic mix."""

    tenant: str
    aht_seconds: float = Field(default=180.0, gt=0)
    patience_seconds: float | None = Field(default=None, gt=0)
    wrap_up_seconds: float = Field(default=0.0, ge=0)
    agents: list[_AgentEntry] = Field(min_length=1)
    traffic: list[_StreamEntry] = Field(min_length=1)

    def sim_agents(self) -> list[SimAgent]:
        agents = []
        for a in self.agents:
            capacity = {Channel.VOICE: 1} | ({Channel.CHAT: a.chats} if a.chats else {})
            wrap = self.wrap_up_seconds if a.wrap_up_seconds is None else a.wrap_up_seconds
            agents.append(SimAgent(a.id, skills=dict(a.skills), site=a.site, capacity=capacity, wrap_up_s=wrap))
        return agents

    def streams(self, trunks: Mapping[str, tuple[str, str]] | None = None) -> list[Stream]:
        """The traffic mix; ``trunks`` maps a trunk name to (home site, default queue) for entries naming a trunk."""
        trunks = trunks or {}
        streams = []
        for s in self.traffic:
            site, queue = s.site, s.queue
            if s.trunk is not None:
                if s.trunk not in trunks:
                    raise ValueError(f"traffic names trunk {s.trunk!r}, which tenant {self.tenant!r} does not have")
                trunk_site, trunk_queue = trunks[s.trunk]
                site, queue = site or trunk_site, queue or trunk_queue
            if not queue:
                raise ValueError(f"traffic entry {s.model_dump(exclude_none=True)} names no queue (and no trunk with one)")
            streams.append(Stream(queue, site or "", s.weight, s.channel))
        return streams


def load_roster(path: str | Path) -> Roster:
    with open(path) as f:
        return Roster.model_validate(yaml.safe_load(f))
