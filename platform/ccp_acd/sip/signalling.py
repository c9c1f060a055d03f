"""pyVoIP 1.6.8's SIP client made fit for a trunk and for dialling agents: the receive path it lacks.

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
- After each datagram of a call, the phone's waker for that Call-ID runs (the call's session looks at its legs).

Registration is bypassed (``register = lambda: True``): a trunk is peered by address, not registered.
Threads: one receive thread per phone. Shared maps are only mutated under ``recvLock`` or by single dict
operations (atomic in CPython). The phone it serves is ``phones.AdapterPhone``.
"""

from __future__ import annotations

import logging
import secrets
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

# isort: off
# pyVoIP.VoIP first: importing pyVoIP.SIP first is a circular import error in pyVoIP 1.6.8.
import pyVoIP
from pyVoIP.VoIP import CallState, VoIPCall
from pyVoIP import SIP
from pyVoIP.RTP import PayloadType
from pyVoIP.util import acquired_lock_and_unblocked_socket
# isort: on

from ccp_acd.sip import messages
from ccp_acd.sip.messages import Head, read_head
from ccp_acd.sip.screening import Rejection

if TYPE_CHECKING:
    from ccp_acd.sip.phones import AdapterPhone

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
