"""Interval reports, agent comparison and tenant/site real time against hand-computed histories (docs/kpis.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ccp_acd.domain.kpis import tenant_live_stats
from ccp_acd.domain.models import (
    Agent,
    Call,
    CallState,
    LiveView,
    Presence,
    PresenceInterval,
    QueueConfig,
    Reservation,
)
from ccp_acd.domain.reports import Granularity as G
from ccp_acd.domain.reports import GroupBy, agent_report, aligned, interval_count, interval_report

QUEUES = {"support": QueueConfig("support", sl_threshold_s=20), "sales": QueueConfig("sales", sl_threshold_s=60)}


def at(h: int, m: int = 0, s: int = 0, *, day: int = 5) -> float:
    """POSIX seconds of 2024-03-<day> h:m:s UTC."""
    return datetime(2024, 3, day, h, m, s, tzinfo=UTC).timestamp()


def call(cid, *, arrived, answered=None, end=None, state=CallState.COMPLETED, queue="support", agent="", site="site-a",
         route=(), sites=()):
    return Call(id=cid, queue=queue, enqueued_at=arrived, queued_since=arrived, answered_at=answered, ended_at=end,
                state=state, agent_id=agent, site=site, route_history=route, visited_sites=sites)


def presence(agent, state, start, end, *, site="site-a", after=""):
    return PresenceInterval(agent_id=agent, presence=state, start=start, end=end, site=site, after_call=after)


def report(calls, intervals=(), *, start, end, granularity=G.QUARTER_HOUR, by=GroupBy.QUEUE, groups=()):
    return interval_report(calls=calls, presence=intervals, queues=QUEUES, start=start, end=end,
                           granularity=granularity, group_by=by, groups=groups)


def test_intervals_are_aligned_on_utc_boundaries():
    assert aligned(at(10, 7), at(11, 1), G.HOUR) == (at(10), at(12))
    assert aligned(at(10, 14, 59), at(10, 15), G.QUARTER_HOUR) == (at(10), at(10, 15))
    assert aligned(at(22), at(2, day=6), G.DAY) == (at(0), at(0, day=7))
    assert interval_count(at(0), at(0, day=6), G.QUARTER_HOUR) == 96
    # An empty window still shows the interval it falls in.
    assert interval_count(at(10), at(10), G.HOUR) == 1


def test_short_abandons_leave_the_denominator_and_exactly_t_is_within():
    calls = [
        call("a1", arrived=at(10, 1), end=at(10, 1, 20), state=CallState.ABANDONED),      # waited exactly T=20: short
        call("a2", arrived=at(10, 2), end=at(10, 2, 5), state=CallState.ABANDONED),       # 5 s: short
        call("a3", arrived=at(10, 3), end=at(10, 3, 21), state=CallState.ABANDONED),      # 21 s: counts as failed
        call("c1", arrived=at(10, 4), answered=at(10, 4, 20), end=at(10, 6, 20)),         # exactly T: within; talk 120
        call("c2", arrived=at(10, 5), answered=at(10, 5, 30), end=at(10, 6, 30)),         # 30 s: late; talk 60
        call("v1", arrived=at(10, 6), end=at(10, 7), state=CallState.VOICEMAIL),          # 60 s then voicemail
    ]
    wrap = [presence("al", Presence.WRAP_UP, at(10, 6, 20), at(10, 6, 50), after="c1")]  # 30 s after c1
    [row] = report(calls, wrap, start=at(10), end=at(10, 15))
    assert (row.group, row.start, row.end) == ("support", at(10), at(10, 15))
    assert (row.offered, row.answered, row.answered_within_threshold) == (6, 2, 1)
    assert (row.abandoned, row.abandoned_within_threshold) == (3, 2)
    # SL = within / (offered - short abandons) = 1 / (6 - 2)
    assert row.service_level == pytest.approx(0.25)
    assert row.asa_s == pytest.approx((20 + 30) / 2)
    # AHT = talk + wrap-up: c1 120 + 30, c2 60 + 0 -> (150 + 60) / 2
    assert row.aht_s == pytest.approx(105)
    assert row.abandonment_rate == pytest.approx(3 / 6)
    assert row.longest_wait_s == pytest.approx(60)   # the voicemail caller's 60 s
    assert row.occupancy is None                     # agent time is not split by queue


def test_each_call_is_measured_against_its_own_queue_threshold():
    calls = [
        call("s1", arrived=at(10, 1), answered=at(10, 1, 45), end=at(10, 2), queue="sales"),    # 45 <= 60: within
        call("s2", arrived=at(10, 2), end=at(10, 2, 50), state=CallState.ABANDONED, queue="sales"),  # 50: short
        call("p1", arrived=at(10, 1), answered=at(10, 1, 45), end=at(10, 2)),                   # 45 > 20: late
        call("x1", arrived=at(10, 3), answered=at(10, 3, 20), end=at(10, 4), queue="deleted"),  # default T 20: within
    ]
    rows = {r.group: r for r in report(calls, start=at(10), end=at(10, 15))}
    assert set(rows) == {"sales", "support", "deleted"}
    # sales: 1 within / (2 offered - 1 short abandon) = 1.0; support: 0 / 1
    assert (rows["sales"].answered_within_threshold, rows["sales"].service_level) == (1, 1.0)
    assert (rows["support"].answered_within_threshold, rows["support"].service_level) == (0, 0.0)
    assert rows["deleted"].service_level == 1.0


def test_a_call_counts_in_the_interval_it_arrived_in_even_when_answered_in_the_next():
    calls = [call("c", arrived=at(10, 14, 50), answered=at(10, 15, 10), end=at(10, 17, 10))]  # waited 20 s = T
    first, second = report(calls, start=at(10), end=at(10, 30))
    assert (first.start, first.offered, first.answered, first.answered_within_threshold) == (at(10), 1, 1, 1)
    assert first.asa_s == pytest.approx(20)
    assert first.aht_s == pytest.approx(120)
    assert (second.start, second.offered, second.answered) == (at(10, 15), 0, 0)
    assert second.service_level == 1.0


def test_wrap_up_goes_to_the_queue_of_the_call_it_followed():
    calls = [
        call("b", arrived=at(9, 10), answered=at(9, 10, 5), end=at(9, 12, 5), queue="sales", agent="al"),  # talk 120
        call("s", arrived=at(9, 13), answered=at(9, 13, 5), end=at(9, 14, 5), agent="al"),                # talk 60
    ]
    intervals = [
        presence("al", Presence.WRAP_UP, at(9, 12, 5), at(9, 12, 55), after="b"),   # 50 s, ended early
        presence("al", Presence.WRAP_UP, at(9, 14, 5), at(9, 14, 15), after="s"),   # 10 s, ran out
        # A wrap-up spilling into the next interval still adds to its call (arrived 09:00-09:15) in full: 40 s.
        presence("al", Presence.WRAP_UP, at(9, 14, 50), at(9, 15, 30), after="s"),
    ]
    rows = {(r.start, r.group): r for r in report(calls, intervals, start=at(9), end=at(9, 30))}
    assert rows[at(9), "sales"].aht_s == pytest.approx(120 + 50)
    assert rows[at(9), "support"].aht_s == pytest.approx(60 + 10 + 40)
    assert rows[at(9, 15), "support"].aht_s == 0.0


def test_occupancy_clips_presence_and_talk_to_each_interval_by_agent_site():
    calls = [
        # Alice's call: talk 10:14:00-10:20:00 = 60 s in the first interval, 300 s in the second.
        call("k1", arrived=at(10, 13, 50), answered=at(10, 14), end=at(10, 20), agent="alice", site="site-b"),
        # Arrived at site-a, moved to site-b and abandoned there.
        call("m1", arrived=at(10, 16), end=at(10, 17), state=CallState.ABANDONED, site="site-b", sites=("site-a",)),
    ]
    intervals = [
        presence("alice", Presence.AVAILABLE, at(9, 50), at(10, 10)),      # 600 s in [10:00, 10:15)
        presence("alice", Presence.BREAK, at(10, 10), at(10, 12)),         # not staffed
        presence("alice", Presence.AVAILABLE, at(10, 12), at(10, 20)),     # 180 s + 300 s
        presence("alice", Presence.WRAP_UP, at(10, 20), at(10, 21), after="k1"),   # 60 s in the second: handle
        presence("alice", Presence.AVAILABLE, at(10, 21), at(10, 40)),     # 540 s in the second, the rest outside
        presence("bob", Presence.AVAILABLE, at(10), at(10, 30), site="site-b"),    # 900 s each, idle
    ]
    by_site = {(r.start, r.group): r for r in report(calls, intervals, start=at(10), end=at(10, 30), by=GroupBy.SITE)}
    a1, a2 = by_site[at(10), "site-a"], by_site[at(10, 15), "site-a"]
    # Talk goes to the agent's site (site-a), not the call's (site-b).
    assert (a1.staffed_s, a1.handle_s) == (pytest.approx(780), pytest.approx(60))        # 600 + 180; 60 talk
    assert a1.occupancy == pytest.approx(60 / 780)
    assert (a2.staffed_s, a2.handle_s) == (pytest.approx(900), pytest.approx(360))       # 300 + 60 + 540; 300 + 60
    assert a2.occupancy == pytest.approx(0.4)
    b1, b2 = by_site[at(10), "site-b"], by_site[at(10, 15), "site-b"]
    assert (b1.staffed_s, b1.occupancy, b1.offered) == (pytest.approx(900), 0.0, 1)      # k1 counts at its site
    assert (b2.offered, b2.abandoned, a2.overflowed, b2.overflowed) == (1, 1, 1, 0)

    t1, t2 = report(calls, intervals, start=at(10), end=at(10, 30), by=GroupBy.TENANT)
    assert t1.group == t2.group == ""
    assert t1.occupancy == pytest.approx(60 / (780 + 900))
    assert t2.occupancy == pytest.approx(360 / (900 + 900))
    assert (t1.offered, t2.offered, t2.overflowed) == (1, 1, 1)


def test_day_intervals_split_at_utc_midnight():
    calls = [
        # Arrived on day 5, answered after midnight (15 s): day 5. Talk 00:00:05-00:05:00 = 295 s on day 6.
        call("late", arrived=at(23, 59, 50), answered=at(0, 0, 5, day=6), end=at(0, 5, day=6), agent="al"),
        # Talk 23:58:10-00:01:10: 110 s on day 5, 70 s on day 6.
        call("across", arrived=at(23, 58), answered=at(23, 58, 10), end=at(0, 1, 10, day=6), agent="al"),
        # Arrived exactly at midnight: the boundary belongs to the later interval. Waited 60 s.
        call("midnight", arrived=at(0, day=6), end=at(0, 1, day=6), state=CallState.ABANDONED),
    ]
    intervals = [presence("al", Presence.AVAILABLE, at(23), at(1, day=6))]   # 3600 s on each day
    day5, day6 = report(calls, intervals, start=at(22), end=at(2, day=6), granularity=G.DAY, by=GroupBy.TENANT)
    assert (day5.start, day5.end, day6.start, day6.end) == (at(0), at(0, day=6), at(0, day=6), at(0, day=7))
    assert (day5.offered, day5.answered, day5.service_level) == (2, 2, 1.0)
    assert (day6.offered, day6.abandoned, day6.service_level) == (1, 1, 0.0)
    assert day5.staffed_s == day6.staffed_s == pytest.approx(3600)
    assert day5.handle_s == pytest.approx(110)
    assert day6.handle_s == pytest.approx(295 + 70)
    assert day5.aht_s == pytest.approx((295 + 180) / 2)


def test_queue_overflow_counts_in_the_queue_left_and_the_call_in_its_final_queue():
    calls = [call("o", arrived=at(10, 1), answered=at(10, 2), end=at(10, 3), queue="sales", route=("support",))]
    rows = {r.group: r for r in report(calls, start=at(10), end=at(10, 15))}
    assert (rows["sales"].offered, rows["sales"].overflowed) == (1, 0)
    assert (rows["support"].offered, rows["support"].overflowed) == (0, 1)


def test_empty_intervals_report_service_level_one_and_no_division_by_zero():
    rows = report([], start=at(10), end=at(11), by=GroupBy.QUEUE, groups=["support", "sales"])
    assert [(r.start, r.group) for r in rows[:2]] == [(at(10), "sales"), (at(10), "support")]
    assert len(rows) == 8
    for row in rows:
        assert (row.offered, row.service_level, row.asa_s, row.aht_s, row.abandonment_rate) == (0, 1.0, 0.0, 0.0, 0.0)
    [tenant] = report([], start=at(10), end=at(10, 15), by=GroupBy.TENANT)
    assert (tenant.service_level, tenant.staffed_s, tenant.occupancy) == (1.0, 0.0, 0.0)


def test_agent_comparison_over_the_window():
    calls = [
        call("a", arrived=at(10, 1), answered=at(10, 1, 10), end=at(10, 3, 10), agent="alice"),   # talk 120
        call("b", arrived=at(10, 5), answered=at(10, 5, 5), end=at(10, 6, 5), agent="alice"),     # talk 60
        call("c", arrived=at(10, 2), answered=at(10, 2, 30), end=at(10, 7, 30), agent="bob"),     # talk 300
        # Arrived before the window: not handled in it, but its last 60 s of talk are bob's time in it.
        call("early", arrived=at(9, 58), answered=at(9, 59), end=at(10, 1), agent="bob"),
        call("gone", arrived=at(10, 8), end=at(10, 9), state=CallState.ABANDONED),
    ]
    intervals = [
        presence("alice", Presence.AVAILABLE, at(10), at(10, 3, 10)),                     # 190 s
        presence("alice", Presence.WRAP_UP, at(10, 3, 10), at(10, 3, 40), after="a"),     # 30 s
        presence("alice", Presence.AVAILABLE, at(10, 3, 40), at(10, 20)),                 # 680 s clipped at 10:15
        presence("bob", Presence.AVAILABLE, at(9, 55), at(10, 15), site="site-b"),         # 900 s clipped
    ]
    alice, bob, carol = agent_report(calls=calls, presence=intervals, start=at(10), end=at(10, 15),
                                     agent_sites={"carol": "site-c"})
    assert (alice.agent_id, alice.site, alice.handled) == ("alice", "site-a", 2)
    assert (alice.talk_s, alice.wrap_up_s) == (pytest.approx(180), pytest.approx(30))
    assert alice.aht_s == pytest.approx((180 + 30) / 2)
    assert alice.staffed_s == pytest.approx(190 + 30 + 680)
    assert alice.occupancy == pytest.approx((180 + 30) / 900)
    assert (bob.site, bob.handled, bob.talk_s, bob.aht_s) == ("site-b", 1, pytest.approx(300), pytest.approx(300))
    assert bob.occupancy == pytest.approx((300 + 60) / 900)
    assert (carol.site, carol.handled, carol.staffed_s, carol.occupancy, carol.aht_s) == ("site-c", 0, 0.0, 0.0, 0.0)


def test_tenant_and_site_real_time_count_each_agent_once():
    now = at(12)
    two_queues = {"en": 3, "fr": 3}   # eligible for both queues below: still one agent
    agents = [
        Agent(id="a1", skills=two_queues, site="site-a", presence=Presence.AVAILABLE),
        Agent(id="a2", skills=two_queues, site="site-a", presence=Presence.AVAILABLE),   # holds an offer: busy
        Agent(id="b1", skills=two_queues, site="site-b", presence=Presence.WRAP_UP, wrap_up_until=now + 9),
        Agent(id="b2", site="site-b", presence=Presence.BREAK),
        Agent(id="b3", site="site-b", presence=Presence.LOGGED_OUT),
    ]
    calls = [
        Call(id="w1", queue="en", site="site-a", enqueued_at=now - 40),
        Call(id="w2", queue="fr", site="site-b", enqueued_at=now - 5),
        Call(id="k", queue="fr", site="site-b", state=CallState.CONNECTED, agent_id="b1", enqueued_at=now - 99),
    ]
    view = LiveView(agents={a.id: a for a in agents}, calls={c.id: c for c in calls},
                    reservations={"w1": Reservation("w1", "a2", "n", now, now + 15)})
    tenant, sites = tenant_live_stats(view, now=now, sites=["site-c"])
    assert (tenant.site, tenant.waiting, tenant.longest_wait_s, tenant.connected) == ("", 2, 40, 1)
    a = tenant.agents
    assert (a.logged_in, a.available, a.busy, a.wrap_up, a.on_break) == (4, 1, 2, 0, 1)
    assert [s.site for s in sites] == ["site-a", "site-b", "site-c"]
    site_a, site_b, site_c = sites
    assert (site_a.waiting, site_a.longest_wait_s, site_a.agents.available, site_a.agents.busy) == (1, 40, 1, 1)
    assert (site_b.waiting, site_b.longest_wait_s, site_b.connected) == (1, 5, 1)
    assert (site_b.agents.logged_in, site_b.agents.busy, site_b.agents.on_break) == (2, 1, 1)
    assert (site_c.waiting, site_c.agents.logged_in) == (0, 0)
