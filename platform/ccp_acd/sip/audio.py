"""Audio on a call leg, paced in 20 ms frames: continuous feeds (hold music, ringback), blocking prompts, and the
voicemail recording's storage. pyVoIP's format throughout: 8 kHz, 8-bit unsigned linear, 160 bytes a frame.

The pacing keeps a few frames ahead of real time: pyVoIP's RTP sender takes one frame every 20 ms from a buffer,
so writing faster only adds latency and writing slower leaves gaps.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Callable, Iterator

from pyVoIP.VoIP import CallState, VoIPCall

from ccp_acd.recordings import RecordingStore
from ccp_acd.sip import media

TICK_S = 0.02
AHEAD = 3  # frames written ahead of real time: a late tick leaves no gap


class Feed:
    """An endless source of frames written to a leg at the 20 ms pace."""

    def __init__(self, frames: Iterator[bytes]):
        self._frames = frames
        self.restart()

    def restart(self) -> None:
        self._started, self._sent = time.monotonic(), 0

    def pump(self, leg: VoIPCall, now: float) -> None:
        due = int((now - self._started) / TICK_S) + AHEAD
        while self._sent < due:
            leg.write_audio(next(self._frames))
            self._sent += 1


def play(leg: VoIPCall | None, frames: list[bytes], interrupted: Callable[[], bool] | None = None) -> None:
    """Play ``frames`` on ``leg`` and return when heard, early when the leg ends or ``interrupted()``."""
    if leg is None or leg.state != CallState.ANSWERED:
        return
    start = time.monotonic()
    for n, frame in enumerate(frames):
        if leg.state != CallState.ANSWERED or (interrupted is not None and interrupted()):
            return
        leg.write_audio(frame)
        time.sleep(max(0.0, start + (n - AHEAD) * TICK_S - time.monotonic()))
    time.sleep(max(0.0, start + len(frames) * TICK_S - time.monotonic()))


def store_voicemail(recordings: RecordingStore, *, tenant: str, recording_id: str, audio: bytes) -> float:
    """The caller's frames as an 8 kHz 8-bit WAV (unsigned, pyVoIP's own format), encrypted; its seconds."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(media.RATE)
        wav.writeframes(audio)
    recordings.write(tenant=tenant, recording_id=recording_id, source=[buffer.getvalue()])
    return len(audio) / media.RATE
