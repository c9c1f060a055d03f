"""A call's legs as its session sees them: each tick, their SIP and RTP state turned into ``calls`` events (caller
answered or hung up, agent answered, busy or unanswered, our 200 never ACKed, RTP stopped), and the legs given up
on released (CANCEL or BYE).

Not for: what an event leads to (``calls.step``), what the legs hear (``call_media``), nor the SIP transactions
themselves (``phones``, ``signalling``). Runs in the session's thread; the legs' states are set by pyVoIP's receive
thread, so a check may see a state one datagram old: the next tick, or the nudge that datagram sends, sees it.
"""

from __future__ import annotations

import logging

from pyVoIP.VoIP import CallState, VoIPCall

from ccp_acd.sip import calls, rtp
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.phones import AdapterPhone

log = logging.getLogger(__name__)

# How long the carrier has to ACK our 200 (64 * T1, RFC 3261 section 13.3.1.4): without the ACK the caller is gone
# (its INVITE transaction gave up before we answered, as under overload) and the call ends as a caller hang-up.
ACK_WAIT_S = 32.0


class LegWatch:
    """The leg checks of ``sessions.Session`` (a mixin: it reads and sets the session's ``ctx``, ``call_id``,
    ``machine``, ``events``, ``caller``, ``caller_deadline``, ``awaiting_ack_until``, ``agent``, ``agent_phone``,
    ``agent_call_id``, ``agent_deadline``, ``agent_was_up``, ``recording``, ``recording_started``, ``watched`` and
    ``nudge``)."""

    def _watch_leg(self, phone: AdapterPhone, call: VoIPCall) -> VoIPCall:
        phone.wakers[call.call_id] = self.nudge
        self.watched.append((phone, call.call_id))
        return call

    def _observe_legs(self, now: float) -> None:
        phase = self.machine.phase
        if self.caller is not None and self.caller.state == CallState.ENDED:
            if phase is Phase.DIALING_CALLER:
                self.caller = None
                self.events.put(calls.CallerUnreachable("caller did not answer"))
            else:
                self.caller = None
                self.events.put(calls.CallerHungUp())
        elif phase is Phase.DIALING_CALLER and self.caller is not None and self.caller.state == CallState.ANSWERED:
            self.events.put(calls.CallerAnswered())
        elif phase is Phase.DIALING_CALLER and self.caller is not None and now > self.caller_deadline:
            self.ctx.phone.release(self.caller)  # CANCEL
            self.caller = None
            self.events.put(calls.CallerUnreachable("caller did not answer"))
        elif self.awaiting_ack_until and self.caller is not None and self.caller.call_id == self.call_id:
            if self.call_id in self.ctx.phone.acked:
                self.awaiting_ack_until = 0.0
            elif now > self.awaiting_ack_until:
                log.info("call %s: the caller never ACKed our 200 in %g s: ended as a caller hang-up", self.call_id,
                         ACK_WAIT_S)
                self.awaiting_ack_until = 0.0
                self.ctx.phone.release(self.caller)  # BYE
                self.caller = None
                self.events.put(calls.CallerHungUp())
        if self.agent is not None and phase in (Phase.DIALING_AGENT, Phase.DIALING_CALLER, Phase.BRIDGED):
            state = self.agent.state
            if state == CallState.ANSWERED and not self.agent_was_up:
                self.agent_was_up = True
                self.events.put(calls.AgentAnswered())
            elif state == CallState.ENDED:
                self.agent = None
                if self.agent_was_up:
                    self.events.put(calls.AgentHungUp())
                else:
                    status = self.agent_phone.failures.pop(self.agent_call_id, 0)
                    self.events.put(calls.AgentFailed(f"agent-leg-{status or 'ended'}"))
            elif state == CallState.DIALING and now > self.agent_deadline:
                log.info("call %s: agent leg unanswered after %g s: CANCEL", self.call_id,
                         self.ctx.settings.agent_answer_timeout_s)
                self.agent_phone.release(self.agent)
                self.agent = None
                self.events.put(calls.AgentFailed("agent-no-answer"))
        if phase is Phase.BRIDGED and self.ctx.settings.rtp_timeout_s:
            self._media_timeout(now)
        if phase is Phase.VOICEMAIL and self.recording is not None:
            limit = min(self.ctx.settings.voicemail_max_s, self.ctx.queue(self.machine.queue).voicemail.max_s)
            if now - self.recording_started >= limit:
                self.events.put(calls.RecordingDone())

    def _media_timeout(self, now: float) -> None:
        """A bridged party whose RTP stopped for ``rtp_timeout_s`` is gone (no BYE will come): BYE, its hang-up."""
        limit = self.ctx.settings.rtp_timeout_s
        caller, agent = engine_leg(self.caller), engine_leg(self.agent)
        if caller is not None and now - caller.last_received > limit:
            log.info("call %s: no RTP from the caller for %g s: ended as a caller hang-up", self.call_id, limit)
            self.ctx.phone.release(self.caller)  # BYE
            self.caller = None
            self.events.put(calls.CallerHungUp())
        elif agent is not None and self.agent_phone is not None and now - agent.last_received > limit:
            log.info("call %s: no RTP from the agent's phone for %g s: ended as an agent hang-up", self.call_id, limit)
            self.agent_phone.release(self.agent)  # BYE
            self.agent = None
            self.events.put(calls.AgentHungUp())


def engine_leg(call: VoIPCall | None) -> rtp.EngineLeg | None:
    """The RTP leg of a call whose media is up (the adapter's phones make ``rtp.EngineLeg``s)."""
    if call is None or not call.RTPClients:
        return None
    leg = call.RTPClients[0]
    return leg if isinstance(leg, rtp.EngineLeg) else None
