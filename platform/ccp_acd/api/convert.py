"""The only place that converts between protobuf messages and domain types.

Times: the domain uses POSIX seconds (float) and 0 / None for "not set"; the
API uses ``google.protobuf.Timestamp`` / ``Duration`` and leaves a field unset
for "not set". Enums map one to one except ``AGENT_STATE_BUSY``, which is no
presence: it is reported when the agent holds connected work.

Not for: validation (``validate.py``) or deciding anything; the figures an
``Interaction`` carries (position, expected wait) come from
``domain.predictions`` on the live view the caller read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from ccp_acd.domain import kpis, predictions, reports
from ccp_acd.domain.models import (
    Agent,
    Call,
    Caller,
    CallState,
    Channel,
    LiveView,
    Presence,
    QueueConfig,
    TimelineEvent,
)
from ccp_acd.domain.skills import eligible
from ccp_acd.state.store import AgentProfile, AuditEvent, BlockedCaller

CHANNELS: dict[Channel, int] = {
    Channel.VOICE: common_pb2.CHANNEL_VOICE,
    Channel.CHAT: common_pb2.CHANNEL_CHAT,
    Channel.EMAIL: common_pb2.CHANNEL_EMAIL,
    Channel.CALLBACK: common_pb2.CHANNEL_CALLBACK,
    Channel.VOICEMAIL: common_pb2.CHANNEL_VOICEMAIL,
}
CHANNELS_FROM_PB: dict[int, Channel] = {v: k for k, v in CHANNELS.items()}

CALL_STATES: dict[CallState, int] = {
    CallState.QUEUED: common_pb2.INTERACTION_STATE_QUEUED,
    CallState.CONNECTED: common_pb2.INTERACTION_STATE_CONNECTED,
    CallState.COMPLETED: common_pb2.INTERACTION_STATE_COMPLETED,
    CallState.ABANDONED: common_pb2.INTERACTION_STATE_ABANDONED,
    CallState.VOICEMAIL: common_pb2.INTERACTION_STATE_VOICEMAIL,
}

GRANULARITIES_FROM_PB: dict[int, reports.Granularity] = {
    admin_pb2.GRANULARITY_QUARTER_HOUR: reports.Granularity.QUARTER_HOUR,
    admin_pb2.GRANULARITY_HOUR: reports.Granularity.HOUR,
    admin_pb2.GRANULARITY_DAY: reports.Granularity.DAY,
}
GROUP_BY_FROM_PB: dict[int, reports.GroupBy] = {
    admin_pb2.GROUP_BY_QUEUE: reports.GroupBy.QUEUE,
    admin_pb2.GROUP_BY_SITE: reports.GroupBy.SITE,
    admin_pb2.GROUP_BY_TENANT: reports.GroupBy.TENANT,
}

PRESENCE_FROM_PB: dict[int, Presence] = {
    common_pb2.AGENT_STATE_LOGGED_OUT: Presence.LOGGED_OUT,
    common_pb2.AGENT_STATE_AVAILABLE: Presence.AVAILABLE,
    common_pb2.AGENT_STATE_WRAP_UP: Presence.WRAP_UP,
    common_pb2.AGENT_STATE_BREAK: Presence.BREAK,
}


# -- time -----------------------------------------------------------------------


def timestamp(seconds: float | None) -> Timestamp | None:
    """A Timestamp, or None for "not set" (0 or None) so the field stays unset."""
    if not seconds:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(round(seconds * 1e9)))
    return ts


def duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(round(max(0.0, seconds) * 1e9)))
    return d


def seconds_of(value: Duration) -> float:
    return value.seconds + value.nanos / 1e9


# -- agents ---------------------------------------------------------------------


def agent_state(agent: Agent, active: Iterable[str], *, now: float) -> int:
    """The reported state: BUSY while holding connected work, wrap-up only until it ends."""
    if agent.presence is Presence.LOGGED_OUT:
        return common_pb2.AGENT_STATE_LOGGED_OUT
    if any(True for _ in active):
        return common_pb2.AGENT_STATE_BUSY
    if agent.presence is Presence.WRAP_UP:
        return (
            common_pb2.AGENT_STATE_WRAP_UP if now < agent.wrap_up_until else common_pb2.AGENT_STATE_AVAILABLE
        )
    if agent.presence is Presence.BREAK:
        return common_pb2.AGENT_STATE_BREAK
    return common_pb2.AGENT_STATE_AVAILABLE


def active_calls(view: LiveView, agent_id: str) -> list[str]:
    """Ids of the interactions connected to the agent, oldest first."""
    return sorted(
        c.id for c in view.calls.values() if c.state is CallState.CONNECTED and c.agent_id == agent_id
    )


def agent_status(agent: Agent, *, active: list[str], now: float) -> agent_pb2.AgentStatus:
    status = agent_pb2.AgentStatus(
        agent_id=agent.id,
        state=agent_state(agent, active, now=now),
        reason_code=agent.reason_code,
        site=agent.site,
        active=active,
        state_since=timestamp(agent.presence_since),
    )
    if agent.presence is Presence.WRAP_UP and agent.wrap_up_until > now:
        status.wrap_up_until.CopyFrom(timestamp(agent.wrap_up_until))
    return status


def agent(value: Agent) -> admin_pb2.Agent:
    return admin_pb2.Agent(
        id=value.id,
        display_name=value.display_name,
        skills=dict(value.skills),
        capacity=[
            common_pb2.ChannelCapacity(channel=CHANNELS[channel], max=count)
            for channel, count in sorted(value.capacity.items(), key=lambda kv: CHANNELS[kv[0]])
        ],
        site=value.site,
        sip_uri=value.sip_uri,
    )


DEFAULT_CAPACITY: Mapping[Channel, int] = {Channel.VOICE: 1}


def agent_profile(value: admin_pb2.Agent, *, default_site: str) -> AgentProfile:
    """The profile of a validated Agent message; no capacity given means one voice call."""
    capacity = {CHANNELS_FROM_PB[c.channel]: c.max for c in value.capacity} or dict(DEFAULT_CAPACITY)
    return AgentProfile(
        display_name=value.display_name,
        skills=dict(value.skills),
        capacity=capacity,
        site=value.site or default_site,
        sip_uri=value.sip_uri,
    )


# -- interactions -----------------------------------------------------------------


def caller(value: common_pb2.Caller) -> Caller:
    return Caller(address=value.address, display_name=value.display_name, data=dict(value.data))


def caller_pb(value: Caller) -> common_pb2.Caller:
    return common_pb2.Caller(address=value.address, display_name=value.display_name, data=dict(value.data))


def interaction(
    call: Call,
    *,
    view: LiveView | None = None,
    queues: Mapping[str, QueueConfig] | None = None,
    now: float = 0.0,
) -> common_pb2.Interaction:
    """The Interaction for ``call``; position, expected wait, offered_to and agent_sip_uri need the live view."""
    message = common_pb2.Interaction(
        id=call.id,
        queue=call.queue,
        channel=CHANNELS[call.channel],
        state=CALL_STATES[call.state],
        priority=call.priority,
        caller=caller_pb(call.caller),
        site=call.site,
        enqueued_at=timestamp(call.enqueued_at),
        answered_at=timestamp(call.answered_at),
        ended_at=timestamp(call.ended_at),
        agent_id=call.agent_id,
        reason=call.reason,
        route_history=list(call.route_history),
        trunk=call.trunk,
        recording_id=call.recording_id,
        timeline=[timeline_event(e) for e in call.timeline],
    )
    if view is not None and call.state is CallState.CONNECTED:
        agent = view.agents.get(call.agent_id)
        message.agent_sip_uri = agent.sip_uri if agent is not None else ""
    if view is not None and call.state is CallState.QUEUED:
        reservation = view.reservations.get(call.id)
        if reservation is not None:
            message.offered_to = reservation.agent_id
        if queues is not None and call.id in view.calls:
            position, wait_s = _prediction(call, view, queues, now=now)
            message.position = position
            message.expected_wait.CopyFrom(duration(wait_s))
    return message


def timeline_event(value: TimelineEvent) -> common_pb2.TimelineEvent:
    return common_pb2.TimelineEvent(
        at=timestamp(value.at), kind=value.kind, detail=value.detail, agent_id=value.agent_id, queue=value.queue
    )


def _prediction(
    call: Call, view: LiveView, queues: Mapping[str, QueueConfig], *, now: float
) -> tuple[int, float]:
    position = predictions.position(call.id, view, queues, now=now)
    queue = queues.get(call.queue) or QueueConfig(name=call.queue)
    widest = queue.widest_requirements()
    site_agents = [a for a in view.agents.values() if a.site == call.site and eligible(a, widest)]
    staffed = sum(1 for a in site_agents if a.logged_in)
    busy = {c.agent_id for c in view.calls.values() if c.state is CallState.CONNECTED}
    busy |= {r.agent_id for r in view.reservations.values()}
    available = sum(1 for a in site_agents if a.ready(now) and a.id not in busy)
    wait_s = predictions.expected_wait_s(
        position=position, staffed=staffed, available=available, aht_s=queue.expected_handle_s
    )
    return position, wait_s


# -- blocklist ----------------------------------------------------------------------


def blocked(value: BlockedCaller) -> admin_pb2.BlockedCaller:
    return admin_pb2.BlockedCaller(
        pattern=value.pattern, reason=value.reason, created_at=timestamp(value.created_at)
    )


def audit_event(value: AuditEvent) -> admin_pb2.AuditEvent:
    return admin_pb2.AuditEvent(
        id=value.id, time=timestamp(value.at), actor_role=value.actor_role, actor_key_id=value.actor_key_id,
        method=value.method, target=value.target, outcome=value.outcome,
    )


# -- statistics ---------------------------------------------------------------------


def agent_counts(counts: kpis.AgentCounts) -> admin_pb2.AgentCounts:
    return admin_pb2.AgentCounts(
        logged_in=counts.logged_in,
        available=counts.available,
        busy=counts.busy,
        wrap_up=counts.wrap_up,
        on_break=counts.on_break,
    )


def queue_stats(queue: str, stats) -> admin_pb2.QueueStats:
    """The QueueStats message of a ``domain.kpis.QueueStats`` (times in seconds, rates 0..1)."""
    message = admin_pb2.QueueStats(
        queue=queue,
        waiting=stats.waiting,
        longest_wait=duration(stats.longest_wait_s),
        expected_wait=duration(stats.expected_wait_s),
        agents=agent_counts(stats.agents),
        window_start=timestamp(stats.window_start),
        offered=stats.offered,
        answered=stats.answered,
        answered_within_threshold=stats.answered_within_threshold,
        abandoned=stats.abandoned,
        service_level=stats.service_level,
        service_level_threshold=duration(stats.sl_threshold_s),
        service_level_target=stats.sl_target,
        average_speed_of_answer=duration(stats.asa_s),
        average_handle_time=duration(stats.aht_s),
        abandonment_rate=stats.abandonment_rate,
        overflowed=stats.overflowed,
    )
    return message


def live_stats(stats: kpis.LiveStats) -> admin_pb2.LiveStats:
    return admin_pb2.LiveStats(
        site=stats.site,
        waiting=stats.waiting,
        longest_wait=duration(stats.longest_wait_s),
        connected=stats.connected,
        agents=agent_counts(stats.agents),
    )


def report_row(row: reports.IntervalRow) -> admin_pb2.ReportRow:
    message = admin_pb2.ReportRow(
        interval_start=timestamp(row.start),
        interval_end=timestamp(row.end),
        group=row.group,
        offered=row.offered,
        answered=row.answered,
        answered_within_threshold=row.answered_within_threshold,
        abandoned=row.abandoned,
        abandoned_within_threshold=row.abandoned_within_threshold,
        service_level=row.service_level,
        average_speed_of_answer=duration(row.asa_s),
        average_handle_time=duration(row.aht_s),
        abandonment_rate=row.abandonment_rate,
        longest_wait=duration(row.longest_wait_s),
        overflowed=row.overflowed,
    )
    if row.occupancy is not None:  # agent time exists for site and tenant groups only
        message.handle_time.CopyFrom(duration(row.handle_s or 0.0))
        message.staffed_time.CopyFrom(duration(row.staffed_s or 0.0))
        message.occupancy = row.occupancy
    return message


def agent_report(row: reports.AgentRow) -> admin_pb2.AgentReport:
    return admin_pb2.AgentReport(
        agent_id=row.agent_id,
        site=row.site,
        handled=row.handled,
        talk_time=duration(row.talk_s),
        wrap_up_time=duration(row.wrap_up_s),
        average_handle_time=duration(row.aht_s),
        staffed_time=duration(row.staffed_s),
        handle_time=duration(row.handle_s),
        occupancy=row.occupancy,
    )


def caller_history(address: str, calls: Iterable[Call]) -> agent_pb2.CallerHistory:
    return agent_pb2.CallerHistory(
        address=address,
        calls=[
            agent_pb2.PastCall(
                id=c.id,
                queue=c.queue,
                channel=CHANNELS[c.channel],
                site=c.site,
                arrived=timestamp(c.enqueued_at),
                answered=timestamp(c.answered_at),
                ended=timestamp(c.ended_at),
                agent_id=c.agent_id,
                state=CALL_STATES[c.state],
                disposition=c.disposition,
                reason=c.reason,
            )
            for c in calls
        ],
    )
