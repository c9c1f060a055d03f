"""The wallboard snapshot against a hand-computed hour: SL per queue and per 5-minute bucket, waiting, longest wait."""

from __future__ import annotations

import json

import pytest
from ccp_acd.domain.intervals import Window
from ccp_acd.domain.models import Agent, Call, CallState, LiveView, Presence, QueueConfig, SkillRequirement
from ccp_acd.wallboard.snapshot import WINDOW_S, bucket_starts, build_snapshot, sl_status

# 10 000 five-minute buckets after the epoch, plus 130 s: the current bucket started 130 s ago.
BUCKET = 3_000_000.0
NOW = BUCKET + 130
SALES = QueueConfig(name="sales", skills=(SkillRequirement("sales"),), sl_threshold_s=20, sl_target=0.8)
SUPPORT = QueueConfig(name="support", sl_threshold_s=30, sl_target=0.9)


def _ended(call_id: str, *, at: float, answered: float | None, ended: float, queue: str = "sales") -> Call:
    state = CallState.COMPLETED if answered is not None else CallState.ABANDONED
    return Call(id=call_id, queue=queue, state=state, enqueued_at=at, queued_since=at, answered_at=answered,
                ended_at=ended, agent_id="x" if answered is not None else "")


HISTORY = [
    # the current bucket [BUCKET, NOW]: within, late, a short abandon (left out of SL) -> 1 / (3 - 1)
    _ended("c1", at=BUCKET + 10, answered=BUCKET + 15, ended=BUCKET + 60),
    _ended("c2", at=BUCKET + 20, answered=BUCKET + 50, ended=BUCKET + 100),
    _ended("c3", at=BUCKET + 30, answered=None, ended=BUCKET + 40),
    # the bucket before: two within; c5 ends in the current bucket but counts where it arrived
    _ended("c4", at=BUCKET - 200, answered=BUCKET - 190, ended=BUCKET - 100),
    _ended("c5", at=BUCKET - 10, answered=BUCKET + 5, ended=BUCKET + 50),
    # 1000 s before the current bucket (bucket BUCKET - 1200): abandoned after 100 s -> SL 0
    _ended("c6", at=BUCKET - 1000, answered=None, ended=BUCKET - 900),
    # older than the hour: nowhere
    _ended("c7", at=NOW - 3700, answered=NOW - 3690, ended=NOW - 3650),
]


def _live(call_id: str, *, queue: str, waited: float, state: CallState = CallState.QUEUED, agent: str = "") -> Call:
    return Call(id=call_id, queue=queue, state=state, enqueued_at=NOW - waited, queued_since=NOW - waited,
                agent_id=agent, answered_at=NOW - 1 if agent else None)


VIEW = LiveView(
    agents={
        "ann": Agent(id="ann", presence=Presence.AVAILABLE),
        "bob": Agent(id="bob", skills={"sales": 1}, presence=Presence.AVAILABLE),
        "cat": Agent(id="cat", skills={"sales": 2}, presence=Presence.BREAK),
        "dan": Agent(id="dan", skills={"sales": 1}, presence=Presence.LOGGED_OUT),
    },
    calls={
        "w1": _live("w1", queue="sales", waited=45),
        "w2": _live("w2", queue="sales", waited=12),
        "w3": _live("w3", queue="support", waited=5),
        "t1": _live("t1", queue="support", waited=30, state=CallState.CONNECTED, agent="ann"),
    },
    reservations={},
)


def _window(history: list[Call], *, now: float) -> Window:
    """The window of ``history``, summed from its records as the node's interval cache sums them."""
    return Window.of(history, {q.name: q.sl_threshold_s for q in (SUPPORT, SALES)}, start=now - WINDOW_S)


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return build_snapshot(tenant="acme", queues=[SUPPORT, SALES], view=VIEW, window=_window(HISTORY, now=NOW), now=NOW)


def test_the_hour_service_level_leaves_short_abandons_out_and_colours_against_the_target(snapshot):
    sales = snapshot["queues"][0]
    assert sales["name"] == "sales"
    # c1..c6: answered within T are c1, c4, c5; c3 hung up within T -> 3 / (6 - 1)
    assert (sales["offered"], sales["answered"], sales["answered_within_threshold"], sales["abandoned"]) == (6, 4, 3, 2)
    assert sales["service_level"] == 0.6
    assert sales["sl_status"] == "missed"
    support = snapshot["queues"][1]
    assert (support["offered"], support["service_level"], support["sl_status"]) == (0, 1.0, "met")


def test_waiting_longest_wait_expected_wait_and_agents_per_queue(snapshot):
    sales, support = snapshot["queues"]
    assert (sales["waiting"], sales["longest_wait_s"]) == (2, 45.0)
    assert (support["waiting"], support["longest_wait_s"]) == (1, 5.0)
    # next caller is 3rd, 1 of 2 sales agents free, AHT = mean talk of c1, c2, c4, c5 = (45+50+90+45)/4
    assert sales["expected_wait_s"] == 57.5
    assert sales["agents"] == {"logged_in": 2, "available": 1, "busy": 0, "wrap_up": 0, "on_break": 1}
    assert support["agents"] == {"logged_in": 3, "available": 1, "busy": 1, "wrap_up": 0, "on_break": 1}


def test_tenant_totals_count_each_agent_once(snapshot):
    totals = snapshot["totals"]
    assert (totals["waiting"], totals["longest_wait_s"], totals["offered"], totals["abandoned"]) == (3, 45.0, 6, 2)
    assert totals["connected"] == 1
    assert totals["agents"] == {"logged_in": 3, "available": 1, "busy": 1, "wrap_up": 0, "on_break": 1}


def test_the_series_has_twelve_clock_aligned_buckets_counting_calls_where_they_arrived(snapshot):
    series = snapshot["queues"][0]["series"]
    assert [p["start"] for p in series] == [BUCKET - 300 * k for k in range(11, -1, -1)]
    by_start = {p["start"]: (p["offered"], p["answered"], p["service_level"]) for p in series}
    assert by_start[BUCKET] == (3, 2, 0.5)
    assert by_start[BUCKET - 300] == (2, 2, 1.0)
    assert by_start[BUCKET - 1200] == (1, 0, 0.0)
    assert sum(p["offered"] for p in series) == 6
    assert [p["offered"] for p in snapshot["totals"]["series"]][-2:] == [2, 3]
    assert all(p["offered"] == 0 for p in snapshot["queues"][1]["series"])


def test_the_snapshot_is_json(snapshot):
    assert json.loads(json.dumps(snapshot)) == snapshot


@pytest.mark.parametrize(("level", "status"), [(0.8, "met"), (0.95, "met"), (0.75, "near"), (0.7499, "missed")])
def test_sl_status_is_green_at_target_amber_within_five_points_red_below(level, status):
    assert sl_status(level, 0.8) == status


def test_a_call_exactly_at_a_bucket_boundary_opens_the_new_bucket():
    starts = bucket_starts(BUCKET)
    assert starts[-1] == BUCKET and len(starts) == 12
    at_boundary = _ended("b", at=BUCKET, answered=BUCKET, ended=BUCKET)
    snap = build_snapshot(tenant="t", queues=[SALES], view=LiveView({}, {}, {}), window=_window([at_boundary], now=BUCKET),
                          now=BUCKET)
    assert [p["offered"] for p in snap["queues"][0]["series"]] == [0] * 11 + [1]
