import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueCapacity(_message.Message):
    __slots__ = ("tenant", "queue", "waiting", "agents_available", "agents_staffed", "expected_wait")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    AGENTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_STAFFED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WAIT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    queue: str
    waiting: int
    agents_available: int
    agents_staffed: int
    expected_wait: _duration_pb2.Duration
    def __init__(self, tenant: _Optional[str] = ..., queue: _Optional[str] = ..., waiting: _Optional[int] = ..., agents_available: _Optional[int] = ..., agents_staffed: _Optional[int] = ..., expected_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SiteSnapshot(_message.Message):
    __slots__ = ("site", "queues", "taken_at")
    SITE_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    site: str
    queues: _containers.RepeatedCompositeFieldContainer[QueueCapacity]
    taken_at: _timestamp_pb2.Timestamp
    def __init__(self, site: _Optional[str] = ..., queues: _Optional[_Iterable[_Union[QueueCapacity, _Mapping]]] = ..., taken_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HandOverCallRequest(_message.Message):
    __slots__ = ("tenant", "interaction_id", "from_site")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SITE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    interaction_id: str
    from_site: str
    def __init__(self, tenant: _Optional[str] = ..., interaction_id: _Optional[str] = ..., from_site: _Optional[str] = ...) -> None: ...

class HandOverCallResponse(_message.Message):
    __slots__ = ("site", "adopted", "reason")
    SITE_FIELD_NUMBER: _ClassVar[int]
    ADOPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    site: str
    adopted: bool
    reason: str
    def __init__(self, site: _Optional[str] = ..., adopted: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...
