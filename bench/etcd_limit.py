"""The raw physical limit for our state writes: guarded single-key etcd transactions per second from Python.

Each transaction is the shape of every state change the node commits, reduced to
one key: compare the key's ``mod_revision`` with the last one seen, then put it
(``aetcd.Client.transaction``, as ``state/etcd.py`` calls it). Each in-flight
worker owns its key, so no compare is lost and every transaction is one raft
proposal and one WAL entry; concurrent proposals share an fsync.

Measured sequentially (one in flight), concurrently from one Python process
(16 and 64 in flight) and from several client processes sharing the same 64 in
flight. When several processes beat one, the single Python client was CPU-bound
and the figure of one process is the client's limit, not etcd's. The best of all
is the reference the routing benchmark divides by.

Every run is bounded by a transaction count and a time limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import statistics
import time
from dataclasses import dataclass

import aetcd
import psutil

from bench import harness

VALUE = b"x" * 200  # about the size of an agent record
# Share of one core a client process must use to count as the limit itself.
CPU_BOUND_SHARE = 0.85


@dataclass(frozen=True)
class Plan:
    count: int          # transactions per configuration (all processes together)
    seconds: float      # time limit per configuration
    concurrency: tuple[int, ...] = (1, 16, 64)
    processes: tuple[int, ...] = (2, 4)  # client processes sharing the largest concurrency


FULL = Plan(count=40_000, seconds=10.0)
QUICK = Plan(count=2000, seconds=1.0, concurrency=(1, 16), processes=(2,))


async def _measure(endpoint: str, *, concurrency: int, count: int, seconds: float, start_at: float, tag: str) -> dict:
    """``concurrency`` workers, each a guarded put loop on its own key, from ``start_at`` (wall clock)."""
    host, _, port = endpoint.rpartition(":")
    client = aetcd.Client(host=host, port=int(port), timeout=10)
    await client.connect()
    try:
        revisions = {}
        for w in range(concurrency):
            key = f"/bench/etcd/{tag}/{w}".encode()
            await client.put(key, VALUE)
            revisions[w] = (await client.get(key)).mod_revision
        await asyncio.sleep(max(0.0, start_at - time.time()))
        left = [count]
        latencies: list[float] = []
        lost = [0]
        deadline = time.monotonic() + seconds

        async def worker(w: int) -> None:
            key = f"/bench/etcd/{tag}/{w}".encode()
            rev = revisions[w]
            while left[0] > 0 and time.monotonic() < deadline:
                left[0] -= 1
                sent = time.perf_counter()
                ok, responses = await client.transaction(
                    compare=[client.transactions.mod(key) == rev],
                    success=[client.transactions.put(key, VALUE)],
                    failure=[],
                )
                latencies.append(time.perf_counter() - sent)
                if ok:
                    rev = responses[0].response_put.header.revision
                else:  # cannot happen with one writer per key; counted so a reader would see it
                    lost[0] += 1
                    rev = (await client.get(key)).mod_revision

        cpu0, t0 = time.process_time(), time.time()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        t1, cpu1 = time.time(), time.process_time()
        return {"txns": len(latencies), "lost": lost[0], "t0": t0, "t1": t1, "cpu_s": cpu1 - cpu0, "latencies": latencies}
    finally:
        await client.close()


def _process_main(endpoint: str, concurrency: int, count: int, seconds: float, start_at: float, tag: str) -> dict:
    return asyncio.run(
        _measure(endpoint, concurrency=concurrency, count=count, seconds=seconds, start_at=start_at, tag=tag)
    )


def _summary(parts: list[dict], *, processes: int, concurrency: int, etcd_cpu_s: float) -> dict:
    txns = sum(p["txns"] for p in parts)
    window = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
    latencies = sorted(x for p in parts for x in p["latencies"])
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [latencies[0]] * 99
    client_cpu = sum(p["cpu_s"] for p in parts)
    return {
        "processes": processes,
        "in_flight": concurrency,
        "txns": txns,
        "lost_compares": sum(p["lost"] for p in parts),
        "seconds": round(window, 3),
        "txn_per_s": round(txns / window, 1) if window > 0 else 0.0,
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "client_cpu_s": round(client_cpu, 3),
        # Share of one core each client process was busy: near 1.0 means the client, not etcd, was the limit.
        "client_cpu_per_process": round(client_cpu / processes / window, 2) if window > 0 else 0.0,
        "etcd_cpu_s": round(etcd_cpu_s, 3),
    }


def _one_process(endpoint: str, etcd: psutil.Process, *, concurrency: int, plan: Plan, tag: str) -> dict:
    cpu0 = sum(etcd.cpu_times()[:2])
    part = _process_main(endpoint, concurrency, plan.count, plan.seconds, time.time(), tag)
    return _summary([part], processes=1, concurrency=concurrency, etcd_cpu_s=sum(etcd.cpu_times()[:2]) - cpu0)


def _many_processes(endpoint: str, etcd: psutil.Process, *, processes: int, concurrency: int, plan: Plan, tag: str) -> dict:
    per = max(1, concurrency // processes)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        # Interpreter start and imports take about a second per process on a busy machine: all start together.
        start_at = time.time() + 2.0 + 0.5 * processes
        futures = [
            pool.submit(_process_main, endpoint, per, plan.count // processes, plan.seconds, start_at, f"{tag}-{i}")
            for i in range(processes)
        ]
        cpu0 = None
        while cpu0 is None:
            if time.time() >= start_at - 0.05:
                cpu0 = sum(etcd.cpu_times()[:2])
            time.sleep(0.01)
        parts = [f.result(timeout=plan.seconds + 60) for f in futures]
    return _summary(parts, processes=processes, concurrency=per * processes, etcd_cpu_s=sum(etcd.cpu_times()[:2]) - cpu0)


def run(plan: Plan, *, say=print) -> dict:
    rows = []
    with harness.cluster("ccp-bench-etcd-") as running:
        endpoint = running.etcd.endpoint
        etcd = psutil.Process(running.etcd.pid)
        before = harness.etcd_counters(endpoint)
        for concurrency in plan.concurrency:
            rows.append(_one_process(endpoint, etcd, concurrency=concurrency, plan=plan, tag=f"c{concurrency}"))
            say(_line(rows[-1]))
        widest = max(plan.concurrency)
        for processes in plan.processes:
            rows.append(
                _many_processes(endpoint, etcd, processes=processes, concurrency=widest, plan=plan, tag=f"p{processes}")
            )
            say(_line(rows[-1]))
        after = harness.etcd_counters(endpoint)
    sequential = next(r for r in rows if r["in_flight"] == 1 and r["processes"] == 1)
    best = max(rows, key=lambda r: r["txn_per_s"])
    best_single = max((r for r in rows if r["processes"] == 1), key=lambda r: r["txn_per_s"])
    single_cpu = best_single["client_cpu_per_process"]
    client_bound = single_cpu >= CPU_BOUND_SHARE
    if client_bound:
        limit = (
            f"the Python client: one process uses {single_cpu:.0%} of a core at {best_single['txn_per_s']:.0f} txn/s; "
            f"the best, {best['processes']} process(es), reach {best['txn_per_s']:.0f} txn/s"
        )
    elif best["processes"] > 1 and best["txn_per_s"] > 1.15 * best_single["txn_per_s"]:
        limit = (
            f"client-side, not etcd: {best['processes']} processes reach {best['txn_per_s']:.0f} txn/s against "
            f"{best_single['txn_per_s']:.0f} from one, which was busy {single_cpu:.0%} of a core (grpc and asyncio "
            f"overhead per round trip)"
        )
    else:
        limit = (
            f"etcd (raft, WAL fsync; {best['etcd_cpu_s']:.1f} CPU s in the best run): more client processes add "
            f"less than 15 %"
        )
    figures = {
        "rows": rows,
        "sequential_txn_per_s": sequential["txn_per_s"],
        "raw_txn_per_s": best["txn_per_s"],
        "best": {"processes": best["processes"], "in_flight": best["in_flight"]},
        "client_bound": client_bound,
        "limit": limit,
        "etcd_counters": harness.counters_delta(before, after),
    }
    say(f"raw etcd limit: {best['txn_per_s']:.0f} guarded txn/s ({best['processes']} process(es), "
        f"{best['in_flight']} in flight); sequential {sequential['txn_per_s']:.0f} txn/s "
        f"= {sequential['txn_per_s'] / best['txn_per_s']:.2f} of it. Limit: {limit}")
    return figures


def _line(row: dict) -> str:
    return (
        f"  {row['processes']} process(es) x {row['in_flight'] // row['processes']:>3} in flight: "
        f"{row['txn_per_s']:>8.0f} txn/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  "
        f"client CPU {row['client_cpu_per_process']:.0%}/process  etcd CPU {row['etcd_cpu_s']:.1f} s"
    )
