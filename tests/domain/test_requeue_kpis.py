"""A requeued attempt (``state.requeue``: the agent accepted, the agent's phone never took the call) is not an
answer: queue KPIs, interval reports and the agent comparison against a hand-computed history (docs/kpis.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ccp_acd.domain.kpis import queue_stats
from ccp_acd.domain.models import Call, CallState, LiveView, Presence, PresenceInterval, QueueConfig
from ccp_acd.domain.reports import Granularity, GroupBy, agent_report, interval_report
from ccp_acd.state.requeue import requeued

from tests.domain.test_reports import at

SUPPORT = QueueConfig("support", sl_threshold_s=20)


def arrived(cid: str, t: float) -> Call:
    return Call(id=cid, queue="support", enqueued_at=t, queued_since=t)


def accepted(call: Call, agent: str, t: float) -> Call:
    return replace(call, state=CallState.CONNECTED, agent_id=agent, answered_at=t)


def history() -> tuple[list[Call], list[PresenceInterval]]:
    # r1: 10:00:00 in; alice accepts at :05, her phone is busy, requeued at :25; bob accepts at 10:00:40 and
    # talks 180 s, then 60 s of wrap-up. Answered once, by bob, after 40 s (over the 20 s threshold).
    r1 = requeued(accepted(arrived("r1", at(10)), "alice", at(10, 0, 5)), reason="agent-leg-486", request_id="x-r1",
                  now=at(10, 0, 25))
    r1 = replace(accepted(r1, "bob", at(10, 0, 40)), state=CallState.COMPLETED, ended_at=at(10, 3, 40))
    # r2: 10:01:00 in; carol accepts at :05, her phone never answers, requeued at :15; the caller hangs up at
    # 10:01:30, still waiting: abandoned after 30 s (not within the threshold), never answered.
    r2 = requeued(accepted(arrived("r2", at(10, 1)), "carol", at(10, 1, 5)), reason="agent-no-answer", request_id="",
                  now=at(10, 1, 15))
    r2 = replace(r2, state=CallState.ABANDONED, ended_at=at(10, 1, 30))
    # n3: 10:02:00 in, dave answers at :10 and talks 120 s.
    n3 = replace(accepted(arrived("n3", at(10, 2)), "dave", at(10, 2, 10)), state=CallState.COMPLETED,
                 ended_at=at(10, 4, 10))
    wrap = PresenceInterval(agent_id="bob", presence=Presence.WRAP_UP, start=at(10, 3, 40), end=at(10, 4, 40),
                            after_call="r1")
    return [r1, r2, n3], [wrap]


def test_the_requeued_record_shows_only_the_agent_who_talked():
    (r1, r2, _), _ = history()
    assert (r1.agent_id, r1.answered_at, r1.enqueued_at) == ("bob", at(10, 0, 40), at(10))
    assert (r2.agent_id, r2.answered_at) == ("", None)
    assert [(e.kind, e.agent_id, e.detail) for e in r2.timeline] == [("requeued", "carol", "agent-no-answer")]


def test_queue_stats_count_a_requeued_attempt_neither_as_answered_nor_as_talk():
    calls, _ = history()
    view = LiveView(agents={}, calls={}, reservations={})
    stats = queue_stats(queue=SUPPORT, view=view, history=calls, now=at(10, 10), window_s=3600)
    assert (stats.offered, stats.answered, stats.answered_within_threshold, stats.abandoned) == (3, 2, 1, 1)
    assert stats.service_level == pytest.approx(1 / 3)  # n3 only; r2 waited 30 s > 20 s, stays in the denominator
    assert stats.asa_s == pytest.approx((40 + 10) / 2)
    assert stats.aht_s == pytest.approx((180 + 120) / 2)
    assert stats.abandonment_rate == pytest.approx(1 / 3)


def test_interval_and_agent_reports_count_the_call_once_for_the_agent_who_talked():
    calls, presence = history()
    [row] = interval_report(calls=calls, presence=presence, queues={"support": SUPPORT}, start=at(10), end=at(10, 15),
                            granularity=Granularity.QUARTER_HOUR, group_by=GroupBy.QUEUE)
    assert (row.offered, row.answered, row.answered_within_threshold, row.abandoned) == (3, 2, 1, 1)
    assert row.asa_s == pytest.approx(25.0)
    assert row.aht_s == pytest.approx((180 + 60 + 120) / 2)  # talk plus the wrap-up that followed
    assert row.longest_wait_s == pytest.approx(40.0)
    rows = {r.agent_id: r for r in agent_report(calls=calls, presence=presence, start=at(10), end=at(11),
                                                agent_sites={"alice": "", "bob": "", "carol": "", "dave": ""})}
    assert {a: r.handled for a, r in rows.items()} == {"alice": 0, "bob": 1, "carol": 0, "dave": 1}
    assert (rows["bob"].talk_s, rows["bob"].wrap_up_s, rows["bob"].aht_s) == (180.0, 60.0, 240.0)
    assert rows["alice"].talk_s == rows["carol"].talk_s == 0.0
