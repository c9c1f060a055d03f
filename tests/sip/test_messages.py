"""SIP text the adapter writes itself, and INVITE screening: pure, no sockets."""

from __future__ import annotations

from ccp_acd.sip import messages
from ccp_acd.sip.screening import BLOCKED, FOREIGN_SOURCE, UNKNOWN_NUMBER, TrunkView
from ccp_acd.state.store import BlockedCaller, TrunkConfig

INVITE = (
    b"INVITE sip:+15550100@127.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n"
    b'From: "Ann Example" <sip:+15551234@127.0.0.1:5061>;tag=abc\r\n'
    b"To: <sip:+15550100@127.0.0.1:5070>\r\n"
    b"Call-ID: 1-2@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:caller@127.0.0.1:5061>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 60\r\n\r\n"
    b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 8 0 101\r\n"
)


def test_head_reads_compact_headers_and_the_numbers():
    head = messages.read_head(INVITE)
    assert head is not None and head.method == "INVITE" and head.answerable()
    assert head.all("via") == ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0"]
    assert messages.dialled(head) == "+15550100"
    assert messages.caller(head) == ("+15551234", "Ann Example")


def test_garbage_has_no_head():
    assert messages.read_head(b"\xff\xfe not sip") is None
    assert messages.read_head(b"HELLO\r\n\r\n") is None


def test_final_response_copies_the_transaction_headers_and_adds_a_to_tag():
    head = messages.read_head(INVITE)
    text = messages.response(head, 404, to_tag="t1").decode()
    lines = text.split("\r\n")
    assert lines[0] == "SIP/2.0 404 Not Found"
    assert lines[1:3] == [f"Via: {v}" for v in head.all("via")]
    assert "To: <sip:+15550100@127.0.0.1:5070>;tag=t1" in lines
    assert "Call-ID: 1-2@127.0.0.1" in lines and "CSeq: 1 INVITE" in lines
    assert text.endswith("Content-Length: 0\r\n\r\n")


def test_method_not_allowed_says_what_is():
    head = messages.read_head(INVITE.replace(b"INVITE sip", b"SUBSCRIBE sip", 1))
    assert f"Allow: {messages.ALLOW}" in messages.response(head, 405).decode()


def test_offer_without_pcmu_is_refused():
    assert messages.offers_pcmu(INVITE)
    assert not messages.offers_pcmu(INVITE.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 8 101"))


def test_bye_of_a_received_call_goes_to_the_remote_contact_with_our_tag():
    head = messages.read_head(INVITE)
    text = messages.bye(head, answer=None, local=("127.0.0.1", 5070), local_tag="ours", cseq=7).decode()
    assert text.startswith("BYE sip:caller@127.0.0.1:5061 SIP/2.0\r\n")
    assert "From: <sip:+15550100@127.0.0.1:5070>;tag=ours" in text
    assert 'To: "Ann Example" <sip:+15551234@127.0.0.1:5061>;tag=abc' in text
    assert "CSeq: 7 BYE" in text and "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" in text


def view(**changes) -> TrunkView:
    trunk = TrunkConfig(name="main", numbers=("+1 555-0100",), allowed_sources=("127.0.0.0/24",))
    return TrunkView.of(trunk, changes.get("blocked", [BlockedCaller(pattern="+1666*")]))


def test_screening_order_source_then_number_then_blocklist():
    v = view()
    assert v.screen(source_host="127.0.0.2", dialled="+15550100", caller="+15551234") is None
    assert v.screen(source_host="10.0.0.1", dialled="+15550199", caller="+16660000") == FOREIGN_SOURCE
    assert v.screen(source_host="127.0.0.1", dialled="+15550199", caller="+16660000") == UNKNOWN_NUMBER
    assert v.screen(source_host="127.0.0.1", dialled="+15550100", caller="+16660000") == BLOCKED


def test_a_trunk_without_allowed_sources_admits_nobody():
    trunk = TrunkConfig(name="main", numbers=("+15550100",))
    assert TrunkView.of(trunk, []).screen(source_host="127.0.0.1", dialled="+15550100", caller="1") == FOREIGN_SOURCE


def test_offer_is_cut_down_to_pcmu_and_telephone_events_with_its_length_fixed():
    offer = b"m=audio 6000 RTP/AVP 8 0 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    raw = INVITE.replace(b"m=audio 6000 RTP/AVP 8 0 101\r\n", offer)
    raw = raw.replace(b"Content-Length: 60", b"Content-Length: 123")
    cut = messages.pcmu_only(raw)
    body = cut.split(b"\r\n\r\n", 1)[1]
    assert b"m=audio 6000 RTP/AVP 0 101\r\n" in body and b"G729" not in body
    assert f"Content-Length: {len(body)}".encode() in cut
