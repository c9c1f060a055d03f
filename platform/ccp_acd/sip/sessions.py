"""One call, run in the thread pyVoIP gives it: turns the legs and the interaction's watch into ``calls`` events,
runs the actions ``calls.step`` returns, and tells the legs' RTP (``rtp``) what to send: hold music, ringback,
prompts, or the other leg's audio (bridged). The RTP engine paces and relays the media; the session only
reacts: at once to the node's watch and to every SIP datagram of its legs, else every ``TICK_S``. Its leg checks
are ``legs.LegWatch`` and its media ``call_media.CallMedia``, both mixed into ``Session``; the requests to the node,
the actions and the recordings' storage are here.

Threads: this session's own (pyVoIP's Timer thread for the incoming call, alive for the whole call: pyVoIP
forgets a call whose thread ended), pyVoIP's receive thread, the RTP engine's, and the asyncio loop that owns the
gRPC client; node requests go there with ``run_coroutine_threadsafe``, watch updates come back through a queue.
Any exception ends the call through ``calls.Failed`` (legs released, the interaction cancelled or hung up) and
is logged without numbers; other calls go on.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ccpapi.v1 import common_pb2, interaction_pb2
from google.protobuf import duration_pb2, timestamp_pb2
from pyVoIP.VoIP import CallState, VoIPCall

from ccp_acd.domain.models import QueueConfig
from ccp_acd.recordings import RecordingStore
from ccp_acd.sip import audio, calls, links, media, menus, messages, rtp
from ccp_acd.sip.call_media import NOTICES, RINGBACK, CallMedia
from ccp_acd.sip.calls import Action
from ccp_acd.sip.calls import CallState as Machine
from ccp_acd.sip.legs import ACK_WAIT_S, LegWatch, engine_leg
from ccp_acd.sip.nodes import NodeClient
from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.pools import AgentPhones
from ccp_acd.sip.settings import SipSettings
from ccp_acd.state.store import TrunkConfig

log = logging.getLogger(__name__)

# How often a session looks at its legs for its deadlines (agent answer, ACK, RTP timeout, voicemail length).
# Node events and every SIP datagram of its legs (BYE, 200, ACK, CANCEL) wake it at once.
TICK_S = 0.25
# Actions that release a leg: one that fails is logged and the actions after it (Hangup, Cancel) still run.
RELEASES = frozenset({"bye-caller", "bye-agent"})
NUDGE = object()  # "a datagram of one of your legs was handled": look at the legs
_REQUEST_ID_BAD = re.compile(r"[^A-Za-z0-9_.:-]")


def request_id(call_id: str, attempt: int = 0) -> str:
    """A request id from the SIP Call-ID: a retransmitted INVITE or a retried Enqueue queues once (attempt 0);
    the Requeue after agent leg ``attempt`` is applied once."""
    base = _REQUEST_ID_BAD.sub("_", call_id)[:56]
    return base if attempt == 0 else f"{base}-r{attempt}"


def _timestamp(t: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(t * 1e9))
    return stamp


@dataclass
class Context:
    """What every session of one trunk shares."""

    tenant: str
    trunk: TrunkConfig
    phone: AdapterPhone
    agents: AgentPhones
    nodes: NodeClient
    loop: asyncio.AbstractEventLoop
    settings: SipSettings
    recordings: RecordingStore | None
    stopping: threading.Event
    # The tenant's queue configs as last read (hold music, announcements, voicemail prompt and length).
    queues: Callable[[], Mapping[str, QueueConfig]]

    def queue(self, name: str) -> QueueConfig:
        return self.queues().get(name) or QueueConfig(name=name)


class Session(LegWatch, CallMedia):
    def __init__(self, ctx: Context, call: VoIPCall):
        self.ctx = ctx
        self.call_id = call.call_id
        self.caller: VoIPCall | None = call
        self.agent: VoIPCall | None = None
        self.agent_phone: AdapterPhone | None = None
        self.agent_deadline = 0.0
        self.agent_was_up = False
        self.agent_call_id = ""
        self.machine = Machine()
        self.events: queue.Queue = queue.Queue()
        self.arrived_at = ctx.phone.arrivals.get(self.call_id, time.time())
        head = messages.read_head(call.request.raw)
        self.number, self.display_name = messages.caller(head) if head else ("", "")
        self.ivr_steps: list[interaction_pb2.IvrStep] = []
        timeout = ctx.settings.node_timeout_s * (len(ctx.settings.node_addresses()) + 1)
        self.link = links.NodeLink(ctx.nodes, ctx.loop, timeout_s=timeout, call_id=self.call_id)
        self.hold: Iterator[bytes] | None = None  # µ-law frames, looping
        self.next_announcement = 0.0
        self.last_update: calls.Update | None = None
        self.recording: bytearray | None = None  # the caller's audio while the voicemail records
        self.recording_started = 0.0
        self.conversation: tuple[bytearray, bytearray] | None = None  # caller's and agent's audio (record_calls)
        self.shutdown_sent = False
        self.caller_deadline = 0.0
        self.awaiting_ack_until = 0.0  # while the caller's 200 is not ACKed (ACK_WAIT_S)
        self.ringback: Iterator[bytes] | None = None
        self.watched: list[tuple[AdapterPhone, str]] = []  # legs this session dialled, forgotten at its end
        ctx.phone.wakers[self.call_id] = self.nudge

    def nudge(self) -> None:
        self.events.put(NUDGE)

    # -- running ---------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.call_id in self.ctx.phone.cancelled or self.caller is None or self.caller.state != CallState.RINGING:
                self.handle(calls.Cancelled())
                return
            self.handle(calls.Answered())
            while not self.machine.ended:
                self.tick()
        except Exception as e:  # noqa: BLE001 - whatever broke, the call ends cleanly (module doc)
            log.warning("call %s failed in %s: %s", self.call_id, self.machine.phase, type(e).__name__, exc_info=True)
            try:
                self.handle(calls.Failed(type(e).__name__))
            except Exception as again:  # noqa: BLE001 - cleanup of a broken call is best effort
                log.warning("call %s: cleanup failed: %s", self.call_id, type(again).__name__)
        finally:
            self.link.stop()
            for phone, leg in ((self.ctx.phone, self.caller), (self.agent_phone, self.agent)):
                if phone is not None and leg is not None and leg.state != CallState.ENDED:
                    phone.release(leg)
            self.ctx.phone.forget(self.call_id)
            for phone, call_id in self.watched:  # a leg the far end hung up is still in the phone's maps
                phone.forget(call_id)

    def handle(self, event: calls.Event) -> None:
        if isinstance(event, calls.Update):
            self.last_update = event
        before = self.machine.phase
        self.machine, actions = calls.step(self.machine, event)
        if before != self.machine.phase:
            log.info("call %s: %s -> %s on %s", self.call_id, before, self.machine.phase, type(event).__name__)
        for action in actions:
            if action.kind not in RELEASES:
                self.act(action)
                continue
            try:
                self.act(action)
            except Exception as e:  # noqa: BLE001 - the interaction's Hangup/Cancel that follows must still be sent
                log.warning("call %s: %s failed: %s; the call's ending goes on", self.call_id, action.kind,
                            type(e).__name__, exc_info=True)

    def tick(self) -> None:
        started = time.monotonic()
        self._observe_legs(started)
        if self.ctx.stopping.is_set() and not self.shutdown_sent:
            self.shutdown_sent = True
            self.events.put(calls.ShuttingDown())
        while not self.events.empty() and not self.machine.ended:
            self._take(self.events.get_nowait())
        self._media(started)
        remaining = TICK_S - (time.monotonic() - started)
        if remaining > 0 and not self.machine.ended:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                return
            self._take(event)  # a nudge returns at once: the next tick looks at the legs

    def _take(self, event) -> None:
        if event is not NUDGE:
            self.handle(event)

    # -- actions ---------------------------------------------------------------

    def act(self, action: Action) -> None:
        match action.kind:
            case "answer":
                self.caller.answer()
                self.awaiting_ack_until = time.monotonic() + ACK_WAIT_S
            case "run-ivr":
                self._ivr()
            case "enqueue":
                self._enqueue(action.arg)
            case "hold":
                config = self.ctx.queue(self.machine.queue)
                self.hold = media.music_on_hold(config.music_on_hold, encoding="pcmu")
                every = config.announcements.every_s
                self.next_announcement = time.monotonic() + every if every else 0.0
            case "dial-agent":
                self._dial_agent(action.arg)
            case "bridge":
                self._record_conversation()  # the legs themselves are bridged by _media (rtp.bridge)
            case "record":
                self.recording, self.recording_started = bytearray(), time.monotonic()
                leg = engine_leg(self.caller)
                if leg is not None:
                    leg.capture = self.recording
            case "leave-voicemail":
                self._leave_voicemail()
            case "bye-caller":
                if self.caller is not None:
                    self.ctx.phone.release(self.caller)
                    self.caller = None
            case "bye-agent":
                if self.agent is not None and self.agent_phone is not None:
                    self.agent_phone.release(self.agent)
                    self.agent = None
            case "dial-caller":
                self.caller = self._watch_leg(self.ctx.phone, self.ctx.phone.dial(self.link.callback_number or self.number))
                self.caller_deadline = time.monotonic() + self.ctx.settings.callback_answer_timeout_s
                self.ringback = media.music_on_hold(RINGBACK, encoding="pcmu")
            case "notice":
                if action.arg == "voicemail":
                    self._play(self.ctx.queue(self.machine.queue).voicemail.prompt, "file:beep")
                else:
                    self._play(*NOTICES[action.arg])
            case "cancel":
                self._node("Cancel", interaction_pb2.CancelRequest(
                    interaction_id=self.machine.interaction_id, reason=action.arg), quiet=True)
            case "hangup":
                recording_id = self._store_conversation()
                party = interaction_pb2.HANGUP_PARTY_CALLER if action.arg == "CALLER" else interaction_pb2.HANGUP_PARTY_AGENT
                self._node("Hangup", interaction_pb2.HangupRequest(
                    interaction_id=self.machine.interaction_id, party=party, recording_id=recording_id), quiet=True)
            case "requeue":
                self._requeue(action.arg)
            case "request-callback":
                self._node("RequestCallback", interaction_pb2.RequestCallbackRequest(
                    interaction_id=self.machine.interaction_id), quiet=True)

    def _ivr(self) -> None:
        ivr = getattr(self.ctx.trunk, "ivr", None)  # the Trunk's menus (domain/ivr.py); None: the default queue
        if ivr is None:
            self.events.put(calls.IvrDone(queue=self.ctx.trunk.default_queue))
            return
        outcome = menus.run(self.caller, ivr, default_queue=self.ctx.trunk.default_queue, play=self._play_until)
        if outcome is None:
            return  # the caller hung up: the tick reports it
        self.ivr_steps = [interaction_pb2.IvrStep(menu=a.menu, digits=a.digits, at=_timestamp(a.at))
                          for a in outcome.answers]
        self.events.put(calls.IvrDone(queue=outcome.queue, wants=outcome.wants))

    def _node(self, method: str, request, *, quiet: bool = False):
        return self.link.request(method, request, quiet=quiet)

    def _enqueue(self, queue_name: str) -> None:
        request = interaction_pb2.EnqueueRequest(
            queue=queue_name, channel=common_pb2.CHANNEL_VOICE,
            caller=common_pb2.Caller(address=self.number, display_name=self.display_name),
            request_id=request_id(self.call_id, self.machine.agent_attempts), trunk=self.ctx.trunk.name,
            ivr=self.ivr_steps, arrived_at=_timestamp(self.arrived_at),
        )
        try:
            interaction = self._node("Enqueue", request)
        except links.REFUSALS as e:
            log.info("call %s: Enqueue refused: %s", self.call_id, links.refusal_code(e))
            self.events.put(calls.EnqueueRefused(links.refusal_code(e)))
            return
        self.events.put(calls.Enqueued(interaction.id))
        self.link.watch(interaction.id, self.events)

    def _requeue(self, reason: str) -> None:
        """The agent leg failed: the same interaction back in its queue; the watch and the hold music go on."""
        request = interaction_pb2.RequeueRequest(
            interaction_id=self.machine.interaction_id, reason=reason,
            request_id=request_id(self.call_id, self.machine.agent_attempts),
        )
        try:
            self._node("Requeue", request)
        except links.REFUSALS as e:
            log.info("call %s: Requeue refused: %s", self.call_id, links.refusal_code(e))
            self.events.put(calls.RequeueRefused(links.refusal_code(e)))

    def _dial_agent(self, uri: str) -> None:
        user, host, port = agent_endpoint(uri)
        self.agent_phone = self.ctx.agents.get(host, port)
        self.agent_was_up = False
        self.agent_deadline = time.monotonic() + self.ctx.settings.agent_answer_timeout_s
        self.agent = self._watch_leg(self.agent_phone, self.agent_phone.dial(user))
        self.agent_call_id = self.agent.call_id

    def _store_conversation(self) -> str:
        """The recorded conversation stored (encrypted), once; its recording id, or "" when none was recorded."""
        if self.conversation is None:
            return ""
        for leg in (engine_leg(self.caller), engine_leg(self.agent)):
            if leg is not None:
                leg.capture = None
        caller, agent = (bytes(channel) for channel in self.conversation)
        self.conversation = None
        recording_id = f"call-{request_id(self.call_id)}"
        seconds = audio.store_conversation(self.ctx.recordings, tenant=self.ctx.tenant, recording_id=recording_id,
                                           caller=caller, agent=agent)
        log.info("call %s: conversation recorded, %.1f s", self.call_id, seconds)
        return recording_id

    def _leave_voicemail(self) -> None:
        leg = engine_leg(self.caller)
        if leg is not None:
            leg.capture = None
        recorded = rtp.u8_from_ulaw(bytes(self.recording or b""))
        self.recording = None
        if self.ctx.recordings is None:
            log.warning("call %s: voicemail not stored: no CCP_RECORDINGS_KEY_FILE", self.call_id)
            return
        recording_id = f"vm-{request_id(self.call_id)}"
        seconds = audio.store_voicemail(self.ctx.recordings, tenant=self.ctx.tenant, recording_id=recording_id,
                                        audio=recorded)
        duration = duration_pb2.Duration()
        duration.FromNanoseconds(int(seconds * 1e9))
        self._node("LeaveVoicemail", interaction_pb2.LeaveVoicemailRequest(
            interaction_id=self.machine.interaction_id, recording_id=recording_id, duration=duration,
            request_id=f"{request_id(self.call_id)}-vm"), quiet=True)


def agent_endpoint(uri: str) -> tuple[str, str, int]:
    """(user, host, port) of an agent's SIP URI ("sip:alice@10.0.0.7:5060"; port 5060 when absent)."""
    match = re.match(r"^sips?:(?:([^@;>]+)@)?([^:;>]+)(?::(\d+))?", uri.strip().strip("<>"))
    if not match:
        raise ValueError("agent SIP URI is not sip:[user@]host[:port]")
    user, host, port = match.groups()
    return user or "agent", host, int(port or 5060)
