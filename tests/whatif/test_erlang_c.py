"""The what-if engine against queueing theory: M/M/c with the real planner in the loop.

One queue, longest-idle, no wrap-up, no abandonment, identical agents, Poisson
arrivals at 200 calls/h, exponential talk with mean 180 s (A = 10 Erlangs), T = 20 s.

1. Same sample path: with equal priorities the planner serves first come, first
   served, so every wait must equal the exact FIFO replay (``domain.queueing``)
   of the same arrivals and handle times, to the float.
2. Theory: the mean over R replications of the service level, ASA and
   occupancy must lie within the statistical tolerance of Erlang C
   (``domain.staffing``, pyworkforce). The tolerance is Student's t at 99.9 %
   two-sided (df = R - 1) times the standard error from the replications' own
   spread: a correct engine fails it about once in a thousand seed sets, and
   an engine off by one agent's worth of capacity fails it by far (13 and 14
   agents differ by 8 or more standard errors in SL and in ASA). Calibrated on 50
   independent seed sets of the FIFO replay: the largest |t| was 2.9 (SL) and
   3.4 (ASA) at 13 agents, 3.3 and 3.8 at 14.
   Each replication is 12 h; the first hour is a warm-up (the queue starts empty).
"""

from __future__ import annotations

import math
from statistics import fmean, stdev

import pytest
from ccp_acd.domain import staffing as erlang
from ccp_acd.domain.models import QueueConfig
from ccp_acd.domain.queueing import fifo_waits
from ccp_acd.whatif.engine import simulate
from ccp_acd.whatif.load import generalists, simulated
from ccp_acd.whatif.report import estimate, occupancy, queue_figures

CALLS_PER_HOUR = 200
AHT_S = 180.0
THRESHOLD_S = 20.0
HOURS = 12
WARM_UP_S = 3600.0
REPLICATIONS = 12
T_999_DF11 = 4.437  # two-sided 99.9 % quantile of Student's t with 11 degrees of freedom
SEED = 20260504


@pytest.mark.parametrize("agents", [13, 14])
def test_predicted_service_level_asa_and_occupancy_agree_with_erlang_c(agents):
    queues = {"q": QueueConfig("q", sl_threshold_s=THRESHOLD_S, wrap_up_s=0)}
    staff = generalists(agents, queues.values())
    outcomes = []
    for replication in range(REPLICATIONS):
        arrivals = simulated(seed=SEED + replication, calls_per_hour=CALLS_PER_HOUR, hours=HOURS, aht_s=AHT_S, mix={"q": 1})
        outcome = simulate(queues=queues, staff=staff, arrivals=arrivals)
        # 1. Same path: the planner-driven run is the exact FIFO multi-server queue.
        answered = {c.id: c.answered_at - c.enqueued_at for c in outcome.calls}
        replay = fifo_waits([a.at_s for a in arrivals], [a.handle_s for a in arrivals], agents)
        assert [answered[a.id] for a in arrivals] == pytest.approx(replay, abs=1e-9)
        outcomes.append(outcome)

    theory = erlang.with_agents(
        erlang.Forecast(calls=CALLS_PER_HOUR, interval_s=3600, aht_s=AHT_S, threshold_s=THRESHOLD_S), agents
    )
    runs = [queue_figures(o, queues, window_start_s=WARM_UP_S)["q"] for o in outcomes]
    predicted = {
        "service level": ([r.service_level for r in runs], theory.service_level),
        "ASA": ([r.asa_s for r in runs], theory.asa_s),
        "occupancy": ([occupancy(o, window_start_s=WARM_UP_S, window_end_s=HOURS * 3600) for o in outcomes],
                      theory.occupancy),
    }
    print(f"\n{agents} agents, {REPLICATIONS} x {HOURS} h: Erlang C vs what-if (mean ± 95 % half-width)")
    for name, (values, expected) in predicted.items():
        interval = estimate(values)
        print(f"  {name:13} {expected:8.4f}   {interval.mean:8.4f} ± {interval.half_width:.4f}")
    # 2. Theory, within the replications' own statistical tolerance.
    for name, (values, expected) in predicted.items():
        standard_error = stdev(values) / math.sqrt(len(values))
        assert fmean(values) == pytest.approx(expected, abs=T_999_DF11 * standard_error), name
    # The tolerance is tight enough to tell staffing levels apart (one agent moves SL by about 0.1).
    assert T_999_DF11 * stdev(predicted["service level"][0]) / math.sqrt(REPLICATIONS) < 0.06
