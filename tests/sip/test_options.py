"""OPTIONS we send (RFC 3261 §11) and the keep-alive pings of registered accounts."""

from __future__ import annotations

from wcs.sip.message import Request
from wcs.sip.ua import KeepaliveFailed, RegistrationChanged, RequestDone, UaConfig, UserAgent

from .test_ua_harness import LOCAL, PROXY, Peer, account


def test_options_to_the_proxy_and_to_a_target() -> None:
    peer = Peer()
    handle = peer.ua.options(account(), 0.0)
    options, dest = peer.take_request("OPTIONS")
    assert dest == PROXY and options.uri == "sip:192.0.2.1:5060"
    assert options.headers.get("Accept") == "application/sdp" and "Allow" in options.headers
    peer.deliver(Peer.answer(options, 200))
    (done,) = peer.events()
    assert isinstance(done, RequestDone) and done.request is handle and done.ok
    peer.ua.options(account(proxy=None), 1.0, "sip:1002@192.0.2.20:5080")
    options2, dest2 = peer.take_request("OPTIONS")
    assert options2.uri == "sip:1002@192.0.2.20:5080" and dest2.port == 5080


def keepalive_peer(interval: float = 30.0) -> Peer:
    peer = Peer()
    peer.ua = UserAgent(LOCAL, config=UaConfig(keepalive_interval=interval), user_agent="wcs-test")
    return peer


def registered(peer: Peer) -> object:
    reg = peer.ua.register(account(), 0.0, expires=3600)
    register, _ = peer.take_request("REGISTER")
    peer.deliver(Peer.answer(register, 200, headers=[("Expires", "3600")]))
    assert [type(e) for e in peer.events()] == [RegistrationChanged]
    return reg


def test_keepalive_pings_every_interval_while_registered() -> None:
    peer = keepalive_peer()
    registered(peer)
    when, sent = peer.next_send(100.0)
    (ping,) = [m for m, _ in sent]
    assert when == 30.0 and isinstance(ping, Request) and ping.method == "OPTIONS"
    assert ping.uri == "sip:192.0.2.1:5060"
    peer.deliver(Peer.answer(ping, 404), at=30.1)   # any response: the proxy is alive
    assert peer.events() == []
    when, _ = peer.next_send(100.0)
    assert when == 60.1   # planned when the previous ping was over


def test_keepalive_timeout_is_reported_and_pinging_goes_on() -> None:
    peer = keepalive_peer()
    reg = registered(peer)
    peer.next_send(31.0)
    peer.advance(30.0 + 32.0)   # Timer F of the ping
    (failed,) = peer.events()
    assert isinstance(failed, KeepaliveFailed) and failed.registration is reg and failed.status == 408
    when, _ = peer.next_send(200.0)
    assert when == 92.0


def test_keepalive_stops_when_unregistered() -> None:
    peer = keepalive_peer()
    reg = registered(peer)
    peer.ua.unregister(reg, 10.0)   # type: ignore[arg-type]
    unregister, _ = peer.take_request("REGISTER")
    peer.deliver(Peer.answer(unregister, 200), at=10.1)
    peer.events()
    peer.advance(500.0)
    peer.nothing_sent()
    assert peer.ua.get_timer() is None
