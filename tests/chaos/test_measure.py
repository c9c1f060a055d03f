"""Drill figures on hand-built call histories."""

from __future__ import annotations

import pytest
from ccp_acd.chaos.measure import routing_stop, series, service_level_during
from ccp_acd.sim.history import CallTimeline
from ccp_acd.sim.workload import PlannedCall

SITES = {"a1": "site-a", "b1": "site-b"}


def call(n: int, *, at: float, offered: float | None, node: str = "a1", queue: str = "main", answered=None):
    t = CallTimeline(planned=PlannedCall(at_s=at, queue=queue, handle_s=1.0), index=n, call_id=f"c{n}")
    t.enqueued_at, t.enqueue_node = at, node
    if offered is not None:
        t.offers.append(("agent", offered))
        t.accepts.append(("agent", answered if answered is not None else offered))
        t.final_state = "completed"
        t.completed_at = (answered if answered is not None else offered) + 1
    return t


def test_routing_stop_counts_waiting_calls_from_the_fault_and_later_ones_from_their_arrival():
    calls = [
        call(1, at=1.0, offered=1.1),  # served before the fault: not counted
        call(2, at=9.0, offered=11.5),  # waiting at the fault (10 s): held 1.5 s by it
        call(3, at=10.5, offered=11.6),  # arrived during the outage: held 1.1 s
        call(4, at=10.2, offered=10.3, node="b1"),  # another site: out of scope
    ]
    stop = routing_stop(calls, fault_at=10.0, site="site-a", site_of=SITES.get)
    assert (stop.calls, stop.resumed_after_s, stop.longest_s) == (2, pytest.approx(1.5), pytest.approx(1.5))
    waiting = routing_stop(calls, fault_at=10.0, site="site-a", calls="waiting", site_of=SITES.get)
    assert (waiting.calls, waiting.resumed_after_s) == (1, pytest.approx(1.5))


def test_routing_stop_without_any_routed_call_in_scope_says_so():
    stop = routing_stop([call(1, at=11.0, offered=None)], fault_at=10.0, site="site-a", site_of=SITES.get)
    assert (stop.calls, stop.resumed_after_s, stop.longest_s) == (0, None, None)
    assert routing_stop([call(1, at=11.0, offered=12.0, queue="other")], fault_at=10.0, queue="main").calls == 0


def test_service_level_during_counts_only_arrivals_from_the_fault_on():
    calls = [call(1, at=1.0, offered=30.0), call(2, at=10.0, offered=11.0), call(3, at=12.0, offered=20.0)]
    # From 10 s: c2 answered in 1 s (within 5 s), c3 in 8 s (not): 50 %.
    assert service_level_during(calls, since=10.0, threshold_s=5.0) == pytest.approx(0.5)
    assert service_level_during(calls, since=0.0, threshold_s=5.0) == pytest.approx(1 / 3)


def test_series_counts_waiting_and_answered_per_second():
    points = series([call(1, at=0.5, offered=2.5), call(2, at=1.5, offered=1.7)], until=3)
    assert [(p["t"], p["waiting"], p["answered"]) for p in points] == [
        (0.0, 0.0, 0.0), (1.0, 1.0, 0.0), (2.0, 1.0, 1.0), (3.0, 0.0, 1.0),
    ]
