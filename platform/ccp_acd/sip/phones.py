"""pyVoIP 1.6.8's phone made fit for a trunk and for dialling agents: what its ``VoIPPhone`` lacks (its SIP
client's receive path is ``signalling``).

- Dialling registers the call before the INVITE leaves (under the receive lock), so no answer finds no call;
  ending a leg is a CANCEL while it rings and a BYE once answered, decided under the receive lock.
- BYEs and ACKs of our own are RFC 3261 ones (``messages``), not pyVoIP's copies of the remote's headers.
- RTP ports are handed out in rotation from the phone's slice and freed once per call (pyVoIP's allocator reuses
  live ports); every call's media is on the adapter's RTP engine (``EngineCall``, ``rtp``).
- Its dead-call cleanup is safe from several threads.

Threads: the receive thread (``signalling``), a Timer thread per incoming call (its session), the RTP engine's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

# isort: off
# pyVoIP.VoIP first: importing pyVoIP.SIP first is a circular import error in pyVoIP 1.6.8.
from pyVoIP.VoIP import CallState, NoPortsAvailableError, VoIPCall, VoIPPhone
from pyVoIP import RTP
from pyVoIP.RTP import PayloadType
# isort: on

from ccp_acd.sip import messages, rtp
from ccp_acd.sip.messages import Head, read_head
from ccp_acd.sip.signalling import MAX_REMEMBERED_REJECTIONS, AdapterSipClient, Screen

log = logging.getLogger(__name__)


class EngineCall(VoIPCall):
    """pyVoIP's call with its RTP on the adapter's engine (``rtp.EngineLeg``) instead of two threads per leg."""

    def create_rtp_clients(self, codecs, ip, port, request, baseport) -> None:
        engine = getattr(self.phone, "engine", None)
        for offset, _connection in enumerate(request.body["c"]):
            self.RTPClients.append(rtp.EngineLeg(
                codecs, ip, port, request.body["c"][offset]["address"], baseport + offset, self.sendmode,
                dtmf=self.dtmf_callback, engine=engine,
            ))


class AdapterPhone(VoIPPhone):
    """A pyVoIP phone bound to ``bind:sip_port`` whose peer is ``server:port`` (the carrier, or an agent's phone)."""

    def __init__(
        self, *, server: str, port: int, bind: str, sip_port: int, rtp_ports: tuple[int, int],
        on_call: Callable[[VoIPCall], None] | None = None, screen: Screen | None = None,
        engine: rtp.RtpEngine | None = None,
    ):
        super().__init__(server, port, "ccp", "", myIP=bind, callCallback=on_call, sipPort=sip_port,
                         rtpPortLow=rtp_ports[0], rtpPortHigh=rtp_ports[1])
        self.sip = AdapterSipClient(server, port, "ccp", "", phone=self, myIP=bind, myPort=sip_port,
                                    callCallback=self.callback, fatalCallback=self.fatal, screen=screen)
        self.engine = engine or rtp.default_engine()
        self.cancelled: set[str] = set()
        self.sources: dict[str, tuple[str, int]] = {}
        self.answers: dict[str, Head] = {}
        self.failures: dict[str, int] = {}
        # Our INVITEs we CANCELled (call-id: the INVITE, and whether its final response was seen): the 487 (or a
        # 200 that crossed the CANCEL) is ACKed, a 200 also BYEd. Bounded like ``rejected``; retransmitted finals
        # are ACKed again.
        self.cancelling: OrderedDict[str, tuple[Head, bool]] = OrderedDict()
        self.acked: set[str] = set()  # incoming calls whose 200 the caller ACKed
        # Call-ID -> what to call after each datagram of that call was handled (the session looks at its legs).
        self.wakers: dict[str, Callable[[], None]] = {}
        # When each incoming INVITE arrived (epoch seconds): the caller's arrival, before the 1 s pyVoIP waits.
        self.arrivals: dict[str, float] = {}
        self._cseq = threading.Lock()
        self._next_cseq = 100
        self._ports_lock = threading.Lock()
        self._cleanup_lock = threading.Lock()
        self._ports_in_use: set[int] = set()
        self._next_port = self.rtpPortLow

    def _create_Call(self, request, sess_id: int) -> None:  # noqa: N802 - pyVoIP's name
        self.calls[request.headers["Call-ID"]] = EngineCall(
            self, CallState.RINGING, request, sess_id, self.myIP, sendmode=self.recvmode)

    def call(self, number: str) -> VoIPCall:
        """pyVoIP's ``call`` with an ``EngineCall`` (PCMU and RFC 4733 events offered)."""
        port = self.request_port()
        medias = {port: {0: PayloadType.PCMU, 101: PayloadType.EVENT}}
        request, call_id, sess_id = self.sip.invite(number, medias, RTP.TransmitType.SENDRECV)
        self.calls[call_id] = EngineCall(self, CallState.DIALING, request, sess_id, self.myIP, ms=medias,
                                         sendmode=self.sendmode)
        return self.calls[call_id]

    def _callback_MSG_Bye(self, request) -> None:  # noqa: N802 - pyVoIP's name
        call = self.calls.get(request.headers["Call-ID"])
        super()._callback_MSG_Bye(request)
        if call is not None:
            self.release_ports(call)

    def request_port(self, blocking: bool = True) -> int:
        """An RTP port of this phone's range no live leg holds. pyVoIP's own never releases an incoming call's port
        and, once its range is used up, frees every port not listed on an outgoing call, live incoming legs'
        included: two legs then meet on one port (Address already in use). Ports are handed out in rotation, so
        a port is reused as late as possible."""
        with self._ports_lock:
            for _ in range(self.rtpPortHigh - self.rtpPortLow + 1):
                port = self._next_port
                self._next_port = port + 1 if port < self.rtpPortHigh else self.rtpPortLow
                if port not in self._ports_in_use:
                    self._ports_in_use.add(port)
                    return port
        raise NoPortsAvailableError(f"all RTP ports {self.rtpPortLow}-{self.rtpPortHigh} are in use")

    def _cleanup_dead_calls(self) -> None:
        """pyVoIP's: forget the calls whose thread ended. Its own is not safe from two threads at once (two calls
        ending together raised KeyError in one of them, which skipped the rest of that call's ending, its Hangup
        included: the benchmark's lost calls at 25 calls/s), so here under a lock, with lookups that tolerate it."""
        with self._cleanup_lock:
            for thread in [t for t in list(self.threads) if not t.is_alive()]:
                call_id = self.threadLookup.pop(thread, None)
                if call_id is not None:
                    self.calls.pop(call_id, None)
                with contextlib.suppress(ValueError):
                    self.threads.remove(thread)

    def release_ports(self, call: VoIPCall | None = None) -> None:
        """Free ``call``'s ports, once (pyVoIP calls this from ``VoIPCall.__del__`` too); None frees nothing."""
        self._cleanup_dead_calls()
        if call is None or getattr(call, "_ccp_ports_released", False):
            return
        call._ccp_ports_released = True  # type: ignore[attr-defined]
        ports = {client.inPort for client in call.RTPClients} | set(call.assignedPorts)
        with self._ports_lock:
            self._ports_in_use.difference_update(ports)

    def dial(self, number: str) -> VoIPCall:
        """An outgoing call to ``number`` at this phone's peer; its state moves to ANSWERED or ENDED (failure in
        ``failures``) from the receive loop. Registered before the INVITE leaves, so no answer finds no call."""
        with self.sip.recvLock:
            return self.call(number)

    def release(self, call: VoIPCall) -> None:
        """End a leg from this side: CANCEL while dialling (the 487 that follows is ACKed by the receive loop,
        RFC 3261 section 9.1), BYE once answered; idempotent. Decided under the receive lock: a 200 being handled
        at that moment makes it a BYE, never a CANCEL of an answered call that would leave the far phone up."""
        call_id = call.call_id
        invite = read_head(call.request.raw)
        with self.sip.recvLock:
            dialing = call.state == CallState.DIALING
            if dialing and invite is not None:
                self.cancelling[call_id] = (invite, False)
                while len(self.cancelling) > MAX_REMEMBERED_REJECTIONS:
                    self.cancelling.popitem(last=False)
                self.sip.out.sendto(messages.cancel(invite), (self.server, self.port))
            answered = call.state == CallState.ANSWERED
            call.state = CallState.ENDED
        if answered and invite is not None:
            for client in call.RTPClients:
                client.stop()
            self._bye(invite, self.answers.get(call_id), self.sources.get(call_id, (self.server, self.port)))
        self.forget(call_id)
        self.release_ports(call)

    def _bye(self, invite: Head, answer: Head | None, target: tuple[str, int]) -> None:
        with self._cseq:
            self._next_cseq += 1
            cseq = self._next_cseq
        data = messages.bye(invite, answer=answer, local=(self.myIP, self.sip.myPort),
                            local_tag=self.sip.tagLibrary.get(invite.call_id, ""), cseq=cseq)
        self.sip.out.sendto(data, target)

    def cancelled_final(self, final: Head) -> None:
        """The final response to an INVITE we CANCELled (receive loop): ACKed; a 2xx (the phone answered as the
        CANCEL crossed it) is ended with a BYE at once, the first time it is seen."""
        invite, seen = self.cancelling[final.call_id]
        self.sip.out.sendto(messages.ack(invite, final), (self.server, self.port))
        self.cancelling[final.call_id] = (invite, True)
        if 200 <= final.status < 300 and not seen:
            log.info("agent leg answered after its CANCEL: BYE")
            self._bye(invite, final, (self.server, self.port))

    def nudge(self, call_id: str) -> None:
        waker = self.wakers.get(call_id)
        if waker is not None:
            waker()

    def forget(self, call_id: str) -> None:
        self.wakers.pop(call_id, None)
        self.calls.pop(call_id, None)
        self.cancelled.discard(call_id)
        self.acked.discard(call_id)
        self.sources.pop(call_id, None)
        self.answers.pop(call_id, None)
        self.arrivals.pop(call_id, None)
        self.sip.rejected.pop(call_id, None)
