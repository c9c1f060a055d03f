"""What a call's legs hear, and the capture of what they say, as its session decides them: hold music (and the
queue's announcements over it), ringback, prompts and notices played to the caller, the two legs bridged, and
both legs captured while the queue records its calls.

Not for: rendering audio (``media``), pacing it or storing recordings (``audio``), sending RTP (``rtp``: the session
only assigns a leg's ``source``, ``relay`` and ``capture``, which the engine reads every 20 ms), nor deciding when
(``calls.step``). Prompts are played in the session's thread and block it until heard or the leg ends.
"""

from __future__ import annotations

from ccp_acd.sip import audio, media, rtp
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.legs import engine_leg

GOODBYE = "file:goodbye"
RINGBACK = "tone:440+480:2000,0:4000"
# What the caller hears before being released (busy: the queue refused the call; sorry: something failed).
NOTICES = {
    "busy": ("tone:480+620:500,0:500,480+620:500,0:500,480+620:500,0:500", GOODBYE),
    "sorry": ("tone:950:330,1400:330,1800:330,0:300", GOODBYE),
    "callback": ("file:callback", GOODBYE),
}


class CallMedia:
    """The media of ``sessions.Session`` (a mixin: it reads the session's ``ctx``, ``machine``, ``caller``,
    ``agent``, ``hold``, ``ringback``, ``last_update`` and ``next_announcement``, and sets ``next_announcement`` and
    ``conversation``)."""

    def _media(self, now: float) -> None:
        """What each leg's RTP sends in this phase (idempotent: assignments the engine reads every 20 ms)."""
        phase = self.machine.phase
        caller, agent = engine_leg(self.caller), engine_leg(self.agent)
        if phase is Phase.BRIDGED and caller is not None and agent is not None:
            if caller.relay is not agent:
                rtp.bridge(caller, agent)
            return
        if caller is not None and caller.relay is not None:
            rtp.unbridge(caller)
        # Hold music also while the agent's phone rings and after a failed agent leg (queued again): never silence.
        holding = phase in (Phase.QUEUED, Phase.DIALING_AGENT, Phase.QUEUING)
        if caller is not None:
            caller.source = self.hold if holding else None
            every = self.ctx.queue(self.machine.queue).announcements.every_s
            if holding and phase is Phase.QUEUED and every and now >= self.next_announcement:
                self.next_announcement = now + every
                self._announce()  # written ahead of the hold music, which goes on after it
        if agent is not None:  # the agent hears ringback while the caller's phone rings (callback)
            agent.source = self.ringback if phase is Phase.DIALING_CALLER else None

    def _play_until(self, prompt: str, interrupted) -> None:
        self._send(media.prompt_frames(prompt), interrupted)

    def _play(self, *prompts: str) -> None:
        """Play ``prompts`` to the caller, paced; returns early when the caller hangs up."""
        self._send(media.frames(media.concatenate(list(prompts))))

    def _announce(self) -> None:
        update, config = self.last_update, self.ctx.queue(self.machine.queue).announcements
        if update is None:
            return
        self._send(media.announcement_frames(
            position=update.position or None if config.position else None,
            expected_wait_s=update.expected_wait_s if config.expected_wait else None,
        ))

    def _send(self, frames: list[bytes], interrupted=None) -> None:
        # To the caller; in a callback whose caller never answered, to the agent waiting for them.
        audio.play(self.caller if self.caller is not None else self.agent, frames, interrupted)

    def _record_conversation(self) -> None:
        """Capture both legs when the queue records its calls (``QueueConfig.record_calls``)."""
        caller, agent = engine_leg(self.caller), engine_leg(self.agent)
        if caller is None or agent is None or self.ctx.recordings is None:
            return
        if self.ctx.queue(self.machine.queue).record_calls:
            self.conversation = (bytearray(), bytearray())
            caller.capture, agent.capture = self.conversation
