"""The routing ramp's choice of rates: rise until a step is not sustained, then bisect.

``load.play`` (which starts real calls against a cluster) is replaced by a stand-in that sustains every rate up to
a capacity: what is tested is which rates the ramp asks for, not a measurement (the smoke tests run the real one).
"""

from __future__ import annotations

import asyncio

import pytest

from bench import load


def _ramp(monkeypatch, capacity: float, *, refine: int, rates=(25.0, 37.5, 56.2, 84.4, 126.6, 189.8)) -> tuple:
    played = []

    async def play(running, store, tenants, step, *, seed):
        played.append(step.rate)
        routed = step.rate if step.rate <= capacity else capacity
        return {"rate": step.rate, "sustained": step.rate <= capacity, "calls_per_s": routed, "routed": int(routed)}

    monkeypatch.setattr(load, "play", play)
    monkeypatch.setattr(load, "step_line", lambda step: "")
    found = asyncio.run(load.ramp(None, None, [], rates=rates, seconds=1.0, max_calls=10, drain_s=0.0,
                                  refine=refine, say=lambda line: None))
    return played, found


def test_the_ramp_stops_at_the_first_step_not_sustained_without_refining(monkeypatch):
    played, found = _ramp(monkeypatch, 100.0, refine=0)
    assert played == [25.0, 37.5, 56.2, 84.4, 126.6]
    assert found["sustained_calls_per_s"] == 84.4


def test_refining_bisects_between_the_last_sustained_rate_and_the_first_not(monkeypatch):
    played, found = _ramp(monkeypatch, 100.0, refine=3)
    assert played == [25.0, 37.5, 56.2, 84.4, 126.6, 105.5, 95.0, 100.2]
    assert found["sustained_calls_per_s"] == 95.0
    assert found["peak_calls_per_s"] == 100.0


@pytest.mark.parametrize("capacity", [10.0, 500.0])
def test_nothing_is_refined_without_a_bracket(monkeypatch, capacity):
    """Not even the first rate sustained, or every rate sustained: there is nothing to bisect."""
    played, _ = _ramp(monkeypatch, capacity, refine=3)
    assert played == ([25.0] if capacity < 25 else [25.0, 37.5, 56.2, 84.4, 126.6, 189.8])
