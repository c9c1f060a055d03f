"""Fixed UDP port ranges for the SIP adapters the suites start: below Linux's ephemeral range (32768-60999, where
every "free port" of sipp, the RTP taps and the nodes comes from) and disjoint between pytest-xdist workers, which
run an adapter each at the same time. ``ccp up`` (tests/embedded) keeps its own: RTP 20000-23999, agent phones
28000-28799. Within one worker tests run one after another, so each suite has one range per worker.

- RTP: 2000-19999, a block of ``RTP_BLOCK`` per worker: tests/sip takes its first 1,000 ports, tests/voice the
  next 2,000.
- Agent-leg phones' SIP ports: 24000-27999, a block per worker: tests/sip from its start, tests/voice from its
  middle (a test dials a handful of agent endpoints at most).
"""

from __future__ import annotations

import os

RTP_LOW, RTP_HIGH = 2000, 19999
AGENTS_LOW, AGENTS_HIGH = 24000, 27999
SIP_RTP_PORTS, VOICE_RTP_PORTS = 1000, 2000


def _worker() -> tuple[int, int]:
    """(this worker's index, how many workers); (0, 1) outside xdist."""
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return index, max(count, index + 1)


def _block(low: int, high: int) -> tuple[int, int]:
    index, count = _worker()
    size = (high - low + 1) // count
    return low + index * size, size


def rtp_range(suite: str) -> tuple[int, int]:
    """(low, high) of the adapter's RTP ports for ``suite`` ("sip" or "voice") in this worker."""
    start, size = _block(RTP_LOW, RTP_HIGH)
    if size < SIP_RTP_PORTS + VOICE_RTP_PORTS:
        raise RuntimeError(f"too many test workers for the RTP ranges ({size} ports each)")
    low = start if suite == "sip" else start + SIP_RTP_PORTS
    return low, low + (SIP_RTP_PORTS if suite == "sip" else VOICE_RTP_PORTS) - 1


def agent_port_low(suite: str) -> int:
    """The first SIP port of the adapter's agent-leg phones for ``suite`` in this worker."""
    start, size = _block(AGENTS_LOW, AGENTS_HIGH)
    return start if suite == "sip" else start + size // 2
