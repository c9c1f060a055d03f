"""What a prompt is: the text users write in Trunk and Queue specs, parsed and checked. Pure, stdlib only.

A prompt is either generated tones or a WAV file:

- ``tone:<freq>[+<freq>]:<ms>[,<freq>[+<freq>]:<ms>...]``: segments of one or two summed sine tones
  (frequencies in Hz, 0 = silence; below 3,900 Hz, the 8 kHz telephone rate's limit) lasting ``ms``
  milliseconds each; e.g. the North American ringback ``tone:440+480:2000,0:4000``.
- ``file:<name>``: a prompt shipped with the project (``platform/ccp_acd/sip/prompts/<name>.wav``), or
  ``file:/absolute/path.wav`` on the SIP adapter's filesystem (mounted by the operator's user).

Used by the operator (spec validation: ``kubectl apply`` checks ``PROMPT_PATTERN``, the operator also
checks ranges and that a shipped name exists) and by ``ccp_acd.sip.media`` (rendering). Not for: audio;
an absolute path is only checked when the adapter loads it (the operator cannot see that filesystem).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "prompts"

_SEGMENT = r"[0-9]{1,4}(\+[0-9]{1,4})?:[0-9]{1,5}"
_SHIPPED_NAME = r"[a-z0-9][a-z0-9-]{0,62}"
MAX_SEGMENTS = 32
# One pattern for the CRD (the API server) and the spec (pydantic): both RE2-compatible.
_TONES = rf"tone:{_SEGMENT}(,{_SEGMENT}){{0,{MAX_SEGMENTS - 1}}}"
_FILE = rf"file:(/[^\x00]{{1,255}}|{_SHIPPED_NAME}(\.wav)?)"
PROMPT_PATTERN = rf"^({_TONES}|{_FILE})$"

MAX_TONE_HZ = 3900       # below 4,000 Hz, the Nyquist limit at 8 kHz
MIN_TONE_HZ = 50         # lower is inaudible on a telephone line, and likely a typo
MAX_SEGMENT_MS = 60_000  # a minute; longer patterns repeat (music on hold loops)


class PromptError(ValueError):
    """A prompt that cannot be played; the message says which part is wrong and what is allowed."""


@dataclass(frozen=True)
class ToneSegment:
    freqs: tuple[int, ...]  # () is silence
    ms: int


@dataclass(frozen=True)
class TonePrompt:
    segments: tuple[ToneSegment, ...]

    @property
    def ms(self) -> int:
        return sum(s.ms for s in self.segments)


@dataclass(frozen=True)
class FilePrompt:
    path: Path
    shipped: bool


Prompt = TonePrompt | FilePrompt


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.wav"))


def shipped(name: str) -> str:
    """The prompt text of a shipped prompt: ``shipped("beep") == "file:beep"``."""
    return f"file:{name}"


def _segment(text: str, index: int) -> ToneSegment:
    freqs_text, _, ms_text = text.partition(":")
    freqs = tuple(int(f) for f in freqs_text.split("+"))
    ms = int(ms_text)
    for freq in freqs:
        if freq != 0 and not MIN_TONE_HZ <= freq <= MAX_TONE_HZ:
            raise PromptError(
                f"tone segment {index + 1}: {freq} Hz is outside {MIN_TONE_HZ}..{MAX_TONE_HZ} Hz (0 is silence)"
            )
    if not 1 <= ms <= MAX_SEGMENT_MS:
        raise PromptError(f"tone segment {index + 1}: {ms} ms is outside 1..{MAX_SEGMENT_MS} ms")
    return ToneSegment(tuple(f for f in freqs if f), ms)


def parse_prompt(text: str) -> Prompt:
    """The prompt ``text`` means; PromptError says what is wrong (the syntax, a range, a shipped name)."""
    if not isinstance(text, str) or not re.fullmatch(PROMPT_PATTERN, text):
        raise PromptError(
            f"{text!r} is not a prompt: write tone:<freq>[+<freq>]:<ms>[,...] (e.g. tone:440+480:2000,0:4000)"
            " or file:<shipped name> or file:/absolute/path.wav"
        )
    kind, _, rest = text.partition(":")
    if kind == "tone":
        return TonePrompt(tuple(_segment(part, i) for i, part in enumerate(rest.split(","))))
    if rest.startswith("/"):
        if not rest.endswith(".wav"):
            raise PromptError(f"{rest!r} is not a .wav file")
        return FilePrompt(Path(rest), shipped=False)
    name = rest.removesuffix(".wav")
    path = SHIPPED_DIR / f"{name}.wav"
    if not path.is_file():
        raise PromptError(f"no shipped prompt {name!r}; shipped: {', '.join(shipped_names())}")
    return FilePrompt(path, shipped=True)
