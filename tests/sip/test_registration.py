"""REGISTER with digest, refresh, 423, un-REGISTER, failures (RFC 3261 §10.2, §22)."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.auth import parse_credentials, verify_authorization
from wcs.sip.message import Request
from wcs.sip.registration import refresh_delay
from wcs.sip.transport import Address
from wcs.sip.ua import RegistrationChanged

from .test_ua_harness import ALLOW, CHALLENGE, LOCAL, PROXY, Peer, account


def changes(peer: Peer) -> list[tuple[str, int | None, str]]:
    return [(e.state, e.status, e.reason) for e in peer.events() if isinstance(e, RegistrationChanged)]


def test_register_request_shape() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0)
    req, dest = peer.take_request("REGISTER")
    assert dest == PROXY
    assert req.uri == "sip:example.com"
    assert (req.headers.get("From") or "").startswith('"Alice" <sip:1001@example.com>;tag=')
    assert req.headers.get("To") == '"Alice" <sip:1001@example.com>'
    assert req.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;line=x1>"
    assert req.headers.get("Expires") == "600"
    assert req.headers.get("Route") == "<sip:192.0.2.1:5060;lr>"  # pre-loaded outbound proxy
    assert req.headers.get("Max-Forwards") == "70"
    assert req.headers.get("User-Agent") == "wcs-test"
    assert req.headers.get("Allow") == ALLOW
    assert "Supported" in req.headers
    assert str(req.cseq) == "1 REGISTER"
    via = req.top_via
    assert (via.host, via.port) == ("192.0.2.10", 5070) and "rport" in via.params
    assert via.branch is not None and via.branch.startswith("z9hG4bK")
    assert reg.state == "registering" and reg.account.user == "1001"


def test_register_without_proxy_goes_to_the_domain() -> None:
    peer = Peer()
    peer.ua.register(account(proxy=None, domain="192.0.2.5:5062"), 0.0)
    req, dest = peer.take_request("REGISTER")
    assert dest == Address("192.0.2.5", 5062) and req.uri == "sip:192.0.2.5:5062"
    assert "Route" not in req.headers


def test_401_is_answered_once_then_200_registers_and_arms_the_refresh() -> None:
    peer = Peer()
    reg = peer.ua.register(account(auth_user="alice-auth"), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r1", headers=[("WWW-Authenticate", CHALLENGE)]), at=0.1)
    retry, dest = peer.take_request("REGISTER")
    assert dest == PROXY
    assert str(retry.cseq) == "2 REGISTER" and retry.call_id == req.call_id
    assert retry.top_via.branch != req.top_via.branch
    assert retry.from_tag == req.from_tag
    value = retry.headers.get("Authorization")
    assert value is not None
    creds = parse_credentials(value)
    assert (creds.username, creds.realm, creds.nonce, creds.uri, creds.nc, creds.qop) == (
        "alice-auth", "example.com", "abc123", "sip:example.com", "00000001", "auth")
    assert verify_authorization(value, "REGISTER", "secret", nonce="abc123")
    assert changes(peer) == []
    ok = peer.answer(retry, 200, to_tag="r1",
                     headers=[("Contact", "<sip:1001@192.0.2.10:5070;line=x1>;expires=300")])
    peer.deliver(ok, at=0.2)
    assert changes(peer) == [("registered", 200, "OK")]
    assert reg.state == "registered" and reg.granted == 300
    # refresh at min(300/2, 300-30) = 150 s after the REGISTER that got the binding was sent
    assert reg.refresh_at == pytest.approx(0.1 + 150)


def test_second_401_after_our_credentials_fails_without_a_loop() -> None:
    peer = Peer()
    reg = peer.ua.register(account(password="wrong"), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(retry, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    peer.nothing_sent()
    assert changes(peer) == [("failed", 401, "Unauthorized")]
    assert reg.state == "failed"
    peer.advance(10_000.0)  # a wrong password is not retried by itself
    peer.nothing_sent()


def test_stale_nonce_gets_one_more_try() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("REGISTER")
    stale = 'Digest realm="example.com", nonce="fresh", qop="auth", stale=true'
    peer.deliver(peer.answer(retry, 401, to_tag="r", headers=[("WWW-Authenticate", stale)]))
    again, _ = peer.take_request("REGISTER")
    assert 'nonce="fresh"' in (again.headers.get("Authorization") or "")
    assert str(again.cseq) == "3 REGISTER"
    peer.deliver(peer.answer(again, 401, to_tag="r", headers=[("WWW-Authenticate", stale)]))
    peer.nothing_sent()
    assert changes(peer) == [("failed", 401, "Unauthorized")]


def test_407_is_answered_with_proxy_authorization() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 407, to_tag="r", headers=[("Proxy-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("REGISTER")
    assert "Authorization" not in retry.headers
    assert verify_authorization(retry.headers.get("Proxy-Authorization") or "", "REGISTER", "secret")


def test_proxy_and_registrar_challenges_are_both_answered() -> None:
    """RFC 3261 §22.3: a 407 from the proxy, then a 401 from the registrar (another realm): the
    next REGISTER carries both credentials, each with its own nonce count."""
    peer = Peer()
    peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    proxy = 'Digest realm="proxy.example", nonce="p1", qop="auth"'
    peer.deliver(peer.answer(req, 407, to_tag="r", headers=[("Proxy-Authenticate", proxy)]))
    retry, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(retry, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    both, _ = peer.take_request("REGISTER")
    assert verify_authorization(both.headers.get("Proxy-Authorization") or "", "REGISTER", "secret",
                                realm="proxy.example")
    assert verify_authorization(both.headers.get("Authorization") or "", "REGISTER", "secret",
                                realm="example.com")
    assert "nc=00000002" in (both.headers.get("Proxy-Authorization") or "")
    assert "nc=00000001" in (both.headers.get("Authorization") or "")
    contact = both.contact
    assert contact is not None
    peer.deliver(peer.answer(both, 200, to_tag="r", headers=[("Contact", f"<{contact.uri}>;expires=600")]))
    assert changes(peer)[-1][0] == "registered"


def test_423_interval_too_brief_retries_with_min_expires() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0, expires=60)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 423, to_tag="r", headers=[("Min-Expires", "1800")]))
    retry, _ = peer.take_request("REGISTER")
    assert retry.headers.get("Expires") == "1800" and reg.expires == 1800
    peer.deliver(peer.answer(retry, 423, to_tag="r", headers=[("Min-Expires", "3600")]))
    peer.nothing_sent()  # only once
    assert changes(peer) == [("failed", 423, "Interval Too Brief")]


def test_refresh_reuses_call_id_counts_cseq_and_sends_credentials_at_once() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0, expires=600)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(retry, 200, to_tag="r", headers=[("Expires", "600")]), at=0.05)
    assert changes(peer) == [("registered", 200, "OK")]
    assert peer.advance(299.0) == [5.0, 5.05]  # Timer K of the two REGISTERs
    assert peer.advance(300.0) == [300.0]
    refresh, _ = peer.take_request("REGISTER")
    assert refresh.call_id == req.call_id and str(refresh.cseq) == "3 REGISTER"
    creds = parse_credentials(refresh.headers.get("Authorization") or "")
    assert creds.nc == "00000002"  # same nonce, next count (RFC 7616 §3.4)
    peer.deliver(peer.answer(refresh, 200, to_tag="r", headers=[("Expires", "600")]), at=300.1)
    assert changes(peer) == []  # a refresh that succeeds is no news
    assert reg.state == "registered" and reg.refresh_at == pytest.approx(600.0)


def test_refresh_with_expired_nonce_and_no_stale_flag_still_retries_once() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0, expires=100)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    retry, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(retry, 200, to_tag="r", headers=[("Expires", "100")]))
    peer.events()
    peer.advance(50.0)
    refresh, _ = peer.take_request("REGISTER")  # pre-emptive credentials (old nonce)
    fresh = 'Digest realm="example.com", nonce="n2", qop="auth"'
    peer.deliver(peer.answer(refresh, 401, to_tag="r", headers=[("WWW-Authenticate", fresh)]))
    again, _ = peer.take_request("REGISTER")
    assert 'nonce="n2"' in (again.headers.get("Authorization") or "")


def test_contact_expires_parameter_wins_over_expires_header() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 200, to_tag="r", headers=[
        ("Contact", "<sip:other@192.0.2.99>;expires=7"),
        ("Contact", "<sip:1001@192.0.2.10:5070;line=x1>;expires=120"),
        ("Expires", "3600")]))
    assert reg.granted == 120
    assert reg.refresh_at == pytest.approx(60.0)


def test_unregister_sends_expires_zero_and_reports_unregistered() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 200, to_tag="r"))
    assert changes(peer) == [("registered", 200, "OK")]
    peer.ua.unregister(reg, 5.0)
    unreg, _ = peer.take_request("REGISTER")
    assert unreg.headers.get("Expires") == "0" and str(unreg.cseq) == "2 REGISTER"
    assert unreg.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;line=x1>"
    peer.deliver(peer.answer(unreg, 200, to_tag="r"))
    assert changes(peer) == [("unregistered", 200, "OK")]
    assert reg.state == "unregistered" and reg.refresh_at is None
    peer.advance(10.0)  # Timer K of the last REGISTER
    assert peer.ua.get_timer() is None


def test_unregister_waits_for_the_pending_register() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.ua.unregister(reg, 0.1)
    peer.nothing_sent()  # §10.2: one REGISTER at a time
    peer.deliver(peer.answer(req, 200, to_tag="r"))
    unreg, _ = peer.take_request("REGISTER")
    assert unreg.headers.get("Expires") == "0"
    peer.deliver(peer.answer(unreg, 200, to_tag="r"))
    assert [c[0] for c in changes(peer)] == ["registered", "unregistered"]


def test_timeout_fails_with_408_and_retries_later() -> None:
    peer = Peer()
    reg = peer.ua.register(account(), 0.0)
    peer.take_request("REGISTER")
    peer.advance(31.9)
    assert len(peer.sent()) == 10  # Timer E retransmissions
    peer.advance(32.0)
    assert changes(peer) == [("failed", 408, "Request Timeout")]
    assert reg.state == "failed" and reg.refresh_at == pytest.approx(92.0)
    peer.advance(92.0)
    retry, _ = peer.take_request("REGISTER")
    assert str(retry.cseq) == "2 REGISTER"


def test_forbidden_is_final() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 403, to_tag="r"))
    assert changes(peer) == [("failed", 403, "Forbidden")]
    peer.advance(10.0)
    assert peer.ua.get_timer() is None


def test_register_rejects_silly_expires() -> None:
    with pytest.raises(LocalProtocolError, match="expires must be between 1 and 2\\*\\*32-1 seconds"):
        Peer().ua.register(account(), 0.0, expires=0)


def test_register_rejects_a_bad_domain() -> None:
    with pytest.raises(LocalProtocolError, match="account domain 'no spaces allowed' is not a host"):
        Peer().ua.register(account(domain="no spaces allowed"), 0.0)


@pytest.mark.parametrize(("expires", "delay"), [(3600, 1800.0), (600, 300.0), (60, 30.0), (40, 10.0),
                                                (20, 10.0), (1, 0.5)])
def test_refresh_delay(expires: int, delay: float) -> None:
    assert refresh_delay(expires) == delay


def test_registration_response_to_an_old_register_is_ignored() -> None:
    peer = Peer()
    peer.ua.register(account(), 0.0)
    req, _ = peer.take_request("REGISTER")
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    peer.take_request("REGISTER")
    # a late retransmitted 401 for the first REGISTER: its transaction is completed, absorbed
    peer.deliver(peer.answer(req, 401, to_tag="r", headers=[("WWW-Authenticate", CHALLENGE)]))
    peer.nothing_sent()
    assert changes(peer) == []
    assert isinstance(req, Request) and LOCAL.port == 5070
