"""The adapter's RTP engine (ccp_acd.sip.rtp) against real UDP sockets on loopback: what a leg sends, relays,
reports and keeps, and what it ignores."""

from __future__ import annotations

import socket
import struct
import time
from itertools import pairwise

import pytest
from ccp_acd.sip import rtp
from ccp_acd.sip.phones import AdapterPhone
from pyVoIP import SIP
from pyVoIP.RTP import PayloadType

from tests.helpers import scaled
from tests.sip.conftest import free_udp_port
from tests.sip.test_robustness import SDP, request

ASSOC = {0: PayloadType.PCMU, 101: PayloadType.EVENT}


class Peer:
    """A far end: a UDP socket that collects the RTP it gets and sends what a test gives it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]

    def packets(self, seconds: float) -> list[bytes]:
        got, until = [], time.monotonic() + scaled(seconds)
        while time.monotonic() < until:
            try:
                got.append(self.sock.recv(2048))
            except TimeoutError:
                pass
        return got

    def send(self, leg: rtp.EngineLeg, packet: bytes) -> None:
        self.sock.sendto(packet, ("127.0.0.1", leg.inPort))

    def close(self) -> None:
        self.sock.close()


def packet(pt: int, payload: bytes, *, seq: int = 1, ts: int = 1000, ssrc: int = 7, first: int = 0x80,
           marker: bool = False) -> bytes:
    return struct.pack("!BBHII", first, pt | (0x80 if marker else 0), seq, ts, ssrc) + payload


def header(data: bytes) -> tuple[int, int, int, int]:
    _, pt, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    return pt & 0x7F, seq, ts, ssrc


@pytest.fixture
def engine():
    started = rtp.RtpEngine(name="rtp-test")
    yield started
    started.stop()


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make() -> Peer:
        made.append(Peer())
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def leg_to(peer: Peer, engine: rtp.RtpEngine, *, dtmf=None) -> rtp.EngineLeg:
    leg = rtp.EngineLeg(ASSOC, "127.0.0.1", free_udp_port(), "127.0.0.1", peer.port, dtmf=dtmf, engine=engine)
    leg.start()
    return leg


def wait_for(predicate, seconds: float = 2.0) -> None:
    until = time.monotonic() + scaled(seconds)
    while not predicate():
        assert time.monotonic() < until, "timed out"
        time.sleep(0.01)


def test_written_audio_goes_out_as_pcmu_in_20_ms_frames_then_silence(engine, peers):
    peer = peers()
    leg = leg_to(peer, engine)
    tone = bytes((0x80 + (40 if n % 8 < 4 else -40)) & 0xFF for n in range(160 * 5))  # 5 frames, pyVoIP's format
    leg.write(tone)
    got = peer.packets(0.4)
    assert 12 <= len(got) <= 25, len(got)  # ~20 packets in 0.4 s: paced, not a burst
    pts, seqs, stamps, ssrcs = zip(*(header(p) for p in got), strict=True)
    assert set(pts) == {0} and len(set(ssrcs)) == 1
    assert all((b - a) & 0xFFFF == 1 for a, b in pairwise(seqs))
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in pairwise(stamps))
    payloads = [p[12:] for p in got]
    assert all(len(p) == 160 for p in payloads)
    assert payloads[:5] == [rtp.ulaw_from_u8(tone[i:i + 160]) for i in range(0, 800, 160)]
    assert set(payloads[5:]) == {rtp.PCMU_SILENCE}


def test_a_source_loops_when_nothing_was_written_and_written_audio_comes_first(engine, peers):
    peer = peers()
    leg = leg_to(peer, engine)
    music = [bytes([n]) * 160 for n in (1, 2, 3)]

    def looping():
        while True:
            yield from music

    leg.source = looping()
    leg.write(b"\x80" * 160)  # one frame of written silence first
    payloads = [p[12:] for p in peer.packets(0.3)]
    assert payloads[0] == rtp.ulaw_from_u8(b"\x80" * 160)
    assert {bytes([1]) * 160, bytes([2]) * 160, bytes([3]) * 160} <= set(payloads[1:])


def test_bridged_legs_relay_each_others_audio_restamped_and_send_nothing_of_their_own(engine, peers):
    caller, agent = peers(), peers()
    a, b = leg_to(caller, engine), leg_to(agent, engine)
    b.source = iter(lambda: b"\x01" * 160, None)  # looping media is stopped by the bridge
    rtp.bridge(a, b)
    a.capture = bytearray()  # a recorded call: what a relays is captured too
    for n in range(10):
        caller.send(a, packet(0, bytes([n]) * 160, seq=500 + n, ts=9000 + 160 * n, ssrc=4242))
    relayed = agent.packets(0.3)
    assert [p[12:] for p in relayed] == [bytes([n]) * 160 for n in range(10)]
    assert bytes(a.capture) == b"".join(bytes([n]) * 160 for n in range(10))
    heads = [header(p) for p in relayed]
    assert {h[3] for h in heads} == {b._ssrc} and 4242 not in {h[3] for h in heads}
    assert all((y[1] - x[1]) & 0xFFFF == 1 for x, y in pairwise(heads))
    assert caller.packets(0.1) == []  # a is fed by b, which sent nothing: no clock packets either
    rtp.unbridge(a)
    assert not a.fed and not b.fed and a.relay is None and b.relay is None
    assert len(caller.packets(0.2)) >= 5  # a's clock sends again


def test_dtmf_events_are_reported_once_per_event(engine, peers):
    peer = peers()
    digits: list[str] = []
    leg = leg_to(peer, engine, dtmf=digits.append)
    for ts, event in ((100, 5), (420, 11), (900, 10)):
        for n, flags in enumerate((0x0A, 0x0A, 0x8A, 0x8A, 0x8A)):  # a start, updates, three end packets
            peer.send(leg, packet(101, bytes([event, flags]) + (160 * (n + 1)).to_bytes(2, "big"), seq=ts + n,
                                  ts=ts, marker=n == 0))
    wait_for(lambda: len(digits) >= 3)
    time.sleep(0.1)
    assert digits == ["5", "#", "*"]


def test_received_audio_is_read_in_pyvoips_format_and_captured_and_the_read_buffer_is_bounded(engine, peers):
    peer = peers()
    leg = leg_to(peer, engine)
    leg.capture = bytearray()
    ulaw = rtp.ulaw_from_u8(bytes(range(0, 256, 2)) + bytes(32))
    peer.send(leg, packet(0, ulaw))
    wait_for(lambda: leg.received >= 1)
    assert leg.read(160, blocking=False) == rtp.u8_from_ulaw(ulaw)
    assert leg.read(160, blocking=False) == b"\x80" * 160  # nothing more: silence, as pyVoIP reads
    assert bytes(leg.capture) == ulaw
    for n in range(rtp.READ_BUFFER_BYTES // 160 + 20):
        peer.send(leg, packet(0, b"\x7f" * 160, seq=n))
    wait_for(lambda: leg.received >= rtp.READ_BUFFER_BYTES // 160 + 21)
    assert len(leg._in) <= rtp.READ_BUFFER_BYTES


@pytest.mark.parametrize("garbage", [
    b"", b"\x80", b"\x80\x00\x00", b"\x40" + bytes(200),  # too short, RTP version 1
    packet(0, b"\x01\x02", first=0x8F),  # 15 CSRCs announced, none there
    packet(0, bytes([0, 0, 0, 200]), first=0x90),  # an extension longer than the packet
    packet(0, b"\x10" + bytes([250]), first=0xA0),  # padding longer than the payload
    packet(101, b"\x05"),  # an event payload cut short
    packet(101, bytes([200, 0x80, 0, 160])),  # an event number past D
    packet(96, bytes(160)),  # a payload type not negotiated
])
def test_garbage_datagrams_are_ignored_and_the_leg_goes_on(engine, peers, garbage):
    peer = peers()
    digits: list[str] = []
    leg = leg_to(peer, engine, dtmf=digits.append)
    peer.send(leg, garbage)
    peer.send(leg, packet(0, b"\x33" * 160, seq=2))
    wait_for(lambda: leg.received >= 2)
    assert leg.read(160, blocking=False) == rtp.u8_from_ulaw(b"\x33" * 160)
    assert digits == []
    assert len(peer.packets(0.1)) >= 2  # still sending


def test_a_stopped_leg_closes_its_socket_and_its_port_is_free_again(engine, peers):
    peer = peers()
    leg = leg_to(peer, engine)
    wait_for(lambda: engine.legs == 1)
    leg.stop()
    leg.stop()  # idempotent, as pyVoIP calls it from several places
    wait_for(lambda: engine.legs == 0)
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        again.bind(("127.0.0.1", leg.inPort))
    finally:
        again.close()
    peer.packets(0.05)
    assert peer.packets(0.1) == []


def test_the_adapters_phones_put_an_incoming_calls_media_on_the_engine():
    """The adapter's phones make ``EngineCall``s: a regression to pyVoIP's threaded RTP client fails here."""
    low = free_udp_port()
    phone = AdapterPhone(server="127.0.0.1", port=9, bind="127.0.0.1", sip_port=free_udp_port(), rtp_ports=(low, low))
    sdp = SDP + "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    invite = SIP.SIPMessage(request("INVITE", port=5060, local=5070, call_id="engine-1", body=sdp))
    phone._create_Call(invite, 1)
    legs = phone.calls["engine-1"].RTPClients
    assert [type(leg) for leg in legs] == [rtp.EngineLeg]
    assert (legs[0].inPort, legs[0].outPort, legs[0].audio_pt, legs[0].event_pt) == (low, 40000, 0, 101)
    assert legs[0].engine is phone.engine is rtp.default_engine()
