"""BENCHMARKS.md from hand-made results: the tables, the targets and the met / missed verdicts."""

from __future__ import annotations

import json

from bench import report

MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "ram_mb": 4096, "kernel": "6.1.0", "etcd": "3.4.23",
           "python": "3.11.7", "load_at_start": [0.1, 0.2, 0.3], "etcd_data_fs": "ext4"}


def _result(name: str, figures: dict, *, quick: bool = False) -> dict:
    return {"name": name, "quick": quick, "date": "2026-11-27T00:00:00+00:00", "seconds": 12.0,
            "command": f".venv/bin/python -m bench {name}", "machine": MACHINE, "figures": figures}


def _cpu() -> dict:
    return {"wall_s": 2.0, "cpu_s": {"etcd": 0.5, "node0": 1.0, "driver": 0.4}}


def _step(calls_per_s: float, *, sustained: bool = True) -> dict:
    return {"offered_per_s": calls_per_s, "seconds": 2.0, "routed": 100, "planned": 100, "calls_per_s": calls_per_s,
            "sustained": sustained, "drain_lag_s": 0.1, "enqueue_to_offer": {"n": 100, "p50_ms": 3.0, "p90_ms": 5.0,
                                                                               "p99_ms": 8.0, "max_ms": 9.0},
            "cpu": _cpu(), "etcd_per_call": {"etcd_server_proposals_committed_total": 4.0}}


def _routing(calls_per_s: float, raw: float) -> dict:
    return _result("routing", {
        "steps": [_step(calls_per_s)], "sustained_calls_per_s": calls_per_s, "peak_calls_per_s": calls_per_s,
        "busiest": _step(calls_per_s), "etcd_writes_per_call": 4.0, "etcd_fsyncs_per_call": 1.0,
        "etcd_ranges_per_call": 10.0, "calls_vs_raw": calls_per_s / raw, "writes_vs_raw": 4 * calls_per_s / raw,
        "reference": {"raw_txn_per_s": raw, "sequential_txn_per_s": raw / 3, "source": "bench/results/etcd.json"},
    })


def _quantiles(p99_ms: float) -> dict:
    return {"n": 50, "p50_ms": 2.0, "p90_ms": 4.0, "p99_ms": p99_ms, "max_ms": p99_ms + 1}


def _latency(p99_ms: float, *, others: tuple[float, ...] = ()) -> dict:
    """A latency result whose median run has ``p99_ms``; ``others``: the other runs' client p99s."""
    fsyncs = {"fsyncs": 900, "over_8_ms": 12, "over_32_ms": 3, "over_128_ms": 1}
    txns = {"txns": 1500, "over_5_ms": 20, "over_10_ms": 6, "over_25_ms": 2}
    lag = {"samples": 200, "over_5_ms": 9, "over_10_ms": 4, "over_25_ms": 1}
    runs = [{"step": _step(500.0), "client": _quantiles(p), "node": _quantiles(1.0), "enqueue_reply": _quantiles(p),
             "fsyncs": fsyncs, "txns": txns, "loop_lag": lag} for p in (p99_ms, *others)]
    q = _quantiles(p99_ms)
    return _result("latency", {"rate": 500.0, "rate_source": "given (--rate)", "step": _step(500.0), "client": q,
                               "node": q, "target_p99_ms": 10.0, "runs": runs})


def _memory(rss_mb: float, *, calls: int = 10_000, agents: int = 1_000) -> dict:
    return _result("memory", {"calls": calls, "agents": agents, "idle_rss_mb": 70.0, "rss_mb": rss_mb,
                              "node_cpu_share_while_waiting": 0.5,
                              "dispatch": {"dispatch_ms": 300.0, "load_live_ms": 200.0, "plan_ms": 100.0}})


def _target_row(text: str, target: str) -> str:
    (row,) = [line for line in text.splitlines() if line.startswith(f"| {target}")]
    return row


def test_routing_target_is_met_by_a_thousand_calls_or_half_the_raw_etcd_limit():
    assert report.routing_met(1000.0, raw_txn_per_s=5000.0)
    assert report.routing_met(600.0, raw_txn_per_s=1000.0)     # below 1,000/s but >= 50 % of a slow etcd
    assert not report.routing_met(999.0, raw_txn_per_s=5000.0)
    assert not report.routing_met(0.0, raw_txn_per_s=0.0)


def test_the_targets_table_says_met_or_missed_for_each_target():
    text = report.render({"routing": _routing(1200.0, 4000.0), "latency": _latency(12.5), "memory": _memory(250.0)})
    assert "**met**" in _target_row(text, "routed calls/s per site")
    assert "1200.0 (0.300 of 4000)" in _target_row(text, "routed calls/s per site")
    assert "**missed**" in _target_row(text, "p99 enqueue → offer")
    assert "**met**" in _target_row(text, "RSS per node")
    assert "Machine: Test CPU 9000, 2 cores, 4,096 MiB RAM, Linux 6.1.0, etcd 3.4.23" in text
    assert "`.venv/bin/python -m bench routing` on 2026-11-27T00:00:00+00:00" in text
    assert "Not run: etcd, floor, scaling, stats, quality, sip." in text


def test_memory_is_judged_in_megabytes_and_only_at_the_targets_size():
    assert report.memory_verdict(286.0, calls=10_000, agents=1_000) == "met"       # 299.9 MB
    assert report.memory_verdict(287.0, calls=10_000, agents=1_000) == "missed"    # 300.9 MB
    assert report.memory_verdict(100.0, calls=300, agents=30).startswith("not judged")
    text = report.render({"memory": _memory(90.0, calls=300, agents=30)})
    assert "not judged" in _target_row(text, "RSS per node")


def test_quick_results_are_flagged_as_smoke_sizes():
    text = report.render({"routing": _result("routing", _routing(10.0, 1000.0)["figures"], quick=True)})
    assert "quick form: smoke sizes, not a measurement" in text
    assert "Quick (smoke-size) results: routing" in text


def test_write_reads_the_result_files(tmp_path):
    (tmp_path / "latency.json").write_text(json.dumps(_latency(4.0)))
    out = report.write(directory=tmp_path, out=tmp_path / "BENCHMARKS.md")
    text = out.read_text()
    assert "**met**" in _target_row(text, "p99 enqueue → offer") and "## Enqueue → offer latency" in text


def _sip_step(rate: float, *, sustained: bool) -> dict:
    return {"rate": rate, "placed": 150, "completed": 150 if sustained else 131, "failed": 0 if sustained else 19,
            "failed_by": {} if sustained else {"FailedTimeoutOnRecv": 19}, "peak_concurrent": 65 if sustained else 118,
            "lost": 0, "stuck_agents": 0, "sustained": sustained, "adapter_alive": True,
            "cpu": {"wall_s": 2.0, "cpu_s": {"etcd": 0.2, "node0": 0.5, "driver": 0.1, "adapter": 1.2}}}


def test_sip_is_judged_on_concurrent_calls_and_new_calls_per_second_of_the_best_sustained_step():
    figures = {"steps": [_sip_step(5.0, sustained=True), _sip_step(10.0, sustained=False)],
               "sustained_calls_per_s": 5.0, "sustained_concurrent": 65, "peak_concurrent_seen": 118,
               "targets": {"concurrent": 200, "calls_per_s": 20.0},
               "met": {"concurrent": False, "calls_per_s": False}}
    text = report.render({"sip": _result("sip", figures)})
    row = _target_row(text, "SIP calls per node")
    assert "65 concurrent, 5 calls/s" in row and "**missed**" in row
    assert "## SIP calls through one adapter and one node (sipp)" in text
    assert ("| 10.0 | 150 | 131 | 19 | 118 | 0 | 0 | **not sustained** | etcd 10%, node0 25%, driver 5%, adapter 60% |"
            in text)
    met = {**figures, "sustained_calls_per_s": 20.0, "sustained_concurrent": 210,
           "met": {"concurrent": True, "calls_per_s": True}}
    assert "**met**" in _target_row(report.render({"sip": _result("sip", met)}), "SIP calls per node")


def test_latency_lists_every_run_with_its_slow_fsyncs_and_judges_the_median():
    text = report.render({"latency": _latency(9.0, others=(4.0, 480.0))})
    section = text[text.index("## Enqueue → offer latency"):]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[3].split("/")[2].strip() for row in rows] == ["9.0", "4.0", "480.0"]
    assert all("900 (12 / 3 / 1)" in row and "1500 (20 / 6 / 2)" in row and "200 (9 / 4 / 1)" in row for row in rows)
    assert "**met**" in _target_row(text, "p99 enqueue → offer")


def test_stats_lists_each_window_with_both_timings_and_flags_differing_figures():
    row = {"window_s": 3600.0, "records_in_window": 3600, "records_ms": 120.0, "totals_ms": 4.0, "speedup": 30.0,
           "same_figures": True, "offered": 3600}
    figures = {"plan": {"records": 86_400, "queues": 4, "repeats": 5}, "load_s": 3.2, "buckets": 5760,
               "buckets_kib": 900.0, "rows": [row, {**row, "window_s": 86400.0, "same_figures": False}]}
    text = report.render({"stats": _result("stats", figures)})
    assert "## Queue statistics: interval totals against reading the records" in text
    assert "| 1 h | 3,600 | 120.0 | 4.0 | 30x | yes |" in text
    assert "| 24 h | 3,600 | 120.0 | 4.0 | 30x | **no** |" in text
    assert "holds 5,760 buckets (900 KiB)" in text


def test_floor_lists_each_step_with_the_cpu_per_call_of_server_and_driver():
    step = {"offered_per_s": 800.0, "planned": 6400, "routed": 6400, "calls_per_s": 798.6, "sustained": True,
            "drain_lag_s": 0.007, "enqueue_to_offer": _quantiles(2.6), "cpu": _cpu(),
            "cpu_ms_per_call": {"server": 1.075, "driver": 0.852}}
    figures = {"steps": [step], "sustained_calls_per_s": 798.6, "busiest": step, "agents": 40}
    text = report.render({"floor": _result("floor", figures)})
    assert "## The gRPC floor" in text
    assert "| 800.0 | 6400/6400 | 798.6 | yes | 2.0 / 2.6 |" in text
    assert "| 1.075 / 0.852 |" in text and "Floor: **798.6 calls/s** sustained" in text
