"""What the adapter's SIP side answers to what pyVoIP alone would drop or mishandle: malformed requests, unknown
methods, stray BYEs, and a CANCEL before the answer (200 + 487, nothing queued). Raw UDP from the test."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from tests.helpers import eventually, scaled
from tests.sip.conftest import NUMBER, Running
from tests.sip.test_adapter import live_calls

pytestmark = pytest.mark.etcd

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n"


def request(method: str, *, port: int, local: int, call_id: str, caller: str = "+15557770100", cseq: int = 1,
            body: str = "", from_uri: str | None = None) -> bytes:
    from_uri = from_uri or f"<sip:{caller}@127.0.0.1:{local}>"
    lines = [
        f"{method} sip:{NUMBER}@127.0.0.1:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-{call_id}-{cseq}",
        f"From: {from_uri};tag=t-{call_id}", f"To: <sip:{NUMBER}@127.0.0.1:{port}>", f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}", f"Contact: <sip:test@127.0.0.1:{local}>", "Max-Forwards: 70",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines).encode()


class Carrier:
    """A UDP socket playing the carrier, reading responses with a bounded wait."""

    def __init__(self, port: int):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.local = self.sock.getsockname()[1]
        self.sock.setblocking(False)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))

    async def status(self, *, cseq_method: str, timeout_s: float = 5.0) -> int:
        """The status of the next response to a ``cseq_method`` request (provisional ones skipped but 180)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + scaled(timeout_s)
        while loop.time() < deadline:
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            text = data.decode(errors="replace")
            if f" {cseq_method}\r\n" in text.split("CSeq:", 1)[-1].split("\r\n", 1)[0] + "\r\n":
                return int(text.split(" ", 2)[1])
        raise AssertionError(f"no response to {cseq_method} within {timeout_s}s")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def carrier(running: Running):
    c = Carrier(running.port)
    yield c
    c.close()


async def test_garbage_is_dropped_and_the_receive_loop_keeps_serving(carrier: Carrier):
    carrier.send(b"\xff\xfe\x00garbage")
    carrier.send(b"INVITE nonsense\r\n\r\n")
    carrier.send(request("OPTIONS", port=carrier.port, local=carrier.local, call_id="opt-1"))
    assert await carrier.status(cseq_method="OPTIONS") == 200


async def test_malformed_invite_gets_400_bad_request(carrier: Carrier, running: Running):
    carrier.send(request("INVITE", port=carrier.port, local=carrier.local, call_id="bad-1", body=SDP,
                         from_uri="<mailto:nobody>"))
    assert await carrier.status(cseq_method="INVITE") == 400
    assert await live_calls(running, "+15557770100") == []


async def test_unknown_method_gets_405_and_stray_bye_481(carrier: Carrier):
    carrier.send(request("SUBSCRIBE", port=carrier.port, local=carrier.local, call_id="sub-1"))
    assert await carrier.status(cseq_method="SUBSCRIBE") == 405
    carrier.send(request("BYE", port=carrier.port, local=carrier.local, call_id="nobody-1", cseq=2))
    assert await carrier.status(cseq_method="BYE") == 481


async def test_offer_without_pcmu_gets_488(carrier: Carrier):
    carrier.send(request("INVITE", port=carrier.port, local=carrier.local, call_id="pcma-1",
                         body=SDP.replace("RTP/AVP 0 101", "RTP/AVP 8 101")))
    assert await carrier.status(cseq_method="INVITE") == 488


async def test_cancel_before_the_answer_gets_200_and_487_and_queues_nothing(carrier: Carrier, running: Running):
    caller = "+15557770101"
    call_id = "cancel-1"
    carrier.send(request("INVITE", port=carrier.port, local=carrier.local, call_id=call_id, caller=caller, body=SDP))
    assert await carrier.status(cseq_method="INVITE") == 180
    carrier.send(request("CANCEL", port=carrier.port, local=carrier.local, call_id=call_id, caller=caller))
    assert await carrier.status(cseq_method="CANCEL") == 200
    assert await carrier.status(cseq_method="INVITE") == 487

    async def session_over() -> bool:
        return not any(t.name == f"Phone Call: {call_id}" for t in threading.enumerate())

    await eventually(session_over, timeout_s=10, what="the cancelled call's session to end")
    assert await live_calls(running, caller) == []


async def test_serve_wires_the_adapter_from_its_settings_and_stops_on_request(running: Running, monkeypatch):
    """``ccp sip``'s entry point: etcd and nodes by the environment's rules, no key ring (voicemail off, logged)."""
    from ccp_acd.sip.adapter import serve

    monkeypatch.delenv("CCP_RECORDINGS_KEY_FILE", raising=False)
    await running.adapter.shutdown()  # free the trunk's port for the served adapter
    stop = asyncio.Event()
    task = asyncio.create_task(serve(running.settings, stop=stop))
    carrier = Carrier(running.port)
    try:
        async def answers_options() -> bool:
            carrier.send(request("OPTIONS", port=carrier.port, local=carrier.local, call_id="opt-serve"))
            try:
                return await carrier.status(cseq_method="OPTIONS", timeout_s=0.5) == 200
            except AssertionError:
                return False

        await eventually(answers_options, timeout_s=10, what="the served adapter's trunk")
    finally:
        carrier.close()
        stop.set()
        await asyncio.wait_for(task, scaled(20))


async def test_a_retransmitted_invite_of_an_answered_call_gets_the_same_200_and_the_call_goes_on(
    carrier: Carrier, running: Running
):
    caller, call_id = "+15557770102", "retrans-1"
    invite = request("INVITE", port=carrier.port, local=carrier.local, call_id=call_id, caller=caller, body=SDP)
    carrier.send(invite)
    assert await carrier.status(cseq_method="INVITE") == 180
    carrier.send(invite)  # retransmitted while ringing
    assert await carrier.status(cseq_method="INVITE") == 180
    assert await carrier.status(cseq_method="INVITE") == 200
    carrier.send(invite)  # retransmitted after the answer (the ACK was lost): the 200 again, not a new call
    assert await carrier.status(cseq_method="INVITE") == 200

    async def queued():
        return await live_calls(running, caller)

    [call] = await eventually(queued, timeout_s=10, what="the one call in the queue")
    carrier.send(request("BYE", port=carrier.port, local=carrier.local, call_id=call_id, caller=caller, cseq=2))
    assert await carrier.status(cseq_method="BYE") == 200
