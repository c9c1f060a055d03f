"""The workload generator and the roster: bounded, reproducible, Poisson and exponential as advertised."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from ccp_acd.domain.models import Channel
from ccp_acd.sim.workload import PlannedCall, Stream, load_roster, poisson_workload
from ccp_operator.specs.loader import load_paths

ROOT = Path(__file__).resolve().parents[2]
STREAMS = [Stream("sales", "site-a", 3), Stream("support", "site-b", 1, Channel.CHAT)]


def draw(seed=1, **overrides):
    parameters = {"rate_per_s": 1.0, "duration_s": 50.0, "max_calls": 100, "aht_s": 60.0, "mix": STREAMS} | overrides
    return poisson_workload(seed, **parameters)


def test_bounded_by_count_and_by_time():
    assert len(draw(rate_per_s=10, duration_s=1000, max_calls=50)) == 50
    short = draw(rate_per_s=0.1, duration_s=100, max_calls=10_000)
    assert short and all(0 < c.at_s <= 100 for c in short)
    assert [c.at_s for c in short] == sorted(c.at_s for c in short)
    assert draw(max_calls=0) == []


def test_same_seed_same_calls_whether_given_a_seed_or_a_generator():
    assert draw(7) == draw(7) == poisson_workload(random.Random(7), rate_per_s=1, duration_s=50, max_calls=100,
                                                  aht_s=60, mix=STREAMS)
    assert draw(7) != draw(8)


def test_rates_means_and_mix_match_the_parameters():
    calls = draw(3, rate_per_s=2, duration_s=5000, max_calls=20_000, aht_s=90, patience_s=40)
    gaps = [b.at_s - a.at_s for a, b in zip(calls, calls[1:], strict=False)]
    assert statistics.fmean(gaps) == pytest.approx(0.5, rel=0.05)
    # Exponential: the standard deviation equals the mean.
    assert statistics.stdev(gaps) == pytest.approx(0.5, rel=0.08)
    assert statistics.fmean(c.handle_s for c in calls) == pytest.approx(90, rel=0.05)
    assert statistics.stdev(c.handle_s for c in calls) == pytest.approx(90, rel=0.08)
    assert statistics.fmean(c.patience_s for c in calls) == pytest.approx(40, rel=0.05)
    share_sales = sum(c.queue == "sales" for c in calls) / len(calls)
    assert share_sales == pytest.approx(0.75, abs=0.03)
    assert {(c.queue, c.site, c.channel) for c in calls} == {
        ("sales", "site-a", Channel.VOICE), ("support", "site-b", Channel.CHAT)
    }
    assert len({c.caller for c in calls}) > 0.9 * len(calls)


def test_a_queue_mix_by_weight_and_callers_that_never_give_up():
    calls = draw(4, rate_per_s=1, duration_s=4000, max_calls=4000, mix={"sales": 1, "support": 3})
    assert sum(c.queue == "support" for c in calls) / len(calls) == pytest.approx(0.75, abs=0.03)
    assert all(c.patience_s is None and c.site == "" and c.channel is Channel.VOICE for c in calls)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"rate_per_s": 0}, "positive"),
        ({"aht_s": -1}, "positive"),
        ({"mix": []}, "at least one stream"),
        ({"mix": {"sales": 0}}, "weight positive"),
        ({"patience_s": 0}, "patience_s"),
    ],
)
def test_bad_parameters_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        draw(**overrides)


def test_a_planned_call_is_built_by_keyword_with_voice_and_no_patience_by_default():
    call = PlannedCall(at_s=1.5, queue="q", handle_s=30)
    assert (call.channel, call.priority, call.patience_s, call.caller, call.site) == (Channel.VOICE, 0, None, "", "")
    with pytest.raises(TypeError):
        PlannedCall(1.5, "q", Channel.VOICE, 0, 30)  # keyword-only: no silent argument swaps


def test_the_embedded_roster_matches_the_examples():
    roster = load_roster(ROOT / "examples" / "embedded" / "agents.yaml")
    desired = load_paths([ROOT / "examples"])
    assert roster.tenant in desired.tenants
    agents = roster.sim_agents()
    assert 10 <= len(agents) <= 14 and len({a.id for a in agents}) == len(agents)
    assert {a.site for a in agents} == {"site-a", "site-b"}
    assert sum(Channel.CHAT in a.capacity for a in agents) >= 2
    assert {skill for a in agents for skill in a.skills} == {"sales", "support"}
    assert {a.wrap_up_s for a in agents} >= {0.0, roster.wrap_up_seconds}
    trunks = {name: (t.home_site, t.default_queue) for name, t in desired.trunks[roster.tenant].items()}
    streams = roster.streams(trunks)
    assert {s.queue for s in streams} <= set(desired.queues[roster.tenant])
    # acme-west's calls come in at its home site, site-b, to its default queue when none is named.
    assert Stream("support", "site-b", 3.0) in streams
    assert {s.site for s in streams} == {"site-a", "site-b"}


def test_a_roster_naming_an_unknown_trunk_is_refused(tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text("tenant: t\nagents: [{id: a, site: s}]\ntraffic: [{trunk: nope}]\n")
    with pytest.raises(ValueError, match="trunk 'nope'"):
        load_roster(path).streams({})
