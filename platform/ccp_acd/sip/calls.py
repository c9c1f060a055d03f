"""One call's life as a pure state machine: events in, the next state and the actions to run out.

The session (``sessions.py``) turns what happens on the SIP legs and on the interaction's watch into events and
runs the actions; every decision is here, with no sockets, threads or clocks, so it is tested exhaustively.

Decisions (docs/voice.md, "Architecture"):

- Nothing is queued before the caller is answered and through the IVR: a CANCEL before that leaves no
  interaction. A caller who hangs up while the Enqueue is in flight is cancelled as abandoned once it returns.
- An Enqueue refused (queue full, tenant limit, node trouble) plays the busy tone and hangs up: never silence.
- The agent leg failing (refused, unanswered, unreachable) puts the same interaction back in its queue
  (Requeue: its place kept, the agent on a no-answer break, nothing counted as answered); the caller stays on
  hold music, the watch unchanged, until the next agent accepts; up to ``MAX_AGENT_ATTEMPTS`` legs, after
  which the talk ends (Hangup AGENT) and the caller hears the sorry tone and is released. A Requeue the node
  refuses ends the call the same way: the caller never waits on an interaction still held by the agent.
- A callback: the caller is told and released; when an agent accepts the callback, the agent is dialled first,
  then the caller; a caller who does not answer ends it with Hangup CALLER (reason in the adapter's log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

MAX_AGENT_ATTEMPTS = 3
# A Requeue's reason is a reason code (it goes into the call's timeline); anything else is sent as this one.
REQUEUE_REASON = re.compile(r"^[a-z0-9-]{1,32}$")
AGENT_LEG_FAILED = "agent-leg-failed"


class Phase(StrEnum):
    RINGING = "ringing"          # INVITE screened, not answered yet
    IVR = "ivr"                  # answered, menus running
    QUEUING = "queuing"          # Enqueue in flight
    QUEUED = "queued"            # waiting, hold media playing
    DIALING_AGENT = "dialing-agent"
    DIALING_CALLER = "dialing-caller"  # callback: agent is on, the caller's phone rings
    BRIDGED = "bridged"
    VOICEMAIL = "voicemail"      # recording
    AWAITING_CALLBACK = "awaiting-callback"  # caller released, callback interaction queued
    ENDED = "ended"


# -- events -----------------------------------------------------------------

@dataclass(frozen=True)
class Cancelled:
    """CANCEL before the answer."""


@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class IvrDone:
    queue: str
    # "" or "voicemail" / "callback": an IVR option asked for it.
    wants: str = ""


@dataclass(frozen=True)
class Enqueued:
    interaction_id: str


@dataclass(frozen=True)
class EnqueueRefused:
    code: str


@dataclass(frozen=True)
class Update:
    """The interaction as the watch reported it (state and channel as their proto enum names)."""

    state: str
    channel: str = "CHANNEL_VOICE"
    agent_sip_uri: str = ""
    # For the announcements only: no decision depends on them.
    position: int = 0
    expected_wait_s: float | None = None
    # The interaction reported on: a late update of another one is ignored.
    interaction_id: str = ""
    # While CONNECTED, which acceptance this is (agent and answer time): a late report of the acceptance whose
    # leg failed and was requeued is not a new agent to dial.
    connection: str = ""


@dataclass(frozen=True)
class CallerHungUp:
    pass


@dataclass(frozen=True)
class AgentAnswered:
    pass


@dataclass(frozen=True)
class AgentFailed:
    # A reason code ("agent-no-answer", "agent-leg-486"): the Requeue's reason.
    why: str


@dataclass(frozen=True)
class RequeueRefused:
    code: str


@dataclass(frozen=True)
class AgentHungUp:
    pass


@dataclass(frozen=True)
class CallerAnswered:
    pass


@dataclass(frozen=True)
class CallerUnreachable:
    why: str


@dataclass(frozen=True)
class RecordingDone:
    pass


@dataclass(frozen=True)
class Failed:
    why: str


@dataclass(frozen=True)
class ShuttingDown:
    pass


Event = (
    Cancelled | Answered | IvrDone | Enqueued | EnqueueRefused | Update | CallerHungUp | AgentAnswered | AgentFailed
    | RequeueRefused | AgentHungUp | CallerAnswered | CallerUnreachable | RecordingDone | Failed | ShuttingDown
)

# -- actions ----------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str
    # Enqueue: the queue; DialAgent: the URI; Notice: busy | sorry | callback | voicemail;
    # Cancel: the reason; Hangup: CALLER | AGENT; Requeue: the reason code.
    arg: str = ""


ANSWER = Action("answer")
RUN_IVR = Action("run-ivr")
HOLD = Action("hold")
BRIDGE = Action("bridge")
RECORD = Action("record")
LEAVE_VOICEMAIL = Action("leave-voicemail")
REQUEST_CALLBACK = Action("request-callback")
BYE_CALLER = Action("bye-caller")
BYE_AGENT = Action("bye-agent")
DIAL_CALLER = Action("dial-caller")


def enqueue(queue: str) -> Action:
    return Action("enqueue", queue)


def notice(kind: str) -> Action:
    return Action("notice", kind)


def cancel(reason: str) -> Action:
    return Action("cancel", reason)


def hangup(party: str) -> Action:
    return Action("hangup", party)


def dial_agent(uri: str) -> Action:
    return Action("dial-agent", uri)


def requeue(reason: str) -> Action:
    return Action("requeue", reason if REQUEUE_REASON.match(reason) else AGENT_LEG_FAILED)


@dataclass(frozen=True)
class CallState:
    phase: Phase = Phase.RINGING
    queue: str = ""
    interaction_id: str = ""
    # The caller's leg is gone (BYE) while something was in flight.
    caller_gone: bool = False
    agent_attempts: int = 0
    # This call is the outbound leg of a callback (the caller was released earlier).
    callback: bool = False
    # What an IVR option asked for once queued: "" | "voicemail" | "callback".
    wants: str = ""
    # The acceptance being dialled (``Update.connection``), and the last one whose leg failed and was requeued.
    connection: str = ""
    requeued: str = ""

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED


Step = tuple[CallState, tuple[Action, ...]]


def _end(state: CallState, *actions: Action) -> Step:
    return replace(state, phase=Phase.ENDED), actions


def step(state: CallState, event: Event) -> Step:
    """The next state and the actions to run, in order, for ``event`` in ``state``."""
    phase = state.phase
    if phase is Phase.ENDED:
        return state, ()
    if isinstance(event, Update) and event.interaction_id and event.interaction_id != state.interaction_id:
        return state, ()
    if isinstance(event, Failed | ShuttingDown):
        return _fail(state, "adapter shutdown" if isinstance(event, ShuttingDown) else "adapter error")
    match phase, event:
        case Phase.RINGING, Cancelled():
            return _end(state)
        case Phase.RINGING, Answered():
            return replace(state, phase=Phase.IVR), (ANSWER, RUN_IVR)
        case Phase.RINGING | Phase.IVR, CallerHungUp():
            return _end(state)
        case Phase.IVR, IvrDone(queue=queue, wants=wants):
            return replace(state, phase=Phase.QUEUING, queue=queue, wants=wants), (enqueue(queue),)
        case Phase.QUEUING, CallerHungUp():
            return replace(state, caller_gone=True), ()
        case Phase.QUEUING, Enqueued(interaction_id=interaction_id):
            state = replace(state, interaction_id=interaction_id)
            if state.caller_gone:
                return _end(state, cancel("caller hung up"))
            if state.wants == "voicemail":
                return replace(state, phase=Phase.VOICEMAIL, wants=""), (notice("voicemail"), RECORD)
            if state.wants == "callback":
                # The watch reports CHANNEL_CALLBACK next: the caller is told and released then.
                return replace(state, phase=Phase.QUEUED, wants=""), (HOLD, REQUEST_CALLBACK)
            return replace(state, phase=Phase.QUEUED), (HOLD,)
        case Phase.QUEUING, EnqueueRefused():
            if state.caller_gone:
                return _end(state)
            return _end(state, notice("busy"), BYE_CALLER)
        case Phase.QUEUED, CallerHungUp():
            return _end(state, cancel("caller hung up"))
        case Phase.QUEUED, Update():
            return _queued_update(state, event)
        case Phase.AWAITING_CALLBACK, Update():
            if event.state == "INTERACTION_STATE_CONNECTED":
                return _dial_agent(replace(state, callback=True), event.agent_sip_uri)
            if event.state != "INTERACTION_STATE_QUEUED":
                return _end(state)
            return state, ()
        case Phase.DIALING_AGENT, AgentAnswered():
            if state.callback:
                return replace(state, phase=Phase.DIALING_CALLER), (DIAL_CALLER,)
            return replace(state, phase=Phase.BRIDGED), (BRIDGE,)
        case Phase.DIALING_AGENT, AgentFailed(why=why):
            return _agent_failed(state, why)
        case Phase.QUEUED, RequeueRefused():
            # The interaction may still be connected to the agent whose leg failed: end it, release the caller.
            return _end(state, hangup("AGENT"), notice("sorry"), BYE_CALLER)
        case Phase.DIALING_AGENT, CallerHungUp():
            return _end(state, BYE_AGENT, hangup("CALLER"))
        case Phase.DIALING_CALLER, CallerAnswered():
            return replace(state, phase=Phase.BRIDGED), (BRIDGE,)
        case Phase.DIALING_CALLER, CallerUnreachable():
            return _end(state, notice("sorry"), BYE_AGENT, hangup("CALLER"))
        case Phase.DIALING_CALLER, AgentHungUp():
            return _end(state, BYE_CALLER, hangup("AGENT"))
        case Phase.BRIDGED, CallerHungUp():
            return _end(state, BYE_AGENT, hangup("CALLER"))
        case Phase.BRIDGED, AgentHungUp():
            return _end(state, BYE_CALLER, hangup("AGENT"))
        case Phase.BRIDGED | Phase.DIALING_AGENT, Update(state="INTERACTION_STATE_COMPLETED"):
            # The agent completed it from the desktop while the legs were up: release both.
            return _end(state, BYE_AGENT, BYE_CALLER)
        case Phase.VOICEMAIL, RecordingDone():
            return _end(state, LEAVE_VOICEMAIL, BYE_CALLER)
        case Phase.VOICEMAIL, CallerHungUp():
            return _end(state, LEAVE_VOICEMAIL)
    return state, ()


def _queued_update(state: CallState, event: Update) -> Step:
    match event.state:
        case "INTERACTION_STATE_CONNECTED":
            if event.connection and event.connection == state.requeued:
                return state, ()  # the acceptance just requeued, reported late
            return _dial_agent(replace(state, connection=event.connection), event.agent_sip_uri)
        case "INTERACTION_STATE_VOICEMAIL":
            return replace(state, phase=Phase.VOICEMAIL), (notice("voicemail"), RECORD)
        case "INTERACTION_STATE_QUEUED":
            if event.channel == "CHANNEL_CALLBACK":
                return replace(state, phase=Phase.AWAITING_CALLBACK), (notice("callback"), BYE_CALLER)
            return state, ()
        case "INTERACTION_STATE_COMPLETED" | "INTERACTION_STATE_ABANDONED":
            # Ended elsewhere (a supervisor, retention): the caller must not wait on in silence.
            return _end(state, notice("sorry"), BYE_CALLER)
    return state, ()


def _dial_agent(state: CallState, uri: str) -> Step:
    state = replace(state, phase=Phase.DIALING_AGENT, agent_attempts=state.agent_attempts + 1)
    if not uri:
        return _agent_failed(state, "agent-no-phone")
    return state, (dial_agent(uri),)


def _agent_failed(state: CallState, why: str) -> Step:
    if state.callback:
        return _end(state, hangup("AGENT"))
    if state.agent_attempts >= MAX_AGENT_ATTEMPTS:
        return _end(state, hangup("AGENT"), notice("sorry"), BYE_CALLER)
    # The same interaction, back in its place (request id: Call-ID + attempt); the hold music goes on.
    return replace(state, phase=Phase.QUEUED, requeued=state.connection), (requeue(why),)


def _fail(state: CallState, reason: str) -> Step:
    """Release everything the call holds, by phase: no leg left up, no interaction left waiting for a dead leg."""
    actions: list[Action] = []
    match state.phase:
        case Phase.RINGING | Phase.IVR:
            actions = [] if state.phase is Phase.RINGING else [notice("sorry"), BYE_CALLER]
        case Phase.QUEUING:
            actions = [notice("sorry"), BYE_CALLER]
        case Phase.QUEUED:
            actions = [notice("sorry"), BYE_CALLER, cancel(reason)]
        case Phase.DIALING_AGENT:
            actions = [BYE_AGENT, notice("sorry"), BYE_CALLER, hangup("CALLER")]
            if state.callback:
                actions = [BYE_AGENT, hangup("CALLER")]
        case Phase.DIALING_CALLER | Phase.BRIDGED:
            actions = [BYE_AGENT, BYE_CALLER, hangup("CALLER")]
        case Phase.VOICEMAIL:
            actions = [LEAVE_VOICEMAIL, BYE_CALLER]
        case Phase.AWAITING_CALLBACK:
            actions = []
    return _end(state, *actions)
