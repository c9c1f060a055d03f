"""Interval totals (``domain.intervals``): a window summed from per-minute buckets, kept up to date as records
are put, rewritten and deleted, gives exactly the figures of summing the records themselves."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from ccp_acd.domain import kpis
from ccp_acd.domain.intervals import Buckets, Totals, Window, contributions
from ccp_acd.domain.models import Call, CallState, LiveView, QueueConfig
from hypothesis import given, settings
from hypothesis import strategies as st

SALES = QueueConfig(name="sales", sl_threshold_s=20)
SUPPORT = QueueConfig(name="support", sl_threshold_s=45)
THRESHOLDS = {q.name: q.sl_threshold_s for q in (SALES, SUPPORT)}
EMPTY = LiveView(agents={}, calls={}, reservations={})
NOW = 100_000.0


def _call(n: int, *, at: float, queue: str = "sales", state=CallState.COMPLETED, answer_after: float | None = 5.0,
          talk: float = 60.0, route: tuple[str, ...] = ()) -> Call:
    answered = None if answer_after is None else at + answer_after
    ended = (answered or at + 30.0) + (talk if answered is not None else 0.0)
    return Call(id=f"c{n}", queue=queue, state=state, enqueued_at=at, queued_since=at, answered_at=answered,
                ended_at=ended, route_history=route)


def test_a_call_adds_to_its_queue_and_to_the_overflowed_count_of_the_queues_it_left():
    answered = contributions(_call(1, at=0, answer_after=20.0, talk=90.0, route=("support",)), THRESHOLDS)
    assert answered["sales"] == Totals(offered=1, answered=1, answered_within=1, answer_wait_s=20.0, talk_s=90.0,
                                       talked=1)
    assert answered["support"] == Totals(overflowed=1)
    late = contributions(_call(2, at=0, answer_after=20.5), THRESHOLDS)["sales"]
    assert (late.answered, late.answered_within) == (1, 0)
    hung_up = contributions(_call(3, at=0, state=CallState.ABANDONED, answer_after=None), THRESHOLDS)["sales"]
    assert (hung_up.offered, hung_up.abandoned, hung_up.abandoned_within, hung_up.answered) == (1, 1, 0, 0)
    assert contributions(_call(4, at=0, state=CallState.QUEUED), THRESHOLDS) == {}


def test_adding_and_copying_cover_every_field():
    totals = Totals(*range(1, len(fields(Totals)) + 1))
    doubled = totals.copy()
    doubled.add(totals)
    assert [getattr(doubled, f.name) for f in fields(Totals)] == [2 * getattr(totals, f.name) for f in fields(Totals)]
    doubled.add(totals, -2)
    assert doubled == Totals() and totals == Totals(*range(1, len(fields(Totals)) + 1))


def test_taking_a_call_back_leaves_no_bucket_behind():
    buckets = Buckets(THRESHOLDS)
    call = _call(1, at=NOW, route=("support",))
    buckets.add(call)
    assert buckets.size == 2
    buckets.add(call, -1)
    assert buckets.size == 0


def test_a_window_bound_must_be_a_bucket_bound():
    window = Window.of([_call(1, at=NOW)], THRESHOLDS, start=NOW - 3600)
    assert window.total("sales", start=99_960, end=100_020).offered == 1  # the minute holding NOW
    assert window.total("sales", start=99_900, end=99_960).offered == 0
    with pytest.raises(ValueError, match="bucket bound"):
        window.total("sales", start=NOW - 30)


def test_the_buckets_before_a_pruning_are_gone_and_later_ones_stay():
    buckets = Buckets(THRESHOLDS)
    for n, at in enumerate((NOW - 130, NOW - 70, NOW - 10)):
        buckets.add(_call(n, at=at))
    buckets.drop_before(NOW - 70)
    window = buckets.window(["sales"], NOW - 200, cut=[])
    assert window.total("sales").offered == 2


calls = st.builds(
    _call,
    st.integers(0, 10_000),
    at=st.floats(NOW - 7200, NOW, allow_nan=False),
    queue=st.sampled_from(["sales", "support"]),
    state=st.sampled_from([CallState.COMPLETED, CallState.ABANDONED, CallState.VOICEMAIL]),
    answer_after=st.one_of(st.none(), st.floats(0, 120)),
    talk=st.floats(0, 600),
    route=st.lists(st.sampled_from(["sales", "support", "billing"]), max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(
    kept=st.lists(calls, max_size=40),
    replaced=st.lists(st.tuples(calls, calls), max_size=10),
    deleted=st.lists(calls, max_size=10),
    window_s=st.floats(1, 7200),
)
def test_a_window_from_the_buckets_equals_the_sum_of_the_records(kept, replaced, deleted, window_s):
    """Records come, are rewritten (the first of a pair replaced by the second) and go; the buckets' window
    (with the records of the bucket its start cuts) has the figures of the records that are left."""
    buckets = Buckets(THRESHOLDS)
    for call in (*kept, *(before for before, _ in replaced), *deleted):
        buckets.add(call)
    for before, after in replaced:
        buckets.add(before, -1)
        buckets.add(after)
    for call in deleted:
        buckets.add(call, -1)
    left = [*kept, *(after for _, after in replaced)]
    start = NOW - window_s
    cut_end = buckets.cut_end(start)
    window = buckets.window(["sales", "support", "billing"], start, cut=[c for c in left if c.enqueued_at < cut_end])

    for queue in (SALES, SUPPORT):
        from_buckets = kpis.queue_stats_of(queue=queue, view=EMPTY, interval=window.total(queue.name), now=NOW,
                                           window_start=start)
        from_records = kpis.queue_stats(queue=queue, view=EMPTY, history=left, now=NOW, window_s=window_s)
        for field in ("offered", "answered", "answered_within_threshold", "abandoned", "overflowed"):
            assert getattr(from_buckets, field) == getattr(from_records, field), field
        for field in ("service_level", "asa_s", "aht_s", "abandonment_rate", "expected_wait_s"):
            assert math.isclose(getattr(from_buckets, field), getattr(from_records, field), abs_tol=1e-6), field
    expected_billing = sum(1 for c in left if c.enqueued_at >= start and "billing" in c.route_history)
    assert window.total("billing").overflowed == expected_billing
