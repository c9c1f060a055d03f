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
"""

from __future__ import annotations

import re

from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from ccp_acd.api import convert
from ccp_acd.domain.reports import Granularity, GroupBy, interval_count
from ccp_acd.errors import InvalidArgument
from ccp_acd.settings import ID_PATTERN

NAME = re.compile(ID_PATTERN)
INTERACTION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REASON_CODE = re.compile(r"^[a-z0-9-]{1,32}$")
DISPOSITION = re.compile(r"^[a-z0-9-]{0,32}$")
DATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PATTERN = re.compile(r"^[^\s/*]{1,255}\*?$")

MAX_PRIORITY = 100
MAX_PROFICIENCY = 10
MAX_SKILLS = 64
MAX_CAPACITY = 50
MAX_TEXT = 256
MAX_DISPLAY_NAME = 128
MAX_ADDRESS = 256
MAX_CALLER_DATA = 32
MAX_DATA_VALUE = 1024
MAX_WRAP_UP_S = 3600
MAX_WINDOW_S = 24 * 3600
MAX_REPORT_DAYS = 31
MAX_REPORT_INTERVALS = 2000
MAX_HISTORY = 100
DEFAULT_HISTORY = 10


def _fail(field: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {what}")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 70 else value[:67] + "...")


# -- primitives -----------------------------------------------------------


def name(value: str, field: str) -> str:
    """An agent, queue, site, tenant or skill name."""
    if not value:
        raise _fail(field, "is required")
    if not NAME.match(value):
        raise _fail(
            field, f"{_shown(value)} is not a valid name ([a-z0-9], '-' inside, at most 63 characters)"
        )
    return value


def interaction_id(value: str, field: str = "interaction_id") -> str:
    if not value:
        raise _fail(field, "is required")
    if not INTERACTION_ID.match(value):
        raise _fail(
            field, f"{_shown(value)} is not a valid interaction id ([A-Za-z0-9_.:-], 1..64 characters)"
        )
    return value


def request_id(value: str, field: str = "request_id") -> str:
    """Optional idempotency key."""
    if value and not INTERACTION_ID.match(value):
        raise _fail(field, f"{_shown(value)} is not a valid request id ([A-Za-z0-9_.:-], 1..64 characters)")
    return value


def text(value: str, field: str, *, limit: int = MAX_TEXT) -> str:
    """Optional free text: bounded, printable."""
    if len(value) > limit:
        raise _fail(field, f"is {len(value)} characters long; at most {limit}")
    if not value.isprintable():
        raise _fail(field, "contains control characters")
    return value


def reason_code(value: str, field: str) -> str:
    if not value:
        raise _fail(field, "is required")
    if not REASON_CODE.match(value):
        raise _fail(field, f"{_shown(value)} is not a reason code ([a-z0-9-], 1..32 characters)")
    return value


def enum_value(value: int, enum_type, field: str, *, allowed: tuple[int, ...] | None = None) -> int:
    descriptor = enum_type.DESCRIPTOR
    if value == 0:
        raise _fail(field, f"is required ({descriptor.values_by_number[0].name} is not allowed)")
    if value not in descriptor.values_by_number:
        raise _fail(field, f"{value} is not a known {descriptor.name} value")
    if allowed is not None and value not in allowed:
        names = " or ".join(descriptor.values_by_number[v].name for v in allowed)
        raise _fail(field, f"{descriptor.values_by_number[value].name} is not allowed here; use {names}")
    return value


def duration_s(value: Duration, field: str, *, low: float, high: float) -> float:
    if value.nanos and value.seconds and (value.seconds < 0) != (value.nanos < 0):
        raise _fail(field, "is not a normalized duration (seconds and nanos differ in sign)")
    if abs(value.nanos) >= 1_000_000_000:
        raise _fail(field, "nanos out of range")
    seconds = value.seconds + value.nanos / 1e9
    if not low <= seconds <= high:
        raise _fail(field, f"{seconds:g}s is out of range {low:g}s..{high:g}s")
    return seconds


def address(value: str, field: str) -> str:
    if not value:
        raise _fail(field, "is required")
    if len(value) > MAX_ADDRESS:
        raise _fail(field, f"is {len(value)} characters long; at most {MAX_ADDRESS}")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise _fail(field, "must be printable without spaces")
    return value


# -- composite messages ---------------------------------------------------


def caller(value: common_pb2.Caller, field: str = "caller") -> None:
    address(value.address, f"{field}.address")
    text(value.display_name, f"{field}.display_name", limit=MAX_DISPLAY_NAME)
    if len(value.data) > MAX_CALLER_DATA:
        raise _fail(f"{field}.data", f"has {len(value.data)} entries; at most {MAX_CALLER_DATA}")
    for key in sorted(value.data):
        if not DATA_KEY.match(key):
            raise _fail(f"{field}.data", f"key {_shown(key)} is not [A-Za-z0-9_.-]{{1,64}}")
        if len(value.data[key]) > MAX_DATA_VALUE:
            raise _fail(f"{field}.data[{key}]", f"is longer than {MAX_DATA_VALUE} characters")


def agent(value: admin_pb2.Agent, field: str = "agent") -> None:
    name(value.id, f"{field}.id")
    text(value.display_name, f"{field}.display_name", limit=MAX_DISPLAY_NAME)
    if len(value.skills) > MAX_SKILLS:
        raise _fail(f"{field}.skills", f"has {len(value.skills)} entries; at most {MAX_SKILLS}")
    for skill in sorted(value.skills):
        name(skill, f"{field}.skills")
        level = value.skills[skill]
        if not 1 <= level <= MAX_PROFICIENCY:
            raise _fail(
                f"{field}.skills[{skill}]", f"proficiency {level} is out of range 1..{MAX_PROFICIENCY}"
            )
    seen: set[int] = set()
    for i, capacity in enumerate(value.capacity):
        enum_value(capacity.channel, common_pb2.Channel, f"{field}.capacity[{i}].channel")
        if capacity.channel in seen:
            raise _fail(f"{field}.capacity[{i}].channel", "is given more than once")
        seen.add(capacity.channel)
        if not 0 <= capacity.max <= MAX_CAPACITY:
            raise _fail(f"{field}.capacity[{i}].max", f"{capacity.max} is out of range 0..{MAX_CAPACITY}")
    if value.site:
        name(value.site, f"{field}.site")
    if value.sip_uri:
        sip_uri(value.sip_uri, f"{field}.sip_uri")


SIP_URI = re.compile(
    r"^sips?:(?:[^@\s/]+@)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?(?:;[^\s]*)?$"
)
MAX_SIP_URI = 256


def sip_uri(value: str, field: str) -> str:
    """A SIP URI with a host: ``sip:alice@10.0.0.7:5060``, ``sips:desk.example.com``."""
    if len(value) > MAX_SIP_URI:
        raise _fail(field, f"is {len(value)} characters long; at most {MAX_SIP_URI}")
    if not value.isprintable():
        raise _fail(field, "contains control characters")
    found = SIP_URI.match(value)
    if found is None:
        raise _fail(field, f"{_shown(value)} is not a SIP URI (sip: or sips:, optional user@, a host, optional :port)")
    if found["port"] is not None and not 1 <= int(found["port"]) <= 65535:
        raise _fail(field, f"port {found['port']} is out of range 1..65535")
    return value


def blocklist_pattern(value: str, field: str) -> str:
    if not value:
        raise _fail(field, "is required")
    if value == "*":
        raise _fail(field, "'*' alone would block every caller")
    # The messages say which rule failed, never the pattern: it is a caller's number, and status messages
    # reach traces and client logs.
    if len(value) > MAX_ADDRESS:
        raise _fail(field, f"is {len(value)} characters long; at most {MAX_ADDRESS}")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise _fail(field, "must be printable without spaces")
    if "/" in value:
        raise _fail(field, "must not contain '/'")
    if not PATTERN.match(value):
        raise _fail(field, "is not an address or a prefix ending in one '*' ('*' only at the end, once)")
    return value


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


def history_limit(value: int, field: str = "limit") -> int:
    if value == 0:
        return DEFAULT_HISTORY
    if not 1 <= value <= MAX_HISTORY:
        raise _fail(field, f"{value} is out of range 1..{MAX_HISTORY}")
    return value


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
