"""WebRtcEndpoint back to back against a browser-like peer built from our own pieces."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wcs.webrtc.transport import RemoteAddressChanged, StateChanged, WebRtcEndpoint, host_candidate

from .browser import Browser, connect, endpoint_for
from .dtls_pair import CLIENT_CERT, OTHER_CERT, SERVER_CERT, fingerprint

RTP = bytes.fromhex("80000001000000a012345678") + b"\xd5" * 160
def _state(endpoint: WebRtcEndpoint) -> str:
    return endpoint.state  # (defeats mypy's narrowing across calls that change the state)


RTCP = bytes.fromhex("81c900070000000112345678") + bytes(20)


def test_connect_and_media_both_ways() -> None:
    endpoint = endpoint_for()
    assert _state(endpoint) == "new" and endpoint.protect_rtp(RTP) is None
    assert endpoint.setup == "passive"
    assert endpoint.fingerprint == "sha-256 " + SERVER_CERT.fingerprint()
    browser = connect(endpoint)
    assert endpoint.state == "connected" and endpoint.error is None
    assert browser.dtls.state == "connected" and browser.successes == 1
    assert endpoint.remote_address == browser.addr
    assert endpoint.events() == [
        RemoteAddressChanged(browser.addr, True),
        StateChanged("checking", None),
        StateChanged("connected", None),
    ]
    # browser → gateway
    assert endpoint.receive(browser.srtp.protect(RTP), browser.addr, 1.0) == [RTP]
    assert endpoint.receive(browser.srtp.protect_rtcp(RTCP), browser.addr, 1.0) == [RTCP]
    # gateway → browser
    out = endpoint.protect_rtp(RTP)
    assert out is not None and out[1] == browser.addr
    assert browser.srtp.unprotect(out[0]) == RTP
    out = endpoint.protect_rtcp(RTCP)
    assert out is not None and browser.srtp.unprotect_rtcp(out[0]) == RTCP
    assert not endpoint.dropped
    assert endpoint.get_timer() == 30.0  # consent: 30 s after the last check


def test_media_drops_are_counted() -> None:
    endpoint = endpoint_for()
    endpoint.receive(RTP, ("127.0.0.1", 50000), 0.0)
    browser = connect(endpoint)
    protected = browser.srtp.protect(RTP)
    assert endpoint.receive(protected, ("127.0.0.1", 50001), 1.0) == []
    assert endpoint.receive(protected[:-1] + bytes([protected[-1] ^ 1]), browser.addr, 1.0) == []
    assert endpoint.receive(protected, browser.addr, 1.0) == [RTP]
    assert endpoint.receive(protected, browser.addr, 1.0) == []  # replay
    assert endpoint.receive(b"\x80\x00\x00", browser.addr, 1.0) == []
    for data in (b"", b"\x10zrtp", b"\x40\x00\x00\x04turn", b"\xff\xff"):
        assert endpoint.receive(data, browser.addr, 1.0) == []
    endpoint.receive(b"\x16\xfe\xfd" + bytes(20), ("192.0.2.1", 9), 1.0)
    endpoint.receive(b"\x00\x01\x00\x00", browser.addr, 1.0)
    assert dict(endpoint.dropped) == {
        "SRTP before DTLS is connected": 1,
        "media from an address that passed no ICE check": 1,
        "SRTP authentication failed": 1,
        "SRTP replayed packet": 1,
        "RTP/RTCP packet too short": 1,
        "unsupported packet type (unknown)": 2,
        "unsupported packet type (zrtp)": 1,
        "unsupported packet type (turn)": 1,
        "DTLS from an address that passed no ICE check": 1,
        "STUN message rejected": 1,
    }
    assert endpoint.last_stun_error == "STUN message shorter than its 20-byte header"


def test_bad_checks_are_answered_with_errors() -> None:
    endpoint = endpoint_for()
    browser = Browser(endpoint)
    from .helpers import binding_request

    endpoint.receive(binding_request("wrong:brow", endpoint.local_pwd), browser.addr, 0.0)
    endpoint.receive(binding_request(f"{endpoint.local_ufrag}:brow", "badpwd"), browser.addr, 0.0)
    browser.deliver(0.0)
    assert browser.errors == [401, 401]
    assert endpoint.state == "new" and endpoint.ice.rejected == {
        "USERNAME does not start with our ufrag": 1, "MESSAGE-INTEGRITY mismatch": 1}


def test_consent_refresh_and_expiry() -> None:
    endpoint = endpoint_for(consent_timeout=30.0)
    browser = connect(endpoint)
    endpoint.events()
    for t in (5.0, 10.0, 15.0):
        browser.check(t)
        assert endpoint.get_timer() == t + 30.0
    endpoint.handle_timer(44.9)
    assert endpoint.state == "connected"
    endpoint.handle_timer(45.0)
    reason = "ICE consent expired: no connectivity check for 30 s"
    assert (_state(endpoint), endpoint.error) == ("failed", reason)
    assert endpoint.events() == [StateChanged("failed", reason)]
    assert endpoint.protect_rtp(RTP) is None and endpoint.get_timer() is None
    assert endpoint.receive(browser.srtp.protect(RTP), browser.addr, 46.0) == []
    assert endpoint.dropped["datagram after the transport failed"] == 1


def test_no_checks_times_out() -> None:
    endpoint = endpoint_for(connect_timeout=10.0)
    endpoint.start(100.0)
    assert endpoint.get_timer() == 110.0
    endpoint.handle_timer(110.0)
    assert (endpoint.state, endpoint.error) == ("failed", "ICE connectivity checks never arrived")


def test_dtls_never_starts_times_out() -> None:
    endpoint = endpoint_for(connect_timeout=10.0)
    browser = Browser(endpoint)
    endpoint.start(0.0)
    browser.check(1.0)  # its ClientHello is never delivered
    assert endpoint.state == "checking"
    endpoint.handle_timer(10.0)
    assert (endpoint.state, endpoint.error) == ("failed", "DTLS handshake timeout")


def test_retransmitted_server_flight_reaches_browser() -> None:
    endpoint = endpoint_for()
    browser = Browser(endpoint)
    endpoint.start(0.0)
    browser.check(0.0)
    # the browser's ClientHello reaches us, our flight is lost
    for data in browser.dtls.datagrams_to_send():
        endpoint.receive(data, browser.addr, 0.0)
    lost = endpoint.datagrams_to_send()
    assert lost and all(dest == browser.addr for _, dest in lost)
    deadline = endpoint.get_timer()
    assert deadline is not None and deadline <= 1.0
    endpoint.handle_timer(deadline)
    browser.deliver(deadline)
    assert endpoint.state == "connected"


def test_fingerprints_signalled_late() -> None:
    endpoint = endpoint_for(browser_fingerprints=False)
    browser = connect(endpoint)
    assert browser.dtls.state == "connected" and endpoint.state == "checking"
    assert endpoint.dtls.awaiting_fingerprint
    endpoint.set_remote_fingerprints(fingerprint(CLIENT_CERT), 2.0)
    assert _state(endpoint) == "connected"
    assert endpoint.receive(browser.srtp.protect(RTP), browser.addr, 2.0) == [RTP]


def test_fingerprint_never_signalled() -> None:
    endpoint = endpoint_for(browser_fingerprints=False, connect_timeout=5.0)
    connect(endpoint)
    endpoint.handle_timer(5.0)
    assert (endpoint.state, endpoint.error) == ("failed", "DTLS fingerprint not signalled in time")


def test_fingerprint_mismatch_fails() -> None:
    endpoint = WebRtcEndpoint(SERVER_CERT, remote_fingerprints=fingerprint(OTHER_CERT))
    browser = connect(endpoint)
    assert (endpoint.state, endpoint.error) == ("failed", "DTLS fingerprint mismatch")
    assert browser.dtls.state == "failed"


def test_renomination_moves_media() -> None:
    endpoint = endpoint_for()
    browser = connect(endpoint)
    endpoint.events()
    new_addr = ("127.0.0.1", 50002)
    browser.check(3.0, addr=new_addr, use_candidate=False)
    assert endpoint.remote_address == browser.addr and endpoint.events() == []
    browser.check(4.0, addr=new_addr, use_candidate=True)
    assert endpoint.events() == [RemoteAddressChanged(new_addr, True)]
    out = endpoint.protect_rtp(RTP)
    assert out is not None and out[1] == new_addr
    assert endpoint.receive(browser.srtp.protect(RTP), new_addr, 4.0) == [RTP]


def test_close_sends_close_notify() -> None:
    endpoint = endpoint_for()
    browser = connect(endpoint)
    late_packet = browser.srtp.protect(RTP)
    endpoint.close()
    assert endpoint.state == "closed" and endpoint.protect_rtp(RTP) is None
    browser.deliver(5.0)
    assert browser.dtls.state == "closed"
    endpoint.close()
    assert endpoint.receive(late_packet, browser.addr, 6.0) == []
    # the browser's answering close_notify, then the late packet
    assert endpoint.dropped == {"datagram after the transport closed": 2}


def test_peer_close_notify_closes() -> None:
    endpoint = endpoint_for()
    browser = connect(endpoint)
    browser.dtls.close()
    browser.deliver(5.0)
    assert (endpoint.state, endpoint.error) == ("closed", "DTLS closed by the peer")


def test_endpoint_as_dtls_client() -> None:
    endpoint = endpoint_for(dtls_role="client")
    assert endpoint.setup == "active"
    browser = Browser(endpoint, dtls_role="server")
    browser.dtls.start(0.0)
    connect(endpoint, browser)
    assert endpoint.state == "connected" and browser.dtls.state == "connected"
    out = endpoint.protect_rtp(RTP)
    assert out is not None and browser.srtp.unprotect(out[0]) == RTP


def test_credentials() -> None:
    endpoint = WebRtcEndpoint(SERVER_CERT, local_ufrag="abcd", local_pwd="p" * 24)
    assert (endpoint.local_ufrag, endpoint.local_pwd) == ("abcd", "p" * 24)
    endpoint.set_remote_credentials("brow", "x" * 22)
    assert endpoint.ice.remote_ufrag == "brow"
    generated = WebRtcEndpoint(SERVER_CERT)
    assert len(generated.local_ufrag) == 8 and len(generated.local_pwd) == 24


def test_host_candidate() -> None:
    assert host_candidate("192.0.2.7", 40000) == "1 1 udp 2130706431 192.0.2.7 40000 typ host"
    assert host_candidate("::1", 5, foundation="2", local_preference=65534) == \
        "2 1 udp 2130706175 ::1 5 typ host"


@pytest.mark.parametrize("when", ["new", "connected"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_never_raises(when: str, garbage: list[bytes]) -> None:
    endpoint = endpoint_for()
    browser = connect(endpoint) if when == "connected" else Browser(endpoint)
    for data in garbage:
        assert endpoint.receive(data, browser.addr, 1.0) == []
    endpoint.datagrams_to_send()
    assert endpoint.state in ("new", "checking", "connected", "failed", "closed")
