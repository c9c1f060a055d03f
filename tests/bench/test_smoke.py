"""Each benchmark runs in a tiny form against a real etcd and real node processes and writes a well-formed result.

No timing thresholds: figures only have to be there and positive (tests/bench is
not a measurement; ``python -m bench`` is).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench import cli, etcd_limit, memory, quality, results, scaling, sip

pytestmark = [pytest.mark.etcd]


def _written(name: str) -> dict:
    result = json.loads((results.RESULTS_DIR / f"{name}.json").read_text())
    assert result["name"] == name and result["quick"] is True
    assert result["machine"]["cores"] >= 1 and result["machine"]["etcd"]
    assert result["command"].startswith(".venv/bin/python -m bench")
    return result["figures"]


@pytest.fixture(autouse=True)
def _tiny_etcd_reference(monkeypatch):
    """Routing and scaling measure the raw etcd limit first when no result is on disk: keep that tiny."""
    monkeypatch.setattr(etcd_limit, "QUICK", replace(etcd_limit.QUICK, count=200, seconds=0.5))


def test_etcd_limit_measures_guarded_transactions_sequential_and_concurrent():
    cli.run_one("etcd", quick=True)
    figures = _written("etcd")
    assert {(r["processes"], r["in_flight"]) for r in figures["rows"]} == {(1, 1), (1, 16), (2, 16)}
    assert all(r["txn_per_s"] > 0 and r["lost_compares"] == 0 for r in figures["rows"])
    assert figures["raw_txn_per_s"] >= figures["sequential_txn_per_s"] > 0
    assert figures["etcd_counters"]["etcd_server_proposals_committed_total"] >= 200


def test_routing_routes_calls_end_to_end_and_counts_etcd_writes_per_call():
    cli.run_one("routing", quick=True)
    figures = _written("routing")
    assert figures["steps"] and figures["peak_calls_per_s"] > 0
    busiest = figures["busiest"]
    assert busiest["routed"] > 0 and busiest["enqueue_to_offer"]["p50_ms"] > 0
    # enqueue with its offer (offer on arrival: one transaction), accept, complete: one etcd write each at least
    assert figures["etcd_writes_per_call"] >= 3
    assert set(busiest["cpu"]["cpu_s"]) == {"etcd", "node0", "driver"}
    assert figures["reference"]["raw_txn_per_s"] > 0 and figures["writes_vs_raw"] > 0


def test_latency_reports_client_and_node_side_quantiles():
    cli.run_one("latency", quick=True, rate=15.0)
    figures = _written("latency")
    assert figures["rate"] == 15.0 and figures["rate_source"] == "given (--rate)"
    for side in ("client", "node"):
        assert figures[side]["n"] > 0 and 0 < figures[side]["p50_ms"] <= figures[side]["p99_ms"]
    (run,) = figures["runs"]
    assert run["enqueue_reply"]["n"] > 0 and run["fsyncs"]["fsyncs"] > 0
    assert run["fsyncs"]["fsyncs"] >= run["fsyncs"]["over_8_ms"] >= run["fsyncs"]["over_128_ms"] >= 0
    # etcd's own handling of every Txn in the window (--metrics=extensive): at least the calls' transactions.
    assert run["txns"]["txns"] >= run["step"]["routed"] > 0
    assert run["txns"]["txns"] >= run["txns"]["over_5_ms"] >= run["txns"]["over_25_ms"] >= 0
    # The node's loop-lag probe (every 100 ms) sampled the run's window, which lasts at least its seconds.
    assert run["loop_lag"]["samples"] >= 5
    assert run["loop_lag"]["samples"] >= run["loop_lag"]["over_5_ms"] >= run["loop_lag"]["over_25_ms"] >= 0


def test_scaling_has_a_row_per_node_count_and_tenant_count(monkeypatch):
    monkeypatch.setattr(scaling, "QUICK", replace(scaling.QUICK, nodes=(1, 2), tenants=(1, 3), agents=6))
    cli.run_one("scaling", quick=True)
    figures = _written("scaling")
    assert [(r["nodes"], r["tenants"]) for r in figures["rows"]] == [(1, 1), (2, 1), (1, 3)]
    for row in figures["rows"]:
        assert row["peak_calls_per_s"] > 0 and row["cpu_ms_per_call"]["nodes"] > 0
        assert row["fixed_enqueue_to_offer"]["n"] > 0


def test_memory_reads_the_rss_of_a_node_holding_waiting_calls(monkeypatch):
    monkeypatch.setattr(memory, "QUICK", replace(memory.QUICK, calls=200, agents=20, samples=1, dispatch_timings=1))
    cli.run_one("memory", quick=True)
    figures = _written("memory")
    assert figures["rss_mb"] > 0 and figures["idle_rss_mb"] > 0
    assert figures["dispatch"]["load_live_ms"] > 0 and figures["dispatch"]["plan_ms"] > 0


def test_floor_ramps_the_four_rpcs_against_a_server_that_does_nothing():
    cli.run_one("floor", quick=True)
    figures = _written("floor")
    assert [s["offered_per_s"] for s in figures["steps"]] == [50.0, 100.0]
    assert all(s["routed"] == s["planned"] > 0 and s["enqueue_to_offer"]["n"] == s["routed"] for s in figures["steps"])
    assert all(s["cpu_ms_per_call"]["server"] > 0 and s["cpu_ms_per_call"]["driver"] > 0 for s in figures["steps"])
    assert figures["sustained_calls_per_s"] > 0


def test_stats_times_both_ways_and_they_agree():
    cli.run_one("stats", quick=True)
    figures = _written("stats")
    rows = figures["rows"]
    assert [r["window_s"] for r in rows] == [900.0, 3600.0, 86400.0]
    assert all(r["same_figures"] and r["records_ms"] > 0 and r["totals_ms"] > 0 for r in rows)
    assert rows[-1]["records_in_window"] == figures["plan"]["records"] == rows[-1]["offered"]
    assert rows[0]["records_in_window"] < rows[1]["records_in_window"] < rows[2]["records_in_window"]
    assert figures["buckets"] > 0 and figures["buckets_kib"] > 0


def test_quality_compares_the_nodes_waits_with_erlang_c(monkeypatch):
    monkeypatch.setattr(quality, "QUICK", replace(quality.QUICK, calls=20, warm_up=2, scale=400.0, band_paths=5))
    cli.run_one("quality", quick=True)
    figures = _written("quality")
    assert figures["completed"] == figures["calls"] == 20
    assert figures["erlang_c"]["p_wait"] == pytest.approx(0.1741, abs=1e-4)
    assert set(figures["checks"]) == {"share_vs_replay", "sl_vs_replay", "asa_vs_replay", "share_vs_erlang_c",
                                      "sl_vs_erlang_c"}



def test_sip_places_calls_through_the_adapter_and_reports_sustained_steps(monkeypatch):
    monkeypatch.setattr(sip, "QUICK", replace(sip.QUICK, steps=(1.0,), seconds=2.0))
    cli.run_one("sip", quick=True)
    figures = _written("sip")
    [step] = figures["steps"]
    assert step["placed"] == step["completed"] == 2 and step["lost"] == step["stuck_agents"] == 0
    assert step["sustained"] and figures["sustained_calls_per_s"] == 1.0 and figures["sustained_concurrent"] >= 1
    assert step["cpu"]["cpu_s"]["adapter"] > 0 and figures["targets"] == {"concurrent": 200, "calls_per_s": 20.0}
