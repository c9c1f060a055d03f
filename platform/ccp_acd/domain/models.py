"""Value types of the routing domain: queues, agents, calls, offers.

Everything is frozen: decisions are made on an immutable snapshot and turned
into etcd transactions by the state layer. Times are POSIX seconds (float);
the domain never reads a clock, callers pass ``now``.

"Call" means any interaction (voice, chat, e-mail, callback, voicemail): all are
routed the same way and differ only in the agent capacity they consume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ccp_acd.domain.voice_settings import Announcements, VoicemailSettings


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    CALLBACK = "callback"
    # A voicemail the caller left (LeaveVoicemail): a work item carrying the recording, routed like e-mail.
    VOICEMAIL = "voicemail"


class Presence(StrEnum):
    """What the agent (or the system, for wrap-up and no-answer) set.

    "Busy" is not a presence: it is derived from the work an agent holds.
    """

    LOGGED_OUT = "logged-out"
    AVAILABLE = "available"
    BREAK = "break"
    WRAP_UP = "wrap-up"


class CallState(StrEnum):
    QUEUED = "queued"
    CONNECTED = "connected"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    VOICEMAIL = "voicemail"

    @property
    def terminal(self) -> bool:
        return self in (CallState.COMPLETED, CallState.ABANDONED, CallState.VOICEMAIL)


class Strategy(StrEnum):
    LONGEST_IDLE = "longest-idle"
    ROUND_ROBIN = "round-robin"
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"
    BEST_SKILL_MATCH = "best-skill-match"


class ActionKind(StrEnum):
    """What a queue does with a call it cannot serve. There is no "drop"."""

    WAIT = "wait"            # keep the call queued (the default)
    QUEUE = "queue"          # move it to another queue, keeping its arrival time
    VOICEMAIL = "voicemail"  # end routing; the caller leaves a message
    CALLBACK = "callback"    # the caller hangs up but keeps their place: channel becomes callback


# Reason codes the system sets on an agent; agents choose their own for breaks.
REASON_NO_ANSWER = "no-answer"   # an offer timed out (RONA: redirect on no answer)
REASON_REJECTED = "rejected"     # the agent rejected an offer


@dataclass(frozen=True)
class SkillRequirement:
    name: str
    min_level: int = 1


@dataclass(frozen=True)
class SkillRing:
    """From ``after_s`` seconds of waiting on, these requirements replace the queue's.

    Rings widen the pool over time (bullseye routing): later rings should ask
    for less, e.g. a lower level or fewer skills.
    """

    after_s: float
    skills: tuple[SkillRequirement, ...]


@dataclass(frozen=True)
class Action:
    kind: ActionKind = ActionKind.WAIT
    target_queue: str | None = None

    def describe(self) -> str:
        return f"{self.kind} {self.target_queue}" if self.target_queue else str(self.kind)


@dataclass(frozen=True)
class QueueConfig:
    name: str
    skills: tuple[SkillRequirement, ...] = ()
    rings: tuple[SkillRing, ...] = ()
    strategy: Strategy = Strategy.LONGEST_IDLE
    # Added to every call's own priority; higher is served first.
    priority: int = 0
    # Service level: share of calls answered within sl_threshold_s (80 % in 20 s by default).
    sl_threshold_s: float = 20.0
    sl_target: float = 0.8
    max_wait_s: float | None = None
    max_length: int | None = None
    on_max_wait: Action = Action()
    on_max_length: Action = Action()
    on_no_agents: Action = Action()
    wrap_up_s: float = 0.0
    offer_timeout_s: float = 15.0
    # Priority points a call gains per minute of waiting, so low priorities are not starved.
    aging_per_minute: float = 1.0
    # Handle time assumed for expected-wait predictions before history exists.
    expected_handle_s: float = 180.0
    # N-way cross-site overflow: the head call moves to the site with the lowest
    # expected wait when this site's is worse by more than this many seconds.
    # None: calls stay at the site they arrived at (site failover still moves them).
    site_overflow_margin_s: float | None = None
    # Voice (SIP adapter): music on hold (a prompt; "": ccp_acd.sip.media's default), periodic position and
    # expected-wait announcements, and the voicemail prompt and length (domain.voice_settings).
    music_on_hold: str = ""
    announcements: Announcements = Announcements()
    voicemail: VoicemailSettings = VoicemailSettings()
    # Voice: record each bridged call (both parties, stereo, encrypted at rest like voicemail) and attach it to
    # the call's record.
    record_calls: bool = False

    def requirements_after(self, waited_s: float) -> tuple[SkillRequirement, ...]:
        """The skill requirements in force for a call that has waited ``waited_s``."""
        current = self.skills
        for ring in sorted(self.rings, key=lambda r: r.after_s):
            if waited_s >= ring.after_s:
                current = ring.skills
        return current

    def widest_requirements(self) -> tuple[SkillRequirement, ...]:
        """The most relaxed requirements any call of this queue will ever have."""
        return self.requirements_after(float("inf"))


@dataclass(frozen=True)
class Caller:
    address: str = ""
    display_name: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Agent:
    id: str
    display_name: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[Channel, int] = field(default_factory=lambda: {Channel.VOICE: 1})
    site: str = ""
    presence: Presence = Presence.LOGGED_OUT
    reason_code: str = ""
    presence_since: float = 0.0
    wrap_up_until: float = 0.0
    # Strategy inputs, maintained by the state layer on each transition.
    idle_since: float = 0.0
    last_offered_at: float = 0.0
    calls_handled: int = 0
    talk_time_s: float = 0.0
    # The call whose wrap-up the agent is in (presence wrap-up), for the presence log.
    wrap_up_call: str = ""
    # The agent's phone ("sip:alice@10.0.0.7"): where the SIP gateway bridges voice; "": no voice.
    sip_uri: str = ""

    def ready(self, now: float) -> bool:
        """Whether the agent may receive offers (capacity aside)."""
        if self.presence is Presence.AVAILABLE:
            return True
        return self.presence is Presence.WRAP_UP and now >= self.wrap_up_until

    @property
    def logged_in(self) -> bool:
        return self.presence is not Presence.LOGGED_OUT


@dataclass(frozen=True)
class TimelineEvent:
    """One step of a call's life (``domain.timeline``): written in the transaction that makes the step.

    ``detail`` is for people (queue, menu and digits, reason) and never holds a caller number.
    """

    at: float
    kind: str
    detail: str = ""
    agent_id: str = ""
    queue: str = ""


@dataclass(frozen=True)
class Call:
    id: str
    queue: str
    channel: Channel = Channel.VOICE
    priority: int = 0
    caller: Caller = Caller()
    site: str = ""
    state: CallState = CallState.QUEUED
    # First arrival in the system: service level and FIFO order count from here,
    # and overflow to another queue keeps it (the caller keeps their place).
    enqueued_at: float = 0.0
    # Arrival in the current queue: skill rings and max wait count from here.
    queued_since: float = 0.0
    answered_at: float | None = None
    ended_at: float | None = None
    agent_id: str = ""
    reason: str = ""
    route_history: tuple[str, ...] = ()
    request_id: str = ""
    disposition: str = ""
    # Agents who rejected this call: it is not offered to them again.
    declined_by: tuple[str, ...] = ()
    # Sites that routed this call before its current one: overflow never sends it back.
    visited_sites: tuple[str, ...] = ()
    # W3C traceparent of the call's root span (set at Enqueue): every node that
    # handles the call adds its spans to this one trace.
    trace_parent: str = ""
    # Voice: the trunk the call came in on, and when the caller reached the platform (before the IVR;
    # 0: at enqueue). Voicemail work items: the encrypted recording they carry (``ccp_acd.recordings``).
    trunk: str = ""
    arrived_at: float = 0.0
    recording_id: str = ""
    # Request ids of the Requeues applied to this call, oldest first, bounded (``state.requeue``): a retried
    # Requeue finds its id here and is answered with the call as it is, for the record's whole life.
    requeue_requests: tuple[str, ...] = ()
    # What happened to the call, oldest first, bounded (``domain.timeline``); kept in the ended record.
    timeline: tuple[TimelineEvent, ...] = ()

    def waited(self, now: float) -> float:
        return max(0.0, now - self.enqueued_at)


@dataclass(frozen=True)
class PresenceInterval:
    """A closed stretch of one agent's presence, logged when it ends (staffed time, occupancy, AHT).

    A wrap-up that ran out before the agent's next change is logged as wrap-up
    until ``wrap_up_until`` and available from then on, so each interval is what
    the agent really was.
    """

    agent_id: str
    presence: Presence
    start: float
    end: float
    site: str = ""
    reason_code: str = ""
    # For wrap-up: the call it followed, so reports add it to that call's handle time.
    after_call: str = ""


@dataclass(frozen=True)
class Reservation:
    """An offer of a call to an agent. Lives on the offering node's lease."""

    call_id: str
    agent_id: str
    node_id: str
    offered_at: float
    expires_at: float

    @classmethod
    def of(cls, decision: OfferDecision, *, node_id: str, now: float) -> Reservation:
        """The offer record that commits ``decision``, made by ``node_id`` at ``now``."""
        return cls(
            call_id=decision.call_id, agent_id=decision.agent_id, node_id=node_id, offered_at=now,
            expires_at=decision.expires_at,
        )


@dataclass(frozen=True)
class LiveView:
    """One tenant's live routing state, read at a single etcd revision."""

    agents: Mapping[str, Agent]
    calls: Mapping[str, Call]
    reservations: Mapping[str, Reservation]
    revision: int = 0
    # Opaque per-record versions (etcd mod_revisions by key) the state layer
    # compares when it commits a decision made on this view.
    versions: Mapping[str, int] = field(default_factory=dict)


# Decisions the planner returns; the state layer commits each as one transaction.

@dataclass(frozen=True)
class OfferDecision:
    call_id: str
    agent_id: str
    expires_at: float


@dataclass(frozen=True)
class RerouteDecision:
    call_id: str
    action: Action
    reason: str


@dataclass(frozen=True)
class ExpireOfferDecision:
    """An offer outlived its timeout: free the call, put the agent on a no-answer break."""

    call_id: str
    agent_id: str


@dataclass(frozen=True)
class SiteMoveDecision:
    """Route a waiting call at another site from now on (site failover or cross-site overflow)."""

    call_id: str
    to_site: str
    reason: str


Decision = OfferDecision | RerouteDecision | ExpireOfferDecision | SiteMoveDecision
