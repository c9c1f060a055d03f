"""The presence log's rule: which stretches an agent's change of presence closes (pure)."""

from __future__ import annotations

from ccp_acd.domain.models import Agent, Presence, PresenceInterval


def closed_intervals(agent: Agent, now: float) -> list[PresenceInterval]:
    """The presence intervals ``agent`` closes by changing presence at ``now``.

    Logged-out time is not logged (not staffed time). A wrap-up that ran out
    before ``now`` is two intervals: wrap-up until ``wrap_up_until`` (with the
    call it followed), then available. Empty intervals are dropped, so two
    changes at one instant log nothing between them.
    """
    if agent.presence is Presence.LOGGED_OUT:
        return []

    def interval(presence: Presence, start: float, end: float, after_call: str = "") -> PresenceInterval:
        return PresenceInterval(
            agent_id=agent.id, presence=presence, start=start, end=end, site=agent.site,
            reason_code=agent.reason_code, after_call=after_call,
        )

    since = agent.presence_since
    if agent.presence is Presence.WRAP_UP:
        until = min(max(agent.wrap_up_until, since), now)
        closed = [
            interval(Presence.WRAP_UP, since, until, after_call=agent.wrap_up_call),
            interval(Presence.AVAILABLE, until, now),
        ]
    else:
        closed = [interval(agent.presence, since, now)]
    # Compared as the nanoseconds the log's keys carry: one agent's intervals never share a key.
    return [i for i in closed if round(i.end * 1e9) > round(i.start * 1e9)]
