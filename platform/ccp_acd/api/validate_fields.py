"""The field rules every request validator is built from: names, ids, free text, reason codes, enums,
durations, addresses, SIP URIs, blocklist patterns, history limits, and the Caller and Agent messages.

Each rule raises ``errors.InvalidArgument("field.path: what is wrong")`` for the field path its caller
gives, and checks form and ranges only (why: ``api.validate``, whose module doc lists every limit).

Not for: which fields a request must carry and the rules of one RPC (``api.validate`` for AgentService,
InteractionService, AdminService and SiteService, ``api.validate_voice`` for the voice fields and RPCs).
"""

from __future__ import annotations

import re

from ccpapi.v1 import admin_pb2, common_pb2
from google.protobuf.duration_pb2 import Duration

from ccp_acd.errors import InvalidArgument
from ccp_acd.settings import ID_PATTERN

NAME = re.compile(ID_PATTERN)
INTERACTION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REASON_CODE = re.compile(r"^[a-z0-9-]{1,32}$")
DATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PATTERN = re.compile(r"^[^\s/*]{1,255}\*?$")

MAX_PROFICIENCY = 10
MAX_SKILLS = 64
MAX_CAPACITY = 50
MAX_TEXT = 256
MAX_DISPLAY_NAME = 128
MAX_ADDRESS = 256
MAX_CALLER_DATA = 32
MAX_DATA_VALUE = 1024
MAX_HISTORY = 100
DEFAULT_HISTORY = 10


def _fail(field: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {what}")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 70 else value[:67] + "...")


# -- primitives -----------------------------------------------------------


def _required(value: str, field: str, pattern: re.Pattern[str], what: str) -> str:
    """``value``, which must be given and match ``pattern``; ``what`` names it and its form in the error."""
    if not value:
        raise _fail(field, "is required")
    if not pattern.match(value):
        raise _fail(field, f"{_shown(value)} is not a valid {what}")
    return value


def name(value: str, field: str) -> str:
    """An agent, queue, site, tenant or skill name."""
    return _required(value, field, NAME, "name ([a-z0-9], '-' inside, at most 63 characters)")


def interaction_id(value: str, field: str = "interaction_id") -> str:
    return _required(value, field, INTERACTION_ID, "interaction id ([A-Za-z0-9_.:-], 1..64 characters)")


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


def history_limit(value: int, field: str = "limit") -> int:
    if value == 0:
        return DEFAULT_HISTORY
    if not 1 <= value <= MAX_HISTORY:
        raise _fail(field, f"{value} is out of range 1..{MAX_HISTORY}")
    return value
