"""Prompts played to a call leg in 20 ms frames, and the voicemail recording's storage. pyVoIP's format
throughout: 8 kHz, 8-bit unsigned linear, 160 bytes a frame. (Looping media, hold music and ringback, is the RTP
leg's ``source``: see ``rtp``.)

The pacing keeps a few frames ahead of real time: the leg's RTP sends one queued frame every 20 ms, so writing
faster only adds latency and writing slower leaves gaps.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Callable

from pyVoIP.VoIP import CallState, VoIPCall

from ccp_acd.recordings import RecordingStore
from ccp_acd.sip import media

TICK_S = 0.02
AHEAD = 3  # frames written ahead of real time: a late tick leaves no gap


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
