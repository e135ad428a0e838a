"""STUN (RFC 5389) parse/serialize against the RFC 5769 vectors, plus pinned rejections."""

from __future__ import annotations

import json
import pathlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.entropy import SeededEntropy
from wcs.webrtc import stun
from wcs.webrtc.errors import StunError, WebRtcUsageError
from wcs.webrtc.stun import StunMessage, parse_message

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "stun"
VECTORS = json.loads((DATA / "rfc5769.json").read_text())["messages"]
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _vector(section: str) -> dict[str, object]:
    return next(v for v in VECTORS if v["rfc5769_section"] == section)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["rfc5769_section"])
def test_rfc5769_attributes_match_json(vector: dict[str, object]) -> None:
    data = _load(pathlib.Path(str(vector["file"])).name)
    message = parse_message(data)
    assert message.transaction_id.hex() == vector["transaction_id"]
    assert stun._encode_type(message.method, message.message_class) == int(str(vector["message_type"]), 16)
    expected = [(int(a["type"], 16), bytes.fromhex(a["value_hex"])) for a in vector["attributes"]]  # type: ignore[attr-defined]
    kept = [a for a in expected if a[0] not in (stun.MESSAGE_INTEGRITY, stun.FINGERPRINT)]
    assert message.attributes == kept
    assert message.integrity == dict(expected)[stun.MESSAGE_INTEGRITY]
    assert message.has_fingerprint == (stun.FINGERPRINT in dict(expected))


def test_rfc5769_2_1_request() -> None:
    data = _load("rfc5769-2.1-sample-request.bin")
    message = parse_message(data)
    assert (message.method, message.message_class) == (stun.BINDING, stun.REQUEST)
    assert message.username == "evtj:h6vY"
    assert message.software == "STUN test client"
    assert message.priority == 0x6E0001FF
    assert message.ice_controlled == 0x932FF9B151263B36
    assert message.ice_controlling is None and not message.use_candidate
    assert message.check_integrity(PASSWORD)
    assert not message.check_integrity(b"wrong")
    assert message.unknown_required() == []
    assert message.encode(PASSWORD, fingerprint=True, padding=0x20) == data


def test_rfc5769_2_2_ipv4_response() -> None:
    data = _load("rfc5769-2.2-sample-ipv4-response.bin")
    message = parse_message(data)
    assert message.message_class == stun.SUCCESS_RESPONSE
    assert message.xor_mapped_address == ("192.0.2.1", 32853)
    assert message.software == "test vector"
    assert message.check_integrity(PASSWORD)
    assert message.encode(PASSWORD, fingerprint=True, padding=0x20) == data
    # building it from scratch gives the same bytes
    built = StunMessage(stun.BINDING, stun.SUCCESS_RESPONSE, message.transaction_id)
    built.add_text(stun.SOFTWARE, "test vector").add_xor_mapped_address(("192.0.2.1", 32853))
    assert built.encode(PASSWORD, fingerprint=True, padding=0x20) == data


def test_rfc5769_2_3_ipv6_response() -> None:
    data = _load("rfc5769-2.3-sample-ipv6-response.bin")
    message = parse_message(data)
    assert message.xor_mapped_address == ("2001:db8:1234:5678:11:2233:4455:6677", 32853)
    assert message.check_integrity(PASSWORD)
    built = StunMessage(stun.BINDING, stun.SUCCESS_RESPONSE, message.transaction_id)
    built.add_text(stun.SOFTWARE, "test vector")
    built.add_xor_mapped_address(("2001:db8:1234:5678:11:2233:4455:6677", 32853))
    assert built.encode(PASSWORD, fingerprint=True, padding=0x20) == data


def _long_term_key(vector: dict[str, object]) -> bytes:
    return stun.long_term_key(str(vector["username"]), str(vector["realm"]),
                              str(vector["password_after_saslprep"]))


def test_rfc5769_2_4_long_term() -> None:
    data = _load("rfc5769-2.4-request-long-term-auth.bin")
    vector = _vector("2.4")
    message = parse_message(data)
    assert message.username == vector["username"]
    assert message.nonce == vector["nonce"]
    assert message.realm == vector["realm"]
    assert not message.has_fingerprint
    key = _long_term_key(vector)
    assert key.hex() == "e8ca7ad59d5eb0518e312911d2dab2a9"
    assert message.check_integrity(key)
    assert message.encode(key, padding=0) == data


def test_message_type_encoding_roundtrip() -> None:
    for method in (0x001, 0x003, 0x0FFF):
        for cls in range(4):
            assert stun._decode_type(stun._encode_type(method, cls)) == (method, cls)
    assert stun._encode_type(stun.BINDING, stun.SUCCESS_RESPONSE) == 0x0101
    assert stun._encode_type(stun.BINDING, stun.ERROR_RESPONSE) == 0x0111
    assert stun._encode_type(stun.BINDING, stun.INDICATION) == 0x0011


def test_error_response_and_unknown_attributes_roundtrip() -> None:
    tid = stun.new_transaction_id(SeededEntropy(1))
    message = StunMessage(stun.BINDING, stun.ERROR_RESPONSE, tid)
    message.add_error_code(420, "Unknown Attribute").add_unknown_attributes([0x0031, 0x7FFF, 0x0002])
    parsed = parse_message(message.encode(fingerprint=True))
    assert parsed.error_code == (420, "Unknown Attribute")
    assert parsed.unknown_attributes == [0x0031, 0x7FFF, 0x0002]
    assert parsed.has_fingerprint and parsed.integrity is None


def test_ice_attributes_roundtrip() -> None:
    tid = bytes(range(12))
    message = StunMessage(stun.BINDING, stun.REQUEST, tid)
    message.add_text(stun.USERNAME, "abc:def").add_uint32(stun.PRIORITY, 1853824767)
    message.add(stun.USE_CANDIDATE, b"").add_uint64(stun.ICE_CONTROLLING, 2**64 - 1)
    message.add(0xC057, b"\x00\x01\x00\x0a")  # GOOG-NETWORK-INFO: unknown, comprehension-optional
    data = message.encode(b"pwd", fingerprint=True)
    parsed = parse_message(data)
    assert parsed.use_candidate and parsed.ice_controlling == 2**64 - 1 and parsed.priority == 1853824767
    assert parsed.get(0xC057) == b"\x00\x01\x00\x0a"
    assert parsed.unknown_required() == []
    assert parsed.encode(b"pwd", fingerprint=True) == data


def test_unknown_comprehension_required_reported() -> None:
    message = StunMessage(stun.BINDING, stun.REQUEST, bytes(12)).add(0x0031, b"x").add(0x8031, b"y")
    assert parse_message(message.encode()).unknown_required() == [0x0031]


def test_attributes_after_integrity_are_ignored() -> None:
    data = bytearray(_load("rfc5769-2.4-request-long-term-auth.bin"))
    data += struct.pack("!HH", stun.SOFTWARE, 4) + b"late"
    data[2:4] = (len(data) - 20).to_bytes(2, "big")
    message = parse_message(bytes(data))
    assert message.software is None
    assert message.check_integrity(_long_term_key(_vector("2.4")))


def _with_length(body: bytes, message_type: int = 0x0001) -> bytes:
    return struct.pack("!HHI12s", message_type, len(body), stun.MAGIC_COOKIE, bytes(12)) + body


def _corrupt_fingerprint() -> bytes:
    data = bytearray(_load("rfc5769-2.1-sample-request.bin"))
    data[-1] ^= 1
    return bytes(data)


def _fingerprint_not_last() -> bytes:
    body = struct.pack("!HHI", stun.FINGERPRINT, 4, 0) + struct.pack("!HH", stun.SOFTWARE, 0)
    return _with_length(body)


SAMPLE = _load("rfc5769-2.1-sample-request.bin")


def _attr(attr_type: int, value: bytes, length: int | None = None) -> bytes:
    """One attribute (declared ``length`` may lie) wrapped in a correct header."""
    return _with_length(struct.pack("!HH", attr_type, len(value) if length is None else length) + value)


REJECTIONS = [
    (b"\x00\x01\x00", "STUN message shorter than its 20-byte header"),
    (b"\xc0" + SAMPLE[1:], "STUN message type has its top two bits set"),
    (SAMPLE[:4] + bytes(4) + SAMPLE[8:], "STUN magic cookie missing"),
    (struct.pack("!HHI12s", 1, 2, stun.MAGIC_COOKIE, bytes(12)) + b"\0\0",
     "STUN message length is not a multiple of 4"),
    (struct.pack("!HHI12s", 1, 8, stun.MAGIC_COOKIE, bytes(12)) + b"\0" * 4,
     "STUN message length 8 does not match the 4 bytes after the header"),
    (_attr(stun.USERNAME, b"abcd", 8), "truncated STUN USERNAME"),
    (_attr(stun.PRIORITY, bytes(4), 2), "STUN PRIORITY has length 2, expected 4"),
    (_attr(stun.USERNAME, b"\xff\xfe\xfd\xfc"), "STUN USERNAME is not UTF-8"),
    (_attr(stun.USERNAME, b"a" * 516), "STUN USERNAME longer than 512 bytes"),
    (_attr(stun.XOR_MAPPED_ADDRESS, b"\x00\x03" + bytes(6)),
     "STUN XOR-MAPPED-ADDRESS has unknown address family 3"),
    (_attr(stun.XOR_MAPPED_ADDRESS, b"\x00\x01\x00\x00"),
     "STUN XOR-MAPPED-ADDRESS IPv4 address is not 4 bytes"),
    (_attr(stun.MAPPED_ADDRESS, b"\x00\x02" + bytes(6)), "STUN MAPPED-ADDRESS IPv6 address is not 16 bytes"),
    (_attr(stun.ERROR_CODE, b"\x00\x00\x02\x00"), "STUN ERROR-CODE outside 300-699"),
    (_attr(stun.ERROR_CODE, b"\x00\x00\x04\x64"), "STUN ERROR-CODE outside 300-699"),
    (_attr(stun.ERROR_CODE, bytes(4), 2), "STUN ERROR-CODE shorter than 4 bytes"),
    (_attr(stun.ERROR_CODE, b"\x00\x00\x04\x00\xff\xff\xff\xff"), "STUN ERROR-CODE reason is not UTF-8"),
    (_attr(stun.UNKNOWN_ATTRIBUTES, b"\x00\x01\x00\x00", 3), "STUN UNKNOWN-ATTRIBUTES has an odd length"),
    (_attr(stun.MESSAGE_INTEGRITY, bytes(16)), "STUN MESSAGE-INTEGRITY has length 16, expected 20"),
    (_corrupt_fingerprint(), "STUN FINGERPRINT mismatch"),
    (_fingerprint_not_last(), "FINGERPRINT is not the last STUN attribute"),
]


@pytest.mark.parametrize(("data", "reason"), REJECTIONS,
                         ids=[f"{i}-{r}" for i, (_, r) in enumerate(REJECTIONS)])
def test_rejections_are_pinned(data: bytes, reason: str) -> None:
    with pytest.raises(StunError) as info:
        parse_message(data)
    assert info.value.reason == reason
    assert info.value.status_code == 400


def test_is_stun() -> None:
    assert stun.is_stun(_load("rfc5769-2.1-sample-request.bin"))
    assert not stun.is_stun(b"\x16\xfe\xfd" + bytes(30))
    assert not stun.is_stun(_load("rfc5769-2.1-sample-request.bin")[:-4])


def test_usage_errors() -> None:
    message = StunMessage(stun.BINDING, stun.REQUEST, bytes(12))
    with pytest.raises(WebRtcUsageError, match="MESSAGE-INTEGRITY is added by encode"):
        message.add(stun.MESSAGE_INTEGRITY, bytes(20))
    with pytest.raises(WebRtcUsageError, match="not an IP address"):
        message.add_xor_mapped_address(("example.com", 1))
    with pytest.raises(WebRtcUsageError, match="out of range 300-699"):
        message.add_error_code(200, "OK")
    with pytest.raises(WebRtcUsageError, match="12 bytes"):
        StunMessage(stun.BINDING, stun.REQUEST, b"short").encode()


def test_fingerprint_is_crc32_xor_constant() -> None:
    data = StunMessage(stun.BINDING, stun.INDICATION, bytes(12)).encode(fingerprint=True)
    header_with_len = data[:20]
    assert int.from_bytes(data[-4:], "big") == zlib.crc32(header_with_len) ^ 0x5354554E


@given(st.binary(max_size=200))
def test_parser_returns_or_raises_stun_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except StunError:
        return
    # every accessor works on whatever parsed
    _ = (message.username, message.priority, message.error_code, message.xor_mapped_address,
         message.mapped_address, message.unknown_attributes, message.use_candidate,
         message.ice_controlled, message.ice_controlling, message.software, message.unknown_required())


@st.composite
def _stun_like(draw: st.DrawFn) -> bytes:
    """Valid header and attribute framing with arbitrary types and values."""
    attrs = draw(st.lists(st.tuples(st.sampled_from(sorted(stun._NAMES) + [0x0031, 0xC057]),
                                    st.binary(max_size=24)), max_size=6))
    body = b"".join(struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4) for t, v in attrs)
    cls = draw(st.integers(0, 3))
    return _with_length(body, stun._encode_type(stun.BINDING, cls))


@given(_stun_like())
def test_structured_input_returns_or_raises_stun_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except StunError:
        return
    assert parse_message(message.encode()).attributes == message.attributes
