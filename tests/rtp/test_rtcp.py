"""RTCP: golden round-trips on captured packets, each packet type, pinned rejections."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtp.errors import RtcpError, RtpUsageError
from wcs.rtp.rtcp import (
    App,
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    Sdes,
    SdesChunk,
    SenderReport,
    UnknownRtcp,
    parse_compound,
    serialize_compound,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "rtp"


def golden(name: str) -> tuple[bytes, list[RtcpPacket]]:
    data = (DATA / name).read_bytes()
    packets = parse_compound(data)
    assert serialize_compound(packets) == data
    return data, packets


def test_golden_sr() -> None:
    _, [sr] = golden("rtcp_sr.bin")
    assert sr == SenderReport(
        ssrc=1831097322, ntp_timestamp=16016567581311369308, rtp_timestamp=1722342718,
        packet_count=269, octet_count=13557,
        reports=[ReportBlock(ssrc=2398654957, highest_sequence=246, jitter=127)])


def test_golden_rr() -> None:
    _, [rr] = golden("rtcp_rr.bin")
    assert rr == ReceiverReport(ssrc=817267719, reports=[
        ReportBlock(ssrc=1200895919, highest_sequence=630, jitter=1906)])


def test_golden_sdes() -> None:
    _, [sdes] = golden("rtcp_sdes.bin")
    assert isinstance(sdes, Sdes)
    assert sdes.chunks == [SdesChunk(1831097322, [(1, b"{63f459ea-41fe-4474-9d33-9707c9ee79d1}")])]
    assert sdes.cname() == b"{63f459ea-41fe-4474-9d33-9707c9ee79d1}"
    assert sdes.cname(1831097322) == sdes.cname() and sdes.cname(1) is None


def test_golden_bye() -> None:
    _, [bye] = golden("rtcp_bye.bin")
    assert bye == Bye([2924645187])


def test_golden_pli() -> None:
    _, [pli] = golden("rtcp_psfb_pli.bin")
    assert pli == Pli(1414554213, 587284409)


def test_golden_nack() -> None:
    _, [nack] = golden("rtcp_rtpfb.bin")
    assert isinstance(nack, Nack)
    assert (nack.sender_ssrc, nack.media_ssrc) == (2336520123, 4145934052)
    assert nack.lost == [12, 32, 39, 54, 76, 110, 123, 142, 183, 187, 223, 236, 271, 292]


def test_compound_reduced_size_and_order() -> None:
    packets: list[RtcpPacket] = [
        ReceiverReport(1, [ReportBlock(2, fraction_lost=64, packets_lost=-3, highest_sequence=70000,
                                       jitter=5, lsr=6, dlsr=7)]),
        Sdes([SdesChunk(1, [(1, b"cname"), (6, b"wcs")]), SdesChunk(9)]),
        Bye([1, 2], b"shutting down"),
    ]
    data = serialize_compound(packets)
    assert parse_compound(data) == packets
    assert parse_compound(bytes(Pli(1, 2))) == [Pli(1, 2)]  # RFC 5506: feedback alone


def test_sdes_chunk_padding() -> None:
    # "abc" → 4 + 2 + 3 = 9 octets → END + 2 pad nulls; empty chunk → 4 nulls
    assert bytes(SdesChunk(1, [(1, b"abc")])) == b"\0\0\0\x01\x01\x03abc\0\0\0"
    assert bytes(SdesChunk(1)) == b"\0\0\0\x01\0\0\0\0"
    assert bytes(SdesChunk(1, [(1, b"ab")])) == b"\0\0\0\x01\x01\x02ab\0\0\0\0"


def test_bye_reason_and_app() -> None:
    data = bytes(Bye([5], b"bye"))
    assert data == bytes.fromhex("81cb0002") + b"\0\0\0\x05\x03bye"
    assert parse_compound(data) == [Bye([5], b"bye")]
    app = App(subtype=3, ssrc=7, name=b"WCS1", data=b"abcd")
    assert parse_compound(bytes(app)) == [app]
    assert bytes(app)[0] == 0x83


def test_nack_packing() -> None:
    nack = Nack(1, 2, [100, 101, 116, 117, 65535, 0, 5])
    data = bytes(nack)
    # 100 + BLP{101,116}; 117 alone; 65535 + BLP{0, 5} across the wrap
    assert data[12:] == bytes.fromhex("0064" "8001" "0075" "0000" "ffff" "0021")
    assert parse_compound(data) == [Nack(1, 2, [100, 101, 116, 117, 65535, 0, 5])]


def test_fir_and_remb() -> None:
    fir = Fir(1, [(0x11223344, 7), (5, 255)])
    assert bytes(fir)[12:] == bytes.fromhex("11223344" "07000000" "00000005" "ff000000")
    assert parse_compound(bytes(fir)) == [fir]
    remb = Remb(1, 1_000_000, [0xAABBCCDD])
    data = bytes(remb)
    assert data[:4] == bytes.fromhex("8fce0005") and data[12:16] == b"REMB"
    # 1,000,000 = 250000 << 2 exactly: num=1, exp=2, mantissa=250000
    assert data[16:20] == ((1 << 24) | (2 << 18) | 250000).to_bytes(4, "big")
    assert parse_compound(data) == [remb]
    lossy = parse_compound(bytes(Remb(1, (1 << 40) + 12345)))[0]
    assert isinstance(lossy, Remb) and lossy.bitrate == 1 << 40


def test_unknown_kept_raw() -> None:
    tcc = bytes.fromhex("8fcd0004" "00000001" "00000002" "00010002" "00000000")  # RTPFB fmt 15
    xr = bytes.fromhex("80cf0002" "00000001" "05000000")  # XR (RFC 3611)
    afb = bytes.fromhex("8fce0003" "00000001" "00000000" "41424344")  # PSFB fmt 15, not REMB
    packets = parse_compound(tcc + xr + afb)
    assert packets == [UnknownRtcp(205, 15, tcc[4:]), UnknownRtcp(207, 0, xr[4:]),
                       UnknownRtcp(206, 15, afb[4:])]
    assert serialize_compound(packets) == tcc + xr + afb


def test_padding_removed() -> None:
    padded = bytes.fromhex("a1cb0002" "00000005" "00000004")
    assert parse_compound(padded) == [Bye([5])]


def test_signed_cumulative_loss() -> None:
    block = ReportBlock(1, packets_lost=-1)
    assert bytes(block)[4:8] == b"\x00\xff\xff\xff"
    with pytest.raises(RtpUsageError, match="^cumulative loss 8388608 out of 24-bit range$"):
        bytes(ReportBlock(1, packets_lost=0x800000))


@pytest.mark.parametrize("data, reason", [
    (b"", "RTCP compound packet is empty"),
    (b"\x80\xc8", "RTCP packet shorter than 4-octet header"),
    (bytes(Bye([1])) + b"\x81", "RTCP packet shorter than 4-octet header"),
    (b"\x40\xc9\x00\x01\x00\x00\x00\x01", "RTCP version is not 2"),
    (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "RTCP length field exceeds datagram"),
    (b"\xa0\xcb\x00\x01\x00\x00\x00\x00", "RTCP padding count invalid"),
    (b"\xa0\xcb\x00\x00", "RTCP padding count invalid"),
    (b"\xa0\xcb\x00\x01\x00\x00\x00\x09", "RTCP padding count invalid"),
    (b"\x80\xc8\x00\x01\x00\x00\x00\x01", "RTCP SR shorter than sender info"),
    (bytes.fromhex("81c8 0006") + bytes(24), "RTCP SR report blocks truncated"),
    (bytes.fromhex("81c9 0001 00000001"), "RTCP RR report blocks truncated"),
    (b"\x80\xc9\x00\x00", "RTCP RR shorter than 8 octets"),
    (bytes.fromhex("81ca 0000"), "RTCP SDES chunk truncated"),
    (bytes.fromhex("81ca 0001 00000001"), "RTCP SDES chunk not terminated"),
    (bytes.fromhex("81ca 0002 00000001 0105abcd"), "RTCP SDES item truncated"),
    (bytes.fromhex("82cb 0001 00000001"), "RTCP BYE SSRC list truncated"),
    (bytes.fromhex("81cb 0002 00000001 09616263"), "RTCP BYE reason truncated"),
    (bytes.fromhex("80cc 0001 00000001"), "RTCP APP shorter than 12 octets"),
    (bytes.fromhex("81cd 0001 00000001"), "RTCP feedback packet shorter than 12 octets"),
    (bytes.fromhex("84ce 0003 00000001 00000000 00000005"), "RTCP FIR entry truncated"),
    (bytes.fromhex("8fce 0003 00000001 00000000 52454d42"), "RTCP REMB truncated"),
    (bytes.fromhex("8fce 0004 00000001 00000000 52454d42 02000001"), "RTCP REMB SSRC list truncated"),
])
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(RtcpError) as e:
        parse_compound(data)
    assert e.value.reason == reason


def test_serialize_usage_errors() -> None:
    with pytest.raises(RtpUsageError, match="^APP name must be 4 octets$"):
        bytes(App(0, 1, b"ab"))
    with pytest.raises(RtpUsageError, match="^RTCP count 32 out of range$"):
        bytes(ReceiverReport(1, [ReportBlock(i) for i in range(32)]))
    with pytest.raises(RtpUsageError, match="^RTCP body length is not a multiple of 4$"):
        bytes(UnknownRtcp(210, 0, b"abc"))


@given(st.binary(max_size=120))
def test_parse_returns_packets_or_rtcp_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpError:
        return
    for p in packets:
        try:
            again = parse_compound(bytes(p))
        except RtpUsageError:
            continue  # e.g. an APP whose data is not word-aligned after padding removal
        assert len(again) == 1


@given(st.binary(max_size=60).map(lambda b: b + bytes(-len(b) % 4)), st.integers(0, 31),
       st.integers(207, 255))
def test_unknown_round_trip(body: bytes, count: int, ptype: int) -> None:
    pkt = UnknownRtcp(ptype, count, body)
    assert parse_compound(bytes(pkt)) == [pkt]
