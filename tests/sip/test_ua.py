"""Incoming calls (UAS) and the UA's own answers: 100/180/183/200, 2xx retransmission until ACK,
CANCEL, BYE, re-INVITE, 481/405/420/500, OPTIONS, parse errors (RFC 3261 §8.2, §9.2, §12, §13.3)."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.message import Request, Response
from wcs.sip.transport import Address
from wcs.sip.ua import (
    CallAnswered,
    CallEnded,
    IncomingCall,
    InviteSession,
    OfferReceived,
    RequestUnhandled,
    UaEvent,
)

from .test_ua_harness import ALLOW, CALLER, LOCAL, PROXY, SDP_ANSWER, SDP_OFFER, Peer, account, request_from

URI = "sip:1001@192.0.2.10:5070"


def incoming(peer: Peer, **kw: object) -> tuple[InviteSession, Request]:
    invite = request_from(CALLER, "INVITE", URI, body=SDP_OFFER, **kw)  # type: ignore[arg-type]
    peer.deliver(invite, source=CALLER)
    trying, dest = peer.take_response(100)
    assert dest == CALLER and trying.to_tag is None
    (event,) = peer.events()
    assert isinstance(event, IncomingCall)
    return event.session, invite


def ack_for(invite: Request, ok: Response, branch: str = "z9hG4bKack1") -> Request:
    return request_from(CALLER, "ACK", URI, to_tag=ok.to_tag, cseq=invite.cseq.seq, branch=branch,
                        call_id=invite.call_id)


def ended(events: list[UaEvent]) -> tuple[str, int | None, str]:
    (end,) = [e for e in events if isinstance(e, CallEnded)]
    return end.cause, end.status, end.reason


def test_incoming_invite_is_trying_at_once_and_reported() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    assert session.incoming and session.state == "calling"
    assert session.remote_uri == "sip:1002@example.com" and session.remote_display_name == "Bob"
    assert session.remote_sdp == SDP_OFFER and session.account is None and session.dialog is None


def test_incoming_call_finds_the_registered_account() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    peer.sent()
    session, _ = incoming(peer)
    assert session.account is not None and session.account.user == "1001"


def test_ring_answer_ack() -> None:
    peer = Peer()
    session, invite = incoming(peer, headers=[("Record-Route", "<sip:192.0.2.1;lr>")])
    peer.ua.ring(session, 0.1)
    ringing, dest = peer.take_response(180)
    assert dest == CALLER and ringing.to_tag
    assert ringing.headers.get("Contact") == "<sip:1001@192.0.2.10:5070>"
    assert ringing.headers.get("Record-Route") == "<sip:192.0.2.1;lr>"
    assert session.state == "early" and session.dialog is not None
    peer.ua.answer(session, SDP_ANSWER, 0.2)
    ok, _ = peer.take_response(200)
    assert ok.to_tag == ringing.to_tag and ok.body == SDP_ANSWER
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert ok.headers.get("Allow") == ALLOW
    assert ok.headers.get("Record-Route") == "<sip:192.0.2.1;lr>" and "Supported" in ok.headers
    assert session.state == "confirmed" and session.local_sdp == SDP_ANSWER
    assert peer.events() == []
    peer.deliver(ack_for(invite, ok), source=CALLER, at=0.3)
    (answered,) = peer.events()
    assert isinstance(answered, CallAnswered) and answered.session is session and answered.sdp is None
    peer.advance(40.0)
    peer.nothing_sent()  # no retransmissions after the ACK
    assert session.dialog is not None
    assert session.dialog.route_set[0].uri.host == "192.0.2.1"  # in order for the UAS


def test_183_with_early_media() -> None:
    peer = Peer()
    session, _ = incoming(peer)
    peer.ua.ring(session, 0.1, sdp=SDP_ANSWER)
    progress, _ = peer.take_response(183)
    assert progress.body == SDP_ANSWER and session.local_sdp == SDP_ANSWER


def test_2xx_is_retransmitted_doubling_to_t2_until_ack() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    times: list[float] = []
    while (deadline := peer.ua.get_timer()) is not None and deadline <= 12.0:
        peer.advance(deadline)
        times.extend(deadline for message, _ in peer.sent() if message.start_line().startswith("SIP/2.0 200"))
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5]  # T1, 2T1, 4T1, then capped at T2
    peer.deliver(ack_for(invite, ok), source=CALLER, at=12.0)
    assert [type(e) for e in peer.events()] == [CallAnswered]
    peer.advance(40.0)
    peer.nothing_sent()


def test_no_ack_within_64_t1_ends_the_call_with_bye() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    peer.take_response(200)
    peer.advance(31.9)
    peer.sent()
    peer.advance(32.0)
    bye, dest = peer.take_request("BYE")
    assert dest == CALLER and bye.uri == "sip:1002@192.0.2.30:5090"
    assert bye.from_tag == session.dialog.local_tag if session.dialog else False
    assert ended(peer.events()) == ("failed", 408, "No ACK for 200 OK")


def test_reject() -> None:
    peer = Peer()
    session, _ = incoming(peer)
    peer.ua.reject(session, 486, "Busy Here", 0.1)
    busy, _ = peer.take_response(486)
    assert busy.to_tag and busy.reason == "Busy Here"
    assert ended(peer.events()) == ("rejected", 486, "Busy Here")
    with pytest.raises(LocalProtocolError, match="cannot answer: the INVITE was answered already"):
        peer.ua.answer(session, SDP_ANSWER, 0.2)
    with pytest.raises(LocalProtocolError, match="reject needs a 3xx-6xx status, not 200"):
        peer.ua.reject(session, 200, "OK", 0.2)


def test_ring_on_an_outgoing_call_is_refused() -> None:
    peer = Peer()
    session = peer.ua.invite(account(), "1002", SDP_OFFER, 0.0)
    with pytest.raises(LocalProtocolError, match="ring is for incoming calls"):
        peer.ua.ring(session, 0.1)


def test_cancel_gets_200_and_the_invite_487() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.1)
    ringing, _ = peer.take_response(180)
    cancel = request_from(CALLER, "CANCEL", URI, call_id=invite.call_id, contact=None)
    peer.deliver(cancel, source=CALLER, at=1.0)
    sent = peer.sent()
    assert [m.start_line() for m, _ in sent] == ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    ok_cancel, terminated = sent[0][0], sent[1][0]
    assert isinstance(ok_cancel, Response) and str(ok_cancel.cseq) == "1 CANCEL"
    assert ok_cancel.to_tag == ringing.to_tag  # §9.2: same To tag as the INVITE's responses
    assert isinstance(terminated, Response) and terminated.to_tag == ringing.to_tag
    assert ended(peer.events()) == ("cancelled", 487, "Request Terminated")
    assert session.state == "terminated"
    # the ACK for the 487 is absorbed by the INVITE server transaction
    peer.deliver(request_from(CALLER, "ACK", URI, call_id=invite.call_id, to_tag=ringing.to_tag,
                              contact=None), source=CALLER)
    peer.nothing_sent()
    assert peer.events() == []


def test_cancel_for_an_unknown_transaction_gets_481() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "CANCEL", URI, contact=None), source=CALLER)
    resp, _ = peer.take_response(481)
    assert resp.reason == "Call/Transaction Does Not Exist"
    (event,) = peer.events()
    assert isinstance(event, RequestUnhandled) and event.status == 481


def test_cancel_after_the_answer_only_gets_200() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.1)
    peer.take_response(200)
    peer.deliver(request_from(CALLER, "CANCEL", URI, call_id=invite.call_id, contact=None), source=CALLER)
    resp, _ = peer.take_response(200)
    assert str(resp.cseq) == "1 CANCEL" and peer.events() == [] and session.state == "confirmed"


def test_remote_bye() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.1)
    ok, _ = peer.take_response(200)
    peer.deliver(ack_for(invite, ok), source=CALLER)
    peer.events()
    bye = request_from(CALLER, "BYE", URI, call_id=invite.call_id, to_tag=ok.to_tag, cseq=2,
                       branch="z9hG4bKbye")
    peer.deliver(bye, source=CALLER, at=5.0)
    resp, dest = peer.take_response(200)
    assert dest == CALLER and str(resp.cseq) == "2 BYE"
    assert ended(peer.events()) == ("remote-bye", None, "BYE")
    # the same BYE again: a retransmission, answered by its transaction
    peer.deliver(bye, source=CALLER, at=5.5)
    peer.take_response(200)
    assert peer.events() == []
    # another BYE after the end: 481
    peer.deliver(request_from(CALLER, "BYE", URI, call_id=invite.call_id, to_tag=ok.to_tag, cseq=3,
                              branch="z9hG4bKbye2"), source=CALLER)
    peer.take_response(481)


def test_remote_bye_before_the_ack_stops_retransmissions() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    peer.deliver(request_from(CALLER, "BYE", URI, call_id=invite.call_id, to_tag=ok.to_tag, cseq=2,
                              branch="z9hG4bKbye"), source=CALLER, at=0.2)
    peer.take_response(200)
    assert ended(peer.events()) == ("remote-bye", None, "BYE")
    peer.advance(40.0)
    peer.nothing_sent()


def test_bye_with_a_lower_cseq_is_rejected_500() -> None:
    peer = Peer()
    session, invite = incoming(peer, cseq=10)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    peer.deliver(request_from(CALLER, "BYE", URI, call_id=invite.call_id, to_tag=ok.to_tag, cseq=9,
                              branch="z9hG4bKold"), source=CALLER)
    resp, _ = peer.take_response(500)
    assert resp.reason == "CSeq out of order" and session.state == "confirmed"


def test_unanswered_incoming_call_gives_up_after_timer_c() -> None:
    peer = Peer()
    session, _ = incoming(peer)
    peer.ua.ring(session, 1.0)
    peer.take_response(180)
    peer.advance(179.9)
    peer.nothing_sent()
    peer.advance(180.0)
    resp, _ = peer.take_response(480)
    assert resp.reason == "No Answer"
    assert ended(peer.events()) == ("timeout", 480, "No Answer")


def test_local_hang_up_of_an_incoming_call() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.cancel_or_bye(session, 0.1)
    peer.take_response(480)
    assert ended(peer.events()) == ("rejected", 480, "Temporarily Unavailable")


def test_hang_up_after_200_waits_for_the_ack_then_byes() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    peer.ua.cancel_or_bye(session, 0.1)
    peer.nothing_sent()  # §15: no BYE before the ACK
    peer.deliver(ack_for(invite, ok), source=CALLER, at=0.2)
    bye, dest = peer.take_request("BYE")
    assert dest == CALLER and str(bye.cseq) == "1 BYE"
    assert [type(e) for e in peer.events()] == [CallAnswered]
    peer.deliver(Peer.answer(bye, 200), source=CALLER)
    assert ended(peer.events()) == ("local-bye", 200, "OK")


def test_local_bye_of_an_answered_incoming_call() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    peer.deliver(ack_for(invite, ok), source=CALLER)
    peer.events()
    peer.ua.cancel_or_bye(session, 1.0)
    bye, _ = peer.take_request("BYE")
    assert bye.to_tag == "ftag" and bye.from_tag == ok.to_tag


def test_reinvite_offer_is_reported_and_answered_by_the_owner() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.answer(session, SDP_ANSWER, 0.0)
    ok, _ = peer.take_response(200)
    peer.deliver(ack_for(invite, ok), source=CALLER)
    peer.events()
    hold = SDP_OFFER.replace(b"m=audio 4000 RTP/AVP 0\r\n", b"m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n")
    moved = Address("192.0.2.31", 5091)  # the caller moved: the re-INVITE comes from elsewhere
    reinvite = request_from(moved, "INVITE", URI, call_id=invite.call_id, to_tag=ok.to_tag, cseq=2,
                            branch="z9hG4bKre", body=hold, contact="<sip:1002@192.0.2.31:5091>")
    peer.deliver(reinvite, source=moved, at=2.0)
    peer.nothing_sent()
    (offer,) = peer.events()
    assert isinstance(offer, OfferReceived) and (offer.sdp, offer.method) == (hold, "INVITE")
    recvonly = SDP_ANSWER + b"a=recvonly\r\n"
    peer.ua.answer_offer(session, recvonly, 2.0)
    ok2, dest = peer.take_response(200)
    assert dest == moved
    assert ok2.body == recvonly and str(ok2.cseq) == "2 INVITE"
    assert session.remote_sdp == hold and session.local_sdp == recvonly
    assert session.dialog is not None and session.dialog.remote_target.host == "192.0.2.31"
    peer.advance(2.5)
    again, dest = peer.take_response(200)  # retransmitted until its ACK, to where it came from
    assert dest == moved and str(again.cseq) == "2 INVITE"
    peer.deliver(ack_for(reinvite, ok2, branch="z9hG4bKack2"), source=CALLER, at=2.6)
    assert peer.events() == []  # no second CallAnswered
    peer.advance(40.0)
    peer.nothing_sent()


def test_reinvite_before_the_initial_answer_gets_500_with_retry_after() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.1)
    ringing, _ = peer.take_response(180)
    peer.deliver(request_from(CALLER, "INVITE", URI, call_id=invite.call_id, to_tag=ringing.to_tag,
                              cseq=2, branch="z9hG4bKre", body=SDP_OFFER), source=CALLER)
    resp, _ = peer.take_response(500)
    retry_after = resp.headers.get("Retry-After")
    assert retry_after is not None and 0 <= int(retry_after) <= 10
    assert session.state == "early"


def test_unknown_dialog_gets_481() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "BYE", URI, to_tag="nope"), source=CALLER)
    resp, _ = peer.take_response(481)
    assert resp.to_tag == "nope"
    (event,) = peer.events()
    assert isinstance(event, RequestUnhandled) and event.request.method == "BYE"
    peer.deliver(request_from(CALLER, "BYE", URI, branch="z9hG4bK2"), source=CALLER)  # no To tag
    peer.take_response(481)
    # an ACK for nothing is dropped silently
    peer.deliver(request_from(CALLER, "ACK", URI, to_tag="nope"), source=CALLER)
    peer.nothing_sent()


@pytest.mark.parametrize("method", ["SUBSCRIBE", "REGISTER", "PUBLISH", "INFO", "FOO"])
def test_unsupported_methods_get_405_with_allow(method: str) -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, method, URI), source=CALLER)
    resp, _ = peer.take_response(405)
    assert resp.headers.get("Allow") == ALLOW and resp.to_tag


def test_options_is_answered_with_capabilities() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "OPTIONS", URI), source=CALLER)
    resp, dest = peer.take_response(200)
    assert dest == CALLER
    assert resp.headers.get("Allow") == ALLOW
    assert resp.headers.get("Accept") == "application/sdp" and "Supported" in resp.headers
    assert peer.events() == []


def test_require_of_an_unknown_extension_gets_420() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "INVITE", URI, headers=[("Require", "100rel, foo, timer, bar")],
                              body=SDP_OFFER), source=CALLER)
    resp, _ = peer.take_response(420)
    assert resp.headers.get("Unsupported") == "foo, bar"  # only what we do not implement


def test_invite_with_a_non_sdp_body_gets_415() -> None:
    peer = Peer()
    invite = request_from(CALLER, "INVITE", URI)
    invite.headers.add("Content-Type", "text/plain")
    invite.body = b"hello"
    peer.deliver(invite, source=CALLER)
    resp, _ = peer.take_response(415)
    assert resp.headers.get("Accept") == "application/sdp"


def test_invite_for_a_non_sip_uri_gets_416() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "INVITE", "urn:service:sos", body=SDP_OFFER), source=CALLER)
    resp, _ = peer.take_response(416)
    assert resp.reason == "Unsupported URI Scheme"


def test_invite_without_contact_gets_400() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "INVITE", URI, contact=None), source=CALLER)
    resp, _ = peer.take_response(400)
    assert resp.reason == "Missing Contact header"


def test_invite_with_a_malformed_contact_gets_400_naming_it() -> None:
    peer = Peer()
    peer.deliver(request_from(CALLER, "INVITE", URI, contact="<bad uri>"), source=CALLER)
    resp, _ = peer.take_response(400)
    assert resp.reason == "Malformed Contact header"
    peer.advance(100.0)
    assert peer.ua.get_timer() is None  # the server transaction ended (Timer H)


def test_merged_request_gets_482() -> None:
    peer = Peer()
    incoming(peer)
    # the same INVITE (Call-ID, From tag, CSeq) arriving over another path: new branch
    peer.deliver(request_from(CALLER, "INVITE", URI, branch="z9hG4bKother", body=SDP_OFFER), source=CALLER)
    resp, _ = peer.take_response(482)
    assert resp.reason == "Loop Detected"


def test_invite_retransmission_is_absorbed() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.deliver(invite, source=CALLER, at=0.5)
    peer.take_response(100)  # the server transaction re-sends its last provisional
    assert peer.events() == []


def test_malformed_request_gets_400_with_the_parse_error_reason() -> None:
    peer = Peer()
    raw = bytes(request_from(CALLER, "OPTIONS", URI)).replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
    peer.deliver(raw, source=CALLER)
    (out,) = peer.ua.outgoing()  # (not parseable itself: it echoes the bad CSeq, §8.2.6)
    assert out.data.startswith(b"SIP/2.0 400 Invalid CSeq header\r\n")
    assert b"\r\nCSeq: one OPTIONS\r\n" in out.data
    assert out.dest == CALLER  # rport in the Via: back to the source port


def test_unparseable_responses_and_garbage_are_dropped() -> None:
    peer = Peer()
    for data in (b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", b"\x00\x01\x02", b"\r\n\r\n", b"",
                 b"INVITE sip:x SIP/2.0\r\n\r\n"):
        peer.deliver(data, source=CALLER)
    peer.nothing_sent()
    assert peer.events() == []


def test_stray_response_is_ignored() -> None:
    peer = Peer()
    stray = Peer.answer(request_from(CALLER, "OPTIONS", URI), 200, to_tag="x")
    peer.deliver(stray, source=PROXY)
    peer.nothing_sent()
    assert peer.events() == []
    assert LOCAL.port == 5070
