"""The FIFO replay against hand-computed paths and against textbook Erlang C (pyworkforce)."""

from __future__ import annotations

import random

import pytest
from ccp_acd.domain.queueing import fifo_waits, service_level, share_waiting
from pyworkforce.queuing import ErlangC


def test_hand_computed_path_with_two_agents():
    # t=0 a1 takes c1 until 10; t=1 a2 takes c2 until 4; t=2 c3 waits for a2 (free at 4): 2 s,
    # a2 busy until 5; t=3 c4 waits for a2 again (5 < 10): 2 s; t=11 both free: c5 waits 0 s.
    arrivals = [0, 1, 2, 3, 11]
    handles = [10, 3, 1, 5, 1]
    assert fifo_waits(arrivals, handles, servers=2) == [0, 0, 2, 2, 0]


def test_shares():
    waits = [0, 0, 2, 7, 30]
    assert share_waiting(waits) == pytest.approx(3 / 5)
    assert share_waiting(waits, longer_than_s=5) == pytest.approx(2 / 5)
    assert service_level(waits, threshold_s=7) == pytest.approx(4 / 5)  # exactly T counts as within


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="servers"):
        fifo_waits([0], [1], servers=0)
    with pytest.raises(ValueError, match="sorted"):
        fifo_waits([1, 0], [1, 1], servers=1)
    with pytest.raises(ValueError, match="handle times"):
        fifo_waits([0, 1], [1], servers=1)


def test_long_run_agrees_with_erlang_c():
    """100 calls / 30 min, AHT 180 s, 14 agents, T = 20 s: P(wait) 0.1741, SL 0.8884 (pyworkforce)."""
    reference = ErlangC(transactions=100, aht=3, asa=20 / 60, interval=30)
    rng = random.Random(20261124)
    rate, aht, n = 100 / 1800, 180.0, 200_000
    arrivals, t = [], 0.0
    for _ in range(n):
        t += rng.expovariate(rate)
        arrivals.append(t)
    waits = fifo_waits(arrivals, [rng.expovariate(1 / aht) for _ in range(n)], servers=14)
    steady = waits[1000:]
    assert share_waiting(steady) == pytest.approx(reference.waiting_probability(14), abs=0.01)
    assert service_level(steady, threshold_s=20) == pytest.approx(reference.service_level(14), abs=0.01)
