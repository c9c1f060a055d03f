"""What a what-if plays: simulated calls (seeded draws), recorded calls (a tenant's history), and agents.

Pure: the caller reads the records and the roster. Times are seconds from the
start of the load (the engine's virtual clock starts at 0).

Recorded calls: each arrives at its recorded time in the queue it first
entered (overflow is decided again under the new configuration); its handle
time is its recorded talk time; a caller who hung up unanswered has a patience
equal to the time they waited; answered callers (and voicemail, callbacks)
waited as long as it took, so their patience is unknown and taken as
unlimited. A call never answered has no talk time of its own: it gets the mean
recorded talk time of its queue (of all queues if its queue answered none;
the queue's expected handle time if nothing was answered at all).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from statistics import fmean

from ccp_acd.domain.models import Call, CallState, QueueConfig
from ccp_acd.whatif.engine import Arrival, StaffMember

HANDLE_DISTRIBUTIONS = ("exponential", "fixed")


def simulated(
    *,
    seed: int,
    calls_per_hour: float,
    hours: float,
    aht_s: float,
    mix: Mapping[str, float],
    patience_s: float | None = None,
    handle: str = "exponential",
    max_calls: int = 100_000,
) -> list[Arrival]:
    """Poisson arrivals over ``hours`` split over ``mix`` (queue -> weight); the same seed draws the same calls.

    Handle times are exponential with mean ``aht_s`` (or all equal to it: ``handle="fixed"``);
    patience, when given, is exponential with mean ``patience_s``.
    """
    if calls_per_hour <= 0 or hours <= 0 or aht_s <= 0:
        raise ValueError("calls_per_hour, hours and aht_s must be positive")
    if patience_s is not None and patience_s <= 0:
        raise ValueError("patience_s must be positive (or None: callers wait forever)")
    if handle not in HANDLE_DISTRIBUTIONS:
        raise ValueError(f"handle must be one of {', '.join(HANDLE_DISTRIBUTIONS)}")
    if not mix or any(w <= 0 for w in mix.values()):
        raise ValueError("the mix needs at least one queue, every weight positive")
    rng = random.Random(seed)
    names, weights = list(mix), list(mix.values())
    rate_per_s, horizon_s = calls_per_hour / 3600, hours * 3600
    arrivals: list[Arrival] = []
    t = 0.0
    while len(arrivals) < max_calls:
        t += rng.expovariate(rate_per_s)
        if t > horizon_s:
            break
        queue = names[0] if len(names) == 1 else rng.choices(names, weights)[0]
        arrivals.append(
            Arrival(
                id=f"c{len(arrivals):06d}",
                at_s=t,
                queue=queue,
                handle_s=rng.expovariate(1 / aht_s) if handle == "exponential" else aht_s,
                patience_s=rng.expovariate(1 / patience_s) if patience_s is not None else None,
            )
        )
    return arrivals


def first_queue(call: Call) -> str:
    return call.route_history[0] if call.route_history else call.queue


def recorded(
    records: Iterable[Call], *, start: float, end: float, queues: Mapping[str, QueueConfig]
) -> list[Arrival]:
    """The ended calls that arrived in ``[start, end)``, as arrivals from ``start`` on (see module doc)."""
    calls = sorted(
        (c for c in records if c.state.terminal and start <= c.enqueued_at < end), key=lambda c: (c.enqueued_at, c.id)
    )
    talk: dict[str, list[float]] = {}
    for c in calls:
        if c.answered_at is not None and c.ended_at is not None:
            talk.setdefault(first_queue(c), []).append(c.ended_at - c.answered_at)
    everything = [t for times in talk.values() for t in times]

    def handle_s(call: Call) -> float:
        if call.answered_at is not None and call.ended_at is not None:
            return call.ended_at - call.answered_at
        queue = first_queue(call)
        if queue in talk:
            return fmean(talk[queue])
        if everything:
            return fmean(everything)
        return (queues.get(queue) or QueueConfig(name=queue)).expected_handle_s

    def patience_s(call: Call) -> float | None:
        if call.state is CallState.ABANDONED and call.answered_at is None and call.ended_at is not None:
            return call.ended_at - call.enqueued_at
        return None

    return [
        Arrival(
            id=c.id, at_s=c.enqueued_at - start, queue=first_queue(c), handle_s=handle_s(c), patience_s=patience_s(c),
            channel=c.channel, priority=c.priority,
        )
        for c in calls
    ]


def generalists(count: int, queues: Iterable[QueueConfig]) -> list[StaffMember]:
    """``count`` identical agents with every skill the queues ask for, at the highest level any asks."""
    if count < 1:
        raise ValueError("count must be at least 1")
    skills: dict[str, int] = {}
    for queue in queues:
        for requirement in (*queue.skills, *(r for ring in queue.rings for r in ring.skills)):
            skills[requirement.name] = max(skills.get(requirement.name, 0), requirement.min_level)
    width = len(str(count))
    return [StaffMember(id=f"agent-{i:0{width}d}", skills=dict(skills)) for i in range(1, count + 1)]
