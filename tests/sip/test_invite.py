"""Outgoing calls (UAC): INVITE, auth retry, 1xx/2xx/failures, ACK, CANCEL, BYE (RFC 3261 §13, §9, §15)."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.auth import verify_authorization
from wcs.sip.message import Request, Response
from wcs.sip.transport import Address
from wcs.sip.ua import CallAnswered, CallEnded, CallProgress, InviteSession, UaEvent

from .test_ua_harness import ALLOW, CALLEE, CHALLENGE, PROXY, SDP_ANSWER, SDP_OFFER, Peer, account

CONTACT = "<sip:1002@192.0.2.20:5080>"
RR = [("Record-Route", "<sip:192.0.2.1:5060;lr;ftag=x>")]


def call(peer: Peer, **acct: object) -> tuple[InviteSession, Request]:
    session = peer.ua.invite(account(**acct), "sip:1002@example.com", SDP_OFFER, peer.now)
    invite, _ = peer.take_request("INVITE")
    return session, invite


def answer(peer: Peer, invite: Request, tag: str = "callee", headers: list[tuple[str, str]] | None = None,
           at: float | None = None) -> Response:
    ok = peer.answer(invite, 200, to_tag=tag, headers=[("Contact", CONTACT), *(RR if headers is None
                                                                                else headers)],
                     body=SDP_ANSWER)
    peer.deliver(ok, at=at)
    return ok


def kinds(events: list[UaEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def ended(events: list[UaEvent]) -> tuple[str, int | None, str]:
    (end,) = [e for e in events if isinstance(e, CallEnded)]
    return end.cause, end.status, end.reason


def test_invite_request_shape() -> None:
    peer = Peer()
    session = peer.ua.invite(account(), "sip:1002@example.com", SDP_OFFER, 0.0,
                             extra_headers=[("X-Call", "42")])
    invite, dest = peer.take_request("INVITE")
    assert dest == PROXY
    assert invite.uri == "sip:1002@example.com"
    assert (invite.headers.get("From") or "").startswith('"Alice" <sip:1001@example.com>;tag=')
    assert invite.headers.get("To") == "<sip:1002@example.com>"
    assert invite.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;line=x1>"
    assert invite.headers.get("Max-Forwards") == "70"
    assert invite.headers.get("Allow") == ALLOW
    assert invite.headers.get("User-Agent") == "wcs-test"
    assert invite.headers.get("Content-Type") == "application/sdp"
    assert invite.headers.get("X-Call") == "42"
    assert invite.headers.get("Route") == "<sip:192.0.2.1:5060;lr>"
    assert "Supported" in invite.headers
    assert str(invite.cseq) == "1 INVITE" and invite.body == SDP_OFFER
    assert session.state == "calling" and not session.incoming
    assert session.local_sdp == SDP_OFFER and session.remote_uri == "sip:1002@example.com"


def test_target_forms_and_direct_routing() -> None:
    peer = Peer()
    peer.ua.invite(account(proxy=None), "1002", SDP_OFFER, 0.0)
    invite, dest = peer.take_request("INVITE")
    assert invite.uri == "sip:1002@example.com" and dest == Address("example.com", 5060)
    assert "Route" not in invite.headers
    peer.ua.invite(account(proxy=None), "sip:1003@192.0.2.7:5099;transport=tcp", SDP_OFFER, 0.0)
    _, dest = peer.take()
    assert dest == Address("192.0.2.7", 5099, "tcp")
    peer.ua.invite(account(proxy=None), "tel:+4930123", SDP_OFFER, 0.0)
    invite, _ = peer.take_request("INVITE")
    assert invite.uri == "sip:+4930123@example.com;user=phone"
    with pytest.raises(LocalProtocolError, match="cannot call 'http://x': not a SIP URI"):
        peer.ua.invite(account(), "http://x", SDP_OFFER, 0.0)


def test_provisional_then_2xx_acks_through_the_route_set_and_reports() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, 100))
    assert peer.events() == []
    peer.deliver(peer.answer(invite, 180, to_tag="callee", headers=[("Contact", CONTACT), *RR]))
    (progress,) = peer.events()
    assert isinstance(progress, CallProgress) and (progress.status, progress.reason) == (180, "Ringing")
    assert progress.sdp is None and session.state == "early"
    assert session.dialog is not None and session.dialog.state == "early"
    peer.deliver(peer.answer(invite, 183, to_tag="callee", headers=[("Contact", CONTACT)],
                             body=SDP_ANSWER))
    (progress,) = peer.events()
    assert isinstance(progress, CallProgress) and progress.sdp == SDP_ANSWER
    answer(peer, invite)
    ack, dest = peer.take_request("ACK")
    # §13.2.2.4 / §12.2.1.1: remote target in the Request-URI, Route = reversed Record-Route
    assert ack.uri == "sip:1002@192.0.2.20:5080" and dest == PROXY
    assert ack.headers.get_all("Route") == ["<sip:192.0.2.1:5060;lr;ftag=x>"]
    assert str(ack.cseq) == "1 ACK" and ack.to_tag == "callee" and ack.from_tag == invite.from_tag
    assert ack.top_via.branch != invite.top_via.branch and ack.call_id == invite.call_id
    (answered,) = peer.events()
    assert isinstance(answered, CallAnswered) and answered.sdp == SDP_ANSWER
    assert session.state == "confirmed" and session.remote_sdp == SDP_ANSWER
    assert session.dialog is not None and session.dialog.state == "confirmed"


def test_2xx_retransmissions_are_re_acked_with_the_same_ack() -> None:
    peer = Peer()
    _, invite = call(peer)
    ok = answer(peer, invite)
    ack, _ = peer.take_request("ACK")
    peer.events()
    peer.deliver(ok, at=0.5)
    again, _ = peer.take_request("ACK")
    assert bytes(again) == bytes(ack) and peer.events() == []
    # after Timer M the INVITE transaction is gone: a late 2xx is still re-ACKed
    peer.advance(40.0)
    peer.sent()
    peer.deliver(ok, at=40.0)
    late, _ = peer.take_request("ACK")
    assert bytes(late) == bytes(ack)


def test_2xx_from_a_second_fork_is_acked_and_byed() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite, tag="fork1")
    peer.take_request("ACK")
    peer.events()
    answer(peer, invite, tag="fork2")
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "BYE"]
    assert all(isinstance(m, Request) and m.to_tag == "fork2" for m, _ in sent)
    assert peer.events() == [] and session.dialog is not None and session.dialog.remote_tag == "fork1"


def test_407_reinvites_with_credentials_new_branch_and_next_cseq() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, 407, to_tag="px", headers=[("Proxy-Authenticate", CHALLENGE)]))
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "INVITE"]
    ack, (retry, dest) = sent[0][0], sent[1]
    assert isinstance(ack, Request) and ack.to_tag == "px" and str(ack.cseq) == "1 ACK"
    assert isinstance(retry, Request) and dest == PROXY
    assert str(retry.cseq) == "2 INVITE" and retry.call_id == invite.call_id
    assert retry.from_tag == invite.from_tag and retry.to_tag is None
    assert retry.top_via.branch != invite.top_via.branch
    value = retry.headers.get("Proxy-Authorization") or ""
    assert verify_authorization(value, "INVITE", "secret", nonce="abc123")
    assert peer.events() == []
    # the 2xx ACK carries the same credentials as the INVITE (§13.2.2.4)
    answer(peer, retry)
    ack2, _ = peer.take_request("ACK")
    assert ack2.headers.get("Proxy-Authorization") == value and str(ack2.cseq) == "2 ACK"
    assert kinds(peer.events()) == ["CallAnswered"] and session.state == "confirmed"


def test_second_407_fails_the_call() -> None:
    peer = Peer()
    _, invite = call(peer)
    peer.deliver(peer.answer(invite, 407, to_tag="px", headers=[("Proxy-Authenticate", CHALLENGE)]))
    retry = [m for m, _ in peer.sent() if m.start_line().startswith("INVITE")][0]
    assert isinstance(retry, Request)
    peer.deliver(peer.answer(retry, 407, to_tag="px", headers=[("Proxy-Authenticate", CHALLENGE)]))
    peer.take_request("ACK")
    assert ended(peer.events()) == ("failed", 407, "Proxy Authentication Required")


@pytest.mark.parametrize(("status", "cause"), [(486, "rejected"), (600, "rejected"), (603, "rejected"),
                                               (404, "failed"), (480, "failed"), (503, "failed"),
                                               (302, "failed")])
def test_final_failures(status: int, cause: str) -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, status, to_tag="x"))
    peer.take_request("ACK")  # the transaction ACKs non-2xx (§17.1.1.3)
    response_reason = Response(status).reason
    assert ended(peer.events()) == (cause, status, response_reason)
    assert session.state == "terminated"


def test_timer_b_ends_the_call_with_timeout() -> None:
    peer = Peer()
    session, _ = call(peer)
    peer.advance(31.9)
    assert len(peer.sent()) == 6 and peer.events() == []
    peer.advance(32.0)
    assert ended(peer.events()) == ("timeout", 408, "Request Timeout")


def test_timer_c_cancels_a_call_ringing_for_too_long() -> None:
    peer = Peer()
    _, invite = call(peer)
    peer.deliver(peer.answer(invite, 180, to_tag="c", headers=[("Contact", CONTACT)]), at=1.0)
    peer.events()
    peer.advance(180.9)
    peer.nothing_sent()
    peer.advance(181.0)
    cancel, dest = peer.take_request("CANCEL")
    assert dest == PROXY
    peer.deliver(peer.answer(cancel, 200, to_tag="c"))
    peer.deliver(peer.answer(invite, 487, to_tag="c"))
    peer.take_request("ACK")
    assert ended(peer.events()) == ("timeout", 487, "Request Terminated")


def test_cancel_after_a_provisional() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, 180, to_tag="c", headers=[("Contact", CONTACT)]))
    peer.events()
    peer.ua.cancel_or_bye(session, 2.0)
    cancel, dest = peer.take_request("CANCEL")
    # §9.1: same Request-URI, Call-ID, From, To (no tag), CSeq number; the INVITE's top Via
    assert dest == PROXY and cancel.uri == invite.uri and cancel.call_id == invite.call_id
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert str(cancel.cseq) == "1 CANCEL"
    assert cancel.headers.get_all("Via") == invite.headers.get_all("Via")
    assert cancel.headers.get_all("Route") == invite.headers.get_all("Route")
    peer.deliver(peer.answer(cancel, 200, to_tag="c"))
    assert peer.events() == []
    peer.deliver(peer.answer(invite, 487, to_tag="c"))
    peer.take_request("ACK")
    assert ended(peer.events()) == ("cancelled", 487, "Request Terminated")
    peer.ua.cancel_or_bye(session, 3.0)  # a second hang-up does nothing
    peer.nothing_sent()


def test_cancel_before_any_provisional_waits_for_one() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.ua.cancel_or_bye(session, 0.1)
    peer.nothing_sent()  # §9.1: MUST NOT send CANCEL before a provisional
    peer.deliver(peer.answer(invite, 100), at=0.2)
    peer.take_request("CANCEL")
    peer.deliver(peer.answer(invite, 487, to_tag="c"))
    peer.take_request("ACK")
    assert ended(peer.events()) == ("cancelled", 487, "Request Terminated")


def test_cancel_that_never_gets_a_final_response_ends_after_64_t1() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, 180, to_tag="c", headers=[("Contact", CONTACT)]))
    peer.ua.cancel_or_bye(session, 1.0)
    peer.take_request("CANCEL")
    peer.events()
    peer.advance(32.9)
    assert peer.events() == []
    peer.advance(33.0)
    assert ended(peer.events()) == ("cancelled", None, "No response to CANCEL")


def test_2xx_after_our_cancel_is_acked_then_byed() -> None:
    peer = Peer()
    session, invite = call(peer)
    peer.deliver(peer.answer(invite, 180, to_tag="c", headers=[("Contact", CONTACT)]))
    peer.ua.cancel_or_bye(session, 1.0)
    cancel, _ = peer.take_request("CANCEL")
    peer.events()
    peer.deliver(peer.answer(cancel, 200, to_tag="c"))
    answer(peer, invite, tag="c")
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "BYE"]
    assert peer.events() == []  # no CallAnswered for a call we hung up
    bye = sent[1][0]
    assert isinstance(bye, Request) and str(bye.cseq) == "2 BYE"
    peer.deliver(peer.answer(bye, 200))
    assert ended(peer.events()) == ("cancelled", 200, "OK")


def test_bye_after_answer() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite)
    peer.take_request("ACK")
    peer.events()
    peer.ua.cancel_or_bye(session, 10.0)
    bye, dest = peer.take_request("BYE")
    assert dest == PROXY and bye.uri == "sip:1002@192.0.2.20:5080"
    assert bye.headers.get_all("Route") == ["<sip:192.0.2.1:5060;lr;ftag=x>"]
    assert str(bye.cseq) == "2 BYE" and bye.to_tag == "callee"
    assert peer.events() == [] and session.state == "confirmed"
    peer.deliver(peer.answer(bye, 200))
    assert ended(peer.events()) == ("local-bye", 200, "OK")
    assert session.state == "terminated"


def test_bye_timeout_still_ends_the_call() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite)
    peer.sent()
    peer.events()
    peer.ua.cancel_or_bye(session, 10.0)
    peer.advance(42.0)
    assert ended(peer.events()) == ("local-bye", 408, "Request Timeout")


def test_bye_challenged_by_the_proxy_is_retried_with_credentials() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite)
    peer.sent()
    peer.ua.cancel_or_bye(session, 10.0)
    bye, _ = peer.take_request("BYE")
    peer.deliver(peer.answer(bye, 407, headers=[("Proxy-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("BYE")
    assert str(retry.cseq) == "3 BYE"
    assert verify_authorization(retry.headers.get("Proxy-Authorization") or "", "BYE", "secret")


def test_in_dialog_requests_without_proxy_go_to_the_remote_target() -> None:
    peer = Peer()
    session, invite = call(peer, proxy=None)
    answer(peer, invite, headers=[])
    ack, dest = peer.take_request("ACK")
    assert dest == CALLEE and "Route" not in ack.headers
    peer.ua.cancel_or_bye(session, 1.0)
    _, dest = peer.take_request("BYE")
    assert dest == CALLEE


def test_outbound_proxy_is_pre_loaded_when_the_route_set_does_not_start_there() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite, headers=[])  # the proxy did not record-route
    ack, dest = peer.take_request("ACK")
    assert dest == PROXY and ack.headers.get_all("Route") == ["<sip:192.0.2.1:5060;lr>"]
    assert ack.uri == "sip:1002@192.0.2.20:5080"


def test_strict_router_in_the_route_set() -> None:
    peer = Peer()
    session, invite = call(peer, proxy=None)
    answer(peer, invite, headers=[("Record-Route", "<sip:192.0.2.1:5060;lr>"),
                                  ("Record-Route", "<sip:192.0.2.3;maddr=192.0.2.4>")])
    ack, dest = peer.take_request("ACK")
    # reversed: strict router 192.0.2.3 first → it goes into the Request-URI (§12.2.1.1)
    assert ack.uri == "sip:192.0.2.3;maddr=192.0.2.4" and dest == Address("192.0.2.4", 5060)
    assert ack.headers.get_all("Route") == ["<sip:192.0.2.1:5060;lr>", "<sip:1002@192.0.2.20:5080>"]


def test_transport_failure_ends_the_call() -> None:
    peer = Peer()
    session, _ = call(peer)
    peer.ua.report_transport_error(PROXY, "host unreachable", 0.1)
    assert ended(peer.events()) == ("failed", 503, "host unreachable")


def test_response_with_unusable_record_route_in_2xx_fails_the_call() -> None:
    peer = Peer()
    session, invite = call(peer)
    answer(peer, invite, headers=[("Record-Route", "<not a uri>")])
    assert ended(peer.events()) == ("failed", 502, "Malformed Record-Route header")
