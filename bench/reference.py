"""The raw etcd limit the routing figures are divided by: from ``bench etcd``'s result, or measured now."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench import etcd_limit, results


async def raw_etcd_limit(*, say: Callable[[str], None] = print) -> dict:
    """``{"raw_txn_per_s", "sequential_txn_per_s", "source"}``; measures a quick one if no result is on disk."""
    found = results.read("etcd")
    if found is not None:
        figures = found["figures"]
        source = f"bench/results/etcd.json ({found['date']}{', quick' if found['quick'] else ''})"
    else:
        say("no bench/results/etcd.json: measuring the raw etcd limit first (quick form)")
        # Its own thread: the measurement runs event loops of its own (one per client process).
        figures = await asyncio.to_thread(etcd_limit.run, etcd_limit.QUICK, say=say)
        source = "measured in this run (quick form)"
    return {
        "raw_txn_per_s": figures["raw_txn_per_s"],
        "sequential_txn_per_s": figures["sequential_txn_per_s"],
        "source": source,
    }


def ratios(calls_per_s: float, writes_per_call: float, raw_txn_per_s: float) -> dict:
    """Routing against the raw limit: calls/s vs txn/s, and the etcd writes the calls made vs txn/s."""
    if raw_txn_per_s <= 0:
        return {"calls_vs_raw": 0.0, "writes_vs_raw": 0.0}
    return {
        "calls_vs_raw": round(calls_per_s / raw_txn_per_s, 3),
        "writes_vs_raw": round(calls_per_s * writes_per_call / raw_txn_per_s, 3),
    }
