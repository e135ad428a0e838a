"""INFO in a call (RFC 6086) and the DTMF body helpers (application/dtmf-relay, application/dtmf)."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.errors import SipParseError
from wcs.sip.info import DTMF, DTMF_RELAY, dtmf_body, dtmf_relay_body, parse_dtmf
from wcs.sip.ua import InfoReceived, RequestDone

from .test_ua_harness import CALLER, PROXY, Peer, account, from_caller, incoming_call, outgoing_call

FAST_UPDATE = (b'<?xml version="1.0" encoding="utf-8" ?>\r\n<media_control><vc_primitive><to_encoder>'
               b"<picture_fast_update/></to_encoder></vc_primitive></media_control>\r\n")


def test_info_is_sent_in_the_dialog_and_reported_done() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    handle = peer.ua.info(session, DTMF_RELAY, dtmf_relay_body("5"), 1.0)
    info, dest = peer.take_request("INFO")
    assert dest == PROXY and str(info.cseq) == "2 INFO" and info.to_tag == "callee"
    assert info.headers.get("Content-Type") == "application/dtmf-relay"
    assert info.body == b"Signal=5\r\nDuration=160\r\n" and "Info-Package" not in info.headers
    peer.deliver(Peer.answer(info, 200), at=1.1)
    (done,) = peer.events()
    assert isinstance(done, RequestDone) and done.request is handle and done.ok and done.status == 200
    assert handle.method == "INFO" and handle.session is session and handle.status == 200


def test_info_failure_and_timeout_are_reported() -> None:
    peer = Peer()
    session, _, _ = outgoing_call(peer)
    peer.ua.info(session, "application/media_control+xml", FAST_UPDATE, 1.0, info_package="x-test")
    info, _ = peer.take_request("INFO")
    assert info.headers.get("Info-Package") == "x-test"
    peer.deliver(Peer.answer(info, 469, reason="Bad Info Package"))
    (done,) = peer.events()
    assert isinstance(done, RequestDone)
    assert (done.ok, done.status, done.reason) == (False, 469, "Bad Info Package")
    peer.ua.info(session, DTMF, dtmf_body("#"), 2.0)
    peer.take_request("INFO")
    peer.advance(2.0 + 32.0)   # Timer F
    (timeout,) = [e for e in peer.events() if isinstance(e, RequestDone)]
    assert (timeout.status, timeout.response) == (408, None)


def test_info_from_the_peer_is_answered_and_reported() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    info = from_caller(ok, "INFO", 2, branch="z9hG4bKi1", body=b"Signal=*\r\nDuration=250\r\n")
    info.headers.set("Content-Type", "application/dtmf-relay")
    peer.deliver(info, source=CALLER)
    peer.take_response(200)
    (event,) = peer.events()
    assert isinstance(event, InfoReceived) and event.session is session
    assert parse_dtmf(event.content_type, event.body) == ("*", 250)


def test_info_needs_a_dialog() -> None:
    peer = Peer()
    session = peer.ua.invite(account(), "sip:1002@example.com", b"v=0\r\n", 0.0)
    with pytest.raises(LocalProtocolError, match="an INFO needs a call with a dialog"):
        peer.ua.info(session, DTMF, b"1", 0.0)


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", ("5", 160)),
    ("application/dtmf-relay", b"signal= 11\nduration=100", ("#", 100)),
    ("Application/DTMF-Relay;x=y", b"Signal=a\r\n", ("A", None)),
    ("application/dtmf", b"7", ("7", None)),
    ("application/dtmf", b"Signal=9\r\nDuration=80", ("9", 80)),
])
def test_parse_dtmf(content_type: str, body: bytes, expected: tuple[str, int | None]) -> None:
    assert parse_dtmf(content_type, body) == expected


@pytest.mark.parametrize(("content_type", "body", "reason"), [
    ("application/dtmf-relay", b"Duration=160", "Malformed dtmf-relay body"),
    ("application/dtmf-relay", b"Signal=X", "Malformed dtmf-relay body"),
    ("application/dtmf-relay", b"Signal=1\r\nDuration=-5", "Malformed dtmf-relay body"),
    ("application/dtmf-relay", b"Signal=1\r\ngarbage", "Malformed dtmf-relay body"),
    ("application/dtmf", b"17", "Malformed dtmf body"),
    ("application/dtmf", b"", "Malformed dtmf body"),
])
def test_parse_dtmf_errors(content_type: str, body: bytes, reason: str) -> None:
    with pytest.raises(SipParseError, match=reason):
        parse_dtmf(content_type, body)


def test_build_dtmf_bodies() -> None:
    assert dtmf_relay_body("d", 100) == b"Signal=D\r\nDuration=100\r\n"
    assert dtmf_body("0") == b"0"
    with pytest.raises(LocalProtocolError, match="'x' is not a DTMF digit"):
        dtmf_body("x")
