"""The planner: given one tenant's live view, decide offers, re-routes and expiries.

Pure and deterministic: ``plan(view, queues, site=..., now=...)`` returns the
decisions a node should try to commit, in order. It never assumes it is the
only planner: two nodes may plan on the same view, and the state layer's
compare-and-set lets exactly one commit win; the loser re-reads and re-plans.

Order of service: calls are taken in ``predictions.waiting_order`` (aged
priority, then arrival). Each call gets the best free, eligible agent of this
site under its queue's strategy; a call with no eligible agent does not block
calls behind it that other agents can take (skills-based routing).

Capacity: an agent has a capacity per channel. Phone work (voice, callback)
needs the agent's full attention: it is offered only to an agent holding no
other work, and an agent on a phone call gets nothing else. Chats and e-mails
share an agent up to their per-channel capacities.

Caveat: skill rings and max wait are evaluated when the planner runs, so a
threshold is seen at most one dispatch interval late.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Set
from dataclasses import replace

from ccp_acd.domain import timeline
from ccp_acd.domain.models import (
    Action,
    ActionKind,
    Agent,
    Call,
    CallState,
    Channel,
    Decision,
    ExpireOfferDecision,
    LiveView,
    OfferDecision,
    QueueConfig,
    RerouteDecision,
    SkillRequirement,
    Strategy,
)
from ccp_acd.domain.predictions import waiting_order
from ccp_acd.domain.sites import SiteContext, site_moves
from ccp_acd.domain.skills import eligible

PHONE_CHANNELS = frozenset({Channel.VOICE, Channel.CALLBACK})
# The capacities work consumes (a callback uses voice capacity).
CAPACITY_CHANNELS = (Channel.VOICE, Channel.CHAT, Channel.EMAIL, Channel.VOICEMAIL)
# Voicemail capacity of an agent whose capacity does not name the channel. A voicemail is routed like
# e-mail (it waits, shares the agent with chats and e-mails, never with a call), but unlike e-mail it
# is work every voice agent can do (listen, call back) and it is typically handled one at a time: so
# one, by default, for every agent, not zero like the channels an agent must be given. An agent who
# must not get voicemails has capacity 0 for it.
DEFAULT_VOICEMAIL_CAPACITY = 1

def capacity_channel(channel: Channel) -> Channel:
    """The capacity a channel consumes: a callback is a phone call, it uses voice capacity."""
    return Channel.VOICE if channel in PHONE_CHANNELS else channel


def workload(view: LiveView) -> dict[str, Counter[Channel]]:
    """Work each agent holds, by capacity channel: connected calls plus pending offers."""
    load: dict[str, Counter[Channel]] = {agent_id: Counter() for agent_id in view.agents}
    for call in view.calls.values():
        if call.agent_id and not call.state.terminal and call.id not in view.reservations:
            load.setdefault(call.agent_id, Counter())[capacity_channel(call.channel)] += 1
    for reservation in view.reservations.values():
        call = view.calls.get(reservation.call_id)
        if call is not None:
            load.setdefault(reservation.agent_id, Counter())[capacity_channel(call.channel)] += 1
    return load


def channel_capacity(agent: Agent, channel: Channel) -> int:
    """How many items of ``channel`` (a capacity channel) the agent may hold at once."""
    default = DEFAULT_VOICEMAIL_CAPACITY if channel is Channel.VOICEMAIL else 0
    return agent.capacity.get(channel, default)


def has_capacity(agent: Agent, held: Counter[Channel], channel: Channel) -> bool:
    wanted = capacity_channel(channel)
    if held[wanted] >= channel_capacity(agent, wanted):
        return False
    if wanted is Channel.VOICE:
        return sum(held.values()) == 0
    return held[Channel.VOICE] == 0


def choose_agent(
    strategy: Strategy, candidates: Iterable[Agent], requirements: tuple[SkillRequirement, ...]
) -> Agent:
    """The agent the strategy prefers; ties go to the longest idle, then the lowest id."""

    def idle_key(agent: Agent) -> tuple[float, str]:
        return (agent.idle_since, agent.id)

    keys = {
        Strategy.LONGEST_IDLE: idle_key,
        Strategy.ROUND_ROBIN: lambda a: (a.last_offered_at, a.id),
        Strategy.FEWEST_CALLS: lambda a: (a.calls_handled, *idle_key(a)),
        Strategy.LEAST_TALK_TIME: lambda a: (a.talk_time_s, *idle_key(a)),
        Strategy.BEST_SKILL_MATCH: lambda a: (
            -sum(a.skills.get(r.name, 0) for r in requirements),
            *idle_key(a),
        ),
    }
    return min(candidates, key=keys[strategy])


def plan(
    view: LiveView,
    queues: Mapping[str, QueueConfig],
    *,
    site: str,
    now: float,
    owned: Set[str] | None = None,
    sites: SiteContext | None = None,
) -> list[Decision]:
    """Decisions for this site's part of the view, in the order to commit them.

    ``owned``: the queues this node routes at its site (hot standby: one owner
    per queue); None means all of them. ``sites``: what is known about the
    other sites; with it, waiting calls of owned queues may move between sites
    (``domain.sites.site_moves``), after this site's own offers.
    """

    def mine(queue: str) -> bool:
        return owned is None or queue in owned

    decisions: list[Decision] = [
        ExpireOfferDecision(call_id=r.call_id, agent_id=r.agent_id)
        for r in sorted(view.reservations.values(), key=lambda r: r.expires_at)
        if r.expires_at <= now and r.call_id in view.calls and mine(view.calls[r.call_id].queue)
    ]
    waiting = [
        call for call in waiting_order(view, queues, now=now, site=site)
        if call.id not in view.reservations and mine(call.queue)
    ]
    if waiting:
        decisions += _serve(waiting, view, queues, site=site, now=now)
    if sites is not None:
        decided = {d.call_id for d in decisions}
        own = set(queues) if owned is None else owned
        decisions += [m for m in site_moves(view, queues, owned=own, context=sites, now=now) if m.call_id not in decided]
    return decisions


def _serve(
    waiting: list[Call], view: LiveView, queues: Mapping[str, QueueConfig], *, site: str, now: float
) -> list[Decision]:
    """Offers and policy re-routes for the waiting calls, in their order (``plan``)."""
    decisions: list[Decision] = []
    load = workload(view)
    site_agents = [a for a in view.agents.values() if a.site == site]
    # Agents that can still take some work: ready, with room on some channel. Only offers made in
    # this plan add load, so an agent leaves this set for good once full; with every agent busy a
    # waiting call costs O(1) here instead of a scan of all agents (O(calls x agents) per plan).
    open_agents = {a.id: a for a in site_agents if a.ready(now) and _has_room(a, load[a.id])}
    staffed: dict[str, bool] = {}
    for call in waiting:
        queue = queues.get(call.queue) or QueueConfig(name=call.queue)
        reroute = _policy_reroute(call, queue, site_agents, now=now, staffed=staffed)
        if reroute is not None:
            decisions.append(reroute)
            continue
        if not open_agents:
            continue
        requirements = queue.requirements_after(now - call.queued_since)
        candidates = [
            a
            for a in open_agents.values()
            if a.id not in call.declined_by
            and has_capacity(a, load[a.id], call.channel)
            and eligible(a, requirements)
        ]
        if not candidates:
            continue
        agent = choose_agent(queue.strategy, candidates, requirements)
        load[agent.id][capacity_channel(call.channel)] += 1
        if not _has_room(agent, load[agent.id]):
            del open_agents[agent.id]
        decisions.append(
            OfferDecision(call_id=call.id, agent_id=agent.id, expires_at=now + queue.offer_timeout_s)
        )
    return decisions


def _has_room(agent: Agent, held: Counter[Channel]) -> bool:
    """Whether the agent could take work of any channel on top of ``held``."""
    return any(has_capacity(agent, held, channel) for channel in CAPACITY_CHANNELS)


def _policy_reroute(
    call: Call, queue: QueueConfig, site_agents: list[Agent], *, now: float, staffed: dict[str, bool]
) -> RerouteDecision | None:
    """Max wait first, then "no agents logged in"; never a silent drop. ``staffed`` memoizes per queue."""
    if queue.max_wait_s is not None and now - call.queued_since >= queue.max_wait_s:
        decision = _reroute(call, queue.on_max_wait, f"max-wait {queue.max_wait_s:g}s in {queue.name}")
        if decision is not None:
            return decision
    if queue.name not in staffed:
        widest = queue.widest_requirements()
        staffed[queue.name] = any(a.logged_in and eligible(a, widest) for a in site_agents)
    if not staffed[queue.name]:
        return _reroute(call, queue.on_no_agents, f"no agents logged in for {queue.name}")
    return None


def _reroute(call: Call, action: Action, reason: str) -> RerouteDecision | None:
    """The re-route the action asks for, unless it would loop or change nothing."""
    if action.kind is ActionKind.WAIT:
        return None
    if action.kind is ActionKind.QUEUE and (
        not action.target_queue
        or action.target_queue == call.queue
        or action.target_queue in call.route_history
    ):
        return None  # never ping-pong between queues: the call keeps waiting where it is
    if action.kind is ActionKind.CALLBACK and call.channel is Channel.CALLBACK:
        return None  # already a callback: it keeps its place
    if call.channel is Channel.VOICEMAIL and action.kind in (ActionKind.VOICEMAIL, ActionKind.CALLBACK):
        return None  # a voicemail left is worked, never turned into another voicemail or a callback
    return RerouteDecision(call_id=call.id, action=action, reason=f"{reason}: {action.describe()}")


def apply_reroute(call: Call, decision: RerouteDecision, *, now: float) -> Call:
    """The call record after a re-route (the state layer writes it)."""
    action = decision.action
    if action.kind is ActionKind.QUEUE:
        moved = replace(
            call,
            queue=action.target_queue or call.queue,
            queued_since=now,
            route_history=(*call.route_history, call.queue),
            reason=decision.reason,
        )
        return timeline.note(moved, timeline.Kind.REROUTED, now, detail=f"from {call.queue}: {decision.reason}")
    if action.kind is ActionKind.CALLBACK:
        callback = replace(call, channel=Channel.CALLBACK, reason=decision.reason)
        return timeline.note(callback, timeline.Kind.CALLBACK_REQUESTED, now, detail=decision.reason)
    if action.kind is ActionKind.VOICEMAIL:
        ended = replace(call, state=CallState.VOICEMAIL, ended_at=now, reason=decision.reason)
        return timeline.note(ended, timeline.Kind.VOICEMAIL, now, detail=decision.reason)
    return call
