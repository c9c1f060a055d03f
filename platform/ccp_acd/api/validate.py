"""Validation of every request field, before anything touches the store.

Each validator raises ``errors.InvalidArgument("field.path: what is wrong")``
naming the first offending field by its protobuf path, so a client can fix
its request without guessing. Validators check form and ranges only; whether
an agent, queue or interaction exists is the store's answer (NOT_FOUND), and
whether the transition is allowed is its answer too (FAILED_PRECONDITION).

Limits (and why):

- agent, queue, site, tenant and skill names: ``[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?``
  (DNS-label-like, they become etcd key segments and Kubernetes names);
- interaction ids and request ids: ``[A-Za-z0-9_.:-]{1,64}`` (ids the store
  produced, or a client-chosen idempotency key);
- priority 0..100; skill proficiency 1..10, at most 64 skills; capacity
  0..50 per channel, each channel at most once;
- reason codes ``[a-z0-9-]{1,32}``; dispositions ``[a-z0-9-]{0,32}``; free-text
  reasons at most 256 printable characters;
- caller address 1..256 printable characters without spaces; caller data at
  most 32 entries, keys ``[A-Za-z0-9_.-]{1,64}``, values at most 1024 characters;
- wrap-up 0..3600 s; statistics window 1 s..24 h;
- report windows: end after start, at most 31 days, at most 2000 intervals once
  widened to whole UTC intervals (15-minute rows over about 20 days), so one
  answer stays a few hundred kilobytes; caller history limit 1..100 (0: 10);
- blocklist pattern: an address, or a prefix ending in one ``*``; no ``/``
  (it is an etcd key segment);
- an agent's SIP URI: ``sip:`` or ``sips:``, a host, at most 256 printable
  characters without spaces (``sip_uri``); voice requests: ``api.validate_voice``;
- audit log: window at most 366 days (the answer is paged, so a year is
  cheap), limit 1..1000 (0: 100), page token an audit event id.

The rules of one field (names, ids, text, enums, durations, addresses, SIP
URIs, blocklist patterns, the Caller and Agent messages) are in
``api.validate_fields``; this module holds the rules of each request.
"""

from __future__ import annotations

import re

from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from ccp_acd.api import convert
from ccp_acd.api.validate_fields import (
    _fail,
    _shown,
    address,
    agent,
    blocklist_pattern,
    caller,
    duration_s,
    enum_value,
    history_limit,
    interaction_id,
    name,
    reason_code,
    request_id,
    text,
)
from ccp_acd.domain.reports import Granularity, GroupBy, interval_count

DISPOSITION = re.compile(r"^[a-z0-9-]{0,32}$")

MAX_PRIORITY = 100
MAX_WRAP_UP_S = 3600
MAX_WINDOW_S = 24 * 3600
MAX_REPORT_DAYS = 31
MAX_REPORT_INTERVALS = 2000


# -- AgentService -----------------------------------------------------------


def login(r: agent_pb2.LoginRequest) -> None:
    name(r.agent_id, "agent_id")


def logout(r: agent_pb2.LogoutRequest) -> None:
    name(r.agent_id, "agent_id")


def set_state(r: agent_pb2.SetStateRequest) -> None:
    name(r.agent_id, "agent_id")
    enum_value(
        r.state,
        common_pb2.AgentState,
        "state",
        allowed=(common_pb2.AGENT_STATE_AVAILABLE, common_pb2.AGENT_STATE_BREAK),
    )
    if r.state == common_pb2.AGENT_STATE_BREAK:
        reason_code(r.reason_code, "reason_code")
    elif r.reason_code:
        raise _fail("reason_code", "is only allowed with AGENT_STATE_BREAK")


def get_status(r: agent_pb2.GetStatusRequest) -> None:
    name(r.agent_id, "agent_id")


def stream_offers(r: agent_pb2.StreamOffersRequest) -> None:
    name(r.agent_id, "agent_id")


def accept_offer(r: agent_pb2.AcceptOfferRequest) -> None:
    name(r.agent_id, "agent_id")
    interaction_id(r.interaction_id)


def reject_offer(r: agent_pb2.RejectOfferRequest) -> None:
    name(r.agent_id, "agent_id")
    interaction_id(r.interaction_id)
    text(r.reason, "reason")


def complete(r: agent_pb2.CompleteRequest) -> float | None:
    """Validates; returns the wrap-up override in seconds, or None to use the queue's."""
    name(r.agent_id, "agent_id")
    interaction_id(r.interaction_id)
    if not DISPOSITION.match(r.disposition):
        raise _fail(
            "disposition", f"{_shown(r.disposition)} is not a disposition code ([a-z0-9-], 0..32 characters)"
        )
    if r.HasField("wrap_up"):
        return duration_s(r.wrap_up, "wrap_up", low=0, high=MAX_WRAP_UP_S)
    return None


def agent_caller_history(r: agent_pb2.AgentCallerHistoryRequest) -> int:
    """Validates; returns the limit."""
    name(r.agent_id, "agent_id")
    interaction_id(r.interaction_id)
    return history_limit(r.limit)


# -- InteractionService -------------------------------------------------------


def enqueue(r: interaction_pb2.EnqueueRequest) -> None:
    name(r.queue, "queue")
    enum_value(r.channel, common_pb2.Channel, "channel")
    if not r.HasField("caller"):
        raise _fail("caller", "is required")
    caller(r.caller)
    if not 0 <= r.priority <= MAX_PRIORITY:
        raise _fail("priority", f"{r.priority} is out of range 0..{MAX_PRIORITY}")
    request_id(r.request_id)


def cancel(r: interaction_pb2.CancelRequest) -> None:
    interaction_id(r.interaction_id)
    text(r.reason, "reason")


def get_interaction(r: interaction_pb2.GetInteractionRequest) -> None:
    interaction_id(r.interaction_id)


# -- AdminService -------------------------------------------------------------


def create_agent(r: admin_pb2.CreateAgentRequest) -> None:
    if not r.HasField("agent"):
        raise _fail("agent", "is required")
    agent(r.agent)


def update_agent(r: admin_pb2.UpdateAgentRequest) -> None:
    create_agent(r)  # same shape and rules


def agent_id_only(r: admin_pb2.GetAgentRequest | admin_pb2.DeleteAgentRequest) -> None:
    name(r.agent_id, "agent_id")


DEFAULT_WINDOW_S = 15 * 60.0


def window(r: admin_pb2.GetQueueStatsRequest | admin_pb2.ListQueueStatsRequest) -> float:
    """The statistics window in seconds (default 15 minutes)."""
    if not r.HasField("window"):
        return DEFAULT_WINDOW_S
    return duration_s(r.window, "window", low=1, high=MAX_WINDOW_S)


def get_queue_stats(r: admin_pb2.GetQueueStatsRequest) -> float:
    name(r.queue, "queue")
    return window(r)




def _instant(r, field: str) -> float:
    if not r.HasField(field):
        raise _fail(field, "is required")
    value: Timestamp = getattr(r, field)
    if not 0 <= value.nanos < 1_000_000_000:
        raise _fail(field, "nanos out of range")
    return value.seconds + value.nanos / 1e9


def report_window(r: admin_pb2.GetReportRequest | admin_pb2.ListAgentReportsRequest) -> tuple[float, float]:
    """[start, end) in POSIX seconds: end after start, at most MAX_REPORT_DAYS long."""
    start, end = _instant(r, "start"), _instant(r, "end")
    if end <= start:
        raise _fail("end", "must be after start")
    if end - start > MAX_REPORT_DAYS * 86400:
        raise _fail("end", f"the window is {(end - start) / 86400:.1f} days long; at most {MAX_REPORT_DAYS}")
    return start, end


def get_report(r: admin_pb2.GetReportRequest) -> tuple[float, float, Granularity, GroupBy]:
    start, end = report_window(r)
    enum_value(r.granularity, admin_pb2.Granularity, "granularity")
    enum_value(r.group_by, admin_pb2.GroupBy, "group_by")
    granularity = convert.GRANULARITIES_FROM_PB[r.granularity]
    count = interval_count(start, end, granularity)
    if count > MAX_REPORT_INTERVALS:
        raise _fail(
            "granularity",
            f"the window covers {count} intervals of {granularity}; at most {MAX_REPORT_INTERVALS} "
            "(use a shorter window or a coarser granularity)",
        )
    return start, end, granularity, convert.GROUP_BY_FROM_PB[r.group_by]


def get_caller_history(r: admin_pb2.GetCallerHistoryRequest) -> int:
    address(r.address, "address")
    return history_limit(r.limit)


def add_blocked_caller(r: admin_pb2.AddBlockedCallerRequest) -> None:
    if not r.HasField("blocked"):
        raise _fail("blocked", "is required")
    blocklist_pattern(r.blocked.pattern, "blocked.pattern")
    text(r.blocked.reason, "blocked.reason")
    if r.blocked.HasField("created_at"):
        raise _fail("blocked.created_at", "is set by the server; leave it empty")


def remove_blocked_caller(r: admin_pb2.RemoveBlockedCallerRequest) -> None:
    blocklist_pattern(r.pattern, "pattern")


MAX_AUDIT_DAYS = 366
MAX_AUDIT_LIMIT = 1000
DEFAULT_AUDIT_LIMIT = 100
AUDIT_EVENT_ID = re.compile(r"^[0-9]{20}-[0-9a-f]{8}$")


def list_audit_events(r: admin_pb2.ListAuditEventsRequest) -> tuple[float, float, int, str]:
    """(start, end, limit, after): [start, end) in POSIX seconds, the page size, the last id already seen."""
    start, end = _instant(r, "start_time"), _instant(r, "end_time")
    if end <= start:
        raise _fail("end_time", "must be after start_time")
    if end - start > MAX_AUDIT_DAYS * 86400:
        raise _fail("end_time", f"the window is {(end - start) / 86400:.1f} days long; at most {MAX_AUDIT_DAYS}")
    limit = r.limit or DEFAULT_AUDIT_LIMIT
    if not 1 <= limit <= MAX_AUDIT_LIMIT:
        raise _fail("limit", f"{r.limit} is out of range 1..{MAX_AUDIT_LIMIT}")
    if r.page_token and not AUDIT_EVENT_ID.match(r.page_token):
        raise _fail("page_token", f"{_shown(r.page_token)} is not a next_page_token of this API")
    return start, end, limit, r.page_token


# -- SiteService --------------------------------------------------------------


def hand_over_call(r: site_pb2.HandOverCallRequest) -> None:
    name(r.tenant, "tenant")
    interaction_id(r.interaction_id)
    name(r.from_site, "from_site")
