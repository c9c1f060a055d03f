"""A chaos drill as a document, in Chaos Toolkit's shape: hypothesis, method, rollbacks.

A drill (YAML under ``chaos/drills/``) names the platform it needs (sites,
nodes per site, etcd members), the load that runs through it (Poisson
callers per site, agents per site, an optional surge), the steady-state
hypothesis with its tolerances, the method (fault actions at given seconds
after the load starts) and the rollbacks (actions that bring the platform
back, run after the load, whatever happened). ``short`` gives the bounded
form CI runs; without it the full form runs.

Actions (``action:``), each with the arguments it names:

- ``kill-owner`` (site, queue): SIGKILL the node that owns the queue at the site;
- ``kill-node`` (site, node) / ``kill-site`` (site): SIGKILL one node / every node of a site;
- ``restart-site`` (site): start the site's dead nodes again;
- ``kill-etcd-member`` (member: index): SIGKILL one member of a 3-member cluster (quorum stays);
- ``partition-site`` (site) / ``heal-site`` (site): cut / restore the site's path to etcd;
- ``latency`` (site, seconds): delay every packet between the site and etcd;
- ``site-up`` (site): an SRE fails the site back (``ccp site up``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

ActionName = Literal[
    "kill-owner",
    "kill-node",
    "kill-site",
    "restart-site",
    "kill-etcd-member",
    "partition-site",
    "heal-site",
    "latency",
    "site-up",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformSpec(_Model):
    sites: list[str] = Field(min_length=1)
    nodes_per_site: int = Field(default=2, ge=1, le=4)
    etcd_members: Literal[1, 3] = 1
    lease_ttl_s: int = Field(default=1, ge=1)
    site_lost_after_s: float = Field(default=3.0, gt=0)
    # Per site: the queue's margin for N-way overflow; None: no cross-site overflow.
    site_overflow_margin_s: float | None = None


class StreamSpec(_Model):
    site: str
    rate_per_s: float = Field(gt=0)


class SurgeSpec(_Model):
    factor: float = Field(gt=1)
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)


class LoadSpec(_Model):
    duration_s: float = Field(gt=0, le=600)
    aht_s: float = Field(default=3.0, gt=0)
    patience_s: float | None = Field(default=60.0, gt=0)
    # Callers give up when a call is not answered within this (real) time; also the SL threshold.
    sl_threshold_s: float = Field(default=5.0, gt=0)
    streams: list[StreamSpec] = Field(min_length=1)
    agents: dict[str, int]
    surge: SurgeSpec | None = None
    max_calls: int = Field(default=2000, ge=1, le=20000)


class Tolerances(_Model):
    lost: int = 0
    duplicated: int = 0
    # Seconds: the longest the measured scope's routing may stop (None: reported only).
    routing_stopped_s: float | None = None
    service_level_min: float | None = None


class Hypothesis(_Model):
    title: str
    tolerances: Tolerances = Tolerances()


class Action(_Model):
    action: ActionName
    at_s: float = Field(default=0.0, ge=0)
    site: str = ""
    queue: str = "main"
    node: str = ""
    member: int = 0
    seconds: float = 0.0


class Measure(_Model):
    """Whose routing the "routing stopped" figure is about, counted from the first fault."""

    site: str = ""
    queue: str = ""
    # "waiting": calls of the scope waiting when the fault hit (a lost site's queue);
    # "affected": those and every later arrival (the longest any caller was held up).
    calls: Literal["waiting", "affected"] = "affected"


class Short(_Model):
    duration_s: float = Field(gt=0)


class Drill(_Model):
    title: str
    description: str = ""
    platform: PlatformSpec
    load: LoadSpec
    steady_state_hypothesis: Hypothesis = Field(alias="steady-state-hypothesis")
    method: list[Action] = Field(default_factory=list)
    rollbacks: list[Action] = Field(default_factory=list)
    measure: Measure = Measure()
    short: Short | None = None

    def shortened(self) -> Drill:
        if self.short is None:
            return self
        return self.model_copy(update={"load": self.load.model_copy(update={"duration_s": self.short.duration_s})})

    @property
    def fault_at_s(self) -> float | None:
        return min((a.at_s for a in self.method), default=None)


DRILLS = Path(__file__).resolve().parents[3] / "chaos" / "drills"


def load_drill(name_or_path: str | Path) -> Drill:
    """A drill by path, or by name from ``chaos/drills/`` (``kill-owner`` -> ``chaos/drills/kill-owner.yaml``)."""
    path = Path(name_or_path)
    if not path.exists():
        path = DRILLS / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in DRILLS.glob("*.yaml")))
        raise FileNotFoundError(f"no drill {name_or_path!r} (known: {known})")
    return Drill.model_validate(yaml.safe_load(path.read_text()))


def drill_names() -> list[str]:
    return sorted(p.stem for p in DRILLS.glob("*.yaml"))
