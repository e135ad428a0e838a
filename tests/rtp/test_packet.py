"""RTP packets: golden round-trips, helpers, RFC 8285 elements, pinned rejections."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtp.errors import RtpError, RtpUsageError
from wcs.rtp.packet import (
    RtpPacket,
    build_extensions,
    is_rtcp,
    parse_extensions,
    payload_offset,
    peek_header,
    peek_payload_type,
    peek_sequence,
    peek_ssrc,
    peek_timestamp,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "rtp"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_golden_rtp() -> None:
    data = load("rtp.bin")
    p = RtpPacket.parse(data)
    assert (p.version, p.padding, p.extension, p.marker) == (2, False, False, False)
    assert (p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (0, 15743, 3937035252, 4028317929)
    assert p.csrc == [] and len(p.payload) == 160 and p.padding_size == 0
    assert bytes(p) == data
    assert peek_header(data) == (0, 15743, 3937035252, 4028317929)


def test_golden_rtp_with_csrc() -> None:
    data = load("rtp_with_csrc.bin")
    p = RtpPacket.parse(data)
    assert p.csrc == [2882400001, 3735928559]
    assert (p.sequence_number, p.timestamp, p.ssrc) == (16082, 144, 1606227614)
    assert len(p.payload) == 160
    assert bytes(p) == data
    assert payload_offset(data) == (20, 180)


def test_golden_rtp_with_extension() -> None:
    data = load("rtp_with_sdes_mid.bin")
    p = RtpPacket.parse(data)
    assert p.extension and p.marker
    assert (p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (111, 14156, 1327210925, 4084547440)
    assert p.extension_profile == 0xBEDE and p.extension_data == bytes.fromhex("90300000")
    assert p.extensions() == {9: b"0"}  # urn:ietf:params:rtp-hdrext:sdes:mid = "0"
    assert len(p.payload) == 54
    assert bytes(p) == data


def test_golden_rtp_dtmf() -> None:
    data = load("rtp_dtmf.bin")
    p = RtpPacket.parse(data)
    assert (p.marker, p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == \
        (True, 101, 24152, 4021352124, 2795586802)
    assert p.payload == bytes.fromhex("018a03c0")
    assert bytes(p) == data


def test_peek_helpers() -> None:
    data = load("rtp_dtmf.bin")
    assert peek_ssrc(data) == 2795586802
    assert peek_sequence(data) == 24152
    assert peek_timestamp(data) == 4021352124
    assert peek_payload_type(data) == 101
    mv = memoryview(bytearray(data))
    assert peek_header(mv) == (101, 24152, 4021352124, 2795586802)


@pytest.mark.parametrize("fn", [peek_header, peek_ssrc, peek_sequence, peek_timestamp, peek_payload_type])
def test_peek_short(fn: object) -> None:
    with pytest.raises(RtpError, match="^RTP packet shorter than 12-octet header$"):
        fn(b"\x80" * 11)  # type: ignore[operator]


def test_is_rtcp_rfc5761() -> None:
    assert is_rtcp(load("rtcp_sr.bin")) and is_rtcp(load("rtcp_bye.bin"))
    assert not is_rtcp(load("rtp.bin")) and not is_rtcp(load("rtp_dtmf.bin"))
    assert is_rtcp(b"\x80\xc0") and is_rtcp(b"\x80\xdf")
    assert not is_rtcp(b"\x80\xbf") and not is_rtcp(b"\x80\xe0") and not is_rtcp(b"\x80")


def test_padding_round_trip() -> None:
    p = RtpPacket(payload_type=8, sequence_number=1, timestamp=2, ssrc=3, payload=b"abc", padding_size=5)
    data = bytes(p)
    assert data[0] == 0xA0 and data[-5:] == b"\0\0\0\0\x05"
    q = RtpPacket.parse(data)
    assert q.padding and q.padding_size == 5 and q.payload == b"abc"
    assert q == p


def test_empty_extension_keeps_x_bit() -> None:
    p = RtpPacket(extension=True, extension_profile=0xBEDE, payload=b"x")
    data = bytes(p)
    assert data[0] == 0x90 and data[12:16] == b"\xbe\xde\x00\x00"
    assert RtpPacket.parse(data) == p


@pytest.mark.parametrize("data, reason", [
    (b"", "RTP packet shorter than 12-octet header"),
    (bytes(11), "RTP packet shorter than 12-octet header"),
    (b"\x40" + bytes(11), "RTP version is not 2"),
    (b"\x81" + bytes(11), "RTP CSRC list truncated"),
    (b"\x90" + bytes(11) + b"\xbe\xde", "RTP header extension truncated"),
    (b"\x90" + bytes(11) + b"\xbe\xde\x00\x01", "RTP header extension truncated"),
    (b"\xa0" + bytes(11), "RTP padding bit set but no padding count"),
    (b"\xa0" + bytes(11) + b"ab\x00", "RTP padding count is zero"),
    (b"\xa0" + bytes(11) + b"ab\x04", "RTP padding count exceeds packet"),
])
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as e:
        RtpPacket.parse(data)
    assert e.value.reason == reason


def test_serialize_rejects_bad_fields() -> None:
    with pytest.raises(RtpUsageError, match="^RTP payload type 128 out of range$"):
        bytes(RtpPacket(payload_type=128))
    with pytest.raises(RtpUsageError, match="^RTP header extension length is not a multiple of 4$"):
        bytes(RtpPacket(extension_data=b"abc"))
    with pytest.raises(RtpUsageError, match="^RTP header field out of range"):
        bytes(RtpPacket(sequence_number=70000))
    with pytest.raises(RtpUsageError, match="^RTP packet has more than 15 CSRCs$"):
        bytes(RtpPacket(csrc=list(range(16))))


def test_one_byte_extensions() -> None:
    profile, data = build_extensions([(1, b"\x01\x02\x03"), (14, b"z" * 16)])
    assert profile == 0xBEDE and len(data) % 4 == 0
    assert parse_extensions(profile, data) == [(1, b"\x01\x02\x03"), (14, b"z" * 16)]
    # padding octets between elements, and ID 15 stops processing (RFC 8285 §4.2)
    assert parse_extensions(0xBEDE, b"\x00\x10a\x00\xf0\x20bc") == [(1, b"a")]


def test_two_byte_extensions() -> None:
    profile, data = build_extensions([(1, b""), (200, b"q" * 255)], two_byte=True)
    assert profile == 0x1000
    assert parse_extensions(profile, data) == [(1, b""), (200, b"q" * 255)]
    assert parse_extensions(0x1003, b"\x00\x05\x01x\x00") == [(5, b"x")]
    assert parse_extensions(0xABCD, b"anything") == []


def test_extension_rejections() -> None:
    with pytest.raises(RtpError, match="^RTP one-byte extension element 2 truncated$"):
        parse_extensions(0xBEDE, b"\x23ab")
    with pytest.raises(RtpError, match="^RTP two-byte extension element 7 truncated$"):
        parse_extensions(0x1000, b"\x07\x03ab")
    with pytest.raises(RtpError, match="^RTP two-byte extension element 7 truncated$"):
        parse_extensions(0x1000, b"\x07")
    with pytest.raises(RtpUsageError, match="^one-byte extension element 15 out of range$"):
        build_extensions([(15, b"a")])
    with pytest.raises(RtpUsageError, match="^two-byte extension element 1 out of range$"):
        build_extensions([(1, bytes(256))], two_byte=True)


@given(st.binary(max_size=80))
def test_parse_returns_packet_or_rtp_error(data: bytes) -> None:
    try:
        p = RtpPacket.parse(data)
    except RtpError:
        return
    again = RtpPacket.parse(bytes(p))
    assert again == p
    try:
        p.extensions()
    except RtpError:
        pass


@given(st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127), sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF), marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15), extension=st.booleans(),
    extension_profile=st.integers(0, 0xFFFF),
    extension_data=st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4)),
    payload=st.binary(max_size=40), padding_size=st.integers(0, 255),
))
def test_build_parse_round_trip(p: RtpPacket) -> None:
    if p.extension_data:
        p.extension = True
    if not p.extension:
        p.extension_profile = 0
    assert RtpPacket.parse(bytes(p)) == p
