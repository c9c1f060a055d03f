"""The verdict on hand-built call histories: counts, lost, duplicated, out of order, service level, ASA."""

from __future__ import annotations

import pytest
from ccp_acd.sim.history import CallTimeline, Recording, check, problems
from ccp_acd.sim.workload import PlannedCall


def timeline(
    seq, *, call_id=None, enqueued=0.0, accepts=(), completed=None, abandoned=None, final="completed", final_agent=None
):
    accepts = list(accepts)
    return CallTimeline(
        planned=PlannedCall(at_s=enqueued, queue="q", handle_s=10),
        index=seq,
        call_id=f"c{seq}" if call_id is None else call_id,
        enqueued_at=enqueued if call_id != "" else None,
        accepts=accepts,
        completed_at=completed,
        abandoned_at=abandoned,
        final_state=final,
        final_agent=(accepts[0][0] if accepts else "") if final_agent is None else final_agent,
    )


def test_a_clean_run():
    verdict = check(
        [
            timeline(0, accepts=[("a1", 5.0)], completed=15.0),        # waited 5 s: within 20
            timeline(1, accepts=[("a2", 25.0)], completed=35.0),       # waited 25 s: late
            timeline(2, abandoned=10.0, final="abandoned"),            # short abandon: not counted
            timeline(3, abandoned=30.0, final="abandoned"),            # long abandon: a failure
            timeline(4, final="voicemail"),                            # offered, not answered
        ],
        threshold_s=20,
    )
    assert verdict.ok, verdict.lines()
    assert (verdict.answered, verdict.completed, verdict.abandoned, verdict.voicemail, verdict.unresolved) == (
        2, 2, 2, 1, 0
    )
    # offered 5, minus 1 short abandon = 4; answered within 20 s: 1
    assert verdict.service_level == pytest.approx(1 / 4)
    assert verdict.asa_s == pytest.approx(15.0)
    assert verdict.abandonment_rate == pytest.approx(2 / 5)
    assert "lost 0, duplicated 0, inconsistent 0" in verdict.lines()


def test_waits_are_measured_from_the_arrival_in_model_seconds():
    t = timeline(0, enqueued=100.0, accepts=[("a1", 112.5)], completed=200.0)
    assert (t.wait_s, t.answered_at, t.ended_at, t.agent, t.outcome) == (12.5, 112.5, 200.0, "a1", "completed")
    recording = Recording(timelines=[t], time_scale=60.0)
    assert recording.verdict(threshold_s=10).service_level == 0.0
    assert check(recording, threshold_s=15).service_level == 1.0


def test_lost_and_duplicated_calls_are_named():
    verdict = check(
        [
            timeline(0, accepts=[("a1", 1.0), ("a2", 1.5)], completed=9.0),  # answered twice
            timeline(1, final="missing"),                                   # record gone
            timeline(2, final=""),                                          # no record at all
            timeline(3, final="queued"),                                    # still waiting: unresolved
            timeline(4, call_id="", final=""),                              # refused at the door: not taken
            timeline(5, accepts=[("a1", 2.0)], final="connected"),          # still talking: unresolved
        ]
    )
    assert not verdict.ok
    assert verdict.duplicated == ["c0"]
    assert verdict.lost == ["c1", "c2"]
    assert verdict.unresolved == 2
    assert verdict.enqueued == 5


def test_a_record_naming_another_agent_is_a_duplicate():
    verdict = check([timeline(0, accepts=[("a1", 1.0)], completed=5.0, final_agent="a2")])
    assert verdict.duplicated == ["c0"] and not verdict.ok


def test_an_end_the_client_saw_but_the_node_does_not_have_is_lost():
    verdict = check(
        [
            timeline(0, accepts=[("a1", 1.0)], completed=5.0, final="connected"),
            timeline(1, abandoned=5.0, final="queued"),
            timeline(2, abandoned=5.0, final="completed"),
        ]
    )
    assert verdict.lost == ["c0", "c1", "c2"]
    assert verdict.unresolved == 0


@pytest.mark.parametrize(
    "history, problem",
    [
        (timeline(0, enqueued=10.0, accepts=[("a1", 5.0)], completed=20.0), "answered at 5.000 before enqueued"),
        (timeline(0, accepts=[("a1", 5.0)], completed=4.0), "completed at 4.000 before answered"),
        (timeline(0, completed=4.0), "completed but never answered"),
        (timeline(0, accepts=[("a1", 5.0)], abandoned=6.0, final="abandoned"), "abandoned although answered"),
    ],
)
def test_timelines_out_of_order_are_inconsistent(history, problem):
    assert any(problem in p for p in problems(history))
    verdict = check([history])
    assert not verdict.ok
    assert any(problem in line for line in verdict.inconsistent)


def test_a_call_enqueued_before_its_arrival_is_inconsistent():
    t = timeline(0, enqueued=5.0, accepts=[("a1", 6.0)], completed=8.0)
    t.planned = PlannedCall(at_s=9.0, queue="q", handle_s=10)
    assert problems(t) == ["enqueued at 5.000 before its arrival at 9.000"]


def test_nothing_offered_is_full_service():
    verdict = check([])
    assert (verdict.service_level, verdict.asa_s, verdict.abandonment_rate, verdict.ok) == (1.0, 0.0, 0.0, True)
