"""Building what-if loads: seeded draws, recorded calls, generalist agents."""

from __future__ import annotations

from statistics import fmean

import pytest
from ccp_acd.domain.models import Call, CallState, Channel, QueueConfig, SkillRequirement, SkillRing
from ccp_acd.whatif.load import generalists, recorded, simulated


def test_the_same_seed_draws_the_same_calls_and_another_seed_others():
    draw = dict(calls_per_hour=360, hours=2, aht_s=100, mix={"a": 3, "b": 1}, patience_s=60)
    first, again, other = simulated(seed=7, **draw), simulated(seed=7, **draw), simulated(seed=8, **draw)
    assert first == again and first != other
    # 720 expected arrivals; a Poisson count is within 4 standard deviations (4 * sqrt(720) ~ 107).
    assert abs(len(first) - 720) < 107
    assert sum(a.queue == "a" for a in first) / len(first) == pytest.approx(0.75, abs=0.06)
    assert fmean(a.handle_s for a in first) == pytest.approx(100, rel=0.15)
    assert all(a.at_s <= 7200 for a in first) and all(a.patience_s > 0 for a in first)
    fixed = simulated(seed=7, handle="fixed", **draw)
    assert {a.handle_s for a in fixed} == {100}


def test_bad_draws_are_refused():
    with pytest.raises(ValueError, match="positive"):
        simulated(seed=1, calls_per_hour=-1, hours=1, aht_s=1, mix={"q": 1})
    with pytest.raises(ValueError, match="handle"):
        simulated(seed=1, calls_per_hour=1, hours=1, aht_s=1, mix={"q": 1}, handle="lognormal")
    assert len(simulated(seed=1, calls_per_hour=3600, hours=1, aht_s=1, mix={"q": 1}, max_calls=5)) == 5


def _ended(call_id: str, at: float, *, answered: float | None, ended: float, queue: str = "q", **kwargs) -> Call:
    state = CallState.COMPLETED if answered is not None else CallState.ABANDONED
    return Call(call_id, queue, enqueued_at=at, queued_since=at, answered_at=answered, ended_at=ended, state=state,
                **kwargs)


def test_recorded_calls_arrive_in_their_first_queue_with_their_talk_time_and_patience():
    records = [
        _ended("a", 100, answered=104, ended=134, queue="general", route_history=("support",)),
        _ended("b", 101, answered=101, ended=111, priority=3, channel=Channel.CHAT),
        _ended("c", 102, answered=None, ended=142),
        _ended("d", 103, answered=None, ended=110, queue="sales"),
        Call("live", "q", enqueued_at=103),  # still queued: not a record of the window
    ]
    arrivals = recorded(records, start=100, end=200, queues={})
    assert [(a.id, a.at_s, a.queue, a.handle_s, a.patience_s) for a in arrivals] == [
        ("a", 0, "support", 30, None),
        ("b", 1, "q", 10, None),
        ("c", 2, "q", 10, 40),   # never answered: the queue's mean talk time
        ("d", 3, "sales", 20, 7),  # a queue that answered nothing: the mean of all
    ]
    assert (arrivals[1].priority, arrivals[1].channel) == (3, Channel.CHAT)
    sales = {"sales": QueueConfig("sales", expected_handle_s=99)}
    nothing_answered = recorded([records[3]], start=100, end=200, queues=sales)
    assert nothing_answered[0].handle_s == 99
    assert recorded(records, start=101, end=102, queues={})[0].id == "b"


def test_generalists_have_every_skill_at_the_highest_level_any_queue_asks():
    queues = [
        QueueConfig(
            "s", skills=(SkillRequirement("support", 3),), rings=(SkillRing(20, (SkillRequirement("support", 1),)),)
        ),
        QueueConfig("b", skills=(SkillRequirement("billing", 2), SkillRequirement("support", 5))),
    ]
    staff = generalists(10, queues)
    assert [s.id for s in staff][:2] == ["agent-01", "agent-02"] and len(staff) == 10
    assert staff[0].skills == {"support": 5, "billing": 2}
    with pytest.raises(ValueError):
        generalists(0, queues)
