"""Validation of the voice fields and RPCs (WatchInteraction, Hangup, LeaveVoicemail, RequestCallback, Requeue,
GetCallRecord, and Enqueue's trunk, IVR and arrival), like ``api.validate`` (same error form).

Limits (and why):

- trunk: a name (it is a Trunk resource's name);
- IVR: at most ``MAX_IVR_STEPS`` answers (a menu tree deeper than that is a loop), menus are names,
  digits ``[0-9*#]{0,32}`` (RFC 2833 events; "" is a timeout);
- arrived_at and IVR times: not after now (``CLOCK_SKEW_S`` allowed between the gateway's clock and
  the node's), not more than ``MAX_IVR_S`` before it (no caller spends an hour in menus; an older time
  is a bug upstream), and IVR answers not before the arrival;
- recording ids: ``ccp_acd.recordings.RECORDING_ID`` (they name a file); voicemail length 0..1 h;
- callback numbers: E.164-like (``+`` and 3..20 digits) or a SIP URI (``validate_fields.sip_uri``);
- Requeue reasons: a reason code (``validate_fields.reason_code``): it goes into the timeline, which never holds
  free text.
"""

from __future__ import annotations

import re

from ccpapi.v1 import admin_pb2, interaction_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from ccp_acd.api.validate_fields import (
    _fail,
    _shown,
    duration_s,
    enum_value,
    interaction_id,
    name,
    reason_code,
    request_id,
    sip_uri,
)
from ccp_acd.recordings import RECORDING_ID

MAX_IVR_STEPS = 32
MAX_IVR_S = 3600.0
CLOCK_SKEW_S = 5.0
MAX_VOICEMAIL_S = 3600.0
DIGITS = re.compile(r"^[0-9*#]{0,32}$")
PHONE_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


def _time(value: Timestamp, field: str, *, now: float, earliest: float, after: str) -> float:
    if not 0 <= value.nanos < 1_000_000_000:
        raise _fail(field, "nanos out of range")
    at = value.seconds + value.nanos / 1e9
    if at > now + CLOCK_SKEW_S:
        raise _fail(field, f"is {at - now:.1f}s in the future")
    if at < earliest:
        raise _fail(field, f"is before {after}")
    return min(at, now)


def enqueue_voice(r: interaction_pb2.EnqueueRequest, *, now: float) -> tuple[float, list[tuple[str, str, float]]]:
    """Validates the voice fields; returns (arrived_at or 0, IVR steps as (menu, digits, at or 0))."""
    if r.trunk:
        name(r.trunk, "trunk")
    arrived = 0.0
    if r.HasField("arrived_at"):
        arrived = _time(r.arrived_at, "arrived_at", now=now, earliest=now - MAX_IVR_S, after=f"now - {MAX_IVR_S:g}s")
    if len(r.ivr) > MAX_IVR_STEPS:
        raise _fail("ivr", f"has {len(r.ivr)} steps; at most {MAX_IVR_STEPS}")
    steps = []
    for i, step in enumerate(r.ivr):
        name(step.menu, f"ivr[{i}].menu")
        if not DIGITS.match(step.digits):
            raise _fail(f"ivr[{i}].digits", f"{_shown(step.digits)} is not DTMF digits ([0-9*#], 0..32)")
        at = 0.0
        if step.HasField("at"):
            earliest, after = (arrived, "arrived_at") if arrived else (now - MAX_IVR_S, f"now - {MAX_IVR_S:g}s")
            at = _time(step.at, f"ivr[{i}].at", now=now, earliest=earliest, after=after)
        steps.append((step.menu, step.digits, at))
    return arrived, steps


def watch_interaction(r: interaction_pb2.WatchInteractionRequest) -> None:
    interaction_id(r.interaction_id)


def hangup(r: interaction_pb2.HangupRequest) -> None:
    interaction_id(r.interaction_id)
    enum_value(r.party, interaction_pb2.HangupParty, "party")
    if r.recording_id and not RECORDING_ID.match(r.recording_id):
        raise _fail("recording_id", f"{_shown(r.recording_id)} is not a recording id ([A-Za-z0-9_.:-], 1..128)")


def leave_voicemail(r: interaction_pb2.LeaveVoicemailRequest) -> float:
    """Validates; returns the recording's length in seconds."""
    interaction_id(r.interaction_id)
    if not r.recording_id:
        raise _fail("recording_id", "is required")
    if not RECORDING_ID.match(r.recording_id):
        raise _fail("recording_id", f"{_shown(r.recording_id)} is not a recording id ([A-Za-z0-9_.:-], 1..128)")
    if not r.HasField("duration"):
        raise _fail("duration", "is required")
    seconds = duration_s(r.duration, "duration", low=0, high=MAX_VOICEMAIL_S)
    request_id(r.request_id)
    return seconds


def request_callback(r: interaction_pb2.RequestCallbackRequest) -> None:
    interaction_id(r.interaction_id)
    number = r.number
    if not number or PHONE_NUMBER.match(number):
        return
    if number.startswith(("sip:", "sips:")):
        sip_uri(number, "number")
        return
    raise _fail("number", "is neither a phone number (+ and 3..20 digits) nor a SIP URI")  # never echoed


def requeue(r: interaction_pb2.RequeueRequest) -> None:
    interaction_id(r.interaction_id)
    reason_code(r.reason, "reason")
    request_id(r.request_id)


def get_call_record(r: admin_pb2.GetCallRecordRequest) -> None:
    interaction_id(r.interaction_id)
