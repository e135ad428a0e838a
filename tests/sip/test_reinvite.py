"""re-INVITE and UPDATE in both directions: offer/answer, target refresh, glare (491/500), retries and
failures (RFC 3261 §14, RFC 3311, RFC 6337 §4.3), against the scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.entropy import SeededEntropy
from wcs.errors import LocalProtocolError
from wcs.sip.auth import verify_authorization
from wcs.sip.message import Request
from wcs.sip.negotiation import OfferAnswer, glare_delay
from wcs.sip.ua import AnswerReceived, CallEnded, OfferNeeded, OfferReceived, ReinviteDone, UaEvent

from .test_ua_harness import (
    CALLER,
    CHALLENGE,
    PROXY,
    SDP_ANSWER,
    SDP_OFFER,
    Peer,
    account,
    ack_to,
    from_callee,
    from_caller,
    incoming_call,
    outgoing_call,
)

HOLD = SDP_OFFER + b"a=sendonly\r\n"
HELD = SDP_ANSWER + b"a=recvonly\r\n"


def done(events: list[UaEvent]) -> ReinviteDone:
    (event,) = [e for e in events if isinstance(e, ReinviteDone)]
    return event


# ---------------------------------------------------------------- ours: re-INVITE


def test_hold_reinvite_shape_answer_and_ack() -> None:
    peer = Peer()
    session, invite, ok = outgoing_call(peer, headers=[("Record-Route", "<sip:192.0.2.1:5060;lr>")])
    peer.ua.reinvite(session, HOLD, 5.0)
    reinvite, dest = peer.take_request("INVITE")
    assert dest == PROXY and reinvite.uri == "sip:1002@192.0.2.20:5080"
    assert reinvite.headers.get_all("Route") == ["<sip:192.0.2.1:5060;lr>"]
    assert str(reinvite.cseq) == "2 INVITE" and reinvite.call_id == invite.call_id
    assert reinvite.to_tag == "callee" and reinvite.from_tag == invite.from_tag
    assert reinvite.body == HOLD and reinvite.headers.get("Content-Type") == "application/sdp"
    assert reinvite.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;line=x1>"
    assert reinvite.headers.get("Supported") == "100rel, replaces, timer"
    # the session timer runs (we refresh: the 200 had no Session-Expires): the re-INVITE keeps it
    assert reinvite.headers.get("Session-Expires") == "1800;refresher=uac"
    moved = "<sip:1002@192.0.2.21:5082>"
    ok2 = peer.answer(reinvite, 200, to_tag="callee", headers=[("Contact", moved)], body=HELD)
    peer.deliver(ok2, at=5.1)
    ack, _ = peer.take_request("ACK")
    assert str(ack.cseq) == "2 ACK" and ack.body == b"" and ack.uri == "sip:1002@192.0.2.21:5082"
    event = done(peer.events())
    assert (event.ok, event.status, event.sdp) == (True, 200, HELD)
    assert (event.method, event.refresh) == ("INVITE", False)
    assert session.local_sdp == HOLD and session.remote_sdp == HELD
    assert session.dialog is not None and session.dialog.remote_target.host == "192.0.2.21"  # §12.2.1.2
    peer.deliver(ok2, at=5.5)  # a retransmitted 2xx gets the same ACK (§13.2.2.4)
    again, _ = peer.take_request("ACK")
    assert bytes(again) == bytes(ack) and peer.events() == []


def test_late_2xx_to_a_reinvite_after_timer_m_is_re_acked() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    ok2 = peer.answer(reinvite, 200, to_tag="callee", body=HELD)
    peer.deliver(ok2, at=1.0)
    ack, _ = peer.take_request("ACK")
    peer.advance(40.0)
    peer.deliver(ok2, at=40.0)
    late, _ = peer.take_request("ACK")
    assert bytes(late) == bytes(ack)


def test_reinvites_are_queued_one_at_a_time() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    peer.ua.reinvite(session, SDP_OFFER, 1.0)   # resume: waits for the hold to finish (§14.1)
    first, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(first, 200, to_tag="callee", body=HELD), at=1.1)
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "INVITE"]
    second = sent[1][0]
    assert isinstance(second, Request) and str(second.cseq) == "3 INVITE" and second.body == SDP_OFFER
    assert done(peer.events()).sdp == HELD


def test_reinvite_rejected_488_leaves_the_session_as_it_was() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, 488, to_tag="callee"), at=1.1)
    peer.take_request("ACK")   # the transaction ACKs the failure
    event = done(peer.events())
    assert (event.ok, event.status, event.reason, event.sdp) == (False, 488, "Not Acceptable Here", None)
    assert session.state == "confirmed"
    assert session.local_sdp == SDP_OFFER and session.remote_sdp == SDP_ANSWER


@pytest.mark.parametrize("status", [408, 481])
def test_reinvite_408_or_481_ends_the_call(status: int) -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, status, to_tag="callee"), at=1.1)
    assert [m.start_line().split()[0] for m, _ in peer.sent()] == ["ACK", "BYE"]   # §14.1
    events = peer.events()
    assert [type(e) for e in events] == [ReinviteDone, CallEnded]
    end = events[1]
    assert isinstance(end, CallEnded) and (end.cause, end.status) == ("failed", status)


def test_reinvite_timeout_ends_the_call() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    peer.take_request("INVITE")
    peer.advance(33.0)   # Timer B: 64*T1 after sending
    events = peer.events()
    assert [type(e) for e in events] == [ReinviteDone, CallEnded]
    assert done(events).status == 408 and session.state == "terminated"


def test_reinvite_challenge_is_answered_with_the_next_cseq() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, 407, to_tag="callee", headers=[("Proxy-Authenticate", CHALLENGE)]))
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "INVITE"]
    retry = sent[1][0]
    assert isinstance(retry, Request) and str(retry.cseq) == "3 INVITE"
    assert verify_authorization(retry.headers.get("Proxy-Authorization") or "", "INVITE", "secret",
                                nonce="abc123", body=HOLD)
    assert peer.events() == []


def test_491_is_retried_after_2_1_to_4_s_by_the_call_id_owner() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)   # we sent the INVITE: we own the Call-ID
    peer.ua.reinvite(session, HOLD, 10.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, 491, to_tag="callee"), at=10.0)
    peer.take_request("ACK")
    assert peer.events() == []
    when, sent = peer.next_send(15.0)
    assert 12.1 <= when <= 14.0   # §14.1: 2.1-4 s later
    (retry,) = [m for m, _ in sent]
    assert isinstance(retry, Request) and str(retry.cseq) == "3 INVITE" and retry.body == HOLD


def test_491_as_callee_is_retried_within_2_s() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)   # the caller owns the Call-ID
    peer.ua.reinvite(session, HOLD, 10.0)
    reinvite, _ = peer.take_request("INVITE")
    assert reinvite.to_tag == "ftag" and reinvite.from_tag == ok.to_tag and str(reinvite.cseq) == "1 INVITE"
    peer.deliver(peer.answer(reinvite, 491), source=CALLER, at=10.0)
    peer.take_request("ACK")
    when, sent = peer.next_send(13.0)
    assert 10.0 <= when <= 12.0 and [m.start_line().split()[0] for m, _ in sent] == ["INVITE"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.booleans())
def test_glare_delay_bounds(seed: int, owner: bool) -> None:
    delay = glare_delay(SeededEntropy(seed), owner)
    assert (2.1 <= delay <= 4.0) if owner else (0.0 <= delay <= 2.0)
    assert round(delay * 100) == pytest.approx(delay * 100)   # units of 10 ms (§14.1)


def test_500_with_retry_after_is_retried_after_that_delay() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, 500, to_tag="callee", headers=[("Retry-After", "3")]), at=1.0)
    peer.take_request("ACK")
    peer.advance(3.99)
    peer.nothing_sent()
    peer.advance(4.0)
    retry, _ = peer.take_request("INVITE")
    assert str(retry.cseq) == "3 INVITE" and peer.events() == []


def test_offerless_reinvite_answer_goes_in_the_ack() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, None, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    assert reinvite.body == b"" and "Content-Type" not in reinvite.headers
    offer = SDP_ANSWER.replace(b"5000", b"5002")
    ok2 = peer.answer(reinvite, 200, to_tag="callee", body=offer)
    peer.deliver(ok2, at=1.1)
    peer.nothing_sent()   # the ACK waits for our answer
    (event,) = peer.events()
    assert isinstance(event, OfferReceived) and (event.sdp, event.method) == (offer, "INVITE")
    peer.deliver(ok2, at=1.2)   # a retransmission meanwhile changes nothing
    peer.nothing_sent()
    peer.ua.answer_offer(session, SDP_OFFER, 1.3)
    ack, _ = peer.take_request("ACK")
    assert ack.body == SDP_OFFER and ack.headers.get("Content-Type") == "application/sdp"
    event2 = done(peer.events())
    assert event2.ok and event2.sdp == offer and session.remote_sdp == offer


def test_offerless_reinvite_offer_rejected_is_acked_then_byed() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.reinvite(session, None, 1.0)
    reinvite, _ = peer.take_request("INVITE")
    peer.deliver(peer.answer(reinvite, 200, to_tag="callee", body=SDP_ANSWER), at=1.1)
    peer.events()
    peer.ua.reject_offer(session, 1.2)
    assert [m.start_line().split()[0] for m, _ in peer.sent()] == ["ACK", "BYE"]   # §13.2.2.4
    assert [type(e) for e in peer.events()] == [ReinviteDone, CallEnded]


def test_reinvite_needs_a_confirmed_call() -> None:
    peer = Peer()
    session = peer.ua.invite(account(), "sip:1002@example.com", SDP_OFFER, 0.0)
    with pytest.raises(LocalProtocolError, match="a re-INVITE needs a confirmed call"):
        peer.ua.reinvite(session, HOLD, 0.0)


# ---------------------------------------------------------------- the peer's re-INVITE


def test_offerless_reinvite_from_the_peer_asks_for_our_offer() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    reinvite = from_caller(ok, "INVITE", 2, branch="z9hG4bKre1")
    peer.deliver(reinvite, source=CALLER, at=3.0)
    (event,) = peer.events()
    assert isinstance(event, OfferNeeded) and event.session is session
    peer.ua.provide_offer(session, HOLD, 3.0)
    ok2, _ = peer.take_response(200)
    assert ok2.body == HOLD
    peer.deliver(ack_to(reinvite, ok2, branch="z9hG4bKack2", body=HELD), source=CALLER, at=3.1)
    (answer,) = peer.events()
    assert isinstance(answer, AnswerReceived) and answer.sdp == HELD
    assert session.local_sdp == HOLD and session.remote_sdp == HELD


def test_identical_offer_is_answered_at_once_with_our_description() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    peer.deliver(from_caller(ok, "INVITE", 2, branch="z9hG4bKre1", body=SDP_OFFER), source=CALLER)
    ok2, _ = peer.take_response(200)
    assert ok2.body == SDP_ANSWER and peer.events() == []   # RFC 3264 §8: nothing changed


def test_reject_offer_answers_488_with_warning_and_keeps_the_session() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    peer.deliver(from_caller(ok, "INVITE", 2, branch="z9hG4bKre1", body=HOLD), source=CALLER)
    peer.events()
    peer.ua.reject_offer(session, 1.0, headers=(("Warning", '305 wcs "Incompatible media format"'),))
    resp, _ = peer.take_response(488)
    assert resp.headers.get("Warning") == '305 wcs "Incompatible media format"'
    assert session.remote_sdp == SDP_OFFER and session.state == "confirmed"
    with pytest.raises(LocalProtocolError, match="has no offer to reject"):
        peer.ua.reject_offer(session, 1.0)
    with pytest.raises(LocalProtocolError, match="has no offer to answer"):
        peer.ua.answer_offer(session, SDP_ANSWER, 1.0)


def test_reinvite_while_ours_is_pending_gets_491_and_a_second_one_500() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    peer.ua.reinvite(session, HOLD, 1.0)
    peer.take_request("INVITE")
    peer.deliver(from_caller(ok, "INVITE", 2, branch="z9hG4bKg1", body=HELD), source=CALLER)
    peer.take_response(491)   # §14.2: ours is in progress
    other = Peer()
    s2, _, ok2 = incoming_call(other)
    other.deliver(from_caller(ok2, "INVITE", 2, branch="z9hG4bKg2", body=HOLD), source=CALLER)
    other.events()   # OfferReceived, not yet answered
    other.deliver(from_caller(ok2, "INVITE", 3, branch="z9hG4bKg3", body=HELD), source=CALLER)
    resp, _ = other.take_response(500)   # §14.2: the earlier one has no final response yet
    assert 0 <= int(resp.headers.get("Retry-After") or "") <= 10


# ---------------------------------------------------------------- UPDATE (RFC 3311)


def test_update_without_body_is_a_refresh_and_with_an_offer_negotiates() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.ua.update(session, None, 1.0)
    update, _ = peer.take_request("UPDATE")
    assert update.body == b"" and str(update.cseq) == "2 UPDATE" and update.headers.get("Contact")
    peer.deliver(peer.answer(update, 200, to_tag="callee"), at=1.1)
    event = done(peer.events())
    assert (event.ok, event.method, event.sdp) == (True, "UPDATE", None)
    peer.ua.update(session, HOLD, 2.0)
    update2, _ = peer.take_request("UPDATE")
    peer.deliver(peer.answer(update2, 200, to_tag="callee", body=HELD), at=2.1)
    event = done(peer.events())
    assert event.sdp == HELD and session.local_sdp == HOLD and session.remote_sdp == HELD


def test_update_from_the_peer() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.deliver(from_callee(ok, "UPDATE", 2, branch="z9hG4bKu1"), source=PROXY)
    refresh, _ = peer.take_response(200)
    assert refresh.headers.get("Contact") and peer.events() == []
    peer.deliver(from_callee(ok, "UPDATE", 3, branch="z9hG4bKu2", body=HELD), source=PROXY)
    (offer,) = peer.events()
    assert isinstance(offer, OfferReceived) and offer.method == "UPDATE"
    peer.ua.answer_offer(session, HOLD, 1.0)
    answered, _ = peer.take_response(200)
    assert answered.body == HOLD and session.remote_sdp == HELD


def test_update_offer_while_ours_is_pending_gets_491() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)
    peer.ua.update(session, HOLD, 1.0)
    peer.take_request("UPDATE")
    peer.deliver(from_callee(ok, "UPDATE", 2, branch="z9hG4bKu1", body=HELD), source=PROXY)
    peer.take_response(491)


# ---------------------------------------------------------------- the RFC 6337 §4.3 table


@pytest.mark.parametrize(("flags", "method", "offer", "expected"), [
    ((), "INVITE", True, None),
    (("invite_out",), "INVITE", True, 491),     # UAS-IcI
    (("update_out",), "INVITE", False, 491),    # UAS-UcI
    (("invite_in",), "INVITE", True, 500),      # UAS-IsI
    (("update_in",), "INVITE", True, 500),      # UAS-UsI
    (("ack_pending",), "INVITE", False, 500),
    (("update_out",), "UPDATE", False, 491),    # UAS-UcU
    (("update_in",), "UPDATE", False, 500),     # UAS-UsU
    (("invite_out",), "UPDATE", False, None),   # no offer: nothing to collide with
    (("invite_out",), "UPDATE", True, None),    # early UPDATE after a completed exchange
    (("invite_out", "local"), "UPDATE", True, 491),    # UAS-IcU
    (("invite_in", "remote"), "UPDATE", True, 500),    # UAS-IsU
    (("invite_in", "ack_pending"), "UPDATE", True, 500),
])
def test_refusal_table(flags: tuple[str, ...], method: str, offer: bool, expected: int | None) -> None:
    oa = OfferAnswer()
    for flag in flags:
        if flag in ("local", "remote"):
            oa.offer = flag
        else:
            setattr(oa, flag, True)
    assert oa.refusal(method, offer) == expected
    assert oa.may_send("INVITE", True) == (not flags)
