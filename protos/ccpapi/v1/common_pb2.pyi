import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_VOICE: _ClassVar[Channel]
    CHANNEL_CHAT: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_CALLBACK: _ClassVar[Channel]
    CHANNEL_VOICEMAIL: _ClassVar[Channel]

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_LOGGED_OUT: _ClassVar[AgentState]
    AGENT_STATE_AVAILABLE: _ClassVar[AgentState]
    AGENT_STATE_BUSY: _ClassVar[AgentState]
    AGENT_STATE_WRAP_UP: _ClassVar[AgentState]
    AGENT_STATE_BREAK: _ClassVar[AgentState]

class InteractionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERACTION_STATE_UNSPECIFIED: _ClassVar[InteractionState]
    INTERACTION_STATE_QUEUED: _ClassVar[InteractionState]
    INTERACTION_STATE_CONNECTED: _ClassVar[InteractionState]
    INTERACTION_STATE_COMPLETED: _ClassVar[InteractionState]
    INTERACTION_STATE_ABANDONED: _ClassVar[InteractionState]
    INTERACTION_STATE_VOICEMAIL: _ClassVar[InteractionState]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_VOICE: Channel
CHANNEL_CHAT: Channel
CHANNEL_EMAIL: Channel
CHANNEL_CALLBACK: Channel
CHANNEL_VOICEMAIL: Channel
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_LOGGED_OUT: AgentState
AGENT_STATE_AVAILABLE: AgentState
AGENT_STATE_BUSY: AgentState
AGENT_STATE_WRAP_UP: AgentState
AGENT_STATE_BREAK: AgentState
INTERACTION_STATE_UNSPECIFIED: InteractionState
INTERACTION_STATE_QUEUED: InteractionState
INTERACTION_STATE_CONNECTED: InteractionState
INTERACTION_STATE_COMPLETED: InteractionState
INTERACTION_STATE_ABANDONED: InteractionState
INTERACTION_STATE_VOICEMAIL: InteractionState

class Caller(_message.Message):
    __slots__ = ("address", "display_name", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    address: str
    display_name: str
    data: _containers.ScalarMap[str, str]
    def __init__(self, address: _Optional[str] = ..., display_name: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("id", "queue", "channel", "state", "priority", "caller", "site", "enqueued_at", "answered_at", "ended_at", "agent_id", "position", "expected_wait", "offered_to", "reason", "route_history", "agent_sip_uri", "timeline", "trunk", "recording_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WAIT_FIELD_NUMBER: _ClassVar[int]
    OFFERED_TO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ROUTE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    AGENT_SIP_URI_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    TRUNK_FIELD_NUMBER: _ClassVar[int]
    RECORDING_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    queue: str
    channel: Channel
    state: InteractionState
    priority: int
    caller: Caller
    site: str
    enqueued_at: _timestamp_pb2.Timestamp
    answered_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    agent_id: str
    position: int
    expected_wait: _duration_pb2.Duration
    offered_to: str
    reason: str
    route_history: _containers.RepeatedScalarFieldContainer[str]
    agent_sip_uri: str
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEvent]
    trunk: str
    recording_id: str
    def __init__(self, id: _Optional[str] = ..., queue: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., state: _Optional[_Union[InteractionState, str]] = ..., priority: _Optional[int] = ..., caller: _Optional[_Union[Caller, _Mapping]] = ..., site: _Optional[str] = ..., enqueued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_id: _Optional[str] = ..., position: _Optional[int] = ..., expected_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., offered_to: _Optional[str] = ..., reason: _Optional[str] = ..., route_history: _Optional[_Iterable[str]] = ..., agent_sip_uri: _Optional[str] = ..., timeline: _Optional[_Iterable[_Union[TimelineEvent, _Mapping]]] = ..., trunk: _Optional[str] = ..., recording_id: _Optional[str] = ...) -> None: ...

class TimelineEvent(_message.Message):
    __slots__ = ("at", "kind", "detail", "agent_id", "queue")
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    kind: str
    detail: str
    agent_id: str
    queue: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., detail: _Optional[str] = ..., agent_id: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class ChannelCapacity(_message.Message):
    __slots__ = ("channel", "max")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    max: int
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., max: _Optional[int] = ...) -> None: ...
