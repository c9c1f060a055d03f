"""A discrete-event simulation of one tenant's routing, driving the real planner on a virtual clock.

At every instant something happens (an arrival, an answer, a completion, the
end of a wrap-up, a skill ring or max wait coming due, an offer timing out) the
engine calls ``domain.routing.plan`` on the live view and applies each decision
the way the state layer commits it (``state.etcd.EtcdStore.commit``, ``accept``,
``complete``, ``cancel``), then plans again until the plan is empty. So the
prediction follows this platform's skills, rings, strategies, priorities,
overflow actions and max waits, not a textbook model.

Pure and deterministic: no clock, no I/O, no randomness (the load brings its own
draws). Bounded by ``Options.max_calls`` and ``Options.max_time_s``.

Simplifications (docs/what-if.md): one site (every agent and call is pooled;
site overflow and failover are not modelled); agents are logged in and
available for the whole run, answer every offer after ``answer_delay_s``, and
are ready again as soon as their wrap-up ends; an agent whose offer timed out
takes the platform's no-answer break for ``no_answer_break_s``; a caller hangs
up once after their patience and never calls again. Thresholds are acted on
exactly when due, where a node sees them up to one dispatch interval late.
Admission under ``max_length`` is ``whatif.admission``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ccp_acd.domain.admission import admit
from ccp_acd.domain.models import (
    REASON_NO_ANSWER,
    ActionKind,
    Agent,
    Call,
    CallState,
    Channel,
    ExpireOfferDecision,
    LiveView,
    OfferDecision,
    Presence,
    QueueConfig,
    RerouteDecision,
    Reservation,
)
from ccp_acd.domain.routing import apply_reroute, plan
from ccp_acd.whatif.scenarios import Arrival, Options, Outcome, StaffMember

__all__ = ["Arrival", "Options", "Outcome", "StaffMember", "simulate"]

SITE = ""
NODE = "what-if"
# Plans at one instant before the engine gives up: each round commits at least one
# decision, and a call can only move so often (route history forbids loops).
MAX_ROUNDS = 10_000

# Event kinds, in the order they are handled at one instant: agents free up and
# answer before new callers join, the planner runs, and only then do callers whose
# patience ran out at that instant hang up (an answer at exactly the patience wins).
_COMPLETE, _READY, _ACCEPT, _ARRIVE, _TICK, _ABANDON = range(6)


def simulate(
    *,
    queues: Mapping[str, QueueConfig],
    staff: Sequence[StaffMember],
    arrivals: Sequence[Arrival],
    options: Options | None = None,
) -> Outcome:
    """Play ``arrivals`` (at most ``max_calls``, earliest first) against ``staff`` under ``queues``."""
    options = options or Options()
    if options.answer_delay_s < 0 or options.no_answer_break_s < 0 or options.max_time_s < 0:
        raise ValueError("answer_delay_s, no_answer_break_s and max_time_s must not be negative")
    if len({a.id for a in arrivals}) != len(arrivals) or len({s.id for s in staff}) != len(staff):
        raise ValueError("arrival ids and staff ids must be unique")
    run = _Run(queues, staff, options)
    for arrival in sorted(arrivals, key=lambda a: (a.at_s, a.id))[: options.max_calls]:
        run.push(arrival.at_s, _ARRIVE, arrival)
    return run.run()


def _due(start: float, after: float) -> float:
    """The first float time at which ``time - start >= after`` holds, as the planner tests it."""
    t = start + after
    while t - start < after:
        t = math.nextafter(t, math.inf)
    return t


class _Run:
    def __init__(self, queues: Mapping[str, QueueConfig], staff: Sequence[StaffMember], options: Options):
        self.queues = dict(queues)
        self.options = options
        self.agents: dict[str, Agent] = {
            # Logged in before the first call; never offered one (round robin starts with the lowest id).
            s.id: Agent(s.id, skills=dict(s.skills), capacity=dict(s.capacity), site=SITE, presence=Presence.AVAILABLE,
                        last_offered_at=-math.inf)
            for s in staff
        }
        self.live: dict[str, Call] = {}
        self.reservations: dict[str, Reservation] = {}
        self.ended: dict[str, Call] = {}
        self.refused: list[str] = []
        self.arrivals: dict[str, Arrival] = {}
        self.offered_at: dict[str, float] = {}
        self.busy: dict[str, list[tuple[float, float]]] = {s.id: [] for s in staff}
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = 0

    def queue(self, name: str) -> QueueConfig:
        return self.queues.get(name) or QueueConfig(name=name)

    def push(self, at: float, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, kind, self.seq, payload))

    def run(self) -> Outcome:
        now = 0.0
        while self.events and self.events[0][0] <= self.options.max_time_s:
            now = self.events[0][0]
            batch = []
            while self.events and self.events[0][0] == now:
                batch.append(heapq.heappop(self.events))
            for _, kind, _, payload in batch:  # heap order: by kind, then as pushed
                if kind != _ABANDON:
                    self.handle(kind, payload, now)
            self.settle(now)
            hung_up = [self.abandon(payload, now) for _, kind, _, payload in batch if kind == _ABANDON]
            if any(hung_up):
                self.settle(now)
        if self.events or self.live:  # stopped by the bound, or calls that nothing will ever move again
            now = self.options.max_time_s
        return Outcome(
            calls=(*self.ended.values(), *self.live.values()),
            refused=tuple(self.refused),
            busy={a: tuple(spans) for a, spans in self.busy.items()},
            end_s=now,
            agents=len(self.agents),
        )

    def handle(self, kind: int, payload, now: float) -> None:
        if kind == _COMPLETE:
            self.complete(payload, now)
        elif kind == _READY:
            agent = self.agents[payload]
            back = agent.presence is Presence.BREAK or (
                agent.presence is Presence.WRAP_UP and agent.wrap_up_until <= now
            )
            if back:
                idle = now if agent.presence is Presence.BREAK else agent.idle_since
                self.agents[payload] = replace(
                    agent, presence=Presence.AVAILABLE, reason_code="", presence_since=now, idle_since=idle
                )
        elif kind == _ACCEPT:
            self.accept(payload, now)
        elif kind == _ARRIVE:
            self.arrive(payload, now)

    def settle(self, now: float) -> None:
        """Plan and apply until the planner has nothing more to do at this instant."""
        for _ in range(MAX_ROUNDS):
            if not self.reservations and all(c.state is not CallState.QUEUED for c in self.live.values()):
                return  # the planner only acts on waiting calls and pending offers
            view = LiveView(agents=self.agents, calls=self.live, reservations=self.reservations)
            decisions = plan(view, self.queues, site=SITE, now=now)
            for decision in decisions:
                self.apply(decision, now)
            if all(isinstance(d, OfferDecision) for d in decisions):
                return  # offers free no agent and move no call: planning again would find nothing new
        raise RuntimeError(f"the planner did not settle at t={now}")

    def apply(self, decision, now: float) -> None:
        if isinstance(decision, OfferDecision):
            self.reservations[decision.call_id] = Reservation(
                decision.call_id, decision.agent_id, NODE, offered_at=now, expires_at=decision.expires_at
            )
            self.agents[decision.agent_id] = replace(self.agents[decision.agent_id], last_offered_at=now)
            self.offered_at[decision.call_id] = now
            if now + self.options.answer_delay_s > decision.expires_at:
                self.push(decision.expires_at, _TICK, None)  # the offer will time out first
            if self.options.answer_delay_s == 0:
                self.accept(decision.call_id, now)
            else:
                self.push(now + self.options.answer_delay_s, _ACCEPT, decision.call_id)
        elif isinstance(decision, RerouteDecision):
            call = apply_reroute(self.live[decision.call_id], decision, now=now)
            if call.state.terminal:
                del self.live[call.id]
                self.ended[call.id] = call
            else:
                self.live[call.id] = call
                if decision.action.kind is ActionKind.QUEUE:
                    self.watch_thresholds(call)
        elif isinstance(decision, ExpireOfferDecision):
            reservation = self.reservations.pop(decision.call_id)
            self.busy[reservation.agent_id].append((reservation.offered_at, now))
            agent = self.agents[decision.agent_id]
            if agent.presence is Presence.AVAILABLE:
                self.agents[agent.id] = replace(
                    agent, presence=Presence.BREAK, reason_code=REASON_NO_ANSWER, presence_since=now
                )
                self.push(now + self.options.no_answer_break_s, _READY, agent.id)
        else:
            raise TypeError(f"the what-if engine does not model {decision!r}")

    def watch_thresholds(self, call: Call) -> None:
        """Wake the planner when the call's skill rings and max wait in its current queue come due."""
        queue = self.queue(call.queue)
        for after in (*(r.after_s for r in queue.rings), queue.max_wait_s):
            if after is not None:
                self.push(_due(call.queued_since, after), _TICK, None)

    def arrive(self, arrival: Arrival, now: float) -> None:
        self.arrivals[arrival.id] = arrival
        call = Call(
            arrival.id, arrival.queue, channel=arrival.channel, priority=arrival.priority, site=SITE,
            enqueued_at=now, queued_since=now,
        )
        waiting = sum(1 for c in self.live.values() if c.queue == call.queue and c.state is CallState.QUEUED)
        call, outcome = admit(call, self.queue(call.queue), self.queues, waiting=waiting)
        if outcome == "refused":
            self.refused.append(call.id)
            return
        if outcome == "voicemail":
            self.ended[call.id] = replace(call, state=CallState.VOICEMAIL, ended_at=now)
            return
        self.live[call.id] = call
        self.watch_thresholds(call)
        if arrival.patience_s is not None:
            self.push(now + arrival.patience_s, _ABANDON, call.id)

    def accept(self, call_id: str, now: float) -> None:
        reservation = self.reservations.get(call_id)
        if reservation is None:
            return  # the offer expired or the caller hung up first
        del self.reservations[call_id]
        call = replace(self.live[call_id], state=CallState.CONNECTED, agent_id=reservation.agent_id, answered_at=now)
        self.live[call_id] = call
        self.push(now + self.arrivals[call_id].handle_s, _COMPLETE, call_id)

    def complete(self, call_id: str, now: float) -> None:
        """As ``EtcdStore.complete`` with the queue's wrap-up; the agent is ready again when it ends."""
        call = self.live.pop(call_id)
        agent = self.agents[call.agent_id]
        wrap = self.queue(call.queue).wrap_up_s
        self.ended[call_id] = replace(call, state=CallState.COMPLETED, ended_at=now)
        still_busy = any(c.agent_id == agent.id for c in self.live.values() if c.state is CallState.CONNECTED)
        still_busy = still_busy or any(r.agent_id == agent.id for r in self.reservations.values())
        updated = replace(
            agent, calls_handled=agent.calls_handled + 1, talk_time_s=agent.talk_time_s + now - (call.answered_at or now)
        )
        if not still_busy:
            updated = replace(updated, idle_since=now + wrap)
            if wrap > 0 and agent.presence is Presence.AVAILABLE:
                updated = replace(updated, presence=Presence.WRAP_UP, presence_since=now, wrap_up_until=now + wrap)
                self.push(now + wrap, _READY, agent.id)
        self.agents[agent.id] = updated
        self.busy[agent.id].append((self.offered_at[call_id], now + (wrap if not still_busy else 0.0)))

    def abandon(self, call_id: str, now: float) -> bool:
        """The caller's patience ran out: hang up, unless answered, ended, or turned into a callback."""
        call = self.live.get(call_id)
        if call is None or call.state is not CallState.QUEUED or call.channel is Channel.CALLBACK:
            return False
        del self.live[call_id]
        self.ended[call_id] = replace(call, state=CallState.ABANDONED, ended_at=now, reason="abandoned")
        reservation = self.reservations.pop(call_id, None)
        if reservation is not None:
            self.busy[reservation.agent_id].append((reservation.offered_at, now))
        return True
