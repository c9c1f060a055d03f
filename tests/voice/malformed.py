"""Malformed SIP datagrams for the robustness tests: a well-formed INVITE taken apart in every way a broken or
hostile peer might send it (garbage, truncation, binary, a missing mandatory header, a wrong Content-Length, huge
headers, invalid SDP), plus stray requests and responses. Pure: bytes in, bytes out.
"""

from __future__ import annotations

MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


def invite(*, number: str, caller: str, target: str, call_id: str, headers: dict[str, str] | None = None,
           body: bytes | None = None, content_length: int | str | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """An INVITE from 127.0.0.1 to ``number`` at ``target`` ("host:port"): ``drop`` leaves headers out,
    ``content_length`` overrides the true one, ``headers`` adds or replaces."""
    sdp = body if body is not None else (
        b"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    fields = {
        "Via": f"SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{call_id}",
        "From": f"<sip:{caller}@127.0.0.1:9>;tag=t-{call_id}",
        "To": f"<sip:{number}@{target}>",
        "Call-ID": call_id,
        "CSeq": "1 INVITE",
        "Contact": f"<sip:{caller}@127.0.0.1:9>",
        "Max-Forwards": "70",
        "Content-Type": "application/sdp",
        "Content-Length": str(len(sdp) if content_length is None else content_length),
        **(headers or {}),
    }
    head = f"INVITE sip:{number}@{target} SIP/2.0\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in fields.items() if name not in drop)
    return head.encode("latin-1") + b"\r\n" + sdp


def cases(*, number: str, caller: str, target: str) -> dict[str, bytes]:
    """Named malformed datagrams; every Call-ID is unique so no two cases touch the same dialog."""

    def make(name: str, **kwargs) -> bytes:
        return invite(number=number, caller=caller, target=target, call_id=f"malformed-{name}", **kwargs)

    whole = make("truncated")
    found = {
        "empty": b"",
        "crlf-keepalive": b"\r\n\r\n",
        "garbage-text": b"hello, is this the contact centre?",
        "garbage-binary": bytes(range(256)) * 4,
        "nul-bytes": b"\x00" * 1400,
        "truncated-request-line": whole[:20],
        "truncated-in-headers": whole[:len(whole) // 3],
        "truncated-in-sdp": whole[:-40],
        "binary-in-from": make("binary-from").replace(b"From: <sip:", b"From: \xff\xfe\x00<sip:", 1),
        "not-sip-version": make("version").replace(b"SIP/2.0\r\n", b"SIP/3.7\r\n", 1),
        "no-request-uri": b"INVITE  SIP/2.0\r\n" + make("no-uri").split(b"\r\n", 1)[1],
        "content-length-longer": make("cl-longer", content_length=5000),
        "content-length-shorter": make("cl-shorter", content_length=10),
        "content-length-negative": make("cl-negative", content_length=-1),
        "content-length-not-a-number": make("cl-nan", content_length="lots"),
        "huge-header": make("huge", headers={"Subject": "A" * 60_000}),
        "many-headers": make("many", headers={f"X-Filler-{i}": "x" * 20 for i in range(1500)}),
        "sdp-not-sdp": make("sdp-junk", body=b"this is not a session description\r\n"),
        "sdp-no-media": make("sdp-no-m", body=b"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"),
        "sdp-bad-port": make("sdp-port", body=b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio port RTP/AVP 0\r\n"),
        "sdp-pcma-only": make("sdp-pcma", body=b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n"
                                               b"a=rtpmap:8 PCMA/8000\r\n"),
        "sdp-bad-address": make("sdp-addr", body=b"v=0\r\nc=IN IP4 999.1.1.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"),
        "cseq-not-a-number": make("cseq", headers={"CSeq": "one INVITE"}),
        "stray-bye": b"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-b\r\n"
                     b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: no-such-call\r\n"
                     b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        "stray-response": b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-r\r\n"
                          b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: no-such-call\r\n"
                          b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        "unknown-method": make("method").replace(b"INVITE ", b"FROBNICATE ", 1),
    }
    for header in MANDATORY:
        found[f"missing-{header.lower()}"] = make(f"no-{header.lower()}", drop=(header,))
    return found
