"""The what-if engine on hand-computed scenarios: every figure here is exact."""

from __future__ import annotations

import pytest
from ccp_acd.domain.models import (
    Action,
    ActionKind,
    CallState,
    QueueConfig,
    SkillRequirement,
    SkillRing,
    Strategy,
)
from ccp_acd.whatif.engine import Arrival, Options, StaffMember, simulate
from ccp_acd.whatif.report import occupancy, queue_figures


def _calls(*times: float, queue: str = "q", handle_s: float = 10.0, **kwargs) -> list[Arrival]:
    return [Arrival(id=f"c{i}", at_s=t, queue=queue, handle_s=handle_s, **kwargs) for i, t in enumerate(times)]


def _by_id(outcome):
    return {c.id: c for c in outcome.calls}


def test_one_agent_serves_three_calls_in_arrival_order():
    queues = {"q": QueueConfig("q", sl_threshold_s=10)}
    outcome = simulate(queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0, 1, 2))
    calls = _by_id(outcome)
    assert [calls[c].answered_at - calls[c].enqueued_at for c in ("c0", "c1", "c2")] == [0, 9, 18]
    assert [calls[c].ended_at for c in ("c0", "c1", "c2")] == [10, 20, 30]
    figures = queue_figures(outcome, queues)["q"]
    # Answered within T = 10 s: the waits 0 and 9 (exactly T would count too); 18 does not.
    assert (figures.offered, figures.answered, figures.service_level) == (3, 3, pytest.approx(2 / 3))
    assert figures.asa_s == pytest.approx(9.0)
    assert figures.longest_wait_s == 18
    assert occupancy(outcome, window_start_s=0, window_end_s=30) == 1.0
    assert occupancy(outcome, window_start_s=0, window_end_s=60) == 0.5


@pytest.mark.parametrize(("threshold_s", "service_level"), [(10, 1.0), (4, 1 / 3)])
def test_a_caller_out_of_patience_abandons_and_counts_as_docs_kpis_say(threshold_s, service_level):
    arrivals = [*_calls(0, 1), Arrival(id="c2", at_s=2, queue="q", handle_s=10, patience_s=5)]
    queues = {"q": QueueConfig("q", sl_threshold_s=threshold_s)}
    outcome = simulate(queues=queues, staff=[StaffMember(id="a")], arrivals=arrivals)
    third = _by_id(outcome)["c2"]
    assert (third.state, third.ended_at, third.answered_at) == (CallState.ABANDONED, 7, None)
    figures = queue_figures(outcome, queues)["q"]
    assert (figures.offered, figures.answered, figures.abandoned) == (3, 2, 1)
    assert figures.abandonment_rate == pytest.approx(1 / 3)
    # T = 10: the abandon after 5 s is a short abandon, left out: 2 of 2 answered within T.
    # T = 4: it counts, and only the first call (wait 0; the second waited 9) was answered within T.
    assert figures.service_level == pytest.approx(service_level)


def test_an_answer_at_exactly_the_callers_patience_wins():
    arrivals = [*_calls(0), Arrival(id="c1", at_s=1, queue="q", handle_s=10, patience_s=9)]
    outcome = simulate(queues={"q": QueueConfig("q")}, staff=[StaffMember(id="a")], arrivals=arrivals)
    assert _by_id(outcome)["c1"].answered_at == 10


@pytest.mark.parametrize(
    ("action", "state", "queue", "answered_at"),
    [
        (Action(ActionKind.QUEUE, "general"), CallState.COMPLETED, "general", 30.0),
        (Action(ActionKind.VOICEMAIL), CallState.VOICEMAIL, "billing", None),
    ],
)
def test_a_call_nobody_has_the_skill_for_waits_until_max_wait_then_overflows(action, state, queue, answered_at):
    queues = {
        "billing": QueueConfig("billing", skills=(SkillRequirement("billing"),), max_wait_s=30, on_max_wait=action),
        "general": QueueConfig("general"),
    }
    staff = [StaffMember(id="a", skills={"sales": 5})]
    outcome = simulate(queues=queues, staff=staff, arrivals=_calls(0, queue="billing"))
    call = _by_id(outcome)["c0"]
    assert (call.state, call.queue, call.answered_at) == (state, queue, answered_at)
    if state is CallState.VOICEMAIL:
        assert call.ended_at == 30
    else:
        assert call.route_history == ("billing",)
        figures = queue_figures(outcome, queues)
        assert (figures["general"].answered, figures["billing"].overflowed, figures["billing"].offered) == (1, 1, 0)


def test_without_an_overflow_action_the_call_waits_until_the_run_stops():
    queues = {"billing": QueueConfig("billing", skills=(SkillRequirement("billing"),))}
    outcome = simulate(
        queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0, queue="billing"), options=Options(max_time_s=600)
    )
    (call,) = outcome.unfinished
    assert call.state is CallState.QUEUED
    assert queue_figures(outcome, queues)["billing"].longest_wait_s == 600


def test_a_skill_ring_widens_the_pool_exactly_when_due():
    queue = QueueConfig(
        "support",
        skills=(SkillRequirement("support", 5),),
        rings=(SkillRing(after_s=1.1, skills=(SkillRequirement("support", 1),)),),
    )
    # In floats (76.2 + 1.1) - 76.2 < 1.1: a wake-up at 76.2 + 1.1 would find the ring not yet due.
    outcome = simulate(
        queues={"support": queue}, staff=[StaffMember(id="a", skills={"support": 2})],
        arrivals=_calls(76.2, queue="support"),
    )
    assert _by_id(outcome)["c0"].answered_at == pytest.approx(77.3)


def test_a_higher_priority_call_is_served_first_when_the_agent_frees():
    arrivals = [
        *_calls(0),
        Arrival(id="low", at_s=1, queue="q", handle_s=10),
        Arrival(id="high", at_s=2, queue="q", handle_s=10, priority=5),
    ]
    outcome = simulate(queues={"q": QueueConfig("q")}, staff=[StaffMember(id="a")], arrivals=arrivals)
    calls = _by_id(outcome)
    assert (calls["high"].answered_at, calls["low"].answered_at) == (10, 20)


@pytest.mark.parametrize(("strategy", "agent"), [(Strategy.LONGEST_IDLE, "a"), (Strategy.BEST_SKILL_MATCH, "b")])
def test_the_queue_strategy_picks_the_agent(strategy, agent):
    queue = QueueConfig("q", skills=(SkillRequirement("support"),), strategy=strategy)
    staff = [StaffMember(id="a", skills={"support": 3}), StaffMember(id="b", skills={"support": 9})]
    outcome = simulate(queues={"q": queue}, staff=staff, arrivals=_calls(0))
    assert _by_id(outcome)["c0"].agent_id == agent


@pytest.mark.parametrize(("strategy", "agent"), [(Strategy.LONGEST_IDLE, "b"), (Strategy.ROUND_ROBIN, "a")])
def test_round_robin_goes_by_the_last_offer_and_longest_idle_by_the_last_call_end(strategy, agent):
    # a takes the 30 s call at 0, b the 1 s call at 1; at 40 a has been idle since 30, b since 2,
    # but a was offered a call before b was.
    arrivals = [Arrival(id="long", at_s=0, queue="q", handle_s=30), Arrival(id="short", at_s=1, queue="q", handle_s=1),
                Arrival(id="next", at_s=40, queue="q", handle_s=1)]
    outcome = simulate(queues={"q": QueueConfig("q", strategy=strategy)}, staff=[StaffMember(id="a"), StaffMember(id="b")],
                       arrivals=arrivals)
    calls = _by_id(outcome)
    assert (calls["long"].agent_id, calls["short"].agent_id, calls["next"].agent_id) == ("a", "b", agent)


def test_wrap_up_keeps_the_agent_from_the_next_call():
    queues = {"q": QueueConfig("q", wrap_up_s=5)}
    outcome = simulate(queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0, 1, 2))
    assert [_by_id(outcome)[c].answered_at for c in ("c0", "c1", "c2")] == [0, 15, 30]
    assert occupancy(outcome, window_start_s=0, window_end_s=45) == 1.0


def test_answer_delay_counts_as_waiting_and_an_unanswered_offer_times_out():
    queues = {"q": QueueConfig("q", offer_timeout_s=15)}
    quick = simulate(queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0), options=Options(answer_delay_s=3))
    assert _by_id(quick)["c0"].answered_at == 3
    # Offers at 0 and 75 (after the 60 s no-answer break) both time out; the caller hangs up at 100.
    slow = simulate(
        queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0, patience_s=100.0),
        options=Options(answer_delay_s=20, no_answer_break_s=60),
    )
    call = _by_id(slow)["c0"]
    assert (call.state, call.answered_at, call.ended_at) == (CallState.ABANDONED, None, 100)
    assert slow.busy["a"] == ((0, 15), (75, 90))


def test_a_full_queue_sends_the_next_caller_to_voicemail_or_refuses_them():
    for action, refused in ((Action(ActionKind.VOICEMAIL), ()), (Action(), ("c2",))):
        queues = {"q": QueueConfig("q", max_length=1, on_max_length=action)}
        outcome = simulate(queues=queues, staff=[StaffMember(id="a")], arrivals=_calls(0, 1, 2))
        assert outcome.refused == refused
        states = {c.id: c.state for c in outcome.calls}
        assert states == ({"c0": CallState.COMPLETED, "c1": CallState.COMPLETED}
                          | ({"c2": CallState.VOICEMAIL} if not refused else {}))


def test_max_calls_bounds_the_run():
    outcome = simulate(
        queues={"q": QueueConfig("q")}, staff=[StaffMember(id="a")], arrivals=_calls(0, 1, 2),
        options=Options(max_calls=2),
    )
    assert sorted(c.id for c in outcome.calls) == ["c0", "c1"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unique"):
        simulate(queues={}, staff=[StaffMember(id="a"), StaffMember(id="a")], arrivals=[])
    with pytest.raises(ValueError, match="negative"):
        simulate(queues={}, staff=[], arrivals=[], options=Options(answer_delay_s=-1))
