"""Exact replay of a FIFO multi-server queue: the yardstick for routing quality.

Given arrival times and each call's handle time, ``fifo_waits`` returns the
wait every caller would have in an ideal M/M/c-style ACD: first come, first
served, ``servers`` identical agents, no dispatch latency. Replaying the very
arrivals and handle times a real run used (common random numbers) separates
what the ACD adds from the randomness of the sample, so a short run can be
compared with theory tightly. Erlang C is the long-run limit of this model.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def fifo_waits(arrivals_s: Sequence[float], handle_s: Sequence[float], servers: int) -> list[float]:
    """Wait of each call, in arrival order, with ``servers`` agents serving FIFO."""
    if servers < 1:
        raise ValueError(f"servers must be at least 1, got {servers}")
    if len(arrivals_s) != len(handle_s):
        raise ValueError(f"{len(arrivals_s)} arrivals but {len(handle_s)} handle times")
    free_at = [0.0] * servers  # a heap of the times each agent becomes free
    waits = []
    previous = float("-inf")
    for arrival, handle in zip(arrivals_s, handle_s, strict=True):
        if arrival < previous:
            raise ValueError("arrivals must be sorted")
        previous = arrival
        start = max(arrival, heapq.heappop(free_at))
        waits.append(start - arrival)
        heapq.heappush(free_at, start + handle)
    return waits


def share_waiting(waits: Sequence[float], *, longer_than_s: float = 0.0) -> float:
    """Share of callers who waited longer than ``longer_than_s`` (P(W > t))."""
    return sum(1 for w in waits if w > longer_than_s) / len(waits) if waits else 0.0


def service_level(waits: Sequence[float], *, threshold_s: float) -> float:
    """Share of callers answered within ``threshold_s`` (P(W <= T)); everyone is answered here."""
    return sum(1 for w in waits if w <= threshold_s) / len(waits) if waits else 1.0
