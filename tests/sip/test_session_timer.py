"""Session timers (RFC 4028): negotiation in INVITE/2xx, 422, refresher choice, refresh at half the
interval, expiry → BYE, the peer's refreshes; exact deadlines with ``now`` driven by hand."""

from __future__ import annotations

import pytest

from wcs.sip.errors import SipParseError
from wcs.sip.message import Request, Response
from wcs.sip.session_timer import SessionExpires, parse_min_se, parse_session_expires
from wcs.sip.ua import CallEnded, IncomingCall, ReinviteDone, UaConfig, UserAgent

from .test_ua_harness import (
    CALLEE_CONTACT,
    CALLER,
    LOCAL,
    OUR_URI,
    SDP_ANSWER,
    SDP_OFFER,
    Peer,
    account,
    ack_to,
    from_callee,
    outgoing_call,
    request_from,
)


def configured(**settings: object) -> Peer:
    peer = Peer()
    peer.ua = UserAgent(LOCAL, config=UaConfig(**settings), user_agent="wcs-test")  # type: ignore[arg-type]
    return peer


def test_parsing() -> None:
    assert parse_session_expires("1800;refresher=UAC") == SessionExpires(1800, "uac")
    assert parse_session_expires(" 90 ") == SessionExpires(90, None)
    assert parse_min_se("120;x=y") == 120
    for bad in ("", "0", "abc", "100;refresher=both", "12345678901"):
        with pytest.raises(SipParseError, match="Malformed Session-Expires header"):
            parse_session_expires(bad)
    with pytest.raises(SipParseError, match="Malformed Min-SE header"):
        parse_min_se("-1")


# ---------------------------------------------------------------- caller


def test_invite_asks_and_2xx_refresher_uac_makes_us_refresh_with_update_at_half() -> None:
    peer = Peer()
    session, invite, ok = outgoing_call(peer, headers=[("Session-Expires", "600;refresher=uac"),
                                                       ("Require", "timer"), ("Allow", "INVITE, UPDATE")])
    assert invite.headers.get("Session-Expires") == "1800;refresher=uac"
    assert "Min-SE" not in invite.headers and "timer" in (invite.headers.get("Supported") or "")
    when, sent = peer.next_send(1000.0)
    assert when == 300.0   # half of the granted 600 s
    (update,) = [m for m, _ in sent]
    assert isinstance(update, Request) and update.method == "UPDATE" and update.body == b""
    assert update.headers.get("Session-Expires") == "600;refresher=uac"
    peer.deliver(Peer.answer(update, 200, headers=[("Session-Expires", "600;refresher=uac")]), at=300.1)
    (done,) = peer.events()
    assert isinstance(done, ReinviteDone) and done.ok and done.refresh and done.method == "UPDATE"
    when, _ = peer.next_send(1000.0)
    assert when == 600.1   # restarted at the 2xx


def test_refresh_is_a_reinvite_with_the_current_sdp_when_the_peer_lacks_update() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer, headers=[("Session-Expires", "300;refresher=uac")])
    when, sent = peer.next_send(1000.0)
    (reinvite,) = [m for m, _ in sent]
    assert when == 150.0 and isinstance(reinvite, Request) and reinvite.method == "INVITE"
    assert reinvite.body == SDP_OFFER   # unchanged description (RFC 4028 §7.4)


def test_2xx_without_session_expires_means_we_refresh_with_our_interval() -> None:
    peer = Peer()
    outgoing_call(peer)   # the callee ignores timers (§7.2)
    when, _ = peer.next_send(5000.0)
    assert when == 900.0


def test_refresher_uas_makes_us_watch_and_bye_at_expiry() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer, headers=[("Session-Expires", "90;refresher=uas")])
    # the callee refreshes; we expect one before 90 - min(32, 90/3) = 60 s
    refresh = [("Session-Expires", "90;refresher=uac"), ("Supported", "timer")]
    peer.deliver(from_callee(ok, "UPDATE", 2, branch="z9hG4bKr1", headers=refresh), at=40.0)
    refreshed, _ = peer.take_response(200)
    assert refreshed.headers.get("Session-Expires") == "90;refresher=uac"
    assert refreshed.headers.get("Require") == "timer"
    peer.advance(99.9)   # 40 + 60 = 100
    peer.nothing_sent()
    when, sent = peer.next_send(200.0)
    assert when == 100.0 and [m.start_line().split()[0] for m, _ in sent] == ["BYE"]
    (end,) = peer.events()
    assert isinstance(end, CallEnded) and (end.cause, end.reason) == ("session-timer", "Session expired")


def test_422_retries_with_the_larger_min_se_once() -> None:
    peer = Peer()
    peer.ua.invite(account(), "sip:1002@example.com", SDP_OFFER, 0.0)
    invite, _ = peer.take_request("INVITE")
    peer.deliver(Peer.answer(invite, 422, to_tag="p", headers=[("Min-SE", "3600")]))
    sent = peer.sent()
    assert [m.start_line().split()[0] for m, _ in sent] == ["ACK", "INVITE"]
    retry = sent[1][0]
    assert isinstance(retry, Request) and str(retry.cseq) == "2 INVITE"
    assert retry.headers.get("Session-Expires") == "3600;refresher=uac"
    assert retry.headers.get("Min-SE") == "3600"
    peer.deliver(Peer.answer(retry, 422, to_tag="p", headers=[("Min-SE", "3600")]))   # no progress: give up
    peer.take_request("ACK")
    (end,) = peer.events()
    assert isinstance(end, CallEnded) and end.status == 422


# ---------------------------------------------------------------- callee


def callee(peer: Peer, headers: list[tuple[str, str]]) -> tuple[object, Request, Response]:
    invite = request_from(CALLER, "INVITE", OUR_URI, body=SDP_OFFER, headers=headers)
    peer.deliver(invite, source=CALLER)
    responses = [m for m, _ in peer.sent()]
    if not isinstance(responses[-1], Response) or responses[-1].status != 100:
        assert isinstance(responses[-1], Response)
        return None, invite, responses[-1]
    (event,) = peer.events()
    assert isinstance(event, IncomingCall)
    peer.ua.answer(event.session, SDP_ANSWER, peer.now)
    ok, _ = peer.take_response(200)
    peer.deliver(ack_to(invite, ok), source=CALLER)
    peer.events()
    return event.session, invite, ok


@pytest.mark.parametrize(("request_headers", "session_expires", "require"), [
    ([("Supported", "timer"), ("Session-Expires", "1200")], "1200;refresher=uas", "timer"),   # Table 2 row 4
    ([("Supported", "timer"), ("Session-Expires", "1200;refresher=uac")], "1200;refresher=uac", "timer"),
    ([("Supported", "timer"), ("Session-Expires", "1200;refresher=uas")], "1200;refresher=uas", "timer"),
    ([("Session-Expires", "1200")], "1200;refresher=uas", None),              # row 1: caller lacks timer
    ([("Supported", "timer"), ("Session-Expires", "7200")], "1800;refresher=uas", "timer"),  # reduced (§9)
    ([("Supported", "timer")], "1800;refresher=uas", "timer"),                # we ask for one ourselves
    ([], None, None),                                                          # nobody wants one
])
def test_2xx_session_expires_follows_rfc4028_table_2(
        request_headers: list[tuple[str, str]], session_expires: str | None, require: str | None) -> None:
    _, _, ok = callee(Peer(), request_headers)
    assert ok.headers.get("Session-Expires") == session_expires
    assert ok.headers.get("Require") == require


def test_too_small_interval_gets_422_with_our_min_se() -> None:
    peer = configured(min_se=120, session_expires=1800)
    _, _, refused = callee(peer, [("Supported", "timer"), ("Session-Expires", "100")])
    assert refused.status == 422 and refused.headers.get("Min-SE") == "120"
    # a caller that does not support timers cannot be refused usefully (§9): accepted as is
    _, _, ok = callee(configured(min_se=120), [("Session-Expires", "100")])
    assert ok.status == 200 and ok.headers.get("Session-Expires") == "100;refresher=uas"


def test_as_refresher_callee_we_send_the_refresh_in_the_callers_dialog() -> None:
    peer = Peer()
    session, invite, ok = callee(peer, [("Supported", "timer"), ("Session-Expires", "200"),
                                        ("Allow", "INVITE, ACK, BYE, UPDATE")])
    when, sent = peer.next_send(1000.0)
    (update,) = [m for m, _ in sent]
    assert when == 100.0 and isinstance(update, Request) and update.method == "UPDATE"
    assert update.headers.get("Session-Expires") == "200;refresher=uac"   # we are the UAC of the refresh
    assert update.to_tag == "ftag" and update.uri == "sip:1002@192.0.2.30:5090"


def test_peer_refresh_reinvite_restarts_our_expiry_watch() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer, headers=[("Session-Expires", "120;refresher=uas")])
    # expiry watch at 120 - 32 = 88 s; a re-INVITE at 80 s with the same SDP refreshes it
    reinvite = from_callee(ok, "INVITE", 2, branch="z9hG4bKr1", body=SDP_ANSWER,
                           headers=[("Session-Expires", "120;refresher=uac"), ("Supported", "timer")])
    peer.deliver(reinvite, at=80.0)
    ok2, _ = peer.take_response(200)
    assert ok2.body == SDP_OFFER and ok2.headers.get("Session-Expires") == "120;refresher=uac"
    ack = request_from(CALLER, "ACK", "sip:1001@192.0.2.10:5070", call_id=ok.call_id, from_tag="callee",
                       to_tag=ok.from_tag, cseq=2, branch="z9hG4bKa2", contact=CALLEE_CONTACT)
    peer.deliver(ack, at=80.1)
    peer.advance(167.9)
    peer.nothing_sent()
    when, sent = peer.next_send(300.0)
    assert when == 168.0 and [m.start_line().split()[0] for m, _ in sent] == ["BYE"]


def test_peer_without_timers_cannot_turn_off_the_refreshes_we_chose() -> None:
    peer = Peer()
    session, _, ok = outgoing_call(peer)   # no timers at the callee: we refresh every 900 s (§7.2)
    hold = from_callee(ok, "INVITE", 2, branch="z9hG4bKh1", body=SDP_ANSWER + b"a=sendonly\r\n")
    peer.deliver(hold, at=500.0)   # a re-INVITE without Session-Expires or Supported: timer
    peer.events()
    peer.ua.answer_offer(session, SDP_OFFER + b"a=recvonly\r\n", 500.0)
    ok2, _ = peer.take_response(200)
    assert "Session-Expires" not in ok2.headers
    ack = request_from(CALLER, "ACK", "sip:1001@192.0.2.10:5070", call_id=ok.call_id, from_tag="callee",
                       to_tag=ok.from_tag, cseq=2, branch="z9hG4bKa2", contact=CALLEE_CONTACT)
    peer.deliver(ack, at=500.1)
    when, sent = peer.next_send(5000.0)
    assert when == 1400.0 and [m.start_line().split()[0] for m, _ in sent] == ["INVITE"]
