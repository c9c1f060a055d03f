"""Prompts and media for the SIP adapter: prompt text parsed or refused precisely, tones at their frequencies,
WAV files loaded (or refused naming the file), 20 ms frames in pyVoIP's and RTP's formats, music on hold
that never ends, and announcements composed from the shipped spoken prompts."""

from __future__ import annotations

import array
import math
import wave
from itertools import islice
from pathlib import Path

import pytest
from ccp_acd.sip import media
from ccp_acd.sip.prompts import (
    PROMPT_PATTERN,
    SHIPPED_DIR,
    FilePrompt,
    PromptError,
    TonePrompt,
    ToneSegment,
    parse_prompt,
    shipped_names,
)


def _goertzel_power(samples, freq: float) -> float:
    """Relative power of ``freq`` in ``samples`` (one DFT bin, Goertzel's recurrence), normalised by length."""
    coeff = 2 * math.cos(2 * math.pi * freq / media.RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / len(samples) ** 2


def _zero_crossings(samples) -> int:
    return sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))


def _write_wav(path: Path, samples: list[int], *, rate=8000, width=2, channels=1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 1:
            w.writeframes(bytes((s >> 8) + 128 for s in samples))
        else:
            w.writeframes(array.array("h", samples).tobytes())
    return path


# ---------------------------------------------------------------- prompt text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tone:440:500", TonePrompt((ToneSegment((440,), 500),))),
        ("tone:440+480:2000,0:4000", TonePrompt((ToneSegment((440, 480), 2000), ToneSegment((), 4000)))),
        ("file:beep", FilePrompt(SHIPPED_DIR / "beep.wav", shipped=True)),
        ("file:beep.wav", FilePrompt(SHIPPED_DIR / "beep.wav", shipped=True)),
        ("file:/srv/prompts/hello.wav", FilePrompt(Path("/srv/prompts/hello.wav"), shipped=False)),
    ],
)
def test_prompts_parse_into_tones_or_files(text, expected):
    assert parse_prompt(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("beep", "is not a prompt"),
        ("tone:", "is not a prompt"),
        ("tone:440", "is not a prompt"),
        ("tone:440+480+620:100", "is not a prompt"),
        ("tone:440:100,", "is not a prompt"),
        ("file:../etc/passwd", "is not a prompt"),
        ("file:Beep", "is not a prompt"),
        ("tone:4000:100", "segment 1: 4000 Hz is outside 50..3900 Hz"),
        ("tone:440:100,20:100", "segment 2: 20 Hz is outside"),
        ("tone:440:0", "segment 1: 0 ms is outside 1..60000 ms"),
        ("tone:440:99999", "99999 ms is outside"),
        ("file:no-such-prompt", "no shipped prompt 'no-such-prompt'; shipped: 0, 1,"),
        ("file:/srv/prompts/hello.mp3", "is not a .wav file"),
    ],
)
def test_wrong_prompts_are_refused_saying_what_is_wrong(text, problem):
    with pytest.raises(PromptError) as refused:
        parse_prompt(text)
    assert problem in str(refused.value)


def test_the_prompt_pattern_is_the_one_the_parser_applies():
    """The CRD carries PROMPT_PATTERN; a text it accepts either parses or fails on a range, never on syntax."""
    import re

    assert re.fullmatch(PROMPT_PATTERN, "tone:440+480:2000,0:4000")
    assert not re.fullmatch(PROMPT_PATTERN, "tone:440:100;rm -rf")


def test_the_shipped_prompts_are_8khz_mono_16bit_and_small():
    names = shipped_names()
    spoken = {str(n) for n in range(21)} | {
        "you-are-number", "in-the-queue", "expected-wait", "minutes", "minute", "less-than-a-minute",
        "more-than-twenty-minutes", "many-callers-ahead", "please-hold", "main-menu", "leave-message", "callback", "beep",
    }
    assert spoken <= set(names)
    total = 0
    for name in names:
        path = SHIPPED_DIR / f"{name}.wav"
        with wave.open(str(path)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000), name
            assert 0.2 < w.getnframes() / 8000 < 15, name
        total += path.stat().st_size
    assert total < 1_000_000


def test_the_shipped_prompts_are_packaged():
    pyproject = (SHIPPED_DIR.parents[3] / "pyproject.toml").read_text()
    assert '"ccp_acd.sip" = ["prompts/*.wav"]' in pyproject


# ---------------------------------------------------------------- tones


@pytest.mark.parametrize("freq", [440, 1000, 2600])
def test_a_tone_has_its_frequency_and_length(freq):
    samples = media.tone(((freq,), 1000))
    assert len(samples) == 8000
    # A sine of f Hz crosses zero 2f times a second.
    assert abs(_zero_crossings(samples) - 2 * freq) <= 2
    assert max(samples) <= media.AMPLITUDE and min(samples) >= -media.AMPLITUDE


def test_a_dual_tone_has_both_frequencies_and_nothing_between():
    ringback = media.render("tone:440+480:2000,0:4000")
    assert len(ringback) == 6 * 8000
    ringing, silence = ringback[:16000], ringback[16000:]
    power = {f: _goertzel_power(ringing, f) for f in (440, 480, 350, 620, 1000)}
    assert power[440] > 100 * power[350] and power[480] > 100 * power[620]
    assert power[440] > 100 * power[1000]
    assert set(silence) == {0}


def test_silence_is_zero_samples():
    assert media.tone(((), 20)) == array.array("h", [0] * 160)


# ---------------------------------------------------------------- WAV files


def test_a_shipped_prompt_renders_to_speech_length_samples():
    samples = media.render("file:please-hold")
    assert 1.5 < len(samples) / 8000 < 6
    assert max(abs(s) for s in samples) > 3000  # it is not silence


def test_an_8khz_mono_wav_loads_sample_for_sample(tmp_path):
    samples = [0, 1000, -1000, 32767, -32768, 5]
    assert list(media.load_wav(_write_wav(tmp_path / "a.wav", samples))) == samples


def test_other_rates_widths_and_stereo_are_converted(tmp_path):
    one_khz_at_16k = [round(8000 * math.sin(2 * math.pi * 1000 * n / 16000)) for n in range(16000)]
    down = media.load_wav(_write_wav(tmp_path / "16k.wav", one_khz_at_16k, rate=16000))
    assert len(down) == 8000 and abs(_zero_crossings(down) - 2000) <= 4
    eight_bit = media.load_wav(_write_wav(tmp_path / "u8.wav", [0, 256, -256, 32512], width=1))
    assert list(eight_bit) == [0, 256, -256, 32512]
    stereo = media.load_wav(_write_wav(tmp_path / "st.wav", [100, 300, -100, -300], channels=2))
    assert list(stereo) == [200, -200]


def test_resampling_up_interpolates_and_a_wav_below_8khz_is_refused(tmp_path):
    up = media.resample(array.array("h", [0, 1000] * 2000), 4000)
    assert len(up) == 8000 and list(up[:4]) == [0, 500, 1000, 500]
    with pytest.raises(media.MediaError, match="4000 Hz; the rate must be 8,000..48,000 Hz"):
        media.load_wav(_write_wav(tmp_path / "4k.wav", [0, 1000] * 2000, rate=4000))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: _write_wav(p, [0] * 10, width=3), "24-bit samples"),
        (lambda p: _write_wav(p, [0] * 10, rate=96000), "96000 Hz"),
        (lambda p: _write_wav(p, [0] * 12, channels=3), "3 channels"),
        (lambda p: p.write_bytes(b"ID3 not a wave file at all"), "not a PCM WAV file"),
        (lambda p: p, "cannot be read"),
    ],
)
def test_unplayable_wavs_are_refused_naming_the_file(tmp_path, make, problem):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(media.MediaError) as refused:
        media.load_wav(path)
    assert str(path) in str(refused.value) and problem in str(refused.value)


def test_a_recording_round_trips_through_wav_bytes(tmp_path):
    samples = media.tone(((700,), 300))
    (tmp_path / "r.wav").write_bytes(media.wav_bytes(samples))
    assert media.load_wav(tmp_path / "r.wav") == samples


# ---------------------------------------------------------------- encodings and frames


@pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning")
def test_pcmu_is_bit_exact_with_the_g711_reference_pyvoip_uses():
    import audioop  # the reference (CPython's g711); removed in 3.13, which is why media.py has its own

    every = array.array("h", range(-32768, 32768))
    assert media.ulaw_encode(every) == audioop.lin2ulaw(every.tobytes(), 2)
    assert media.ulaw_decode(bytes(range(256))).tobytes() == audioop.ulaw2lin(bytes(range(256)), 2)
    # pyVoIP's write_audio path: 8-bit unsigned in, bias -128, lin2ulaw of width 1.
    u8 = media.to_unsigned8(every)
    assert audioop.lin2ulaw(audioop.bias(u8, 1, -128), 1) == media.ulaw_encode(media.from_unsigned8(u8))


def test_unsigned8_is_the_high_byte_biased_by_128():
    assert media.to_unsigned8(array.array("h", [0, 32767, -32768, 256, -256])) == bytes([128, 255, 0, 129, 127])
    assert list(media.from_unsigned8(bytes([128, 255, 0]))) == [0, 32512, -32768]


@pytest.mark.parametrize(("encoding", "silence"), [("u8", 0x80), ("pcmu", 0xFF)])
def test_frames_are_20ms_of_160_bytes_padded_with_silence(encoding, silence):
    frames = media.frames(media.tone(((440,), 50)), encoding)  # 400 samples: 2.5 frames
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[2][80:] == bytes([silence]) * 80 and frames[2][:80] != bytes([silence]) * 80


def test_an_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="'pcma'"):
        media.frames(media.tone(((440,), 20)), "pcma")  # type: ignore[arg-type]


def test_music_on_hold_never_ends_and_repeats_its_prompt():
    pattern = media.prompt_frames("tone:600:100,0:100")  # 10 frames
    frames = list(islice(media.music_on_hold("tone:600:100,0:100"), 35))
    assert len(frames) == 35 and all(len(f) == 160 for f in frames)
    assert frames[:10] == pattern and frames[10:20] == pattern and frames[30:35] == pattern[:5]


def test_music_on_hold_defaults_and_a_bad_prompt_fails_before_the_first_frame():
    assert len(next(media.music_on_hold(""))) == 160
    with pytest.raises(PromptError):
        media.music_on_hold("file:no-such-music")


# ---------------------------------------------------------------- announcements


@pytest.mark.parametrize(
    ("position", "wait", "said"),
    [
        (1, 30, ["you-are-number", "1", "in-the-queue", "expected-wait", "less-than-a-minute"]),
        (3, 125, ["you-are-number", "3", "in-the-queue", "expected-wait", "3", "minutes"]),
        (20, 60, ["you-are-number", "20", "in-the-queue", "expected-wait", "1", "minute"]),
        (21, 1200, ["many-callers-ahead", "expected-wait", "20", "minutes"]),
        (7, 1201, ["you-are-number", "7", "in-the-queue", "expected-wait", "more-than-twenty-minutes"]),
        (None, 600, ["expected-wait", "10", "minutes"]),
        (2, None, ["you-are-number", "2", "in-the-queue"]),
        (None, None, []),
        (0, -1, []),
    ],
)
def test_announcements_say_position_and_wait_in_shipped_words(position, wait, said):
    assert media.announcement(position=position, expected_wait_s=wait) == tuple(f"file:{p}" for p in said)


def test_an_announcement_is_its_words_with_gaps_between():
    words = media.announcement(position=3, expected_wait_s=125)
    audio = media.concatenate(words)
    gaps = (len(words) - 1) * 8000 * media.GAP_MS // 1000
    assert len(audio) == sum(len(media.render(w)) for w in words) + gaps
    frames = media.announcement_frames(position=3, expected_wait_s=125, encoding="pcmu")
    assert len(frames) == math.ceil(len(audio) / 160) and all(len(f) == 160 for f in frames)
