"""Generate the spoken prompts shipped in platform/ccp_acd/sip/prompts/ with espeak-ng (run once; the WAVs are committed).

Usage: python scripts/gen_prompts.py [--out DIR]

Needs the Debian package espeak-ng at generation time only: nodes and the SIP adapter read the committed
files. Each prompt is rendered at espeak-ng's rate, downsampled to 8 kHz mono 16-bit (the telephone rate,
what ``ccp_acd.sip.media`` reads without resampling) and trimmed of leading and trailing silence.
"""

from __future__ import annotations

import argparse
import array
import io
import subprocess
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "platform"))

from ccp_acd.sip.media import RATE, resample, tone  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "platform" / "ccp_acd" / "sip" / "prompts"

NUMBER_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]
SPOKEN = {
    **{str(n): word for n, word in enumerate(NUMBER_WORDS)},
    "you-are-number": "You are number",
    "in-the-queue": "in the queue.",
    "expected-wait": "Your expected wait is",
    "minutes": "minutes.",
    "minute": "minute.",
    "less-than-a-minute": "less than a minute.",
    "more-than-twenty-minutes": "more than twenty minutes.",
    "many-callers-ahead": "There are more than twenty callers ahead of you.",
    "please-hold": "Please hold, your call is important to us.",
    "welcome": "Welcome.",
    "main-menu": "For sales, press 1. For support, press 2. To leave a message, press 3. To be called back, press 4.",
    "invalid-choice": "Sorry, that is not a valid choice.",
    "leave-message": "Please leave a message after the tone. Hang up when you are done.",
    "callback": "Thank you. We will call you back. Goodbye.",
    "goodbye": "Thank you for calling. Goodbye.",
}
SILENCE_THRESHOLD = 300  # 16-bit amplitude below which espeak-ng's lead-in and tail count as silence


def speak(text: str) -> array.array:
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "--stdout", text], capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate, samples = w.getframerate(), array.array("h", w.readframes(w.getnframes()))
    samples = resample(samples, rate)
    loud = [i for i, s in enumerate(samples) if abs(s) > SILENCE_THRESHOLD]
    return samples[max(0, loud[0] - 80): loud[-1] + 160] if loud else samples


def write(path: Path, samples: array.array) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in SPOKEN.items():
        write(out / f"{name}.wav", speak(text))
    write(out / "beep.wav", tone(((1000,), 400)))
    print(f"wrote {len(SPOKEN) + 1} prompts into {out}")


if __name__ == "__main__":
    main()
