"""What happened to every call, and the Jepsen-style verdict on it.

The driver records what clients saw (enqueued, each accept, abandon, complete)
and, after draining, the node's final record of each call. ``check`` is pure:

- lost: the system took the call (it has an id) and, after the drain, the call
  is neither ended nor still waiting, or its record is gone;
- duplicated: more than one accept succeeded for one call (two agents, or one
  agent twice);
- unresolved: still queued or connected when the drain timed out (reported,
  not lost: the caller is still in the system);
- service level and ASA in model seconds, over the answered calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from ccp_acd.sim.workload import PlannedCall

TERMINAL = ("completed", "abandoned", "voicemail")


@dataclass
class CallTimeline:
    planned: PlannedCall
    call_id: str = ""
    enqueue_error: str = ""
    # Model seconds since the run started.
    enqueued_at: float | None = None
    accepts: list[tuple[str, float]] = field(default_factory=list)  # (agent, at)
    completed_at: float | None = None
    abandoned_at: float | None = None
    # The node's record after the drain: state name, agent, reason ("" when unknown).
    final_state: str = ""
    final_agent: str = ""
    final_reason: str = ""

    @property
    def answered_at(self) -> float | None:
        return self.accepts[0][1] if self.accepts else None

    @property
    def wait_s(self) -> float | None:
        if self.answered_at is None or self.enqueued_at is None:
            return None
        return self.answered_at - self.enqueued_at


@dataclass(frozen=True)
class Verdict:
    planned: int
    enqueued: int
    refused: int
    completed: int
    abandoned: int
    voicemail: int
    unresolved: int
    lost: list[str]
    duplicated: list[str]
    service_level: float
    asa_s: float
    threshold_s: float

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated

    def lines(self) -> list[str]:
        return [
            f"planned {self.planned}, enqueued {self.enqueued}, refused at the door {self.refused}",
            f"completed {self.completed}, abandoned {self.abandoned}, voicemail {self.voicemail}, "
            f"still in the system {self.unresolved}",
            f"service level {self.service_level:.1%} within {self.threshold_s:g}s, ASA {self.asa_s:.1f}s (model time)",
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}",
        ]


def check(timelines: list[CallTimeline], *, threshold_s: float = 20.0) -> Verdict:
    enqueued = [t for t in timelines if t.call_id]
    lost, duplicated = [], []
    counts = dict.fromkeys(TERMINAL, 0)
    unresolved = 0
    for t in enqueued:
        if len(t.accepts) > 1:
            duplicated.append(t.call_id)
        if t.final_state in TERMINAL:
            counts[t.final_state] += 1
        elif t.final_state in ("queued", "connected"):
            unresolved += 1
        else:
            lost.append(t.call_id)
    waits = [t.wait_s for t in enqueued if t.wait_s is not None]
    short_abandons = sum(
        1
        for t in enqueued
        if t.final_state == "abandoned" and t.abandoned_at is not None and t.enqueued_at is not None
        and t.abandoned_at - t.enqueued_at <= threshold_s
    )
    offered = len(waits) + sum(1 for t in enqueued if t.final_state in ("abandoned", "voicemail") and not t.accepts)
    denominator = offered - short_abandons
    within = sum(1 for w in waits if w <= threshold_s)
    return Verdict(
        planned=len(timelines),
        enqueued=len(enqueued),
        refused=sum(1 for t in timelines if t.enqueue_error),
        completed=counts["completed"],
        abandoned=counts["abandoned"],
        voicemail=counts["voicemail"],
        unresolved=unresolved,
        lost=lost,
        duplicated=duplicated,
        service_level=within / denominator if denominator > 0 else 1.0,
        asa_s=fmean(waits) if waits else 0.0,
        threshold_s=threshold_s,
    )
