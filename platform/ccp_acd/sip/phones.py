"""pyVoIP 1.6.8 made fit for a trunk and for dialling agents: what its ``SIPClient`` and ``VoIPPhone`` lack.

- Receives with ``recvfrom``, so an INVITE is screened by its source address (403) before pyVoIP sees it, and
  rejections (403, 404, 488, 603) go back where the request came from; pyVoIP itself answers only with 180 and
  200 and sends every reply to its one configured server.
- Never lets a datagram end the receive loop: anything unparsable is answered 400 Bad Request when it is a
  request with the headers a response needs, else dropped; methods other than INVITE, ACK, BYE, CANCEL and
  OPTIONS get 405, OPTIONS 200 (carriers' keepalives), a BYE or CANCEL for no call 481.
- CANCEL of a ringing INVITE: 200 to the CANCEL and 487 to the INVITE (pyVoIP sends neither), and the call is
  marked cancelled so its session never answers it.
- Dialling does not block: pyVoIP's ``invite`` reads the socket under its receive lock until a 100/180/401,
  forever when the far end is silent and wrongly for a 486; here the INVITE is sent and every final response
  is handled by the receive loop (2xx: media up and ACK; 3xx-6xx: ACK and the leg marked failed).
- BYEs and ACKs of our own are RFC 3261 ones (``messages``), not pyVoIP's copies of the remote's headers.

Registration is bypassed (``register = lambda: True``): a trunk is peered by address, not registered.
Threads: pyVoIP's receive thread per phone, a Timer thread per incoming call (its session), two RTP threads
per call leg. Shared maps are only mutated under ``recvLock`` or by single dict operations (atomic in CPython).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# isort: off
# pyVoIP.VoIP first: importing pyVoIP.SIP first is a circular import error in pyVoIP 1.6.8.
import pyVoIP
from pyVoIP.VoIP import CallState, NoPortsAvailableError, VoIPCall, VoIPPhone
from pyVoIP import SIP
from pyVoIP import RTP
from pyVoIP.RTP import PayloadType
from pyVoIP.util import acquired_lock_and_unblocked_socket
# isort: on

from ccp_acd.sip import messages, rtp
from ccp_acd.sip.messages import Head, read_head
from ccp_acd.sip.screening import Rejection

log = logging.getLogger(__name__)

# PCMU only (and RFC 2833 events): pyVoIP 1.6.8's PCMA transmit path encodes with mu-law. The library reads this
# list when it matches an offer; the adapter is the only pyVoIP user in its process.
pyVoIP.RTPCompatibleCodecs = [PayloadType.PCMU, PayloadType.EVENT]

HANDLED = {"INVITE", "ACK", "BYE", "CANCEL"}
MAX_REMEMBERED_REJECTIONS = 4096
NOT_ACCEPTABLE = Rejection(488, "no PCMU in the offer")

Screen = Callable[[Head, tuple[str, int]], Rejection | None]


class _ReplyRouter:
    """The SIP socket as pyVoIP sees it: pyVoIP sends every message to its one configured server, but a response
    goes where its request came from (RFC 3261 section 18.2.2), so responses of a known call are sent there."""

    def __init__(self, sock, phone: AdapterPhone):
        self._sock = sock
        self._phone = phone

    def sendto(self, data: bytes, target: tuple[str, int]) -> int:
        if data.startswith(b"SIP/2.0 "):
            head = read_head(data)
            if head is not None:
                target = self._phone.sources.get(head.call_id, target)
        return self._sock.sendto(data, target)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class AdapterSipClient(SIP.SIPClient):
    """pyVoIP's SIP client with the receive path of the module doc."""

    def __init__(self, *args, screen: Screen | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.screen = screen
        # Call-IDs rejected before pyVoIP saw them, with the response: retransmitted INVITEs get it again. Bounded
        # (oldest forgotten first): a flood of refused INVITEs must not grow memory; a retransmission comes within
        # 32 s (Timer B), long before 4,096 newer rejections push it out at any sane rate.
        self.rejected: OrderedDict[str, bytes] = OrderedDict()
        self.register = lambda: True  # type: ignore[method-assign]  # peered by address (module doc)

    def start(self) -> None:
        """pyVoIP's start without registering and without its 1 s delay before receiving: an agent's phone
        dialled right after it starts must see the answer (else the 200 is retransmitted and ACKed twice)."""
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.out = _ReplyRouter(self.s, self.phone)
        self._receiver = threading.Thread(target=self.recv_loop, name=f"SIP receive :{self.myPort}", daemon=True)
        self._receiver.start()

    @property
    def receiving(self) -> bool:
        receiver = getattr(self, "_receiver", None)
        return receiver is not None and receiver.is_alive()

    def recv_loop(self) -> None:
        """pyVoIP's loop, waiting in select instead of polling every 10 ms, and ending quietly when ``stop`` closes
        the socket under it (pyVoIP's raises from a closed socket and dies with a traceback)."""
        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.2)
                if not ready:
                    continue
                with acquired_lock_and_unblocked_socket(self.recvLock, self.s):
                    self.recv()
            except BlockingIOError:
                continue
            except (OSError, ValueError) as e:
                if not self.NSD:
                    return
                log.warning("SIP receive on :%s: %s", self.myPort, type(e).__name__)
                time.sleep(0.05)  # a socket error that repeats must not spin a core

    def _close_sockets(self) -> None:
        if getattr(self, "s", None):
            self.s.close()

    # pyVoIP's recv_loop calls this with the socket non-blocking; BlockingIOError must propagate to it.
    def recv(self) -> None:
        raw, source = self.s.recvfrom(65535)
        try:
            self._dispatch(raw, source)
        except Exception as e:  # noqa: BLE001 - one bad datagram or a library error must not end the loop
            log.warning("SIP datagram from %s:%s not handled: %s", source[0], source[1], type(e).__name__)

    def _reply(self, data: bytes, target: tuple[str, int]) -> None:
        self.s.sendto(data, target)

    def _dispatch(self, raw: bytes, source: tuple[str, int]) -> None:
        if raw.strip(b"\r\n\x00") == b"":
            return  # keepalive
        head = read_head(raw)
        if head is None:
            log.info("unparsable SIP datagram from %s:%s dropped", source[0], source[1])
            return
        try:
            self._route(head, raw, source)
        finally:
            self.phone.nudge(head.call_id)  # type: ignore[attr-defined]

    def _route(self, head: Head, raw: bytes, source: tuple[str, int]) -> None:
        if not head.is_request:
            self._response(head, raw)
            return
        method = head.method
        if method not in HANDLED:
            if head.answerable():
                self._reply(messages.response(head, 200 if method == "OPTIONS" else 405), source)
            return
        if not head.answerable():
            log.info("%s without the headers a response needs, from %s:%s, dropped", method, source[0], source[1])
            return
        phone: AdapterPhone = self.phone  # type: ignore[assignment]
        call_id = head.call_id
        if method == "ACK":
            if call_id in phone.calls:
                phone.acked.add(call_id)  # the caller's ACK of our 200 (the session ends a call never ACKed)
            return
        if method == "CANCEL":
            self._cancel(head, source)
            return
        if method == "BYE" and call_id not in phone.calls:
            self._reply(messages.response(head, 481), source)
            return
        if method == "INVITE" and call_id in phone.calls:
            self._repeated_invite(head, raw, phone.calls[call_id], source)
            return
        if method == "INVITE":
            if call_id in self.rejected:
                self._reply(self.rejected[call_id], source)
                return
            rejection = self.screen(head, source) if self.screen else None
            if rejection is None and not messages.offers_pcmu(raw):
                rejection = NOT_ACCEPTABLE
            if rejection is not None:
                reply = messages.response(head, rejection.status)
                self.rejected[call_id] = reply
                while len(self.rejected) > MAX_REMEMBERED_REJECTIONS:
                    self.rejected.popitem(last=False)
                log.info("INVITE from %s rejected: %s %s", source[0], rejection.status, rejection.why)
                self._reply(reply, source)
                return
            phone.sources[call_id] = source
            phone.arrivals.setdefault(call_id, time.time())
        if method == "INVITE":
            raw = messages.pcmu_only(raw)
        try:
            message = SIP.SIPMessage(raw)
        except Exception:  # noqa: BLE001 - pyVoIP raises anything (IndexError, ValueError...) on bad input
            self._reply(messages.response(head, 400), source)
            return
        try:
            self.parse_message(message)
        except Exception:
            if method == "INVITE":  # a new call pyVoIP could not set up (its SDP): refused, its ports freed
                call = phone.calls.pop(call_id, None)
                if call is not None:
                    phone.release_ports(call)
                self._reply(messages.response(head, 400), source)
            raise

    def _repeated_invite(self, head: Head, raw: bytes, call: VoIPCall, source: tuple[str, int]) -> None:
        """A retransmitted INVITE or a re-INVITE of a call we have. pyVoIP would "renegotiate": start the call's RTP
        sockets again (Address already in use) and fail; the answer to give is the one already given: 180 while
        ringing, the same 200 and SDP once answered (a re-INVITE's new offer is not taken: media stays as it is)."""
        if call.state == CallState.RINGING:
            self._reply(messages.response(head, 180, to_tag=self.tagLibrary.get(call.call_id, "")), source)
            return
        if call.state != CallState.ANSWERED or call.call_id not in self.tagLibrary:
            return  # ended, or ours (an outgoing call's INVITE echoed): nothing to answer
        try:
            request = SIP.SIPMessage(messages.pcmu_only(raw))
        except Exception:  # noqa: BLE001 - as for any request pyVoIP cannot parse
            self._reply(messages.response(head, 400), source)
            return
        media = {client.inPort: client.assoc for client in call.RTPClients}
        self._reply(self.gen_answer(request, call.session_id, media, call.sendmode).encode("utf8"), source)

    def _cancel(self, head: Head, source: tuple[str, int]) -> None:
        phone: AdapterPhone = self.phone  # type: ignore[assignment]
        call = phone.calls.get(head.call_id)
        if call is None:
            self._reply(messages.response(head, 481), source)
            return
        self._reply(messages.response(head, 200), source)
        if call.state == CallState.RINGING:
            phone.cancelled.add(head.call_id)
            invite = read_head(call.request.raw)
            if invite is not None:
                tag = self.tagLibrary.get(head.call_id, "")
                self._reply(messages.response(invite, 487, to_tag=tag), phone.sources.get(head.call_id, source))
            call.state = CallState.ENDED
            phone.calls.pop(head.call_id, None)
            phone.release_ports(call)

    def _response(self, head: Head, raw: bytes) -> None:
        phone: AdapterPhone = self.phone  # type: ignore[assignment]
        if head.cseq_method == "INVITE" and head.status >= 200 and head.call_id in phone.cancelling:
            phone.cancelled_final(head)
            return
        call = phone.calls.get(head.call_id)
        if head.cseq_method != "INVITE" or head.status < 200 or call is None:
            return  # provisional responses, responses to our BYEs and CANCELs, strays
        invite = read_head(call.request.raw)
        if invite is None:
            return
        if call.state != CallState.DIALING:
            if 200 <= head.status < 300:
                self.out.sendto(messages.ack(invite, head), (self.server, self.port))  # retransmitted 2xx
            return
        self.out.sendto(messages.ack(invite, head), (self.server, self.port))
        if 200 <= head.status < 300:
            phone.answers[head.call_id] = head
            call.answered(SIP.SIPMessage(raw))
        else:
            phone.failures[head.call_id] = head.status
            call.state = CallState.ENDED
            phone.calls.pop(head.call_id, None)
            phone.release_ports(call)

    def invite(self, number, ms, sendtype):
        """Send the INVITE and return at once (module doc: dialling does not block)."""
        call_id = f"{secrets.token_hex(16)}@{self.myIP}"
        sess_id = self.sessID.next()
        invite = self.gen_invite(number, str(sess_id), ms, sendtype, messages.branch(), call_id)
        self.out.sendto(invite.encode("utf8"), (self.server, self.port))
        return SIP.SIPMessage(invite.encode("utf8")), call_id, sess_id


class EngineCall(VoIPCall):
    """pyVoIP's call with its RTP on the adapter's engine (``rtp.EngineLeg``) instead of two threads per leg."""

    def create_rtp_clients(self, codecs, ip, port, request, baseport) -> None:
        engine = getattr(self.phone, "engine", None)
        for offset, _connection in enumerate(request.body["c"]):
            self.RTPClients.append(rtp.EngineLeg(
                codecs, ip, port, request.body["c"][offset]["address"], baseport + offset, self.sendmode,
                dtmf=self.dtmf_callback, engine=engine,
            ))

    @property
    def legs(self) -> list[rtp.EngineLeg]:
        return self.RTPClients


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
