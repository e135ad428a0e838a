"""MESSAGE (RFC 3428): sending with digest retries, receiving in and outside a dialog."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.auth import verify_authorization
from wcs.sip.ua import MessageReceived, RequestDone

from .test_ua_harness import CALLER, CHALLENGE, PROXY, Peer, account, from_caller, incoming_call, request_from


def test_message_is_sent_through_the_proxy_and_retried_with_credentials() -> None:
    peer = Peer()
    handle = peer.ua.message(account(), "1002", "text/plain", "héllo".encode(), 0.0)
    message, dest = peer.take_request("MESSAGE")
    assert dest == PROXY and message.uri == "sip:1002@example.com"
    assert message.headers.get("To") == "<sip:1002@example.com>" and message.to_tag is None
    assert message.headers.get("Content-Type") == "text/plain" and message.body == "héllo".encode()
    assert message.headers.get("Route") == "<sip:192.0.2.1:5060;lr>" and "Contact" not in message.headers
    peer.deliver(Peer.answer(message, 407, to_tag="px", headers=[("Proxy-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("MESSAGE")
    assert str(retry.cseq) == "2 MESSAGE" and retry.call_id == message.call_id
    assert verify_authorization(retry.headers.get("Proxy-Authorization") or "", "MESSAGE", "secret",
                                nonce="abc123")
    peer.deliver(Peer.answer(retry, 202))
    (done,) = peer.events()
    assert isinstance(done, RequestDone) and done.request is handle and done.ok and done.status == 202
    assert handle.target == "sip:1002@example.com"


def test_message_to_a_bad_target() -> None:
    with pytest.raises(LocalProtocolError, match="cannot send a MESSAGE to 'mailto:x@y': not a SIP URI"):
        Peer().ua.message(account(), "mailto:x@y", "text/plain", b"x", 0.0)


def test_incoming_message_outside_a_dialog() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    peer.sent()
    message = request_from(CALLER, "MESSAGE", "sip:1001@192.0.2.10:5070", contact=None,
                           body=b"hi there")
    message.headers.set("Content-Type", "text/plain;charset=utf-8")
    peer.deliver(message, source=CALLER)
    ok, _ = peer.take_response(200)
    assert ok.to_tag and ok.body == b""
    (event,) = peer.events()
    assert isinstance(event, MessageReceived) and event.session is None
    assert event.account is not None and event.account.user == "1001"
    assert (event.content_type, event.body, str(event.sender.uri)) == (
        "text/plain;charset=utf-8", b"hi there", "sip:1002@example.com")


def test_incoming_message_inside_a_dialog() -> None:
    peer = Peer()
    session, _, ok = incoming_call(peer)
    message = from_caller(ok, "MESSAGE", 2, branch="z9hG4bKm1", body=b"in call")
    message.headers.set("Content-Type", "text/plain")
    peer.deliver(message, source=CALLER)
    resp, _ = peer.take_response(200)
    assert resp.to_tag == ok.to_tag
    (event,) = peer.events()
    assert isinstance(event, MessageReceived) and event.session is session and event.body == b"in call"
