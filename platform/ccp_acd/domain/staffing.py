"""Staffing with Erlang C: how many agents a forecast needs for a service-level target.

pyworkforce computes the Erlang C figures (probability of waiting, service
level, occupancy); the average speed of answer it does not give is the
textbook ``ASA = P(wait) * AHT / (N - A)`` with traffic ``A = calls * AHT /
interval`` in Erlangs. Shrinkage (breaks, training, absence) scales the
agents on shift up from the agents needed on the phones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyworkforce.queuing import ErlangC


@dataclass(frozen=True)
class Forecast:
    calls: float            # offered in one interval
    interval_s: float
    aht_s: float
    threshold_s: float      # service-level threshold T

    @property
    def erlangs(self) -> float:
        return self.calls * self.aht_s / self.interval_s

    def _model(self) -> ErlangC:
        minutes = self.interval_s / 60
        return ErlangC(transactions=self.calls, aht=self.aht_s / 60, asa=self.threshold_s / 60, interval=minutes)


@dataclass(frozen=True)
class Staffing:
    agents: int
    service_level: float
    waiting_probability: float
    asa_s: float
    occupancy: float


def with_agents(forecast: Forecast, agents: int) -> Staffing:
    """Erlang C figures for ``agents`` on the phones (an unstable queue gets SL 0 and infinite ASA)."""
    if agents <= forecast.erlangs:
        return Staffing(agents, 0.0, 1.0, math.inf, 1.0)
    model = forecast._model()
    p_wait = model.waiting_probability(agents)
    return Staffing(
        agents=agents,
        service_level=model.service_level(agents),
        waiting_probability=p_wait,
        asa_s=p_wait * forecast.aht_s / (agents - forecast.erlangs),
        occupancy=forecast.erlangs / agents,
    )


def required(forecast: Forecast, *, target_sl: float, max_occupancy: float = 1.0) -> Staffing:
    """The fewest agents on the phones meeting the service-level target and the occupancy cap."""
    if not 0 < target_sl < 1 or not 0 < max_occupancy <= 1:
        raise ValueError("target_sl must be in (0, 1) and max_occupancy in (0, 1]")
    agents = max(1, math.floor(forecast.erlangs) + 1)
    while True:
        staffing = with_agents(forecast, agents)
        if staffing.service_level >= target_sl and staffing.occupancy <= max_occupancy:
            return staffing
        agents += 1


def scheduled(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` are on the phones after ``shrinkage`` (0..1)."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(agents / (1 - shrinkage))
