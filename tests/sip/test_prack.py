"""Reliable provisional responses and PRACK (RFC 3262), caller and callee, with exact retransmission times."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.errors import SipParseError
from wcs.sip.message import Request, Response
from wcs.sip.prack import parse_rack, parse_rseq
from wcs.sip.ua import AnswerReceived, CallAnswered, CallEnded, CallProgress, IncomingCall, UaConfig

from .test_ua_harness import (
    CALLEE_CONTACT,
    CALLER,
    OUR_URI,
    PROXY,
    SDP_ANSWER,
    SDP_OFFER,
    Peer,
    account,
    ack_to,
    request_from,
)

REL = [("Require", "100rel"), ("Contact", CALLEE_CONTACT)]


def caller(peer: Peer) -> tuple[object, Request]:
    session = peer.ua.invite(account(), "sip:1002@example.com", SDP_OFFER, 0.0)
    invite, _ = peer.take_request("INVITE")
    return session, invite


def reliable(invite: Request, status: int, rseq: int, body: bytes = b"") -> Response:
    return Peer.answer(invite, status, to_tag="callee", headers=[*REL, ("RSeq", str(rseq))], body=body)


# ---------------------------------------------------------------- caller


def test_invite_supports_100rel_and_a_reliable_180_is_pracked() -> None:
    peer = Peer()
    _, invite = caller(peer)
    assert "100rel" in (invite.headers.get("Supported") or "")
    peer.deliver(reliable(invite, 180, 7), at=0.1)
    prack, dest = peer.take_request("PRACK")
    assert dest == PROXY and prack.uri == "sip:1002@192.0.2.20:5080"
    assert prack.headers.get("RAck") == "7 1 INVITE" and str(prack.cseq) == "2 PRACK"
    assert prack.to_tag == "callee" and prack.from_tag == invite.from_tag
    (progress,) = peer.events()
    assert isinstance(progress, CallProgress) and progress.status == 180


def test_retransmissions_and_gaps_are_dropped_the_next_in_order_is_pracked() -> None:
    peer = Peer()
    _, invite = caller(peer)
    peer.deliver(reliable(invite, 180, 7))
    peer.take_request("PRACK")
    peer.events()
    peer.deliver(reliable(invite, 180, 7))   # a retransmission: no second PRACK (RFC 3262 §4)
    peer.deliver(reliable(invite, 183, 9))   # out of order: not PRACKed, not processed
    peer.nothing_sent()
    assert peer.events() == []
    peer.deliver(reliable(invite, 183, 8, SDP_ANSWER))
    prack, _ = peer.take_request("PRACK")
    assert prack.headers.get("RAck") == "8 1 INVITE" and str(prack.cseq) == "3 PRACK"
    (progress,) = peer.events()
    assert isinstance(progress, CallProgress) and progress.sdp == SDP_ANSWER


def test_a_lost_prack_is_retransmitted_by_its_own_transaction() -> None:
    peer = Peer()
    _, invite = caller(peer)
    peer.deliver(reliable(invite, 180, 1), at=0.0)
    first, _ = peer.take_request("PRACK")
    when, sent = peer.next_send(1.0)
    assert when == 0.5 and [bytes(m) for m, _ in sent] == [bytes(first)]   # Timer E at T1


def test_unreliable_provisional_is_not_pracked_and_the_2xx_bye_cseq_continues() -> None:
    peer = Peer()
    session, invite = caller(peer)
    peer.deliver(reliable(invite, 180, 1))
    prack, _ = peer.take_request("PRACK")
    peer.deliver(Peer.answer(prack, 200))
    peer.deliver(Peer.answer(invite, 183, to_tag="callee", headers=[("Contact", CALLEE_CONTACT)]))
    peer.nothing_sent()
    peer.deliver(Peer.answer(invite, 200, to_tag="callee", headers=[("Contact", CALLEE_CONTACT)],
                             body=SDP_ANSWER))
    ack, _ = peer.take_request("ACK")
    assert str(ack.cseq) == "1 ACK"
    peer.ua.cancel_or_bye(session, 1.0)   # type: ignore[arg-type]
    bye, _ = peer.take_request("BYE")
    assert str(bye.cseq) == "3 BYE"   # the early dialog's CSeq (PRACK was 2) carries on


# ---------------------------------------------------------------- callee


def incoming(peer: Peer, supported: str = "100rel, timer") -> tuple[object, Request]:
    invite = request_from(CALLER, "INVITE", OUR_URI, body=SDP_OFFER, headers=[("Supported", supported)])
    peer.deliver(invite, source=CALLER)
    peer.take_response(100)
    (event,) = peer.events()
    assert isinstance(event, IncomingCall)
    return event.session, invite


def prack_for(invite: Request, provisional: Response, rack: str | None = None, cseq: int = 2,
              branch: str = "z9hG4bKpr1", body: bytes = b"") -> Request:
    rseq = provisional.headers.get("RSeq")
    return request_from(CALLER, "PRACK", OUR_URI, to_tag=provisional.to_tag, cseq=cseq, branch=branch,
                        headers=[("RAck", rack or f"{rseq} 1 INVITE")], body=body)


def test_reliable_180_is_retransmitted_t1_doubling_until_the_prack() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.0)   # type: ignore[arg-type]
    ringing, _ = peer.take_response(180)
    assert ringing.headers.get("Require") == "100rel"
    rseq = parse_rseq(ringing.headers.get("RSeq") or "")
    assert 1 <= rseq < 2**31
    times = []
    for _ in range(4):
        when, sent = peer.next_send(10.0)
        assert [bytes(m) for m, _ in sent] == [bytes(ringing)]
        times.append(when)
    assert times == [0.5, 1.5, 3.5, 7.5]   # T1, 2T1, 4T1, 8T1 (no T2 cap, RFC 3262 §3)
    peer.deliver(prack_for(invite, ringing), source=CALLER, at=8.0)
    ok, _ = peer.take_response(200)
    assert str(ok.cseq) == "2 PRACK"
    peer.advance(20.0)
    peer.nothing_sent()


def test_prack_matching_nothing_gets_481_and_a_malformed_rack_400() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.0)   # type: ignore[arg-type]
    ringing, _ = peer.take_response(180)
    rseq = int(ringing.headers.get("RSeq") or "0")
    peer.deliver(prack_for(invite, ringing, rack=f"{rseq + 1} 1 INVITE"), source=CALLER)
    peer.take_response(481)
    peer.deliver(prack_for(invite, ringing, rack="x 1 INVITE", cseq=3, branch="z9hG4bKpr2"), source=CALLER)
    bad, _ = peer.take_response(400)
    assert bad.reason == "Malformed RAck header"


def test_second_18x_waits_for_the_prack_of_the_first() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.0)   # type: ignore[arg-type]
    ringing, _ = peer.take_response(180)
    peer.ua.ring(session, 0.1, SDP_ANSWER)   # type: ignore[arg-type]
    peer.nothing_sent()   # RFC 3262 §3: one unacknowledged reliable 1xx at a time
    peer.deliver(prack_for(invite, ringing), source=CALLER, at=0.2)
    sent = peer.sent()
    assert [m.start_line() for m, _ in sent] == ["SIP/2.0 200 OK", "SIP/2.0 183 Session Progress"]
    progress = sent[1][0]
    assert progress.headers.get("RSeq") == str(int(ringing.headers.get("RSeq") or "0") + 1)


def test_2xx_waits_for_the_prack_of_a_1xx_with_sdp_and_repeats_its_answer() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.0, SDP_ANSWER)   # type: ignore[arg-type]
    progress, _ = peer.take_response(183)
    peer.ua.answer(session, b"v=0 another answer\r\n", 0.1)   # type: ignore[arg-type]
    peer.nothing_sent()   # RFC 3262 §5
    with pytest.raises(LocalProtocolError, match="answered already"):
        peer.ua.answer(session, SDP_ANSWER, 0.1)   # type: ignore[arg-type]
    peer.deliver(prack_for(invite, progress), source=CALLER, at=0.2)
    sent = peer.sent()
    assert [m.start_line() for m, _ in sent] == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    ok = sent[1][0]
    assert isinstance(ok, Response) and str(ok.cseq) == "1 INVITE" and ok.body == SDP_ANSWER
    peer.deliver(ack_to(invite, ok), source=CALLER, at=0.3)
    assert [type(e) for e in peer.events()] == [CallAnswered]


def test_prack_carries_the_answer_to_an_offer_in_the_reliable_1xx() -> None:
    peer = Peer()
    invite = request_from(CALLER, "INVITE", OUR_URI, headers=[("Supported", "100rel")])  # no offer
    peer.deliver(invite, source=CALLER)
    peer.take_response(100)
    (event,) = peer.events()
    assert isinstance(event, IncomingCall)
    peer.ua.ring(event.session, 0.0, SDP_ANSWER)   # our offer
    progress, _ = peer.take_response(183)
    peer.deliver(prack_for(invite, progress, body=SDP_OFFER), source=CALLER, at=0.1)
    peer.take_response(200)
    (answer,) = peer.events()
    assert isinstance(answer, AnswerReceived) and answer.sdp == SDP_OFFER
    assert event.session.remote_sdp == SDP_OFFER


def test_no_prack_within_64_t1_rejects_the_invite_with_500() -> None:
    peer = Peer()
    session, invite = incoming(peer)
    peer.ua.ring(session, 0.0)   # type: ignore[arg-type]
    peer.take_response(180)
    peer.advance(31.9)
    peer.sent()
    assert peer.events() == []
    peer.advance(32.0)
    final, _ = peer.take_response(500)
    assert final.reason == "No PRACK"
    (end,) = peer.events()
    assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", 500)


def test_caller_without_100rel_gets_unreliable_18x_or_421_when_required() -> None:
    peer = Peer()
    session, _ = incoming(peer, supported="timer")
    peer.ua.ring(session, 0.0)   # type: ignore[arg-type]
    ringing, _ = peer.take_response(180)
    assert "RSeq" not in ringing.headers and "Require" not in ringing.headers
    strict = Peer()
    strict.ua = type(strict.ua)(strict.ua.local, config=UaConfig(prack="required"))
    strict.deliver(request_from(CALLER, "INVITE", OUR_URI, body=SDP_OFFER), source=CALLER)
    refused, _ = strict.take_response(421)
    assert refused.headers.get("Require") == "100rel"


def test_prack_off_refuses_require_100rel_with_420() -> None:
    peer = Peer()
    peer.ua = type(peer.ua)(peer.ua.local, config=UaConfig(prack="off"))
    peer.deliver(request_from(CALLER, "INVITE", OUR_URI, body=SDP_OFFER, headers=[("Require", "100rel")]),
                 source=CALLER)
    refused, _ = peer.take_response(420)
    assert refused.headers.get("Unsupported") == "100rel"


@pytest.mark.parametrize(("value", "reason"), [("", "Malformed RSeq header"), ("0", "Malformed RSeq header"),
                                               ("4294967296", "Malformed RSeq header")])
def test_rseq_parse_errors(value: str, reason: str) -> None:
    with pytest.raises(SipParseError, match=reason):
        parse_rseq(value)


def test_rack_parse() -> None:
    assert parse_rack(" 776656 1 invite ") == (776656, 1, "INVITE")
    for bad in ("1 INVITE", "a 1 INVITE", "1 2 3 4"):
        with pytest.raises(SipParseError, match="Malformed RAck header"):
            parse_rack(bad)
