"""SIP text the adapter writes itself: a tolerant reading of a datagram's head and the final responses pyVoIP
cannot send (400, 403, 404, 405, 481, 487, 503, 603).

Pure: bytes in, bytes out. Not a SIP parser for the call itself (pyVoIP's ``SIPMessage`` does that); this reads
just enough of any datagram, even one pyVoIP cannot parse, to answer it by RFC 3261 (section 8.2.6: Via, From,
Call-ID and CSeq copied, a To tag added) and to route it before pyVoIP sees it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# RFC 3261 compact header forms.
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}
REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    500: "Server Internal Error", 503: "Service Unavailable", 603: "Decline",
}
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
_URI_USER = re.compile(r"^(?:sips?|tel):([^@;>]+)")
_NAME_ADDR = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>')


@dataclass(frozen=True)
class Head:
    """A datagram's start line and headers (names lower-cased, compact forms expanded, order kept)."""

    start: str
    headers: tuple[tuple[str, str], ...]

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/")

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0].upper() if self.is_request else ""

    @property
    def status(self) -> int:
        parts = self.start.split(" ")
        return int(parts[1]) if not self.is_request and len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def request_uri(self) -> str:
        parts = self.start.split(" ")
        return parts[1] if self.is_request and len(parts) == 3 else ""

    def get(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq_method(self) -> str:
        parts = self.get("cseq").split()
        return parts[1].upper() if len(parts) == 2 else ""

    def answerable(self) -> bool:
        """Whether a response can be addressed: a request with Via, From, To, Call-ID and CSeq."""
        return self.is_request and all(self.get(name) for name in ("via", "from", "to", "call-id", "cseq"))


def read_head(raw: bytes) -> Head | None:
    """The head of a SIP datagram, or None when it is not even that (not text, no start line)."""
    try:
        text = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    start = lines[0].strip()
    if not start or (not start.startswith("SIP/2.0 ") and not start.endswith(" SIP/2.0")):
        return None
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return Head(start=start, headers=tuple(headers))


def uri_user(uri: str) -> str:
    """The user part of a SIP/tel URI (the dialled or calling number), without parameters."""
    match = _URI_USER.match(uri.strip().strip("<>"))
    return match.group(1).split(";")[0] if match else ""


def name_addr(value: str) -> tuple[str, str]:
    """(display name, URI) of a From/To header value."""
    match = _NAME_ADDR.match(value)
    if match:
        name = (match.group(1) if match.group(1) is not None else match.group(2) or "").strip()
        return name.replace('\\"', '"'), match.group(3)
    return "", value.split(";", 1)[0].strip()


def dialled(head: Head) -> str:
    """The number the caller dialled: the Request-URI's user part, else the To header's."""
    return uri_user(head.request_uri) or uri_user(name_addr(head.get("to"))[1])


def caller(head: Head) -> tuple[str, str]:
    """(number, display name) of the caller, from the From header."""
    name, uri = name_addr(head.get("from"))
    return uri_user(uri), name


def new_tag() -> str:
    return secrets.token_hex(4)


def response(head: Head, status: int, *, to_tag: str = "", extra: tuple[str, ...] = ()) -> bytes:
    """A final (or provisional) response to the request ``head``, RFC 3261 section 8.2.6."""
    to = head.get("to")
    if ";tag=" not in to.replace(" ", "") and status > 100:
        to = f"{to};tag={to_tag or new_tag()}"
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"Via: {via}" for via in head.all("via")]
    lines += [f"From: {head.get('from')}", f"To: {to}", f"Call-ID: {head.call_id}", f"CSeq: {head.get('cseq')}"]
    if status == 405:
        lines.append(f"Allow: {ALLOW}")
    lines += list(extra)
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()



def branch() -> str:
    return f"z9hG4bK{secrets.token_hex(10)}"


def _uri(value: str) -> str:
    return name_addr(value)[1]


def bye(invite: Head, *, answer: Head | None, local: tuple[str, int], local_tag: str, cseq: int) -> bytes:
    """A BYE ending the dialog the INVITE ``invite`` set up, sent by this side.

    ``answer``: the 2xx to our own INVITE when this side dialled (From is ours, the answer's To and Contact are
    the remote's); None when this side received the INVITE (To is ours, the INVITE's From and Contact are the
    remote's). pyVoIP's own BYE copies the remote's Via and the INVITE's CSeq, which strict peers refuse; this
    one follows RFC 3261 section 15.1.1.
    """
    host, port = local
    if answer is not None:
        from_, to, target = invite.get("from"), answer.get("to"), _uri(answer.get("contact")) or invite.request_uri
    else:
        from_ = f"{invite.get('to').split(';tag=')[0]};tag={local_tag}"
        to, target = invite.get("from"), _uri(invite.get("contact")) or _uri(invite.get("from"))
    lines = [
        f"BYE {target} SIP/2.0", f"Via: SIP/2.0/UDP {host}:{port};branch={branch()};rport", "Max-Forwards: 70",
        f"From: {from_}", f"To: {to}", f"Call-ID: {invite.call_id}", f"CSeq: {cseq} BYE",
        f"Contact: <sip:ccp@{host}:{port}>", "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode()


def ack(invite: Head, final: Head) -> bytes:
    """The ACK of a final response to our INVITE: a 2xx gets its own transaction (new branch, to the Contact),
    a failure response the INVITE's (same Via), RFC 3261 sections 13.2.2.4 and 17.1.1.3."""
    cseq = invite.get("cseq").split()[0]
    ok = 200 <= final.status < 300
    target = (_uri(final.get("contact")) if ok else "") or invite.request_uri
    via = invite.get("via")
    if ok:
        sent_by = via.split(";")[0]
        via = f"{sent_by};branch={branch()};rport"
    lines = [
        f"ACK {target} SIP/2.0", f"Via: {via}", "Max-Forwards: 70", f"From: {invite.get('from')}",
        f"To: {final.get('to')}", f"Call-ID: {invite.call_id}", f"CSeq: {cseq} ACK", "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode()


def cancel(invite: Head) -> bytes:
    """The CANCEL of our pending INVITE (RFC 3261 section 9.1: same Request-URI, top Via, From, To, Call-ID)."""
    cseq = invite.get("cseq").split()[0]
    lines = [
        f"CANCEL {invite.request_uri} SIP/2.0", f"Via: {invite.get('via')}", "Max-Forwards: 70",
        f"From: {invite.get('from')}", f"To: {invite.get('to')}", f"Call-ID: {invite.call_id}", f"CSeq: {cseq} CANCEL",
        "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode()


def offers_pcmu(raw: bytes) -> bool:
    """Whether the SDP offer of an INVITE has an audio stream with PCMU (payload type 0), the only codec the
    adapter uses: pyVoIP 1.6.8 sends PCMA encoded as PCMU (docs/voice.md, "Limits of pyVoIP")."""
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("m=audio "):
            if "0" in line.split()[3:]:
                return True
    return False


def pcmu_only(raw: bytes) -> bytes:
    """The INVITE with its SDP offer cut down to PCMU and telephone-event: pyVoIP 1.6.8 warns and resets the
    process's warning filters (``warnings.simplefilter("default")``) on payload types it does not know, and
    would pick PCMA when offered first."""
    if b"\r\n\r\n" not in raw:
        return raw
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = body.decode("utf-8", "replace").split("\r\n")
    events = {
        line.split()[0].split(":", 1)[1] for line in lines
        if line.startswith("a=rtpmap:") and len(line.split()) > 1 and line.split()[1].lower().startswith("telephone-event/")
    }
    keep = {"0"} | events
    out = []
    for line in lines:
        if line.startswith("m=audio "):
            parts = line.split()
            line = " ".join(parts[:3] + [pt for pt in parts[3:] if pt in keep])
        elif line.startswith(("a=rtpmap:", "a=fmtp:")) and line.split()[0].split(":", 1)[1] not in keep:
            continue
        out.append(line)
    new_body = "\r\n".join(out).encode()
    head_lines = [
        f"Content-Length: {len(new_body)}".encode() if line.lower().startswith((b"content-length:", b"l:")) else line
        for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(head_lines) + b"\r\n\r\n" + new_body
