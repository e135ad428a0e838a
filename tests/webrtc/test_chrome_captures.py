"""Golden tests on packets captured from Chromium 156 (see tests/data/webrtc/SOURCES.md)."""

from __future__ import annotations

import pathlib

from wcs.webrtc import stun
from wcs.webrtc.demux import classify
from wcs.webrtc.ice_lite import IceLiteAgent, SelectedPairChanged
from wcs.webrtc.stun import parse_message

from .helpers import check_response

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "webrtc"
UFRAG, PWD = "wcsU", "wcspasswordwcspassword00"
BROWSER = ("127.0.0.1", 41234)


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_binding_request_golden_roundtrip() -> None:
    data = _load("chrome156-binding-request.bin")
    assert classify(data) == "stun" and stun.is_stun(data)
    request = parse_message(data)
    assert (request.method, request.message_class) == (stun.BINDING, stun.REQUEST)
    assert request.username == "wcsU:TflJ"
    assert request.priority == 0x6E7C1EFF and request.ice_controlling is not None
    assert request.ice_controlled is None and not request.use_candidate
    assert request.get(0xC057) == b"\x00\x01\x00\x00"   # GOOG-NETWORK-INFO kept, comprehension-optional
    assert request.unknown_required() == []
    assert request.check_integrity(PWD.encode()) and request.has_fingerprint
    assert request.encode(PWD.encode(), fingerprint=True) == data


def test_ice_lite_answers_chromium() -> None:
    agent = IceLiteAgent(UFRAG, PWD)
    reply = agent.handle_stun(_load("chrome156-binding-request.bin"), BROWSER, 0.0)
    assert reply is not None
    assert check_response(reply, PWD).xor_mapped_address == BROWSER
    assert agent.selected == BROWSER and not agent.nominated
    nominating = _load("chrome156-binding-request-use-candidate.bin")
    assert parse_message(nominating).use_candidate
    assert agent.handle_stun(nominating, BROWSER, 0.5) is not None
    assert agent.nominated
    assert agent.events() == [SelectedPairChanged(BROWSER, False), SelectedPairChanged(BROWSER, True)]


def _client_hello() -> bytes:
    """Reassemble the fragmented ClientHello body (RFC 6347 §4.2.3) from the captured records."""
    data, offset, fragments, total = _load("chrome156-dtls-client-hello.bin"), 0, {}, 0
    while offset < len(data):
        assert classify(data[offset:]) == "dtls"
        length = int.from_bytes(data[offset + 11:offset + 13], "big")
        body = data[offset + 13:offset + 13 + length]
        offset += 13 + length
        assert body[0] == 1  # client_hello
        total = int.from_bytes(body[1:4], "big")
        fragments[int.from_bytes(body[6:9], "big")] = body[12:12 + int.from_bytes(body[9:12], "big")]
    message = b"".join(fragments[k] for k in sorted(fragments))
    assert len(message) == total
    return message


def _extensions(hello: bytes) -> dict[int, bytes]:
    p = 2 + 32
    p += 1 + hello[p]                                     # session id
    p += 1 + hello[p]                                     # cookie (DTLS)
    p += 2 + int.from_bytes(hello[p:p + 2], "big")        # cipher suites
    p += 1 + hello[p]                                     # compression methods
    end = p + 2 + int.from_bytes(hello[p:p + 2], "big")
    p += 2
    extensions = {}
    while p < end:
        ext_type, length = int.from_bytes(hello[p:p + 2], "big"), int.from_bytes(hello[p + 2:p + 4], "big")
        extensions[ext_type] = hello[p + 4:p + 4 + length]
        p += 4 + length
    return extensions


def test_chromium_use_srtp_order() -> None:
    use_srtp = _extensions(_client_hello())[0x000E]       # RFC 5764 §4.1.1
    count = int.from_bytes(use_srtp[:2], "big") // 2
    profiles = [int.from_bytes(use_srtp[2 + 2 * i:4 + 2 * i], "big") for i in range(count)]
    # SRTP_AES128_CM_HMAC_SHA1_80, SRTP_AEAD_AES_256_GCM, SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2)
    assert profiles == [0x0001, 0x0008, 0x0007]


def test_dtls_server_answers_chromium_client_hello() -> None:
    from wcs.webrtc.dtls import DtlsSession

    from .dtls_pair import SERVER_CERT

    data = _load("chrome156-dtls-client-hello.bin")
    server = DtlsSession(SERVER_CERT, is_server=True)
    server.receive(data[:1200], 0.0)   # the two datagrams as captured
    server.receive(data[1200:], 0.0)
    flight = server.datagrams_to_send()
    assert flight and server.state == "connecting"
    record = flight[0]
    assert record[0] == 22 and record[13] == 2            # handshake / server_hello
    assert record[13 + 12:13 + 14] == b"\xfe\xfd"         # DTLS 1.2 chosen from Chromium's 1.3 + 1.2 offer
