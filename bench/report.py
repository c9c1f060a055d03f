"""``BENCHMARKS.md`` from the results on disk: a table per benchmark, the issue's targets, met or missed.

``render`` is pure (results in, Markdown out) so it is tested on hand-made
results; ``write`` reads ``bench/results/*.json`` and writes the file.

Targets (issue 7, per site, 2 cores, etcd with fsync on the same machine):

- routing: >= 1,000 calls routed/s sustained, or >= 50 % of the raw etcd limit
  (read literally: sustained calls/s against raw guarded txn/s);
- latency: p99 enqueue -> offer <= 10 ms at half load (client side);
- memory: <= 300 MB per node at 10,000 waiting calls and 1,000 agents
  (only judged at that size: a quick run's smaller view is "not judged");
- sip (issue 5): >= 200 concurrent calls and >= 20 new calls/s per node through one SIP adapter, sustained (no
  failed, lost or stuck).
"""

from __future__ import annotations

from pathlib import Path

from bench import results

NAMES = ("etcd", "floor", "routing", "latency", "scaling", "memory", "stats", "quality", "sip")
ROUTING_TARGET_CALLS_PER_S = 1000.0
ROUTING_TARGET_SHARE_OF_RAW = 0.5
LATENCY_TARGET_P99_MS = 10.0
MEMORY_TARGET_MB = 300.0
MEMORY_TARGET_SIZE = (10_000, 1_000)  # waiting calls, agents
MIB_IN_MB = 1.048576


def routing_met(calls_per_s: float, raw_txn_per_s: float) -> bool:
    return calls_per_s >= ROUTING_TARGET_CALLS_PER_S or (
        raw_txn_per_s > 0 and calls_per_s >= ROUTING_TARGET_SHARE_OF_RAW * raw_txn_per_s
    )


def latency_met(p99_ms: float) -> bool:
    return p99_ms <= LATENCY_TARGET_P99_MS


def memory_verdict(rss_mb: float, *, calls: int, agents: int) -> str:
    """``rss_mb`` is in MiB (VmRSS); the target is in MB (10^6 bytes)."""
    if calls < MEMORY_TARGET_SIZE[0] or agents < MEMORY_TARGET_SIZE[1]:
        return "not judged (smaller than the target's view)"
    return "met" if rss_mb * MIB_IN_MB <= MEMORY_TARGET_MB else "missed"


def _word(met: bool) -> str:
    return "**met**" if met else "**missed**"


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _provenance(result: dict) -> list[str]:
    m = result["machine"]
    quick = " — **quick form: smoke sizes, not a measurement**" if result["quick"] else ""
    return [
        f"`{result['command']}` on {result['date']} ({result['seconds']:.0f} s){quick}; load average at start "
        f"{', '.join(str(x) for x in m['load_at_start'])}.",
        "",
    ]


def _cpu_shares(step: dict) -> str:
    wall = step["cpu"].get("wall_s") or 1.0
    return ", ".join(f"{name} {used / wall:.0%}" for name, used in step["cpu"].get("cpu_s", {}).items())


def _node_ms_per_call(step: dict) -> str:
    used = sum(v for name, v in step["cpu"].get("cpu_s", {}).items() if name.startswith("node"))
    return f"{1000 * used / step['routed']:.2f}" if step["routed"] else "-"


def _etcd(result: dict) -> list[str]:
    f = result["figures"]
    out = ["## Raw etcd limit", "", *_provenance(result)]
    out += _table(
        ["client processes", "in flight", "txn/s", "p50 ms", "p99 ms", "client CPU per process (of a core)", "etcd CPU s"],
        [[r["processes"], r["in_flight"], f"{r['txn_per_s']:.0f}", r["p50_ms"], r["p99_ms"],
          f"{r['client_cpu_per_process']:.0%}", r["etcd_cpu_s"]] for r in f["rows"]],
    )
    out += ["", f"Raw limit (the reference below): **{f['raw_txn_per_s']:.0f} guarded txn/s**; sequential "
            f"{f['sequential_txn_per_s']:.0f} txn/s. What limits it: {f['limit']}.", ""]
    return out


def _floor(result: dict) -> list[str]:
    f = result["figures"]
    out = ["## The gRPC floor (the same four RPCs, a server that does nothing)", "", *_provenance(result)]
    out += _table(
        ["offered calls/s", "completed", "calls/s", "sustained", "enqueue→offer p50 / p99 ms",
         "CPU (share of a core)", "CPU ms/call (server / driver)"],
        [[s["offered_per_s"], f"{s['routed']}/{s['planned']}", s["calls_per_s"], "yes" if s["sustained"] else "no",
          f"{s['enqueue_to_offer']['p50_ms']} / {s['enqueue_to_offer']['p99_ms']}", _cpu_shares(s),
          f"{s['cpu_ms_per_call'].get('server', '-')} / {s['cpu_ms_per_call'].get('driver', '-')}"]
         for s in f["steps"]],
    )
    out += ["", f"Floor: **{f['sustained_calls_per_s']:.1f} calls/s** sustained with no etcd and no routing "
            "(bench/floor_server.py; no auth, no interceptors) and a minimal client: no Python node can route more "
            "on this machine. What the node adds to it: docs/performance.md, *The gRPC floor*.", ""]
    return out


def _routing(result: dict) -> list[str]:
    f = result["figures"]
    ref = f["reference"]
    best = f["sustained_calls_per_s"]
    out = ["## Routing throughput (enqueue → offer → accept → complete)", "", *_provenance(result)]
    out += _table(
        ["offered calls/s", "routed", "calls/s", "sustained", "drain lag s", "enqueue→offer p50 / p99 ms",
         "etcd writes/call", "CPU (share of a core)", "node CPU ms/call"],
        [[s["offered_per_s"], f"{s['routed']}/{s['planned']}", s["calls_per_s"], "yes" if s["sustained"] else "no",
          s["drain_lag_s"], f"{s['enqueue_to_offer']['p50_ms']} / {s['enqueue_to_offer']['p99_ms']}",
          s["etcd_per_call"].get("etcd_server_proposals_committed_total", 0), _cpu_shares(s), _node_ms_per_call(s)]
         for s in f["steps"]],
    )
    met = routing_met(best, ref["raw_txn_per_s"])
    refine = f.get("plan", {}).get("refine", 0)
    out += [
        "",
        *([f"The rates rise by half each step until one is not sustained; the {refine} steps after it bisect "
           "between the last sustained rate and the lowest not sustained.", ""] if refine else []),
        f"Sustained **{best:.1f} calls/s** (peak {f['peak_calls_per_s']:.1f}); {f['etcd_writes_per_call']:.2f} etcd "
        f"writes (raft proposals), {f['etcd_fsyncs_per_call']:.2f} WAL fsyncs and {f['etcd_ranges_per_call']:.2f} "
        f"range reads per call. Against the raw etcd limit of {ref['raw_txn_per_s']:.0f} txn/s ({ref['source']}): "
        f"calls/s ÷ txn/s = **{f['calls_vs_raw']:.3f}**, (calls/s × writes per call) ÷ txn/s = "
        f"**{f['writes_vs_raw']:.3f}**.",
        "",
        f"Target ≥ {ROUTING_TARGET_CALLS_PER_S:,.0f} calls/s or ≥ {ROUTING_TARGET_SHARE_OF_RAW:.0%} of the raw etcd "
        f"limit: {_word(met)}.",
        "",
    ]
    return out


def _latency(result: dict) -> list[str]:
    f = result["figures"]
    out = ["## Enqueue → offer latency at half load", "", *_provenance(result)]
    runs = f.get("runs") or [{"step": f["step"], "client": f["client"], "node": f["node"]}]
    out += [f"Offered {f['rate']:g} calls/s ({f['rate_source']}), {len(runs)} run(s) of "
            f"{f['step']['seconds']:g} s on one cluster; the verdict is on the median run's p99.", ""]
    out += _table(
        ["run", "routed", "client p50 / p90 / p99 / max ms", "node clock p50 / p99 ms", "Enqueue reply p50 / p99 ms",
         "WAL fsyncs (over 8 / 32 / 128 ms)", "Txns etcd handled (over 5 / 10 / 25 ms)",
         "node loop lag samples (over 5 / 10 / 25 ms)"],
        [[k, f"{r['step']['routed']}/{r['step']['planned']}",
          f"{r['client']['p50_ms']} / {r['client']['p90_ms']} / {r['client']['p99_ms']} / {r['client']['max_ms']}",
          f"{r['node']['p50_ms']} / {r['node']['p99_ms']}",
          f"{r['enqueue_reply']['p50_ms']} / {r['enqueue_reply']['p99_ms']}" if "enqueue_reply" in r else "-",
          (f"{r['fsyncs']['fsyncs']} ({r['fsyncs']['over_8_ms']} / {r['fsyncs']['over_32_ms']} / "
           f"{r['fsyncs']['over_128_ms']})") if "fsyncs" in r else "-",
          (f"{r['txns']['txns']} ({r['txns']['over_5_ms']} / {r['txns']['over_10_ms']} / "
           f"{r['txns']['over_25_ms']})") if "txns" in r else "-",
          (f"{r['loop_lag']['samples']} ({r['loop_lag']['over_5_ms']} / {r['loop_lag']['over_10_ms']} / "
           f"{r['loop_lag']['over_25_ms']})") if "loop_lag" in r else "-"]
         for k, r in enumerate(runs, start=1)],
    )
    out += ["", "Client: Enqueue sent → offer on the agent's stream. Node clock: the call's `enqueued_at` → its "
            "offer's `offered_at` (with offer on arrival both precede the call's one transaction). Txns etcd "
            "handled: etcd's own time from receiving a transaction to replying (raft, WAL fsync, apply; "
            "`--metrics=extensive`), for every transaction in the run's window, not only the calls' first. Node "
            "loop lag: how late the node's event loop ran a timer due every 100 ms (`ccp_event_loop_lag_seconds`), "
            "the wait of any request behind the work queued on its one thread; the node serves metrics here, as in "
            "production, and not in the throughput benchmarks."]
    met = latency_met(f["client"]["p99_ms"])
    out += ["", f"Target p99 ≤ {LATENCY_TARGET_P99_MS:g} ms: {_word(met)} "
            f"(median run's p99 ÷ target = {f['client']['p99_ms'] / LATENCY_TARGET_P99_MS:.2f}).", ""]
    return out


def _scaling(result: dict) -> list[str]:
    f = result["figures"]
    raw = f["reference"]["raw_txn_per_s"]
    out = ["## Scaling: nodes per site and tenants", "", *_provenance(result)]
    out += _table(
        ["nodes", "tenants", "agents/tenant", "sustained calls/s", "peak calls/s", "peak ÷ raw txn/s",
         "etcd writes/call", "CPU ms/call (nodes / etcd / driver)", f"p99 enqueue→offer ms at {f['fixed_rate']:g}/s"],
        [[r["nodes"], r["tenants"], r["agents_per_tenant"], r["sustained_calls_per_s"], r["peak_calls_per_s"],
          f"{r['peak_calls_per_s'] / raw:.3f}" if raw else "-", r["etcd_writes_per_call"],
          f"{r['cpu_ms_per_call']['nodes']} / {r['cpu_ms_per_call']['etcd']} / {r['cpu_ms_per_call']['driver']}",
          r["fixed_enqueue_to_offer"]["p99_ms"]] for r in f["rows"]],
    )
    return [*out, ""]


def _memory(result: dict) -> list[str]:
    f = result["figures"]
    verdict = memory_verdict(f["rss_mb"], calls=f["calls"], agents=f["agents"])
    out = ["## Memory per node", "", *_provenance(result)]
    out += _table(
        ["waiting calls", "agents (on break)", "RSS idle MiB", "RSS loaded MiB", "one dispatch ms (read + plan)",
         "node CPU while waiting"],
        [[f["calls"], f["agents"], f["idle_rss_mb"], f["rss_mb"],
          f"{f['dispatch']['dispatch_ms']} ({f['dispatch']['load_live_ms']} + {f['dispatch']['plan_ms']})",
          f"{f['node_cpu_share_while_waiting']:.0%} of a core"]],
    )
    word = verdict if verdict.startswith("not") else _word(verdict == "met")
    out += ["", f"Target ≤ {MEMORY_TARGET_MB:g} MB at {MEMORY_TARGET_SIZE[0]:,} waiting calls and "
            f"{MEMORY_TARGET_SIZE[1]:,} agents: {word}.", ""]
    return out


def _stats(result: dict) -> list[str]:
    f = result["figures"]
    plan = f["plan"]
    out = ["## Queue statistics: interval totals against reading the records", "", *_provenance(result)]
    rows = [[f"{r['window_s'] / 3600:g} h", f"{r['records_in_window']:,}", r["records_ms"], r["totals_ms"],
             f"{r['speedup']:g}x", "yes" if r["same_figures"] else "**no**"] for r in f["rows"]]
    out += _table(["window", "records in it", "reading them ms", "interval totals ms", "ratio", "same figures"],
                  rows)
    out += ["", f"{plan['records']:,} ended calls over a day in {plan['queues']} queues; every queue's figures "
            f"(ListQueueStats, the wallboard), median of {plan['repeats']}. The cache loads the day once per node "
            f"and tenant ({f['load_s']:g} s) and holds {f['buckets']:,} buckets ({f['buckets_kib']:,.0f} KiB). "
            "How: docs/performance.md, *Queue statistics*.", ""]
    return out


def _quality(result: dict) -> list[str]:
    f = result["figures"]
    out = ["## Routing quality against Erlang C", "", *_provenance(result)]
    out += _table(
        ["", "P(W > 5 s)", "SL (20 s)", "ASA s"],
        [["Erlang C (pyworkforce)", f"{f['erlang_c']['share_over_ring']} (P(wait) {f['erlang_c']['p_wait']})",
          f["erlang_c"]["sl"], "-"],
         ["exact FIFO replay of this run's sample path", f["replay"]["share_over_ring"], f["replay"]["sl"],
          f["replay"]["asa_s"]],
         ["the node", f["node"]["share_over_ring"], f["node"]["sl"], f["node"]["asa_s"]]],
    )
    checks = ", ".join(f"{name.replace('_', ' ')}: {'met' if ok else 'missed'}" for name, ok in f["checks"].items())
    out += ["", f"{f['completed']}/{f['calls']} calls at {f['scale']:g}x; spread of a run this long: share "
            f"{f['band']['share']}, SL {f['band']['sl']}. Agreement — {checks}.", ""]
    return out


def _sip(result: dict) -> list[str]:
    f = result["figures"]
    out = ["## SIP calls through one adapter and one node (sipp)", "", *_provenance(result)]
    rows = [[r["rate"], r["placed"], r["completed"], r["failed"], r["peak_concurrent"], r["lost"], r["stuck_agents"],
             "sustained" if r["sustained"] else "**not sustained**", _cpu_shares(r)] for r in f["steps"]]
    out += _table(["new calls/s", "placed", "completed", "failed", "peak concurrent", "lost", "stuck agents", "step",
                   "CPU (of a core)"], rows)
    out += ["", f"Sustained: {f['sustained_calls_per_s']:g} new calls/s with {f['sustained_concurrent']} concurrent "
            f"calls; most concurrent seen {f['peak_concurrent_seen']}. What limits it: docs/voice.md, *Testing and "
            "benchmark*.", ""]
    return out


SECTIONS = {"etcd": _etcd, "floor": _floor, "routing": _routing, "latency": _latency, "scaling": _scaling, "memory": _memory,
            "stats": _stats, "quality": _quality, "sip": _sip}


def render(found: dict[str, dict]) -> str:
    """The whole of BENCHMARKS.md from results by name (missing ones are listed as not run)."""
    out = ["# Benchmarks", "",
           "Generated by `.venv/bin/python -m bench report` from `bench/results/*.json` (see README, *Benchmarks*); "
           "do not edit by hand.", ""]
    machines = {r["machine"]["cpu"]: r["machine"] for r in found.values()}
    for m in machines.values():
        out += [f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_mb']:,} MiB RAM, Linux {m['kernel']}, etcd "
                f"{m['etcd']} (data on {m['etcd_data_fs']}, fsync on), Python {m['python']}.", ""]
    out += _summary(found)
    for name in NAMES:
        if name in found:
            out += SECTIONS[name](found[name])
    missing = [n for n in NAMES if n not in found]
    if missing:
        out += [f"Not run: {', '.join(missing)}.", ""]
    return "\n".join(out).rstrip() + "\n"


def _summary(found: dict[str, dict]) -> list[str]:
    rows = []
    if "routing" in found:
        f = found["routing"]["figures"]
        rows.append(["routed calls/s per site", f"≥ {ROUTING_TARGET_CALLS_PER_S:,.0f}, or ≥ 50 % of raw etcd txn/s",
                     f"{f['sustained_calls_per_s']:.1f} ({f['calls_vs_raw']:.3f} of {f['reference']['raw_txn_per_s']:.0f})",
                     _word(routing_met(f["sustained_calls_per_s"], f["reference"]["raw_txn_per_s"]))])
    if "latency" in found:
        f = found["latency"]["figures"]
        rows.append(["p99 enqueue → offer at half load", f"≤ {LATENCY_TARGET_P99_MS:g} ms",
                     f"{f['client']['p99_ms']} ms at {f['rate']:g}/s", _word(latency_met(f["client"]["p99_ms"]))])
    if "memory" in found:
        f = found["memory"]["figures"]
        verdict = memory_verdict(f["rss_mb"], calls=f["calls"], agents=f["agents"])
        rows.append(["RSS per node", f"≤ {MEMORY_TARGET_MB:g} MB at 10,000 calls / 1,000 agents",
                     f"{f['rss_mb']} MiB at {f['calls']:,} / {f['agents']:,}",
                     verdict if verdict.startswith("not") else _word(verdict == "met")])
    if "sip" in found:
        f = found["sip"]["figures"]
        rows.append(["SIP calls per node (one adapter)", f"≥ {f['targets']['concurrent']} concurrent, "
                     f"≥ {f['targets']['calls_per_s']:g} new calls/s",
                     f"{f['sustained_concurrent']} concurrent, {f['sustained_calls_per_s']:g} calls/s",
                     _word(f["met"]["concurrent"] and f["met"]["calls_per_s"])])
    if not rows:
        return []
    quick = [n for n, r in found.items() if r["quick"]]
    note = [f"Quick (smoke-size) results: {', '.join(quick)} — their verdicts say little.", ""] if quick else []
    return ["## Targets", "", *_table(["target", "wanted", "measured", "verdict"], rows), "", *note]


def write(*, directory: Path | None = None, out: Path | None = None) -> Path:
    path = out or results.ROOT / "BENCHMARKS.md"
    path.write_text(render(results.read_all(list(NAMES), directory=directory)))
    return path
