import datetime

from ccpapi.v1 import agent_pb2 as _agent_pb2
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

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_QUARTER_HOUR: _ClassVar[Granularity]
    GRANULARITY_HOUR: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]

class GroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_BY_UNSPECIFIED: _ClassVar[GroupBy]
    GROUP_BY_QUEUE: _ClassVar[GroupBy]
    GROUP_BY_SITE: _ClassVar[GroupBy]
    GROUP_BY_TENANT: _ClassVar[GroupBy]
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_QUARTER_HOUR: Granularity
GRANULARITY_HOUR: Granularity
GRANULARITY_DAY: Granularity
GROUP_BY_UNSPECIFIED: GroupBy
GROUP_BY_QUEUE: GroupBy
GROUP_BY_SITE: GroupBy
GROUP_BY_TENANT: GroupBy

class Agent(_message.Message):
    __slots__ = ("id", "display_name", "skills", "capacity", "site", "sip_uri")
    class SkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SIP_URI_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    skills: _containers.ScalarMap[str, int]
    capacity: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelCapacity]
    site: str
    sip_uri: str
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., skills: _Optional[_Mapping[str, int]] = ..., capacity: _Optional[_Iterable[_Union[_common_pb2.ChannelCapacity, _Mapping]]] = ..., site: _Optional[str] = ..., sip_uri: _Optional[str] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetQueueStatsRequest(_message.Message):
    __slots__ = ("queue", "window")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    queue: str
    window: _duration_pb2.Duration
    def __init__(self, queue: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListQueueStatsRequest(_message.Message):
    __slots__ = ("window",)
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    window: _duration_pb2.Duration
    def __init__(self, window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListQueueStatsResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ...) -> None: ...

class AgentCounts(_message.Message):
    __slots__ = ("logged_in", "available", "busy", "wrap_up", "on_break")
    LOGGED_IN_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_FIELD_NUMBER: _ClassVar[int]
    ON_BREAK_FIELD_NUMBER: _ClassVar[int]
    logged_in: int
    available: int
    busy: int
    wrap_up: int
    on_break: int
    def __init__(self, logged_in: _Optional[int] = ..., available: _Optional[int] = ..., busy: _Optional[int] = ..., wrap_up: _Optional[int] = ..., on_break: _Optional[int] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("queue", "waiting", "longest_wait", "expected_wait", "agents", "window_start", "offered", "answered", "answered_within_threshold", "abandoned", "service_level", "service_level_threshold", "service_level_target", "average_speed_of_answer", "average_handle_time", "abandonment_rate", "overflowed")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WAIT_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_WITHIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_TARGET_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SPEED_OF_ANSWER_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_HANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    ABANDONMENT_RATE_FIELD_NUMBER: _ClassVar[int]
    OVERFLOWED_FIELD_NUMBER: _ClassVar[int]
    queue: str
    waiting: int
    longest_wait: _duration_pb2.Duration
    expected_wait: _duration_pb2.Duration
    agents: AgentCounts
    window_start: _timestamp_pb2.Timestamp
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    service_level: float
    service_level_threshold: _duration_pb2.Duration
    service_level_target: float
    average_speed_of_answer: _duration_pb2.Duration
    average_handle_time: _duration_pb2.Duration
    abandonment_rate: float
    overflowed: int
    def __init__(self, queue: _Optional[str] = ..., waiting: _Optional[int] = ..., longest_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expected_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., agents: _Optional[_Union[AgentCounts, _Mapping]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., offered: _Optional[int] = ..., answered: _Optional[int] = ..., answered_within_threshold: _Optional[int] = ..., abandoned: _Optional[int] = ..., service_level: _Optional[float] = ..., service_level_threshold: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., service_level_target: _Optional[float] = ..., average_speed_of_answer: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., average_handle_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., abandonment_rate: _Optional[float] = ..., overflowed: _Optional[int] = ...) -> None: ...

class ListAgentStatusesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentStatusesResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.AgentStatus]
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.AgentStatus, _Mapping]]] = ...) -> None: ...

class GetTenantStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LiveStats(_message.Message):
    __slots__ = ("site", "waiting", "longest_wait", "connected", "agents")
    SITE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    site: str
    waiting: int
    longest_wait: _duration_pb2.Duration
    connected: int
    agents: AgentCounts
    def __init__(self, site: _Optional[str] = ..., waiting: _Optional[int] = ..., longest_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., connected: _Optional[int] = ..., agents: _Optional[_Union[AgentCounts, _Mapping]] = ...) -> None: ...

class TenantStats(_message.Message):
    __slots__ = ("at", "tenant", "sites")
    AT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    tenant: LiveStats
    sites: _containers.RepeatedCompositeFieldContainer[LiveStats]
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[_Union[LiveStats, _Mapping]] = ..., sites: _Optional[_Iterable[_Union[LiveStats, _Mapping]]] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("start", "end", "granularity", "group_by")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by: GroupBy
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ...) -> None: ...

class ReportRow(_message.Message):
    __slots__ = ("interval_start", "interval_end", "group", "offered", "answered", "answered_within_threshold", "abandoned", "abandoned_within_threshold", "service_level", "average_speed_of_answer", "average_handle_time", "abandonment_rate", "longest_wait", "overflowed", "handle_time", "staffed_time", "occupancy")
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_END_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_WITHIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_WITHIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SPEED_OF_ANSWER_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_HANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    ABANDONMENT_RATE_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_FIELD_NUMBER: _ClassVar[int]
    OVERFLOWED_FIELD_NUMBER: _ClassVar[int]
    HANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    STAFFED_TIME_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    interval_start: _timestamp_pb2.Timestamp
    interval_end: _timestamp_pb2.Timestamp
    group: str
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    abandoned_within_threshold: int
    service_level: float
    average_speed_of_answer: _duration_pb2.Duration
    average_handle_time: _duration_pb2.Duration
    abandonment_rate: float
    longest_wait: _duration_pb2.Duration
    overflowed: int
    handle_time: _duration_pb2.Duration
    staffed_time: _duration_pb2.Duration
    occupancy: float
    def __init__(self, interval_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interval_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., offered: _Optional[int] = ..., answered: _Optional[int] = ..., answered_within_threshold: _Optional[int] = ..., abandoned: _Optional[int] = ..., abandoned_within_threshold: _Optional[int] = ..., service_level: _Optional[float] = ..., average_speed_of_answer: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., average_handle_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., abandonment_rate: _Optional[float] = ..., longest_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., overflowed: _Optional[int] = ..., handle_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., staffed_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., occupancy: _Optional[float] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("start", "end", "granularity", "group_by", "rows")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by: GroupBy
    rows: _containers.RepeatedCompositeFieldContainer[ReportRow]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., rows: _Optional[_Iterable[_Union[ReportRow, _Mapping]]] = ...) -> None: ...

class ListAgentReportsRequest(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentReport(_message.Message):
    __slots__ = ("agent_id", "site", "handled", "talk_time", "wrap_up_time", "average_handle_time", "staffed_time", "handle_time", "occupancy")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    HANDLED_FIELD_NUMBER: _ClassVar[int]
    TALK_TIME_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_TIME_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_HANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    STAFFED_TIME_FIELD_NUMBER: _ClassVar[int]
    HANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    site: str
    handled: int
    talk_time: _duration_pb2.Duration
    wrap_up_time: _duration_pb2.Duration
    average_handle_time: _duration_pb2.Duration
    staffed_time: _duration_pb2.Duration
    handle_time: _duration_pb2.Duration
    occupancy: float
    def __init__(self, agent_id: _Optional[str] = ..., site: _Optional[str] = ..., handled: _Optional[int] = ..., talk_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., wrap_up_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., average_handle_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., staffed_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., handle_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., occupancy: _Optional[float] = ...) -> None: ...

class ListAgentReportsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentReport]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentReport, _Mapping]]] = ...) -> None: ...

class GetCallerHistoryRequest(_message.Message):
    __slots__ = ("address", "limit")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    address: str
    limit: int
    def __init__(self, address: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class BlockedCaller(_message.Message):
    __slots__ = ("pattern", "reason", "created_at")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    reason: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, pattern: _Optional[str] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddBlockedCallerRequest(_message.Message):
    __slots__ = ("blocked",)
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: BlockedCaller
    def __init__(self, blocked: _Optional[_Union[BlockedCaller, _Mapping]] = ...) -> None: ...

class RemoveBlockedCallerRequest(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    def __init__(self, pattern: _Optional[str] = ...) -> None: ...

class RemoveBlockedCallerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBlockedCallersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBlockedCallersResponse(_message.Message):
    __slots__ = ("blocked",)
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: _containers.RepeatedCompositeFieldContainer[BlockedCaller]
    def __init__(self, blocked: _Optional[_Iterable[_Union[BlockedCaller, _Mapping]]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "limit", "page_token")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    limit: int
    page_token: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "time", "actor_role", "actor_key_id", "method", "target", "outcome")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: str
    time: _timestamp_pb2.Timestamp
    actor_role: str
    actor_key_id: str
    method: str
    target: str
    outcome: str
    def __init__(self, id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_role: _Optional[str] = ..., actor_key_id: _Optional[str] = ..., method: _Optional[str] = ..., target: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCallRecordRequest(_message.Message):
    __slots__ = ("interaction_id",)
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    def __init__(self, interaction_id: _Optional[str] = ...) -> None: ...
