"""Which presence stretches an agent's change closes (the presence log's rule)."""

from __future__ import annotations

from ccp_acd.domain.models import Agent, Presence, PresenceInterval
from ccp_acd.domain.presence import closed_intervals


def _agent(presence: Presence, since: float, **kw) -> Agent:
    return Agent(id="a", site="site-a", presence=presence, presence_since=since, **kw)


def test_a_stretch_is_logged_from_its_start_to_the_change():
    agent = _agent(Presence.BREAK, 100.0, reason_code="lunch")
    assert closed_intervals(agent, 160.0) == [
        PresenceInterval("a", Presence.BREAK, 100.0, 160.0, site="site-a", reason_code="lunch")
    ]


def test_a_wrap_up_that_ran_out_is_wrap_up_then_available():
    agent = _agent(Presence.WRAP_UP, 100.0, wrap_up_until=130.0, wrap_up_call="c1")
    assert [(i.presence, i.start, i.end, i.after_call) for i in closed_intervals(agent, 200.0)] == [
        (Presence.WRAP_UP, 100.0, 130.0, "c1"),
        (Presence.AVAILABLE, 130.0, 200.0, ""),
    ]


def test_a_wrap_up_ended_early_is_one_interval_and_logged_out_time_none():
    agent = _agent(Presence.WRAP_UP, 100.0, wrap_up_until=130.0, wrap_up_call="c1")
    assert [(i.presence, i.end) for i in closed_intervals(agent, 110.0)] == [(Presence.WRAP_UP, 110.0)]
    assert closed_intervals(_agent(Presence.LOGGED_OUT, 0.0), 500.0) == []


def test_two_changes_at_one_instant_log_nothing_between_them():
    assert closed_intervals(_agent(Presence.AVAILABLE, 100.0), 100.0) == []
