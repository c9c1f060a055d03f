"""Audio for the SIP adapter: prompts rendered to 8 kHz samples, framed for RTP, music on hold, announcements.

Pure apart from reading WAV files: no sockets, no pyVoIP. Samples are 16-bit signed mono at 8 kHz
(``array('h')``) until the last step, which produces 20 ms frames (160 samples) in one of two encodings:

- ``"u8"``: 8-bit unsigned linear PCM, what pyVoIP 1.6.8's ``VoIPCall.write_audio`` takes (its RTP
  client biases by -128 and converts to µ-law itself) and what ``read_audio`` returns;
- ``"pcmu"``: G.711 µ-law, the RTP payload itself (for an adapter writing RTP packets directly).

PCMU only: pyVoIP's PCMA sending is broken (it µ-law-encodes PCMA packets), so trunks offer PCMU alone.

Not for: timing (the adapter paces frames every 20 ms), nor mixing callers and agents.
"""

from __future__ import annotations

import array
import io
import math
import wave
from collections.abc import Iterator
from functools import lru_cache
from itertools import cycle
from pathlib import Path
from typing import Literal

from ccp_acd.sip.prompts import FilePrompt, Prompt, PromptError, TonePrompt, ToneSegment, parse_prompt, shipped

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: one RTP packet
AMPLITUDE = 8000     # per tone, about -12 dBFS: two summed tones stay well clear of clipping
MAX_SECONDS = 600    # a prompt file longer than ten minutes is a mistake (and memory)
GAP_MS = 150         # between the words of an announcement

Encoding = Literal["u8", "pcmu"]
SILENCE = {"u8": 0x80, "pcmu": 0xFF}

# Music on hold when a queue names none: a slow, quiet arpeggio (C major), looping; no file, no licence.
DEFAULT_MUSIC_ON_HOLD = "tone:523:400,659:400,784:400,1047:400,784:400,659:400,0:800"


class MediaError(ValueError):
    """Audio that cannot be played: the file and the reason (format, size), never a traceback from ``wave``."""


def tone(*segments: ToneSegment | tuple[tuple[int, ...], int]) -> array.array:
    """The samples of tone segments: each one or two summed sines (none: silence) for its milliseconds."""
    samples = array.array("h")
    for segment in segments:
        freqs, ms = (segment.freqs, segment.ms) if isinstance(segment, ToneSegment) else segment
        count = RATE * ms // 1000
        steps = [2 * math.pi * f / RATE for f in freqs]
        samples.extend(round(sum(AMPLITUDE * math.sin(step * n) for step in steps)) for n in range(count))
    return samples


def resample(samples: array.array, rate: int) -> array.array:
    """16-bit samples at ``rate`` to 8 kHz: averaging over each output sample's span (a crude low-pass
    that keeps speech intelligible), or linear interpolation up from a lower rate."""
    if rate == RATE:
        return array.array("h", samples)
    out_count = len(samples) * RATE // rate
    ratio = rate / RATE
    out = array.array("h")
    for i in range(out_count):
        start = i * ratio
        if ratio > 1:
            lo, hi = int(start), min(len(samples), max(int(start) + 1, int(start + ratio)))
            out.append(round(sum(samples[lo:hi]) / (hi - lo)))
        else:
            lo = int(start)
            hi = min(lo + 1, len(samples) - 1)
            frac = start - lo
            out.append(round(samples[lo] * (1 - frac) + samples[hi] * frac))
    return out


def load_wav(path: Path | str) -> array.array:
    """A PCM WAV file as 16-bit 8 kHz mono samples: 8- or 16-bit, mono or stereo (mixed down), any rate
    from 8 to 48 kHz (resampled). Anything else is a MediaError naming the file and what it is."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, count = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if width not in (1, 2):
                raise MediaError(f"{path}: {8 * width}-bit samples; write 16-bit (or 8-bit) PCM, 8 kHz mono")
            if not 8000 <= rate <= 48000:
                raise MediaError(f"{path}: {rate} Hz; the rate must be 8,000..48,000 Hz (8 kHz mono is best)")
            if channels not in (1, 2):
                raise MediaError(f"{path}: {channels} channels; write mono (or stereo, mixed down)")
            if count > MAX_SECONDS * rate:
                raise MediaError(f"{path}: {count / rate:.0f} s is longer than {MAX_SECONDS} s")
            raw = w.readframes(count)
    except (wave.Error, EOFError) as e:
        raise MediaError(f"{path}: not a PCM WAV file ({e})") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot be read ({e.strerror or e})") from None
    if width == 1:
        samples = array.array("h", ((b - 128) << 8 for b in raw))
    else:
        samples = array.array("h", raw[: len(raw) // 2 * 2])
    if channels == 2:
        samples = array.array("h", ((samples[i] + samples[i + 1]) // 2 for i in range(0, len(samples) - 1, 2)))
    return resample(samples, rate)


def wav_bytes(samples: array.array) -> bytes:
    """16-bit 8 kHz mono samples as a WAV file (a voicemail recording before encryption)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return out.getvalue()


@lru_cache(maxsize=256)
def render(prompt: str) -> array.array:
    """A prompt's samples (16-bit, 8 kHz, mono). Cached: the same prompt text renders once per process;
    callers must not modify the result. Raises PromptError or MediaError."""
    parsed: Prompt = parse_prompt(prompt)
    if isinstance(parsed, TonePrompt):
        return tone(*parsed.segments)
    assert isinstance(parsed, FilePrompt)
    return load_wav(parsed.path)


# G.711 µ-law as in the Sun reference implementation (g711.c), which CPython's audioop and so pyVoIP use:
# 14-bit magnitude, bias 0x21, segment from the bit length, bits inverted.
_BIAS, _CLIP = 0x84, 8159


def _ulaw(sample: int) -> int:
    pcm = sample >> 2
    mask = 0x7F if pcm < 0 else 0xFF
    pcm = min(abs(pcm), _CLIP) + (_BIAS >> 2)
    segment = max(0, pcm.bit_length() - 6)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((pcm >> (segment + 1)) & 0x0F)) ^ mask


def _linear(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + _BIAS) << ((byte >> 4) & 0x07)) - _BIAS
    return -magnitude if byte & 0x80 else magnitude


_ULAW_DECODE = array.array("h", (_linear(b) for b in range(256)))


def ulaw_encode(samples: array.array) -> bytes:
    return bytes(_ulaw(s) for s in samples)


def ulaw_decode(data: bytes) -> array.array:
    return array.array("h", (_ULAW_DECODE[b] for b in data))


def to_unsigned8(samples: array.array) -> bytes:
    """pyVoIP's ``write_audio`` format: 8-bit unsigned linear PCM (the high byte, biased by 128)."""
    return bytes((s >> 8) + 128 for s in samples)


def from_unsigned8(data: bytes) -> array.array:
    """pyVoIP's ``read_audio`` output (8-bit unsigned linear) as 16-bit samples, e.g. to record voicemail."""
    return array.array("h", ((b - 128) << 8 for b in data))


def encode(samples: array.array, encoding: Encoding) -> bytes:
    if encoding == "u8":
        return to_unsigned8(samples)
    if encoding == "pcmu":
        return ulaw_encode(samples)
    raise ValueError(f"encoding {encoding!r}: use 'u8' (pyVoIP write_audio) or 'pcmu' (RTP payload)")


def frames(samples: array.array, encoding: Encoding = "u8") -> list[bytes]:
    """20 ms frames of 160 bytes; the last one is padded with silence."""
    data = encode(samples, encoding)
    padding = -len(data) % FRAME_SAMPLES
    data += bytes([SILENCE[encoding]]) * padding
    return [data[i: i + FRAME_SAMPLES] for i in range(0, len(data), FRAME_SAMPLES)]


def prompt_frames(prompt: str, encoding: Encoding = "u8") -> list[bytes]:
    return frames(render(prompt), encoding)


def music_on_hold(prompt: str = "", encoding: Encoding = "u8") -> Iterator[bytes]:
    """Endless 20 ms frames of a queue's music on hold (its prompt looped; "" is DEFAULT_MUSIC_ON_HOLD).
    The prompt is rendered before the first frame, so a bad prompt fails here, not mid-call."""
    looped = prompt_frames(prompt or DEFAULT_MUSIC_ON_HOLD, encoding)
    if not looped:
        raise MediaError(f"{prompt!r} is empty")
    return cycle(looped)


MAX_SPOKEN_NUMBER = 20


def announcement(*, position: int | None = None, expected_wait_s: float | None = None) -> tuple[str, ...]:
    """The shipped prompts that say "you are number N in the queue, your expected wait is M minutes".

    ``position`` is 1-based (None: not said); above 20 the caller hears that more than twenty are ahead.
    ``expected_wait_s`` is rounded up to minutes (None or negative: not said); under a minute is said
    as such, above twenty minutes as "more than twenty minutes". Nothing to say: an empty tuple.
    """
    parts: list[str] = []
    if position is not None and position >= 1:
        if position <= MAX_SPOKEN_NUMBER:
            parts += ["you-are-number", str(position), "in-the-queue"]
        else:
            parts += ["many-callers-ahead"]
    if expected_wait_s is not None and expected_wait_s >= 0:
        minutes = math.ceil(expected_wait_s / 60)
        parts.append("expected-wait")
        if expected_wait_s < 60:
            parts.append("less-than-a-minute")
        elif minutes > MAX_SPOKEN_NUMBER:
            parts.append("more-than-twenty-minutes")
        else:
            parts += [str(minutes), "minute" if minutes == 1 else "minutes"]
    return tuple(shipped(p) for p in parts)


def concatenate(prompts: tuple[str, ...] | list[str], gap_ms: int = GAP_MS) -> array.array:
    """Prompts one after another with ``gap_ms`` of silence between them."""
    out = array.array("h")
    gap = array.array("h", bytes(2 * RATE * gap_ms // 1000))
    for index, prompt in enumerate(prompts):
        if index:
            out.extend(gap)
        out.extend(render(prompt))
    return out


def announcement_frames(
    *, position: int | None = None, expected_wait_s: float | None = None, encoding: Encoding = "u8"
) -> list[bytes]:
    return frames(concatenate(announcement(position=position, expected_wait_s=expected_wait_s)), encoding)


__all__ = [
    "DEFAULT_MUSIC_ON_HOLD", "FRAME_SAMPLES", "RATE", "MediaError", "PromptError", "announcement", "announcement_frames",
    "concatenate", "encode", "frames", "from_unsigned8", "load_wav", "music_on_hold", "parse_prompt", "prompt_frames",
    "render", "resample", "to_unsigned8", "tone", "ulaw_decode", "ulaw_encode", "wav_bytes",
]
