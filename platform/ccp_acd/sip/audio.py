"""Prompts played to a call leg in 20 ms frames, and the storage of voicemail and call recordings. Prompts are in
pyVoIP's format: 8 kHz, 8-bit unsigned linear, 160 bytes a frame. (Looping media, hold music and ringback, is the RTP
leg's ``source``: see ``rtp``.)

The pacing keeps a few frames ahead of real time: the leg's RTP sends one queued frame every 20 ms, so writing
faster only adds latency and writing slower leaves gaps.
"""

from __future__ import annotations

import io
import time
import warnings
import wave
from collections.abc import Callable

from pyVoIP.VoIP import CallState, VoIPCall

from ccp_acd.recordings import RecordingStore
from ccp_acd.sip import media

with warnings.catch_warnings():  # deprecated since 3.11, gone in 3.13; pyVoIP 1.6.8 needs it anyway
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

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
    recordings.write(tenant=tenant, recording_id=recording_id, source=[_wav(audio, channels=1, width=1)])
    return len(audio) / media.RATE


def conversation_wav(caller: bytes, agent: bytes) -> bytes:
    """Both parties' PCMU payloads as received, as a 16-bit stereo WAV at 8 kHz: the caller left, the agent right,
    each from the bridge's start (a party's lost packets shorten its channel; the shorter one ends in silence)."""
    left, right = audioop.ulaw2lin(caller, 2), audioop.ulaw2lin(agent, 2)
    length = max(len(left), len(right))
    left, right = left.ljust(length, b"\0"), right.ljust(length, b"\0")
    stereo = audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)
    return _wav(stereo, channels=2, width=2)


def store_conversation(recordings: RecordingStore, *, tenant: str, recording_id: str, caller: bytes,
                       agent: bytes) -> float:
    """``conversation_wav``, encrypted; its seconds."""
    recordings.write(tenant=tenant, recording_id=recording_id, source=[conversation_wav(caller, agent)])
    return max(len(caller), len(agent)) / media.RATE


def _wav(frames: bytes, *, channels: int, width: int) -> bytes:
    """``frames`` as a WAV file at 8 kHz."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(media.RATE)
        wav.writeframes(frames)
    return buffer.getvalue()
