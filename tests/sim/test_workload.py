"""The workload generator: bounded, reproducible, Poisson and exponential as advertised."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from ccp_acd.domain.models import Channel
from ccp_acd.sim.workload import Stream, load_roster, poisson_workload

ROOT = Path(__file__).resolve().parents[2]
STREAMS = [Stream("sales", "site-a", 3), Stream("support", "site-b", 1, Channel.CHAT)]


def test_bounded_by_count_and_by_time():
    many = poisson_workload(random.Random(1), rate_per_s=10, duration_s=1000, max_calls=50, aht_s=60, streams=STREAMS)
    assert len(many) == 50
    short = poisson_workload(random.Random(1), rate_per_s=0.1, duration_s=100, max_calls=10_000, aht_s=60, streams=STREAMS)
    assert short and all(c.at_s <= 100 for c in short)
    assert [c.seq for c in short] == list(range(len(short)))


def test_same_seed_same_calls():
    def draw(seed):
        return poisson_workload(random.Random(seed), rate_per_s=1, duration_s=50, max_calls=100, aht_s=60, streams=STREAMS)

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_rates_means_and_mix_match_the_parameters():
    calls = poisson_workload(
        random.Random(3), rate_per_s=2, duration_s=5000, max_calls=20_000, aht_s=90, streams=STREAMS, patience_s=40
    )
    gaps = [b.at_s - a.at_s for a, b in zip(calls, calls[1:], strict=False)]
    assert statistics.fmean(gaps) == pytest.approx(0.5, rel=0.05)
    assert statistics.fmean(c.handle_s for c in calls) == pytest.approx(90, rel=0.05)
    assert statistics.fmean(c.patience_s for c in calls) == pytest.approx(40, rel=0.05)
    share_sales = sum(c.queue == "sales" for c in calls) / len(calls)
    assert share_sales == pytest.approx(0.75, abs=0.03)
    assert {c.channel for c in calls if c.queue == "support"} == {Channel.CHAT}


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="positive"):
        poisson_workload(random.Random(1), rate_per_s=0, duration_s=1, max_calls=1, aht_s=1, streams=STREAMS)


def test_the_embedded_roster_loads():
    roster = load_roster(ROOT / "examples" / "embedded" / "agents.yaml")
    agents = roster.sim_agents()
    assert {a.site for a in agents} == {"site-a", "site-b"}
    assert any(Channel.CHAT in a.capacity for a in agents)
    assert {s.site for s in roster.streams()} == {"site-a", "site-b"}
