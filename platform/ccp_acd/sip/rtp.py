"""RTP for every call leg of the adapter in one thread: a selector over the legs' sockets and a 20 ms clock.

Replaces pyVoIP 1.6.8's ``RTPClient``, which costs two threads per leg (one polling its socket every 10 ms, one
pacing packets) and keeps every packet it ever received in a log: with a few hundred legs the adapter spent its
core switching threads. ``EngineLeg`` keeps that class's interface (``start``, ``stop``, ``read`` and ``write``
in pyVoIP's 8-bit unsigned format, the DTMF callback), so pyVoIP's ``VoIPCall`` drives it unchanged, and adds what
a B2BUA needs:

- **relay** (``bridge``): a bridged leg's received PCMU payloads go out on the other leg as they arrive,
  re-stamped with that leg's own SSRC, sequence number and timestamp: no decoding, no buffering, no pacing;
- a looping **source** (hold music, ringback, µ-law frames) the clock sends when nothing was written;
- **capture**: received PCMU payloads appended to a buffer, relayed or not (voicemail, call recording).

Every 20 ms a leg that nothing relays into sends one packet: written audio first, else its source, else silence
(as pyVoIP did: the far end sees a live stream). Received PCMU is kept for ``read`` up to ``READ_BUFFER_BYTES``
(older audio is dropped: a relayed or unread leg does not grow). DTMF (RFC 4733 telephone-events) are reported
once per event, known by its RTP timestamp: digits 0-9, *, #, A-D.

Threads: the engine's own runs every socket and the clock. Other threads only append to a leg's byte buffers
under its lock or swap single attributes; sockets are registered and closed by the engine thread (a command
queue and a wake-up socket pair), so no socket is closed under a ``select`` that watches it.

Not for: codecs other than PCMU (the trunks offer PCMU alone), jitter buffering, RTCP, SRTP.
"""

from __future__ import annotations

import collections
import logging
import random
import selectors
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator

with warnings.catch_warnings():  # deprecated since 3.11, gone in 3.13; pyVoIP 1.6.8 needs it anyway
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

log = logging.getLogger(__name__)

TICK_S = 0.02
FRAME_BYTES = 160            # 20 ms of PCMU at 8 kHz
READ_BUFFER_BYTES = 16_000   # 2 s of received audio kept for ``read``
RECEIVE_BURST = 64           # datagrams read from one socket per wake-up, so one busy leg cannot starve the rest
LATE_RESYNC_S = 0.2          # a clock this late skips the missed ticks instead of sending a burst
PCMU_SILENCE = b"\xff" * FRAME_BYTES
DIGITS = "0123456789*#ABCD"

_HEADER = struct.Struct("!BBHII")


def ulaw_from_u8(data: bytes) -> bytes:
    """pyVoIP's 8-bit unsigned linear audio as PCMU (what its RTP client did before sending)."""
    return audioop.lin2ulaw(audioop.bias(data, 1, -128), 1)


def u8_from_ulaw(data: bytes) -> bytes:
    return audioop.bias(audioop.ulaw2lin(data, 1), 1, 128)


class RtpEngine:
    """The thread that runs every leg handed to it. Started on the first leg; ``stop`` ends it and its legs."""

    def __init__(self, name: str = "rtp-engine"):
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: collections.deque[tuple[str, EngineLeg]] = collections.deque()
        self._legs: set[EngineLeg] = set()  # the engine thread's alone
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed_counts = [0, 0]  # packets sent and received by legs already closed
        self._start_lock = threading.Lock()

    @property
    def legs(self) -> int:
        return len(self._legs)

    @property
    def sent(self) -> int:
        return self._closed_counts[0] + sum(leg.sent for leg in list(self._legs))

    @property
    def received(self) -> int:
        return self._closed_counts[1] + sum(leg.received for leg in list(self._legs))

    @property
    def died(self) -> bool:
        """Started, not stopped, and the thread is gone (an exception it logged)."""
        return self._thread.ident is not None and not self._thread.is_alive() and not self._stopping.is_set()

    def start(self) -> None:
        with self._start_lock:
            if not self._thread.is_alive() and not self._stopping.is_set():
                self._thread.start()

    def stop(self) -> None:
        """End the thread; its legs' sockets are closed, and the engine's own."""
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def add(self, leg: EngineLeg) -> None:
        self.start()
        self._commands.append(("add", leg))
        self._wake()

    def remove(self, leg: EngineLeg) -> None:
        self._commands.append(("remove", leg))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # the pair's buffer is full: a wake-up is pending anyway
            pass

    def _run(self) -> None:
        select = self._selector.select
        next_tick = time.monotonic() + TICK_S
        try:
            while not self._stopping.is_set():
                for key, _ in select(max(0.0, next_tick - time.monotonic())):
                    if key.data is None:
                        self._apply_commands()
                    else:
                        key.data._receive()
                now = time.monotonic()
                if now >= next_tick:
                    for leg in self._legs:
                        leg._tick()
                    next_tick += TICK_S
                    if now - next_tick > LATE_RESYNC_S:
                        next_tick = now + TICK_S
        except Exception:  # noqa: BLE001 - logged; the legs' calls end on their SIP side
            log.exception("RTP engine stopped")
        finally:
            for leg in list(self._legs):
                self._close(leg)

    def _apply_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while self._commands:
            command, leg = self._commands.popleft()
            if command == "add" and leg not in self._legs and leg.socket is not None:
                self._selector.register(leg.socket, selectors.EVENT_READ, leg)
                self._legs.add(leg)
            elif command == "remove":
                self._close(leg)

    def _close(self, leg: EngineLeg) -> None:
        if leg in self._legs:
            self._legs.discard(leg)
            self._selector.unregister(leg.socket)
            self._closed_counts[0] += leg.sent
            self._closed_counts[1] += leg.received
        if leg.socket is not None:
            leg.socket.close()


_default: RtpEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> RtpEngine:
    """The process's engine (one is enough: it spends microseconds per packet)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RtpEngine()
        return _default


class EngineLeg:
    """One RTP stream of a call, in pyVoIP ``RTPClient``'s shape (module doc)."""

    def __init__(self, assoc: dict, inIP: str, inPort: int, outIP: str, outPort: int, sendrecv=None,  # noqa: N803 - pyVoIP's names
                 dtmf: Callable[[str], None] | None = None, *, engine: RtpEngine | None = None):
        self.assoc = assoc
        self.inIP, self.inPort, self.outIP, self.outPort = inIP, inPort, outIP, outPort
        self.sendrecv = sendrecv
        self.dtmf = dtmf
        self.engine = engine or default_engine()
        names = {number: getattr(kind, "name", str(kind)) for number, kind in assoc.items()}
        self.audio_pt = next((n for n, name in names.items() if name == "PCMU"), 0)
        self.event_pt = next((n for n, name in names.items() if name == "EVENT"), -1)  # RFC 4733 events
        self.preference = assoc.get(self.audio_pt)
        self.socket: socket.socket | None = None
        self.source: Iterator[bytes] | None = None  # µ-law frames sent when nothing was written
        self.capture: bytearray | None = None       # received PCMU payloads, while set
        self.relay: EngineLeg | None = None         # where received audio goes instead of ``read``
        self.fed = False                            # another leg relays into this one: the clock sends nothing
        self.sent = self.received = 0
        self.last_received = time.monotonic()  # of any datagram; from the start until the first one
        self._lock = threading.Lock()
        self._out = bytearray()
        self._in = bytearray()
        self._running = False
        self._seq = random.randint(0, 0xFFFF)
        self._ts = random.randint(0, 0xFFFFFFFF)
        self._ssrc = random.randint(1, 0xFFFFFFFF)
        self._last_event_ts: int | None = None

    # -- pyVoIP's RTPClient interface ------------------------------------------

    def start(self) -> None:
        """Bind and hand the leg to the engine; once (pyVoIP calls this again on every answer it generates)."""
        if self.socket is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.inIP, self.inPort))
        self.socket, self._running = sock, True
        self.last_received = time.monotonic()
        self.engine.add(self)

    def stop(self) -> None:
        if self._running:
            self._running = False
            unbridge(self)
            self.engine.remove(self)
            log.debug("RTP leg on port %s stopped: %d packets sent, %d received", self.inPort, self.sent, self.received)

    def write(self, data: bytes) -> None:
        """Queue pyVoIP-format audio (8-bit unsigned linear) to be sent in 20 ms frames after what is queued."""
        encoded = ulaw_from_u8(data)
        with self._lock:
            self._out += encoded

    def read(self, length: int = 160, blocking: bool = True) -> bytes:
        """Received audio in pyVoIP's format; silence-padded when less arrived (blocking: waits for some)."""
        while blocking and self._running and len(self._in) < length:
            time.sleep(0.01)
        with self._lock:
            data = bytes(self._in[:length])
            del self._in[:length]
        return u8_from_ulaw(data) + b"\x80" * (length - len(data)) if data else b"\x80" * length

    # -- engine thread ---------------------------------------------------------

    def _receive(self) -> None:
        sock = self.socket
        self.last_received = time.monotonic()
        for _ in range(RECEIVE_BURST):
            try:
                packet = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error reported on the socket, or it was just closed
                return
            self.received += 1
            self._packet(packet)

    def _packet(self, packet: bytes) -> None:
        if len(packet) < 12 or packet[0] >> 6 != 2:
            return  # not RTP version 2
        first, pt = packet[0], packet[1] & 0x7F
        start, end = 12 + 4 * (first & 0x0F), len(packet)
        if first & 0x10:  # header extension
            if end < start + 4:
                return
            start += 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big")
        if first & 0x20:  # padding: its length is the last byte
            end -= packet[-1]
        if start > end:
            return
        payload = packet[start:end]
        if pt == self.audio_pt:
            capture = self.capture
            if capture is not None:
                capture += payload
            relay = self.relay
            if relay is not None:
                relay._send(payload)
                return
            with self._lock:
                self._in += payload
                if len(self._in) > READ_BUFFER_BYTES:
                    del self._in[:len(self._in) - READ_BUFFER_BYTES]
        elif pt == self.event_pt and len(payload) >= 4:
            timestamp = int.from_bytes(packet[4:8], "big")
            if timestamp != self._last_event_ts:
                self._last_event_ts = timestamp
                if payload[0] < len(DIGITS) and self.dtmf is not None:
                    self.dtmf(DIGITS[payload[0]])

    def _tick(self) -> None:
        if self.fed or not self._running:
            return
        frame = None
        if self._out:
            with self._lock:
                frame = bytes(self._out[:FRAME_BYTES])
                del self._out[:FRAME_BYTES]
            if len(frame) < FRAME_BYTES:
                frame += PCMU_SILENCE[len(frame):]
        elif self.source is not None:
            frame = next(self.source, None)
        self._send(frame or PCMU_SILENCE)

    def _send(self, payload: bytes) -> None:
        if not self._running:
            return
        header = _HEADER.pack(0x80, self.audio_pt, self._seq, self._ts, self._ssrc)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(payload)) & 0xFFFFFFFF
        try:
            self.socket.sendto(header + payload, (self.outIP, self.outPort))
            self.sent += 1
        except OSError:  # the far end's port is closed (ICMP), or the leg just stopped: its SIP side ends it
            pass

    def clear_output(self) -> None:
        with self._lock:
            self._out.clear()


def bridge(a: EngineLeg, b: EngineLeg) -> None:
    """Relay each leg's received audio to the other (module doc); what was queued or looping on them stops."""
    for leg in (a, b):
        leg.source = None
        leg.clear_output()
    a.relay, b.relay = b, a
    a.fed = b.fed = True


def unbridge(leg: EngineLeg) -> None:
    """End ``leg``'s relay both ways; the other leg's clock sends again (silence, or what is written)."""
    other = leg.relay
    leg.relay, leg.fed = None, False
    if other is not None and other.relay is leg:
        other.relay, other.fed = None, False
