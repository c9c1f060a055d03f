"""Media files the sipp scenarios play: a PCMU tone as an RTP pcap (sipp ships only a PCMA one, and the adapter
offers PCMU only), written at test time so no binary sits in the repository.

Pure file writing; no sockets. The pcap holds Ethernet/IPv4/UDP/RTP frames as sipp's ``play_pcap_audio`` reads
them (it rewrites addresses and ports, keeps payload type, sequence and timing).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

PCMU = 0
SAMPLE_RATE = 8000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000


def _linear_to_ulaw(sample: int) -> int:
    """G.711 mu-law of one 16-bit linear sample (ITU-T G.711, the usual bias-and-segment form)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if magnitude & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    else:
        exponent = 0
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_ulaw(*, seconds: float, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """``seconds`` of a sine tone as PCMU bytes."""
    count = int(seconds * SAMPLE_RATE)
    return bytes(_linear_to_ulaw(int(amplitude * math.sin(2 * math.pi * hz * n / SAMPLE_RATE))) for n in range(count))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, *, sport: int = 6000, dport: int = 6002) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ip_header = ip_header[:10] + struct.pack("!H", _checksum(ip_header)) + ip_header[12:]
    ethernet = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip_header + udp


def write_rtp_pcap(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """Write RTP packets, each (seconds from the start, RTP bytes), as a pcap ``play_pcap_audio`` can play."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
    for at, rtp in packets:
        frame = _frame(rtp)
        micros = int(at * 1_000_000)
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


def rtp_packet(*, payload_type: int, seq: int, timestamp: int, payload: bytes, marker: bool = False,
               ssrc: int = 0x5EED) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type | (0x80 if marker else 0), seq & 0xFFFF, timestamp & 0xFFFFFFFF,
                       ssrc) + payload


DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def caller_packets(*, digits: str = "", first_digit_s: float = 1.5, digit_gap_s: float = 0.6,
                   talk_s: float = 3.0, payload_type_dtmf: int = 101) -> list[tuple[float, bytes]]:
    """What a caller sends: a 440 Hz tone throughout, with each digit as RFC 2833 events (marker on the first
    packet, end bit on the last three, as phones send them) at ``first_digit_s`` and every ``digit_gap_s`` after,
    then ``talk_s`` more seconds of tone."""
    total_s = (first_digit_s + len(digits) * digit_gap_s if digits else 0.0) + talk_s
    audio = tone_ulaw(seconds=total_s, hz=440.0)
    events: dict[int, str] = {}
    for n, digit in enumerate(digits):
        events[int((first_digit_s + n * digit_gap_s) * 1000 / FRAME_MS)] = digit
    packets: list[tuple[float, bytes]] = []
    seq = 0
    frame = 0
    frames = len(audio) // SAMPLES_PER_FRAME
    while frame < frames:
        at = frame * FRAME_MS / 1000
        if frame in events:
            # one event lasts 8 frames (160 ms), timestamp fixed at its start, duration growing
            start_ts = frame * SAMPLES_PER_FRAME
            for step in range(8):
                end = step >= 5
                payload = struct.pack("!BBH", DTMF_EVENTS[events[frame]], (0x80 if end else 0) | 10,
                                      (step + 1) * SAMPLES_PER_FRAME)
                packets.append((at + min(step, 5) * FRAME_MS / 1000 + (0.001 * (step - 5) if end else 0),
                                rtp_packet(payload_type=payload_type_dtmf, seq=seq, timestamp=start_ts, payload=payload,
                                           marker=step == 0)))
                seq += 1
            frame += 6
            continue
        chunk = audio[frame * SAMPLES_PER_FRAME:(frame + 1) * SAMPLES_PER_FRAME]
        packets.append((at, rtp_packet(payload_type=PCMU, seq=seq, timestamp=frame * SAMPLES_PER_FRAME, payload=chunk)))
        seq += 1
        frame += 1
    return packets


def ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if sign else magnitude


def tone_power(ulaw: bytes, hz: float) -> float:
    """Goertzel power of ``hz`` in PCMU audio, normalised by length (0 for silence): tells a tone from others."""
    return linear_tone_power([ulaw_to_linear(b) for b in ulaw], hz)


def linear_tone_power(samples: list[int], hz: float) -> float:
    """``tone_power`` of 16-bit linear samples at 8 kHz."""
    if not samples:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * hz / SAMPLE_RATE)
    prev, prev2 = 0.0, 0.0
    for sample in samples:
        prev, prev2 = sample + coefficient * prev - prev2, prev
    return (prev2 ** 2 + prev ** 2 - coefficient * prev * prev2) / len(samples) ** 2
