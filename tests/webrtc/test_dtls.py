"""DtlsSession: DTLS 1.2 + use_srtp back to back in memory (RFC 6347, RFC 5764)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wcs.rtp.srtp import SrtpSession
from wcs.webrtc.dtls import DtlsSession, _pack_records
from wcs.webrtc.errors import FingerprintError, WebRtcUsageError

from .dtls_pair import (
    CLIENT_CERT,
    OTHER_CERT,
    SERVER_CERT,
    Wire,
    fingerprint,
    handshake,
    make_pair,
)

RTP = bytes.fromhex("80e00001000000640000abcd") + b"\x11" * 160
RTCP = bytes.fromhex("80c9000100000001")  # empty RR


def _srtp_roundtrip(sender: SrtpSession, receiver: SrtpSession) -> None:
    protected = sender.protect(RTP)
    assert protected != RTP and receiver.unprotect(protected) == RTP
    assert receiver.unprotect_rtcp(sender.protect_rtcp(RTCP)) == RTCP


def test_handshake_and_srtp_keys() -> None:
    server, client = make_pair()
    wire = handshake(server, client)
    assert (server.state, client.state) == ("connected", "connected")
    assert server.error is None and client.error is None
    assert server.srtp_profile == client.srtp_profile == "SRTP_AEAD_AES_128_GCM"
    assert server.keying_material() == client.keying_material()
    assert len(server.keying_material()[1]) == 2 * (16 + 12)
    assert server.peer_certificate_der == CLIENT_CERT.der
    assert client.peer_certificate_der == SERVER_CERT.der
    _srtp_roundtrip(client.srtp_session(), server.srtp_session())
    _srtp_roundtrip(server.srtp_session(), client.srtp_session())
    assert server.srtp_session() is server.srtp_session()
    assert all(len(d) <= 1200 for d in wire.sent["c2s"] + wire.sent["s2c"])
    assert server.get_timer() is None and client.get_timer() is None


def test_sha1_80_fallback_and_small_mtu() -> None:
    server, _ = make_pair(mtu=600)
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(SERVER_CERT),
                         srtp_profiles=["SRTP_AES128_CM_SHA1_80"], mtu=600)
    wire = handshake(server, client)
    assert server.srtp_profile == client.srtp_profile == "SRTP_AES128_CM_SHA1_80"
    assert len(client.keying_material()[1]) == 2 * (16 + 14)
    _srtp_roundtrip(client.srtp_session(), server.srtp_session())
    assert all(len(d) <= 600 for d in wire.sent["c2s"] + wire.sent["s2c"])


def test_server_preference_picks_gcm() -> None:
    server, _ = make_pair()
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(SERVER_CERT),
                         srtp_profiles=["SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_256_GCM",
                                        "SRTP_AEAD_AES_128_GCM"])  # Chrome's order
    handshake(server, client)
    assert server.srtp_profile == client.srtp_profile == "SRTP_AEAD_AES_128_GCM"


def test_no_common_srtp_profile_fails() -> None:
    server, _ = make_pair(srtp_profiles=["SRTP_AEAD_AES_128_GCM"])
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(SERVER_CERT),
                         srtp_profiles=["SRTP_AES128_CM_SHA1_80"])
    handshake(server, client)
    assert server.state == "failed" and server.error == "DTLS peer negotiated no SRTP profile"


def test_lost_client_hello_is_retransmitted() -> None:
    server, client = make_pair()
    wire = handshake(server, client, drop=lambda direction, index, data: direction == "c2s" and index == 0)
    assert client.state == server.state == "connected"
    # the first retransmission came from the client's timer, 1 s after start
    assert wire.sent["c2s"][1] == wire.sent["c2s"][0]


def test_lost_server_flight_is_retransmitted() -> None:
    server, client = make_pair()
    wire = handshake(server, client, drop=lambda direction, index, data: direction == "s2c" and index == 0)
    assert client.state == server.state == "connected"
    assert wire.sent["s2c"][0] in wire.sent["s2c"][1:]


def test_lost_client_second_flight_is_retransmitted() -> None:
    server, client = make_pair()
    # the ClientHello is datagram 0; flight 5 starts at index 1
    handshake(server, client, drop=lambda direction, index, data: direction == "c2s" and index == 1)
    assert client.state == server.state == "connected"


def test_timer_before_deadline_does_nothing() -> None:
    server, client = make_pair()
    client.start(0.0)
    first = client.datagrams_to_send()
    deadline = client.get_timer()
    assert deadline is not None and 0.5 < deadline <= 1.0
    client.handle_timer(deadline - 0.1)
    assert client.datagrams_to_send() == []
    client.handle_timer(deadline)
    assert client.datagrams_to_send() == first
    again = client.get_timer()
    assert again is not None and again >= deadline + 1.5  # doubled (RFC 6347 §4.2.4.1)


def test_handshake_timeout() -> None:
    server, _ = make_pair(handshake_timeout=10.0)
    server.start(5.0)
    assert server.get_timer() == 15.0
    server.handle_timer(14.9)
    assert server.state == "connecting"
    server.handle_timer(15.0)
    assert (server.state, server.error) == ("failed", "DTLS handshake timeout")
    assert server.get_timer() is None


def test_fingerprint_mismatch_during_handshake() -> None:
    server, client = make_pair(remote_fingerprints=fingerprint(OTHER_CERT))
    handshake(server, client)
    assert (server.state, server.error) == ("failed", "DTLS fingerprint mismatch")
    assert client.state == "failed"
    assert client.error == "DTLS handshake failed: tlsv1 alert unknown ca"  # OpenSSL maps the verify error


def test_client_checks_server_fingerprint() -> None:
    server, _ = make_pair()
    client = DtlsSession(CLIENT_CERT, is_server=False, remote_fingerprints=fingerprint(OTHER_CERT))
    handshake(server, client)
    assert (client.state, client.error) == ("failed", "DTLS fingerprint mismatch")
    assert server.state == "failed"


def test_fingerprints_signalled_after_handshake() -> None:
    server, client = make_pair(remote_fingerprints=[])
    handshake(server, client)
    assert client.state == "connected"
    assert server.state == "connecting" and server.awaiting_fingerprint
    with pytest.raises(WebRtcUsageError):
        server.srtp_session()
    server.set_remote_fingerprints(fingerprint(CLIENT_CERT))
    assert _state(server) == "connected" and not server.awaiting_fingerprint
    _srtp_roundtrip(client.srtp_session(), server.srtp_session())


def _state(session: DtlsSession) -> str:
    return session.state


def test_late_fingerprint_mismatch_closes() -> None:
    server, client = make_pair(remote_fingerprints=[])
    wire = handshake(server, client)
    server.set_remote_fingerprints(fingerprint(OTHER_CERT))
    assert (server.state, server.error) == ("failed", "DTLS fingerprint mismatch")
    wire.pump(30.0)
    assert client.state == "closed"  # we sent close_notify


def test_late_fingerprint_never_comes() -> None:
    server, client = make_pair(remote_fingerprints=[], handshake_timeout=5.0)
    handshake(server, client)
    server.handle_timer(5.0)
    assert (server.state, server.error) == ("failed", "DTLS fingerprint not signalled in time")


def test_multiple_fingerprints_strongest_hash_decides() -> None:
    # RFC 8122 §5.1: sha-512 is preferred, so a wrong sha-512 fails even with a right sha-256
    wrong_strong = fingerprint(CLIENT_CERT) + [("sha-512", OTHER_CERT.fingerprint("sha-512"))]
    server, client = make_pair(remote_fingerprints=wrong_strong)
    handshake(server, client)
    assert server.error == "DTLS fingerprint mismatch"
    right_strong = [("sha-256", OTHER_CERT.fingerprint()), ("sha-512", CLIENT_CERT.fingerprint("sha-512"))]
    server, client = make_pair(remote_fingerprints=right_strong)
    handshake(server, client)
    assert server.state == "connected"
    # two certificates' sha-256 fingerprints: either may match
    server, client = make_pair(remote_fingerprints=fingerprint(OTHER_CERT) + fingerprint(CLIENT_CERT))
    handshake(server, client)
    assert server.state == "connected"


def test_malformed_fingerprint_raises() -> None:
    with pytest.raises(FingerprintError):
        make_pair(remote_fingerprints=[("sha-256", "XX")])


def test_application_data_and_close_notify() -> None:
    server, client = make_pair()
    wire = handshake(server, client)
    client.send(b"hello")
    wire.pump(1.0)
    assert server.application_data() == [b"hello"]
    assert server.application_data() == []
    client.close()
    assert client.state == "closed"
    wire.pump(1.0)
    assert server.state == "closed"
    client.close()  # idempotent
    with pytest.raises(WebRtcUsageError):
        client.send(b"late")


def test_input_after_failure_is_ignored() -> None:
    server, _ = make_pair(handshake_timeout=1.0)
    server.start(0.0)
    server.handle_timer(1.0)
    server.receive(b"\x16\xfe\xfd" + bytes(40), 2.0)
    assert server.state == "failed" and server.datagrams_to_send() == []


GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda body: b"\x16\xfe\xfd" + body, st.binary(max_size=200)),
    st.builds(lambda body: b"\x17\xfe\xfd\x00\x01" + body, st.binary(max_size=200)),
    st.builds(lambda body: b"\x15\xfe\xfd" + body, st.binary(max_size=20)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GARBAGE, min_size=1, max_size=5), st.sampled_from(["before", "after"]))
def test_garbage_never_raises(garbage: list[bytes], when: str) -> None:
    server, client = make_pair()
    if when == "after":
        handshake(server, client)
    for data in garbage:
        server.receive(data, 1.0)
        client.receive(data, 1.0)
    assert server.state in ("new", "connecting", "connected", "failed", "closed")
    if when == "before":
        # stray garbage before the ClientHello does not prevent the handshake
        wire = Wire(client, server)
        server.start(1.0)
        client.start(1.0)
        wire.pump(1.0)
        assert server.state in ("connected", "failed") and client.state in ("connected", "failed")


def test_bad_arguments() -> None:
    with pytest.raises(WebRtcUsageError, match="unsupported SRTP profiles"):
        DtlsSession(SERVER_CERT, is_server=True, srtp_profiles=["SRTP_NULL"])
    with pytest.raises(WebRtcUsageError, match="MTU"):
        DtlsSession(SERVER_CERT, is_server=True, mtu=100)


def test_pack_records() -> None:
    def record(size: int) -> bytes:
        return b"\x16\xfe\xfd" + bytes(8) + size.to_bytes(2, "big") + b"x" * size

    a, b, c = record(500), record(700), record(100)
    assert _pack_records(a + b + c, 1200) == [a, b + c]
    assert _pack_records(a + b + c, 2000) == [a + b + c]
    assert _pack_records(a + b"\x16\xfe", 1200) == [a + b"\x16\xfe"]


@pytest.mark.xfail(strict=True, reason="simulated time: a lost final flight needs OpenSSL's own "
                   "retransmission (fresh record numbers); verbatim copies are dropped as replays")
def test_lost_final_server_flight_in_simulated_time() -> None:
    server, client = make_pair()
    handshake(server, client, drop=lambda direction, index, data: direction == "s2c" and index == 1)
    assert client.state == "connected"
