"""The verdict on hand-built call histories."""

from __future__ import annotations

import pytest
from ccp_acd.sim.history import CallTimeline, check
from ccp_acd.sim.workload import PlannedCall


def timeline(seq, *, call_id=None, enqueued=0.0, accepts=(), completed=None, abandoned=None, final="completed"):
    return CallTimeline(
        planned=PlannedCall(seq=seq, at_s=enqueued, queue="q", site="a", handle_s=10),
        call_id=f"c{seq}" if call_id is None else call_id,
        enqueued_at=enqueued,
        accepts=list(accepts),
        completed_at=completed,
        abandoned_at=abandoned,
        final_state=final,
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
    assert verdict.ok
    assert (verdict.completed, verdict.abandoned, verdict.voicemail, verdict.unresolved) == (2, 2, 1, 0)
    # offered 5, minus 1 short abandon = 4; answered within 20 s: 1
    assert verdict.service_level == pytest.approx(1 / 4)
    assert verdict.asa_s == pytest.approx(15.0)


def test_lost_and_duplicated_calls_are_named():
    verdict = check(
        [
            timeline(0, accepts=[("a1", 1.0), ("a2", 1.5)], completed=9.0),  # answered twice
            timeline(1, final="missing"),                                   # record gone
            timeline(2, final=""),                                          # no record at all
            timeline(3, final="queued"),                                    # still waiting: unresolved
            timeline(4, call_id="", final=""),                              # refused at the door: not taken
        ]
    )
    assert not verdict.ok
    assert verdict.duplicated == ["c0"]
    assert verdict.lost == ["c1", "c2"]
    assert verdict.unresolved == 1
    assert verdict.enqueued == 4


def test_nothing_offered_is_full_service():
    assert check([]).service_level == 1.0
