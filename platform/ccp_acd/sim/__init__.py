"""A bounded simulated load for the embedded platform, the drills and the routing-quality test.

``workload`` draws the calls and describes the agents (pure), ``driver`` plays
them against real nodes over gRPC (``run``), ``history`` records and judges
what happened (``Recording``, ``check``, pure).
"""

from ccp_acd.sim.driver import Tokens, run
from ccp_acd.sim.history import CallTimeline, Recording, Verdict, check
from ccp_acd.sim.workload import PlannedCall, SimAgent, Stream, load_roster, poisson_workload

__all__ = [
    "CallTimeline",
    "PlannedCall",
    "Recording",
    "SimAgent",
    "Stream",
    "Tokens",
    "Verdict",
    "check",
    "load_roster",
    "poisson_workload",
    "run",
]
