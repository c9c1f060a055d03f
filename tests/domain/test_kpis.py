"""KPIs and predictions against hand-computed histories and views (docs/kpis.md)."""

from __future__ import annotations

import pytest
from ccp_acd.domain.kpis import queue_stats, service_level
from ccp_acd.domain.models import (
    Agent,
    Call,
    CallState,
    LiveView,
    Presence,
    QueueConfig,
    Reservation,
    SkillRequirement,
)
from ccp_acd.domain.predictions import UNSTAFFED_WAIT_S, expected_wait_s, position, waiting_order
from ccp_acd.domain.skills import eligible
from hypothesis import given
from hypothesis import strategies as st

NOW = 10_000.0
Q = QueueConfig("q", sl_threshold_s=20, skills=(SkillRequirement("s", 2),))


def ended(cid, *, arrived, answered=None, end=None, state=CallState.COMPLETED, queue="q", history=()):
    return Call(id=cid, queue=queue, enqueued_at=arrived, queued_since=arrived, answered_at=answered,
                ended_at=end, state=state, route_history=history)


def view(agents=(), calls=(), reservations=()):
    return LiveView(agents={a.id: a for a in agents}, calls={c.id: c for c in calls},
                    reservations={r.call_id: r for r in reservations})


def agent(aid, presence=Presence.AVAILABLE, skills=None, **kw):
    return Agent(id=aid, presence=presence, skills={"s": 5} if skills is None else skills, **kw)


def test_interval_figures_by_hand():
    window_start = NOW - 900
    history = [
        ended("c1", arrived=window_start + 10, answered=window_start + 15, end=window_start + 115),   # 5 s, 100 s talk
        ended("c2", arrived=window_start + 20, answered=window_start + 40, end=window_start + 100),   # exactly 20 s: within
        ended("c3", arrived=window_start + 30, answered=window_start + 80, end=NOW + 50),             # 50 s; ends later
        ended("c4", arrived=window_start + 40, end=window_start + 50, state=CallState.ABANDONED),     # short abandon
        ended("c5", arrived=window_start + 50, end=window_start + 150, state=CallState.ABANDONED),    # long abandon
        ended("c6", arrived=window_start + 60, end=window_start + 360, state=CallState.VOICEMAIL),    # voicemail
        ended("c7", arrived=window_start - 5, answered=window_start + 1, end=window_start + 9),       # before the window
        ended("c8", arrived=window_start + 70, answered=window_start + 71, end=window_start + 90, queue="other",
              history=("q",)),                                                                        # overflowed out
    ]
    stats = queue_stats(queue=Q, view=view(), history=history, now=NOW, window_s=900)
    assert (stats.offered, stats.answered, stats.answered_within_threshold, stats.abandoned) == (6, 3, 2, 2)
    # denominator: 6 offered - 1 short abandon = 5; within: c1, c2
    assert stats.service_level == pytest.approx(2 / 5)
    assert stats.asa_s == pytest.approx((5 + 20 + 50) / 3)
    assert stats.aht_s == pytest.approx((100 + 60 + (NOW + 50 - (window_start + 80))) / 3)
    assert stats.abandonment_rate == pytest.approx(2 / 6)
    assert stats.overflowed == 1
    assert stats.window_start == window_start


def test_real_time_figures_and_agents_by_state():
    waiting = [Call(id=f"w{i}", queue="q", enqueued_at=NOW - 10 * i, queued_since=NOW - 10 * i) for i in (1, 3)]
    connected = Call(id="k", queue="q", state=CallState.CONNECTED, agent_id="busy", enqueued_at=NOW - 90)
    agents = [
        agent("free"),
        agent("busy"),
        agent("offered"),
        agent("wrapping", presence=Presence.WRAP_UP, wrap_up_until=NOW + 5),
        agent("wrapped", presence=Presence.WRAP_UP, wrap_up_until=NOW - 1),   # wrap-up over: available
        agent("lunch", presence=Presence.BREAK),
        agent("out", presence=Presence.LOGGED_OUT),
        agent("novice", skills={"s": 1}),                                     # lacks the skill level
    ]
    reservation = Reservation(call_id="w1", agent_id="offered", node_id="n", offered_at=NOW, expires_at=NOW + 15)
    stats = queue_stats(queue=Q, view=view(agents, [*waiting, connected], [reservation]), history=[], now=NOW,
                        window_s=900)
    assert (stats.waiting, stats.longest_wait_s) == (2, 30)
    a = stats.agents
    assert (a.logged_in, a.available, a.busy, a.wrap_up, a.on_break) == (6, 2, 2, 1, 1)
    assert stats.service_level == 1.0 and stats.offered == 0
    # 2 waiting: the next caller is 3rd; 2 free agents; 6 staffed; AHT 180 (configured)
    assert stats.expected_wait_s == pytest.approx((3 - 2) * 180 / 6)


def test_expected_wait():
    assert expected_wait_s(position=2, staffed=4, available=2, aht_s=100) == 0
    assert expected_wait_s(position=5, staffed=4, available=1, aht_s=100) == pytest.approx(100)
    assert expected_wait_s(position=1, staffed=0, available=0, aht_s=100) == UNSTAFFED_WAIT_S


def test_waiting_order_ages_priority_so_nobody_starves():
    """Every waiting call gains aging_per_minute points per minute, so a priority-p call ranks as if
    it had arrived p / aging minutes earlier: it can overtake only calls that arrived within that
    credit before it, and a low-priority call is never overtaken by calls arriving later than that."""
    queues = {"q": QueueConfig("q", aging_per_minute=1.0)}
    new_high = Call(id="new", queue="q", priority=5, enqueued_at=NOW)          # 5 min of credit
    within_credit = Call(id="290s", queue="q", enqueued_at=NOW - 290)
    beyond_credit = Call(id="310s", queue="q", enqueued_at=NOW - 310)
    for now in (NOW, NOW + 1000):  # the order does not change as time passes
        assert [c.id for c in waiting_order(view(calls=[within_credit, new_high]), queues, now=now)] == ["new", "290s"]
        assert [c.id for c in waiting_order(view(calls=[beyond_credit, new_high]), queues, now=now)] == ["310s", "new"]
    # faster aging shrinks the credit: at 2 points/min, 5 points are worth 150 s
    fast = {"q": QueueConfig("q", aging_per_minute=2.0)}
    assert waiting_order(view(calls=[within_credit, new_high]), fast, now=NOW)[0].id == "290s"
    # queue priority adds to the call's own
    boosted = {"q": QueueConfig("q", priority=10), "low": QueueConfig("low")}
    other = Call(id="other", queue="low", enqueued_at=NOW - 500)
    mine = Call(id="mine", queue="q", enqueued_at=NOW)
    assert waiting_order(view(calls=[other, mine]), boosted, now=NOW)[0].id == "mine"
    # equal priority and arrival: by id
    tie = Call(id="a-tie", queue="q", enqueued_at=NOW - 290)
    assert [c.id for c in waiting_order(view(calls=[within_credit, tie]), queues, now=NOW)] == ["290s", "a-tie"]


def test_position_is_per_queue_and_site():
    calls = [
        Call(id="c1", queue="q", site="a", enqueued_at=1),
        Call(id="c2", queue="other", site="a", enqueued_at=2),
        Call(id="c3", queue="q", site="b", enqueued_at=3),
        Call(id="c4", queue="q", site="a", enqueued_at=4),
        Call(id="c5", queue="q", site="a", state=CallState.CONNECTED, enqueued_at=0),
    ]
    v = view(calls=calls)
    queues = {"q": QueueConfig("q"), "other": QueueConfig("other")}
    assert [position(c, v, queues, now=NOW) for c in ("c1", "c2", "c3", "c4", "c5", "gone")] == [1, 1, 1, 2, 0, 0]


def test_eligibility():
    a = agent("x", skills={"s": 3, "t": 1})
    assert eligible(a, ())
    assert eligible(a, (SkillRequirement("s", 3),))
    assert not eligible(a, (SkillRequirement("s", 4),))
    assert not eligible(a, (SkillRequirement("u", 1),))


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_service_level_is_a_share(within, offered, short):
    within, short = min(within, offered), min(short, offered - min(within, offered))
    assert 0.0 <= service_level(within, offered, short) <= 1.0
