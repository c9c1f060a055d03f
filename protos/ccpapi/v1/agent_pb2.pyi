import datetime

from ccpapi.v1 import common_pb2 as _common_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoginRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class SetStateRequest(_message.Message):
    __slots__ = ("agent_id", "state", "reason_code")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    state: _common_pb2.AgentState
    reason_code: str
    def __init__(self, agent_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.AgentState, str]] = ..., reason_code: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("agent_id", "state", "reason_code", "site", "active", "state_since", "wrap_up_until")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_UNTIL_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    state: _common_pb2.AgentState
    reason_code: str
    site: str
    active: _containers.RepeatedScalarFieldContainer[str]
    state_since: _timestamp_pb2.Timestamp
    wrap_up_until: _timestamp_pb2.Timestamp
    def __init__(self, agent_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.AgentState, str]] = ..., reason_code: _Optional[str] = ..., site: _Optional[str] = ..., active: _Optional[_Iterable[str]] = ..., state_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wrap_up_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamOffersRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("interaction", "expires_at")
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    interaction: _common_pb2.Interaction
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, interaction: _Optional[_Union[_common_pb2.Interaction, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OfferRevoked(_message.Message):
    __slots__ = ("interaction_id", "reason")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    reason: str
    def __init__(self, interaction_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OfferEvent(_message.Message):
    __slots__ = ("offer", "revoked", "heartbeat")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    revoked: OfferRevoked
    heartbeat: Heartbeat
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ..., revoked: _Optional[_Union[OfferRevoked, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class AcceptOfferRequest(_message.Message):
    __slots__ = ("agent_id", "interaction_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    interaction_id: str
    def __init__(self, agent_id: _Optional[str] = ..., interaction_id: _Optional[str] = ...) -> None: ...

class RejectOfferRequest(_message.Message):
    __slots__ = ("agent_id", "interaction_id", "reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    interaction_id: str
    reason: str
    def __init__(self, agent_id: _Optional[str] = ..., interaction_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("agent_id", "interaction_id", "disposition", "wrap_up")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    interaction_id: str
    disposition: str
    wrap_up: _duration_pb2.Duration
    def __init__(self, agent_id: _Optional[str] = ..., interaction_id: _Optional[str] = ..., disposition: _Optional[str] = ..., wrap_up: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class AgentCallerHistoryRequest(_message.Message):
    __slots__ = ("agent_id", "interaction_id", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    interaction_id: str
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., interaction_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class PastCall(_message.Message):
    __slots__ = ("id", "queue", "channel", "site", "arrived", "answered", "ended", "agent_id", "state", "disposition", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    queue: str
    channel: _common_pb2.Channel
    site: str
    arrived: _timestamp_pb2.Timestamp
    answered: _timestamp_pb2.Timestamp
    ended: _timestamp_pb2.Timestamp
    agent_id: str
    state: _common_pb2.InteractionState
    disposition: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., queue: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., site: _Optional[str] = ..., arrived: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.InteractionState, str]] = ..., disposition: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CallerHistory(_message.Message):
    __slots__ = ("address", "calls")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    address: str
    calls: _containers.RepeatedCompositeFieldContainer[PastCall]
    def __init__(self, address: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[PastCall, _Mapping]]] = ...) -> None: ...
