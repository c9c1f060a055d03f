"""What happened to every call (the recorder's timelines) and the Jepsen-style verdict on it.

The driver records what the clients saw, in model seconds since the run
started: when the caller sent Enqueue, every offer an agent received, every
accept that succeeded, the abandon, the completion, and which node answered
each; after the drain, the node's own final record of each call. ``check`` is
pure, so it is tested on hand-built histories:

- lost: the system took the call (Enqueue returned an id) and, after the
  drain, the call is neither ended nor still waiting (its record is gone or
  unreadable), or a client saw it end and the node's record disagrees;
- duplicated: more than one accept succeeded for one call (two agents, or one
  agent twice), or the node's record names another agent than the one that
  accepted it;
- inconsistent: a timeline out of order (answered before it was enqueued,
  completed before answered, answered and abandoned);
- unresolved: still queued or connected when the drain timed out (reported,
  not lost: the caller is still in the system);
- service level and ASA in model seconds, over the calls the system took.

Caveat: client-side times include one gRPC round trip (scaled to model time,
a few milliseconds become a fraction of a model second at high time scales).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean

from ccp_acd.sim.workload import PlannedCall

TERMINAL = ("completed", "abandoned", "voicemail")
# Final states that mean the caller is still in the system.
OPEN = ("queued", "connected")


@dataclass
class CallTimeline:
    """One planned call's history. Times are model seconds since the run started; None: did not happen."""

    planned: PlannedCall
    # Position in the workload.
    index: int = 0
    call_id: str = ""
    enqueue_error: str = ""
    # When the caller sent Enqueue (its arrival) and when the node acknowledged it.
    enqueued_at: float | None = None
    acked_at: float | None = None
    enqueue_node: str = ""
    offers: list[tuple[str, float]] = field(default_factory=list)  # (agent, when its desktop saw the offer)
    accepts: list[tuple[str, float]] = field(default_factory=list)  # (agent, when the accept succeeded)
    answer_node: str = ""
    completed_at: float | None = None
    abandoned_at: float | None = None
    # The node's record after the drain: state name ("missing": no record), agent, reason, queue and site.
    final_state: str = ""
    final_agent: str = ""
    final_reason: str = ""
    final_queue: str = ""
    final_site: str = ""

    @property
    def offered_at(self) -> float | None:
        return self.offers[0][1] if self.offers else None

    @property
    def answered_at(self) -> float | None:
        return self.accepts[0][1] if self.accepts else None

    @property
    def agent(self) -> str:
        return self.accepts[0][0] if self.accepts else ""

    @property
    def ended_at(self) -> float | None:
        """When the client saw the call end (completed or abandoned)."""
        return self.completed_at if self.completed_at is not None else self.abandoned_at

    @property
    def wait_s(self) -> float | None:
        """Arrival to answer, model seconds; None when not answered."""
        if self.answered_at is None or self.enqueued_at is None:
            return None
        return self.answered_at - self.enqueued_at

    @property
    def outcome(self) -> str:
        """The node's final state when known; else what the clients saw; "refused" if never taken."""
        if not self.call_id:
            return "refused"
        if self.final_state:
            return self.final_state
        if self.completed_at is not None:
            return "completed"
        if self.abandoned_at is not None:
            return "abandoned"
        return "connected" if self.accepts else "queued"


@dataclass
class Recording:
    """One run: the timelines in workload order, and the clock they are measured with."""

    timelines: list[CallTimeline]
    time_scale: float
    run_id: str = ""
    # Wall-clock (time.time()) of model second 0, to compare with the nodes' timestamps.
    started_wall: float = 0.0

    def verdict(self, *, threshold_s: float = 20.0) -> Verdict:
        return check(self, threshold_s=threshold_s)


def problems(t: CallTimeline) -> list[str]:
    """What is out of order in one timeline (empty when consistent)."""
    found = []
    if not t.call_id:
        return found
    times = [("enqueued", t.enqueued_at), ("answered", t.answered_at), ("completed", t.completed_at)]
    present = [(name, at) for name, at in times if at is not None]
    for (a, at_a), (b, at_b) in zip(present, present[1:], strict=False):
        if at_b < at_a:
            found.append(f"{b} at {at_b:.3f} before {a} at {at_a:.3f}")
    if t.enqueued_at is not None and t.enqueued_at < t.planned.at_s:
        found.append(f"enqueued at {t.enqueued_at:.3f} before its arrival at {t.planned.at_s:.3f}")
    if t.completed_at is not None and not t.accepts:
        found.append("completed but never answered")
    if t.abandoned_at is not None and t.accepts:
        found.append("abandoned although answered")
    if t.abandoned_at is not None and t.enqueued_at is not None and t.abandoned_at < t.enqueued_at:
        found.append("abandoned before it was enqueued")
    return found


@dataclass(frozen=True)
class Verdict:
    planned: int
    enqueued: int
    refused: int
    answered: int
    completed: int
    abandoned: int
    voicemail: int
    unresolved: int
    lost: list[str]
    duplicated: list[str]
    inconsistent: list[str]
    service_level: float
    asa_s: float
    threshold_s: float

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated and not self.inconsistent

    @property
    def abandonment_rate(self) -> float:
        return self.abandoned / self.enqueued if self.enqueued else 0.0

    def lines(self) -> list[str]:
        return [
            f"planned {self.planned}, enqueued {self.enqueued}, refused at the door {self.refused}",
            f"answered {self.answered}, completed {self.completed}, abandoned {self.abandoned} "
            f"({self.abandonment_rate:.1%}), voicemail {self.voicemail}, still in the system {self.unresolved}",
            f"service level {self.service_level:.1%} within {self.threshold_s:g}s, ASA {self.asa_s:.1f}s (model time)",
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, inconsistent {len(self.inconsistent)}",
            *(f"  lost: {c}" for c in self.lost[:10]),
            *(f"  duplicated: {c}" for c in self.duplicated[:10]),
            *(f"  inconsistent: {c}" for c in self.inconsistent[:10]),
        ]


def check(history: Recording | Sequence[CallTimeline], *, threshold_s: float = 20.0) -> Verdict:
    """Judge a run. Service level: answered within ``threshold_s`` / (answered + abandoned after it + voicemail).

    Abandons within the threshold count neither way (the usual contact-center
    convention); calls still waiting at the end are left out.
    """
    timelines = history.timelines if isinstance(history, Recording) else list(history)
    enqueued = [t for t in timelines if t.call_id]
    lost, duplicated, inconsistent = [], [], []
    counts = dict.fromkeys(TERMINAL, 0)
    unresolved = 0
    for t in enqueued:
        agents = {agent for agent, _ in t.accepts}
        if len(t.accepts) > 1 or (t.accepts and t.final_agent and t.final_agent not in agents):
            duplicated.append(t.call_id)
        if t.final_state in TERMINAL:
            counts[t.final_state] += 1
            if (t.completed_at is not None and t.final_state != "completed") or (
                t.abandoned_at is not None and t.final_state != "abandoned"
            ):
                lost.append(t.call_id)  # a client saw an end the node does not have
        elif t.final_state in OPEN and t.completed_at is None and t.abandoned_at is None:
            unresolved += 1
        else:
            lost.append(t.call_id)
        inconsistent += [f"{t.call_id}: {p}" for p in problems(t)]
    waits = [t.wait_s for t in enqueued if t.wait_s is not None]
    short_abandons = sum(
        1
        for t in enqueued
        if t.final_state == "abandoned"
        and not t.accepts
        and t.abandoned_at is not None
        and t.enqueued_at is not None
        and t.abandoned_at - t.enqueued_at <= threshold_s
    )
    not_answered = sum(1 for t in enqueued if t.final_state in ("abandoned", "voicemail") and not t.accepts)
    denominator = len(waits) + not_answered - short_abandons
    within = sum(1 for w in waits if w <= threshold_s)
    return Verdict(
        planned=len(timelines),
        enqueued=len(enqueued),
        refused=sum(1 for t in timelines if t.enqueue_error),
        answered=sum(1 for t in enqueued if t.accepts),
        completed=counts["completed"],
        abandoned=counts["abandoned"],
        voicemail=counts["voicemail"],
        unresolved=unresolved,
        lost=lost,
        duplicated=duplicated,
        inconsistent=inconsistent,
        service_level=within / denominator if denominator > 0 else 1.0,
        asa_s=fmean(waits) if waits else 0.0,
        threshold_s=threshold_s,
    )
