"""An RTP tap: a UDP socket on 127.0.0.1 whose port a sipp scenario offers in its SDP (``-key rtp_port``), so
the test hears what the platform sends that party. It records every packet (arrival time, payload type, payload);
``audio()`` joins the PCMU payloads and ``media.tone_power`` tells whose voice it is (callers speak 440 Hz,
agents 1000 Hz in these tests), which is how "RTP flows both ways" is shown end to end.

Receive only: sipp plays each party's voice (play_pcap_audio) to the address the platform's SDP gave it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from tests.voice import media


@dataclass
class Packet:
    at: float
    payload_type: int
    payload: bytes


@dataclass
class RtpTap:
    sock: socket.socket
    packets: list[Packet] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # closed by close(): the tap is done
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            csrc = data[0] & 0x0F
            offset = 12 + 4 * csrc
            if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
                offset += 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
            with self._lock:
                self.packets.append(Packet(at=time.monotonic(), payload_type=data[1] & 0x7F, payload=data[offset:]))

    def count(self, *, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for p in self.packets if p.at >= since)

    def audio(self, *, since: float = 0.0) -> bytes:
        """The PCMU payloads received (after ``since``, a time.monotonic()), joined."""
        with self._lock:
            return b"".join(p.payload for p in self.packets if p.payload_type == media.PCMU and p.at >= since)

    def hears(self, hz: float, *, since: float = 0.0, threshold: float = 1e5) -> bool:
        """Whether the audio received holds a clear ``hz`` tone (Goertzel power, silence gives 0)."""
        return media.tone_power(self.audio(since=since), hz) > threshold

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)


def open_tap() -> RtpTap:
    """A started tap on a free even port of 127.0.0.1."""
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        if sock.getsockname()[1] % 2 == 0:
            break
        sock.close()
    sock.settimeout(0.2)
    tap = RtpTap(sock=sock)
    tap._thread = threading.Thread(target=tap._run, name=f"rtp-tap-{tap.port}", daemon=True)
    tap._thread.start()
    return tap
