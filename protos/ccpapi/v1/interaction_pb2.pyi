import datetime

from ccpapi.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HangupParty(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HANGUP_PARTY_UNSPECIFIED: _ClassVar[HangupParty]
    HANGUP_PARTY_CALLER: _ClassVar[HangupParty]
    HANGUP_PARTY_AGENT: _ClassVar[HangupParty]
HANGUP_PARTY_UNSPECIFIED: HangupParty
HANGUP_PARTY_CALLER: HangupParty
HANGUP_PARTY_AGENT: HangupParty

class EnqueueRequest(_message.Message):
    __slots__ = ("queue", "channel", "caller", "priority", "request_id", "trunk", "ivr", "arrived_at")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRUNK_FIELD_NUMBER: _ClassVar[int]
    IVR_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_AT_FIELD_NUMBER: _ClassVar[int]
    queue: str
    channel: _common_pb2.Channel
    caller: _common_pb2.Caller
    priority: int
    request_id: str
    trunk: str
    ivr: _containers.RepeatedCompositeFieldContainer[IvrStep]
    arrived_at: _timestamp_pb2.Timestamp
    def __init__(self, queue: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., priority: _Optional[int] = ..., request_id: _Optional[str] = ..., trunk: _Optional[str] = ..., ivr: _Optional[_Iterable[_Union[IvrStep, _Mapping]]] = ..., arrived_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IvrStep(_message.Message):
    __slots__ = ("menu", "digits", "at")
    MENU_FIELD_NUMBER: _ClassVar[int]
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    menu: str
    digits: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, menu: _Optional[str] = ..., digits: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchInteractionRequest(_message.Message):
    __slots__ = ("interaction_id",)
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    def __init__(self, interaction_id: _Optional[str] = ...) -> None: ...

class HangupRequest(_message.Message):
    __slots__ = ("interaction_id", "party", "recording_id")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    RECORDING_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    party: HangupParty
    recording_id: str
    def __init__(self, interaction_id: _Optional[str] = ..., party: _Optional[_Union[HangupParty, str]] = ..., recording_id: _Optional[str] = ...) -> None: ...

class LeaveVoicemailRequest(_message.Message):
    __slots__ = ("interaction_id", "recording_id", "duration", "request_id")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDING_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    recording_id: str
    duration: _duration_pb2.Duration
    request_id: str
    def __init__(self, interaction_id: _Optional[str] = ..., recording_id: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RequestCallbackRequest(_message.Message):
    __slots__ = ("interaction_id", "number")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    number: str
    def __init__(self, interaction_id: _Optional[str] = ..., number: _Optional[str] = ...) -> None: ...

class RequeueRequest(_message.Message):
    __slots__ = ("interaction_id", "reason", "request_id")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    reason: str
    request_id: str
    def __init__(self, interaction_id: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("interaction_id", "reason")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    reason: str
    def __init__(self, interaction_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetInteractionRequest(_message.Message):
    __slots__ = ("interaction_id",)
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    def __init__(self, interaction_id: _Optional[str] = ...) -> None: ...
