"""The store interface: every read and every guarded transition the node needs.

All methods are tenant-scoped: the tenant comes from the caller's verified
credential, so a request can never name another tenant's keys. Transitions
raise the errors in ``ccp_acd.errors`` (NotFound, FailedPrecondition...);
``commit`` returns False when a compare-and-set loses (the planner re-reads and
decides again), it does not raise.

Implemented by ``state.etcd.EtcdStore`` on a real etcd.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ccp_acd.domain.ivr import IvrConfig
from ccp_acd.domain.models import (
    Agent,
    Call,
    Channel,
    Decision,
    LiveView,
    OfferDecision,
    Presence,
    PresenceInterval,
    QueueConfig,
    Reservation,
)


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's overload limits (Tenant ``spec.limits``, ``api.overload``); None: the node's default."""

    enqueue_per_s: float | None = None
    burst: int | None = None
    max_waiting: int | None = None


@dataclass(frozen=True)
class TenantRetention:
    """How long a tenant's ended call records, caller index, presence log and audit log are kept
    (Tenant ``spec.retention``, ``state.retention``). Days, counted from a call's end."""

    call_records_days: int = 400


@dataclass(frozen=True)
class TenantConfig:
    name: str
    display_name: str = ""
    home_site: str = ""
    failover_sites: tuple[str, ...] = ()
    retention: TenantRetention = TenantRetention()
    limits: TenantLimits = TenantLimits()


@dataclass(frozen=True)
class TrunkSip:
    """Where the SIP adapter serves a trunk: its own SIP/UDP port, and the carrier's SBC it sends requests
    and replies to (pyVoIP answers its configured peer, not the packet's source) and dials callbacks through."""

    port: int
    carrier_host: str
    carrier_port: int = 5060


@dataclass(frozen=True)
class TrunkConfig:
    name: str
    numbers: tuple[str, ...] = ()
    carrier: str = ""  # the carrier's name, for people
    codecs: tuple[str, ...] = ("PCMU",)
    home_site: str = ""
    default_queue: str = ""
    allowed_sources: tuple[str, ...] = ()
    sip: TrunkSip | None = None  # None: no SIP adapter serves this trunk
    ivr: IvrConfig | None = None  # None: calls go straight to default_queue (domain.ivr)


@dataclass(frozen=True)
class QueuePlacement:
    owner_site: str
    standby_sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fence:
    """Keys a routing commit must find unchanged: the node's queue ownership and its site's state.

    Pairs of (key, mod_revision as the node last saw it; 0: must not exist).
    A node whose lease lapsed (ownership key gone) or whose site was declared
    down (state key rewritten) loses every compare from then on: that is the
    fencing of hot standby and site failover, decided by etcd alone.
    """

    guards: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ArrivalOffer:
    """An offer of a call that is being enqueued, committed in its Enqueue's transaction (``routing.Router``).

    ``view`` is the live view it was planned on, with the new call in it; the commit compares the
    agent's record at the revision ``view`` saw and the ``fence`` (node id and lease as the router's).
    """

    decision: OfferDecision
    view: LiveView
    fence: Fence
    node_id: str
    lease_id: int
    now: float

    @property
    def reservation(self) -> Reservation:
        """The offer record the commit writes."""
        return Reservation.of(self.decision, node_id=self.node_id, now=self.now)


@dataclass(frozen=True)
class Credential:
    sha256: str
    role: Literal["admin", "supervisor", "agent", "interaction"]
    # For role "agent": the only agent this token may act as.
    agent_id: str = ""
    # Epoch seconds after which the token is refused (a rotated-out credential's grace); 0: never.
    expires_at: float = 0.0

    def expired(self, now: float) -> bool:
        return 0 < self.expires_at <= now


@dataclass(frozen=True)
class BlockedCaller:
    pattern: str
    reason: str = ""
    created_at: float = 0.0

    def matches(self, address: str) -> bool:
        if self.pattern.endswith("*"):
            return address.startswith(self.pattern[:-1])
        return address == self.pattern


@dataclass(frozen=True)
class AuditEvent:
    """One audited action (``api.audit``): who tried what on which target, and the gRPC outcome.

    Never a secret nor a caller number: the actor is its role and credential key id, a blocklist
    target is a hash of the pattern.
    """

    # ``{time_ns:020d}-{8 hex}``: the key's last segment; sorts by time (``keys.audit_event``).
    id: str
    at: float
    actor_role: str
    actor_key_id: str
    # Full gRPC method name ("/ccpapi.v1.AdminService/CreateAgent").
    method: str
    # An agent id, "blocked:{hash}" for a blocklist entry, "" when the request named none valid.
    target: str
    # gRPC status code name: "OK", "PERMISSION_DENIED", "NOT_FOUND"...
    outcome: str


@dataclass(frozen=True)
class WatchEvent:
    kind: Literal["put", "delete"]
    key: str
    value: bytes | None
    prev_value: bytes | None
    revision: int


@dataclass(frozen=True)
class AgentProfile:
    display_name: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[Channel, int] = field(default_factory=dict)
    site: str = ""
    sip_uri: str = ""


class Store(Protocol):
    # -- declarative config (operator / ccp apply) --
    async def put_tenant_config(self, config: TenantConfig) -> None: ...
    async def get_tenant_config(self, tenant: str) -> TenantConfig | None: ...
    async def list_tenants(self) -> list[str]: ...
    async def put_queue_config(self, tenant: str, config: QueueConfig) -> None: ...
    async def get_queue_configs(self, tenant: str) -> dict[str, QueueConfig]: ...
    async def put_trunk_config(self, tenant: str, config: TrunkConfig) -> None: ...
    async def get_trunk_configs(self, tenant: str) -> dict[str, TrunkConfig]: ...
    async def delete_tenant_config(self, tenant: str) -> None: ...
    async def delete_queue_config(self, tenant: str, queue: str) -> None: ...  # and its placement
    async def put_queue_placement(self, tenant: str, queue: str, placement: QueuePlacement) -> None: ...
    async def get_queue_placement(self, tenant: str, queue: str) -> QueuePlacement | None: ...
    async def delete_trunk_config(self, tenant: str, trunk: str) -> None: ...

    # -- credentials --
    async def put_credential(self, tenant: str, key_id: str, credential: Credential) -> None: ...
    async def get_credential(self, tenant: str, key_id: str) -> Credential | None: ...
    async def list_credentials(self, tenant: str) -> dict[str, Credential]: ...  # by key id
    async def delete_credential(self, tenant: str, key_id: str) -> None: ...  # absent: no-op
    async def revoke_credentials(self, tenant: str) -> None: ...  # all of the tenant's, at once

    # -- audit log (append-only) --
    async def put_audit(self, tenant: str, event: AuditEvent) -> None: ...
    # Events in [start, end) after the event id ``after`` (""): oldest first, at most ``limit``.
    async def list_audit(
        self, tenant: str, *, start: float, end: float, limit: int, after: str = ""
    ) -> list[AuditEvent]: ...

    # -- blocklist --
    async def add_blocked(self, tenant: str, blocked: BlockedCaller) -> BlockedCaller: ...
    async def remove_blocked(self, tenant: str, pattern: str) -> None: ...  # NotFound
    async def list_blocked(self, tenant: str) -> list[BlockedCaller]: ...

    # -- agents (admin) --
    async def create_agent(self, tenant: str, agent_id: str, profile: AgentProfile, *, now: float) -> Agent: ...
    async def get_agent(self, tenant: str, agent_id: str) -> Agent: ...  # NotFound
    async def list_agents(self, tenant: str) -> list[Agent]: ...
    async def update_agent(self, tenant: str, agent_id: str, profile: AgentProfile) -> Agent: ...
    # FailedPrecondition while the agent holds work or an offer. ``now`` ends the agent's last
    # presence interval (None: the store's clock, for callers that predate the presence log).
    async def delete_agent(self, tenant: str, agent_id: str, *, now: float | None = None) -> None: ...

    # -- agent presence and work --
    # LOGGED_OUT with work in hand -> FailedPrecondition; a pending offer is released.
    async def set_presence(
        self, tenant: str, agent_id: str, presence: Presence, *, reason_code: str, now: float
    ) -> Agent: ...
    # view: the caller's live view of the tenant (``state.live``), decided on first instead of reading etcd.
    async def accept(
        self, tenant: str, agent_id: str, call_id: str, *, now: float, view: LiveView | None = None
    ) -> Call: ...
    async def reject(self, tenant: str, agent_id: str, call_id: str, *, reason: str, now: float) -> Agent: ...
    # hung_up: the talk ended because a party hung up (Hangup); the reason, e.g. "caller hung up".
    async def complete(
        self, tenant: str, agent_id: str, call_id: str, *, disposition: str, wrap_up_s: float | None,
        now: float, hung_up: str = "", view: LiveView | None = None,
        queues: Callable[[str], Awaitable[Mapping[str, QueueConfig]]] | None = None,
    ) -> Agent: ...

    # -- interactions --
    # Returns (call, created). created is False when request_id was seen before.
    async def enqueue(self, tenant: str, call: Call) -> tuple[Call, bool]: ...
    # enqueue with the router's offer in the same transaction; None: the offer's view was stale, nothing written.
    async def enqueue_offered(self, tenant: str, call: Call, offer: ArrivalOffer) -> tuple[Call, bool] | None: ...
    async def get_call(self, tenant: str, call_id: str) -> Call: ...  # live or history; NotFound
    async def cancel(self, tenant: str, call_id: str, *, reason: str, now: float) -> Call: ...
    # Adopt a queued call into ``to_site`` (keeps its arrival time); NotFound / FailedPrecondition.
    async def hand_over(self, tenant: str, call_id: str, *, to_site: str, now: float) -> Call: ...
    # Move a queued call to another queue, keeping its place; FailedPrecondition while offered.
    async def move_queued(self, tenant: str, call_id: str, *, to_queue: str, reason: str, now: float) -> Call: ...

    # -- voice (``state.voice``) --
    # A queued (or voicemail-routed) voice call ends VOICEMAIL and its CHANNEL_VOICEMAIL item is queued, in
    # one transaction; returns the item. Idempotent on request_id. NotFound / FailedPrecondition.
    async def leave_voicemail(
        self, tenant: str, call_id: str, *, item: Call, request_id: str, now: float
    ) -> Call: ...
    # A queued voice call becomes a callback, keeping its place; ``number`` "" keeps the caller's address.
    async def request_callback(self, tenant: str, call_id: str, *, number: str, now: float) -> Call: ...
    # A connected call goes back to its queue, same id and place; its agent on a no-answer break
    # (``state.requeue``). Idempotent on request_id. NotFound / FailedPrecondition.
    async def requeue(self, tenant: str, call_id: str, *, reason: str, request_id: str, now: float) -> Call: ...

    # -- routing --
    async def load_live(self, tenant: str) -> LiveView: ...
    async def commit(
        self, tenant: str, view: LiveView, decision: Decision, *, node_id: str, now: float, lease_id: int = 0,
        fence: Fence = ...,
    ) -> bool: ...

    # -- reports --
    # Final records of calls that arrived at or after ``since``, in arrival order.
    async def history_since(self, tenant: str, since: float) -> list[Call]: ...
    # Final records of calls that arrived in [start, end), in arrival order.
    async def history_between(self, tenant: str, start: float, end: float) -> list[Call]: ...
    # Closed presence intervals overlapping [start, end) (end > start and start < end), by end time.
    async def presence_between(self, tenant: str, start: float, end: float) -> list[PresenceInterval]: ...
    # The caller's ended calls, newest first, at most ``limit`` (the address is matched exactly).
    async def caller_history(self, tenant: str, address: str, *, limit: int = 10) -> list[Call]: ...

    # -- watches --
    # prev_kv: deletions carry the deleted value (``WatchEvent.prev_value``); off, etcd sends less.
    def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None, prev_kv: bool = True
    ) -> AsyncIterator[WatchEvent]: ...
    # The revision of this store's last transaction that wrote ``tenant``'s live/ keys (0: none):
    # what a watch-fed view (``state.live``) must have applied to show this node's own writes.
    def written(self, tenant: str) -> int: ...
