"""The planner: who gets which call, and what happens to calls nobody can take."""

from __future__ import annotations

from collections import Counter

from ccp_acd.domain.models import (
    Action,
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
    SkillRequirement,
    SkillRing,
    Strategy,
)
from ccp_acd.domain.routing import apply_reroute, capacity_channel, plan, workload
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = 10_000.0


def agent(agent_id: str, **kw) -> Agent:
    kw.setdefault("presence", Presence.AVAILABLE)
    kw.setdefault("site", "a")
    kw.setdefault("idle_since", NOW - 100)
    return Agent(id=agent_id, **kw)


def call(call_id: str, queue: str = "q", **kw) -> Call:
    kw.setdefault("site", "a")
    kw.setdefault("enqueued_at", NOW - 1)
    kw.setdefault("queued_since", kw["enqueued_at"])
    return Call(id=call_id, queue=queue, **kw)


def view(agents=(), calls=(), reservations=()) -> LiveView:
    return LiveView(
        agents={a.id: a for a in agents},
        calls={c.id: c for c in calls},
        reservations={r.call_id: r for r in reservations},
    )


def offers(decisions) -> dict[str, str]:
    return {d.call_id: d.agent_id for d in decisions if isinstance(d, OfferDecision)}


def test_longest_idle_agent_gets_the_call():
    v = view([agent("a1", idle_since=NOW - 5), agent("a2", idle_since=NOW - 50)], [call("c1")])
    assert offers(plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)) == {"c1": "a2"}


def test_each_strategy_picks_its_agent():
    agents = [
        agent("idle", idle_since=NOW - 500, last_offered_at=NOW - 1, calls_handled=9, talk_time_s=900,
              skills={"x": 1}),
        agent("rr", idle_since=NOW - 10, last_offered_at=NOW - 900, calls_handled=9, talk_time_s=900,
              skills={"x": 1}),
        agent("few", idle_since=NOW - 10, last_offered_at=NOW - 1, calls_handled=1, talk_time_s=900,
              skills={"x": 1}),
        agent("talk", idle_since=NOW - 10, last_offered_at=NOW - 1, calls_handled=9, talk_time_s=5,
              skills={"x": 1}),
        agent("expert", idle_since=NOW - 10, last_offered_at=NOW - 1, calls_handled=9, talk_time_s=900,
              skills={"x": 9}),
    ]
    expected = {
        Strategy.LONGEST_IDLE: "idle",
        Strategy.ROUND_ROBIN: "rr",
        Strategy.FEWEST_CALLS: "few",
        Strategy.LEAST_TALK_TIME: "talk",
        Strategy.BEST_SKILL_MATCH: "expert",
    }
    for strategy, winner in expected.items():
        queue = QueueConfig("q", skills=(SkillRequirement("x", 1),), strategy=strategy)
        assert offers(plan(view(agents, [call("c1")]), {"q": queue}, site="a", now=NOW)) == {"c1": winner}


def test_agents_without_the_skill_level_are_not_offered_until_a_ring_relaxes_it():
    queue = QueueConfig(
        "q",
        skills=(SkillRequirement("billing", 5),),
        rings=(SkillRing(after_s=30, skills=(SkillRequirement("billing", 1),)),),
    )
    junior = agent("junior", skills={"billing": 2})
    early = call("c1", enqueued_at=NOW - 10)
    late = call("c1", enqueued_at=NOW - 31)
    assert offers(plan(view([junior], [early]), {"q": queue}, site="a", now=NOW)) == {}
    assert offers(plan(view([junior], [late]), {"q": queue}, site="a", now=NOW)) == {"c1": "junior"}


def test_a_call_nobody_can_take_does_not_block_the_calls_behind_it():
    queues = {"spanish": QueueConfig("spanish", skills=(SkillRequirement("es"),)), "q": QueueConfig("q")}
    v = view([agent("a1", skills={"en": 5}), agent("a2", skills={"es": 1}, presence=Presence.BREAK)],
             [call("first", "spanish", enqueued_at=NOW - 9), call("second", enqueued_at=NOW - 1)])
    assert offers(plan(v, queues, site="a", now=NOW)) == {"second": "a1"}


def test_agents_of_other_sites_and_agents_not_ready_get_nothing():
    v = view(
        [agent("far", site="b"), agent("lunch", presence=Presence.BREAK),
         agent("wrapping", presence=Presence.WRAP_UP, wrap_up_until=NOW + 5), agent("out", presence=Presence.LOGGED_OUT)],
        [call("c1")],
    )
    assert offers(plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)) == {}


def test_wrap_up_ends_by_time_alone():
    v = view([agent("a1", presence=Presence.WRAP_UP, wrap_up_until=NOW - 0.1)], [call("c1")])
    assert offers(plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)) == {"c1": "a1"}


def test_a_chat_agent_takes_chats_up_to_capacity_and_no_voice_while_chatting():
    chatter = agent("a1", capacity={Channel.VOICE: 1, Channel.CHAT: 2})
    calls = [call(f"chat{i}", channel=Channel.CHAT, enqueued_at=NOW - 10 + i) for i in range(3)]
    calls.append(call("voice", enqueued_at=NOW - 0.5))
    result = offers(plan(view([chatter], calls), {"q": QueueConfig("q")}, site="a", now=NOW))
    assert result == {"chat0": "a1", "chat1": "a1"}


def test_an_agent_on_a_phone_call_gets_nothing_else():
    busy = agent("a1", capacity={Channel.VOICE: 1, Channel.CHAT: 3})
    on_phone = call("c0", agent_id="a1", state=CallState.CONNECTED)
    v = view([busy], [on_phone, call("chat", channel=Channel.CHAT)])
    assert offers(plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)) == {}


def test_an_agent_who_rejected_a_call_is_not_offered_it_again():
    v = view([agent("a1", idle_since=NOW - 100), agent("a2", idle_since=NOW - 1)], [call("c1", declined_by=("a1",))])
    assert offers(plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)) == {"c1": "a2"}


def test_an_offered_call_is_not_offered_again_and_an_expired_offer_is_withdrawn():
    pending = Reservation("c1", "a1", "n1", offered_at=NOW - 2, expires_at=NOW + 10)
    expired = Reservation("c2", "a2", "n1", offered_at=NOW - 20, expires_at=NOW - 1)
    v = view([agent("a1"), agent("a2"), agent("a3")], [call("c1"), call("c2")], [pending, expired])
    decisions = plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)
    assert ExpireOfferDecision("c2", "a2") in decisions
    assert offers(decisions) == {}


def test_max_wait_moves_the_call_to_the_overflow_queue_keeping_its_arrival():
    queue = QueueConfig("q", max_wait_s=60, on_max_wait=Action(ActionKind.QUEUE, "general"))
    waited = call("c1", enqueued_at=NOW - 61)
    decisions = plan(view([agent("a1", presence=Presence.BREAK)], [waited]), {"q": queue}, site="a", now=NOW)
    assert [type(d) for d in decisions] == [RerouteDecision]
    moved = apply_reroute(waited, decisions[0], now=NOW)
    assert (moved.queue, moved.enqueued_at, moved.queued_since, moved.route_history) == (
        "general", waited.enqueued_at, NOW, ("q",)
    )


def test_overflow_never_sends_a_call_back_to_a_queue_it_left():
    queue = QueueConfig("general", max_wait_s=10, on_max_wait=Action(ActionKind.QUEUE, "q"))
    bounced = call("c1", "general", enqueued_at=NOW - 100, route_history=("q",))
    assert plan(view([agent("a1", presence=Presence.BREAK)], [bounced]), {"general": queue}, site="a", now=NOW) == []


def test_no_agents_logged_in_turns_the_call_into_a_callback_once():
    queue = QueueConfig("q", on_no_agents=Action(ActionKind.CALLBACK))
    waiting = call("c1")
    decisions = plan(view([], [waiting]), {"q": queue}, site="a", now=NOW)
    assert len(decisions) == 1
    callback = apply_reroute(waiting, decisions[0], now=NOW)
    assert callback.channel is Channel.CALLBACK and callback.enqueued_at == waiting.enqueued_at
    assert plan(view([], [callback]), {"q": queue}, site="a", now=NOW) == []


def test_voicemail_ends_routing_with_a_reason():
    queue = QueueConfig("q", on_no_agents=Action(ActionKind.VOICEMAIL))
    decisions = plan(view([], [call("c1")]), {"q": queue}, site="a", now=NOW)
    ended = apply_reroute(call("c1"), decisions[0], now=NOW)
    assert ended.state.terminal and "no agents" in ended.reason


@st.composite
def random_views(draw):
    agents = [
        agent(
            f"a{i}",
            presence=draw(st.sampled_from(list(Presence))),
            capacity={Channel.VOICE: draw(st.integers(0, 1)), Channel.CHAT: draw(st.integers(0, 3))},
            idle_since=draw(st.floats(NOW - 1000, NOW)),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    calls = [
        call(
            f"c{i}",
            channel=draw(st.sampled_from([Channel.VOICE, Channel.CHAT, Channel.CALLBACK])),
            priority=draw(st.integers(0, 10)),
            enqueued_at=draw(st.floats(NOW - 600, NOW)),
        )
        for i in range(draw(st.integers(0, 15)))
    ]
    return view(agents, calls)


@settings(max_examples=200, deadline=None)
@given(random_views())
def test_a_plan_never_offers_a_call_twice_or_fills_an_agent_past_capacity(v):
    decisions = plan(v, {"q": QueueConfig("q")}, site="a", now=NOW)
    offered = [d.call_id for d in decisions if isinstance(d, OfferDecision)]
    assert len(offered) == len(set(offered))
    per_agent: dict[str, Counter] = {}
    for d in decisions:
        if isinstance(d, OfferDecision):
            channel = capacity_channel(v.calls[d.call_id].channel)
            per_agent.setdefault(d.agent_id, Counter())[channel] += 1
    base = workload(v)
    for agent_id, added in per_agent.items():
        a = v.agents[agent_id]
        assert a.ready(NOW)
        for channel, n in added.items():
            assert base[agent_id][channel] + n <= a.capacity.get(channel, 0)
        if added[Channel.VOICE]:
            assert sum(added.values()) == 1
