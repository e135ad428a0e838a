"""RFC 6184 H.264 payload: NAL units, STAP-A, FU-A, modes 0/1, depacketizer, parameter sets."""

from __future__ import annotations

import base64

import pytest

from wcs.rtp.packet import RtpPacket
from wcs.rtp.video.common import VideoPacket
from wcs.rtp.video.errors import H264Error, NalUnitTooLarge, VideoUsageError
from wcs.rtp.video.h264 import (
    FU_A,
    IDR,
    PPS,
    SPS,
    STAP_A,
    FuFragment,
    H264Depacketizer,
    H264Packetizer,
    ProfileLevelId,
    build_fu_a,
    build_sprop_parameter_sets,
    build_stap_a,
    is_keyframe,
    join_annex_b,
    nal_type,
    parse_payload,
    parse_sprop_parameter_sets,
    payload_is_keyframe,
    payload_nal_types,
    split_annex_b,
    split_avc,
)

from .samples import KEYFRAMES, h264_stream, rtp_packets

SPS_NAL = bytes.fromhex("6742c00cda0507e840000003004000000523c50aa8")
PPS_NAL = bytes.fromhex("68ce3c80")
IDR_NAL = bytes.fromhex("658882") + bytes(range(3, 200))
P_NAL = bytes.fromhex("419a2018bc")


def _access_units() -> list[list[bytes]]:
    """The sample stream cut into access units (each starts at an SPS or a first slice)."""
    aus: list[list[bytes]] = []
    for nal in split_annex_b(h264_stream()):
        t = nal_type(nal)
        if not aus or t == SPS or (t == 1 and nal[1] & 0x80 and nal_type(aus[-1][-1]) in (1, 5)):
            aus.append([])
        aus[-1].append(nal)
    return aus


# -- NAL unit streams -------------------------------------------------------------------------------


def test_annex_b_split_and_join() -> None:
    four, three = b"\x00\x00\x00\x01", b"\x00\x00\x01"
    stream = four + SPS_NAL + three + PPS_NAL + four + IDR_NAL + b"\x00\x00"
    assert split_annex_b(stream) == [SPS_NAL, PPS_NAL, IDR_NAL]
    assert split_annex_b(join_annex_b([SPS_NAL, PPS_NAL])) == [SPS_NAL, PPS_NAL]
    assert join_annex_b([PPS_NAL]) == b"\x00\x00\x00\x01" + PPS_NAL
    assert split_annex_b(b"\x00\x00\x00\x00\x01" + PPS_NAL) == [PPS_NAL]  # leading zero_byte(s)
    with pytest.raises(H264Error, match="^Annex B stream does not begin with a start code$"):
        split_annex_b(b"\x67\x00\x00\x01" + PPS_NAL)
    with pytest.raises(H264Error):
        split_annex_b(PPS_NAL)


def test_avc_split() -> None:
    data = len(SPS_NAL).to_bytes(4, "big") + SPS_NAL + len(PPS_NAL).to_bytes(4, "big") + PPS_NAL
    assert split_avc(data) == [SPS_NAL, PPS_NAL]
    assert split_avc(len(PPS_NAL).to_bytes(2, "big") + PPS_NAL, 2) == [PPS_NAL]
    for bad in (data[:-1], b"\x00\x00\x00\x00", b"\x00\x00"):
        with pytest.raises(H264Error):
            split_avc(bad)
    with pytest.raises(VideoUsageError):
        split_avc(data, 3)


def test_keyframe_detection_on_x264_output() -> None:
    aus = _access_units()
    assert len(aus) == 12
    assert [i for i, au in enumerate(aus) if is_keyframe(au)] == list(KEYFRAMES)
    for i in KEYFRAMES:  # SPS and PPS precede every IDR (repeat-headers)
        assert [nal_type(n) for n in aus[i] if nal_type(n) in (SPS, PPS)] == [SPS, PPS]
    sps = aus[0][0]
    pli = ProfileLevelId.from_sps(sps)
    assert pli.profile_idc == 66 and pli.constraint_set(0) and pli.constraint_set(1)
    assert pli.constrained_baseline and str(pli) == f"42c0{pli.level_idc:02x}"


# -- payload structures -----------------------------------------------------------------------------


def test_single_nal_unit_packet() -> None:
    assert parse_payload(P_NAL) == [P_NAL]
    assert payload_nal_types(IDR_NAL) == [IDR] and payload_is_keyframe(IDR_NAL)
    assert not payload_is_keyframe(P_NAL)


def test_stap_a_golden() -> None:
    # RFC 6184 §5.7.1 Figure 7 layout: STAP-A header, then (size, NAL unit) pairs
    stap = build_stap_a([SPS_NAL, PPS_NAL])
    assert stap == b"\x78" + b"\x00\x15" + SPS_NAL + b"\x00\x04" + PPS_NAL  # NRI = max(3, 3), type 24
    assert parse_payload(stap) == [SPS_NAL, PPS_NAL]
    assert payload_nal_types(stap) == [SPS, PPS]
    # F is the OR and NRI the maximum of the aggregated units
    low = bytes((0x06,)) + b"\x05"  # SEI, NRI 0
    mid = bytes((0x41,)) + b"\x9a"  # non-IDR, NRI 2
    assert build_stap_a([low, mid])[0] == 0x40 | STAP_A
    assert build_stap_a([b"\x86\x01", mid])[0] == 0x80 | 0x40 | STAP_A
    with pytest.raises(VideoUsageError):
        build_stap_a([])
    with pytest.raises(VideoUsageError):
        build_stap_a([b""])


def test_stap_a_ignores_reserved_types() -> None:
    stap = b"\x78\x00\x02\x1e\x00" + b"\x00\x04" + PPS_NAL  # type 30 is ignored (Table 3)
    assert parse_payload(stap) == [PPS_NAL]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "H.264 payload is empty"),
        (b"\xe5\x88", "H.264 payload header has the forbidden bit set"),
        (b"\x78", "H.264 STAP-A carries no NAL unit"),
        (b"\x78\x00", "H.264 STAP-A NAL unit size truncated"),
        (b"\x78\x00\x00", "H.264 STAP-A aggregation unit is empty"),
        (b"\x78\x00\x05\x68\xce", "H.264 STAP-A NAL unit overruns the packet"),
        (b"\x78\x00\x02\xe8\xce", "H.264 STAP-A NAL unit has the forbidden bit set"),
        (b"\x78\x00\x02\x7c\x85", "H.264 STAP-A nests an aggregation or fragmentation unit"),
        (b"\x78\x00\x02\x68\xce\x00", "H.264 STAP-A NAL unit size truncated"),
        (b"\x7c", "H.264 FU-A lacks its FU header"),
        (b"\x7c\xc5\x00", "H.264 FU-A has both start and end bits set"),
        (b"\x7c\x9c\x00", "H.264 FU-A fragments an aggregation or fragmentation unit"),
        (b"\xfc\x85\x00", "H.264 payload header has the forbidden bit set"),
        (b"\x79\x00\x00", "H.264 payload type 25 needs the interleaved mode, which is not supported"),
        (b"\x7a\x00\x00", "H.264 payload type 26 needs the interleaved mode, which is not supported"),
        (b"\x7b\x00\x00", "H.264 payload type 27 needs the interleaved mode, which is not supported"),
        (b"\x7d\x85\x00\x00", "H.264 payload type 29 needs the interleaved mode, which is not supported"),
    ],
)
def test_payload_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(H264Error) as info:
        parse_payload(payload)
    assert info.value.reason == reason
    assert payload_nal_types(payload) == [] and not payload_is_keyframe(payload)


def test_reserved_payload_types_are_ignored() -> None:
    assert parse_payload(b"\x00\x01") == parse_payload(b"\x7e\x01") == parse_payload(b"\x7f") == []
    assert parse_payload(b"\x7c\x9e\x01") == []  # an FU-A of a reserved type


def test_fu_a_golden_and_edges() -> None:
    frags = build_fu_a(IDR_NAL, 100)
    assert all(len(f) <= 100 for f in frags) and len(frags) == 3
    # FU indicator: F and NRI of the NAL unit, type 28; FU header: S/E, R=0, type 5
    assert [f[0] for f in frags] == [0x60 | FU_A] * 3
    assert [f[1] for f in frags] == [0x80 | IDR, IDR, 0x40 | IDR]
    assert b"".join(f[2:] for f in frags) == IDR_NAL[1:]
    sizes = [len(f) for f in frags]
    assert max(sizes) - min(sizes) <= 1
    parsed = [parse_payload(f)[0] for f in frags]
    assert parsed[0] == FuFragment(0x65, True, False, frags[0][2:])
    assert payload_nal_types(frags[0]) == [IDR] and payload_nal_types(frags[1]) == []
    assert payload_is_keyframe(frags[0]) and not payload_is_keyframe(frags[2])
    # a NAL unit that would fit one fragment is still split in two: S and E never share a header
    two = build_fu_a(P_NAL, 1000)
    assert [f[1] & 0xC0 for f in two] == [0x80, 0x40]
    # the R bit is ignored; an empty FU payload is allowed (§5.8)
    assert parse_payload(b"\x7c\x25") == [FuFragment(0x65, False, False, b"")]
    with pytest.raises(VideoUsageError):
        build_fu_a(b"\x65\x01", 100)
    with pytest.raises(VideoUsageError):
        build_fu_a(IDR_NAL, 2)


# -- packetizer -------------------------------------------------------------------------------------


def test_mode_1_aggregates_and_fragments() -> None:
    pk = H264Packetizer(100)
    pkts = pk.packetize([SPS_NAL, PPS_NAL, IDR_NAL, P_NAL], 7)
    kinds = [nal_type(p.payload) for p in pkts]
    assert kinds == [STAP_A, FU_A, FU_A, FU_A, 1]
    assert [p.marker for p in pkts] == [False] * 4 + [True] and {p.timestamp for p in pkts} == {7}
    assert all(len(p.payload) <= 100 for p in pkts)
    no_agg = H264Packetizer(100, aggregate=False).packetize([SPS_NAL, PPS_NAL], 0)
    assert [p.payload for p in no_agg] == [SPS_NAL, PPS_NAL]
    single = H264Packetizer().packetize_annex_b(join_annex_b([P_NAL]), 5)
    assert single == [VideoPacket(P_NAL, 5, True)]


def test_mode_0_sends_single_nal_units_or_reports() -> None:
    pk = H264Packetizer(300, 0)
    pkts = pk.packetize([SPS_NAL, PPS_NAL, IDR_NAL], 0)
    assert [p.payload for p in pkts] == [SPS_NAL, PPS_NAL, IDR_NAL]
    with pytest.raises(NalUnitTooLarge) as info:
        H264Packetizer(100, 0).packetize([SPS_NAL, IDR_NAL], 0)
    assert (info.value.size, info.value.limit) == (len(IDR_NAL), 100)
    assert str(info.value) == "NAL unit of 200 octets exceeds 100; packetization-mode 0 cannot fragment"


def test_packetizer_usage_errors() -> None:
    with pytest.raises(VideoUsageError):
        H264Packetizer(packetization_mode=2)
    with pytest.raises(VideoUsageError):
        H264Packetizer(4)
    with pytest.raises(VideoUsageError):
        H264Packetizer().packetize([b"\x7c\x00"], 0)


# -- golden packets and depacketizer ----------------------------------------------------------------


def test_golden_packets_round_trip() -> None:
    raw = rtp_packets("h264_160x120.rtp")
    aus = _access_units()
    first = RtpPacket.parse(raw[0])
    assert (first.payload_type, first.ssrc, first.sequence_number) == (102, 0x55667788, 65530)
    assert parse_payload(first.payload) == aus[0][:2]  # STAP-A with SPS and PPS
    types = [nal_type(RtpPacket.parse(p).payload) for p in raw]
    assert STAP_A in types and FU_A in types and 1 in types
    dep = H264Depacketizer()
    out = [f for p in raw for f in dep.push_packet(p)]
    assert [f.data for f in out] == [join_annex_b(au) for au in aus]
    assert [f.keyframe for f in out] == [i in KEYFRAMES for i in range(12)]
    assert dep.parameter_sets_inserted == 0
    pk = H264Packetizer(400)
    rebuilt = [p.payload for i, au in enumerate(aus) for p in pk.packetize(au, 3000 * i)]
    assert rebuilt == [RtpPacket.parse(p).payload for p in raw]


def _packets(aus: list[list[bytes]], max_payload: int = 120) -> list[tuple[bytes, int, int, bool]]:
    pk = H264Packetizer(max_payload)
    out = []
    for i, au in enumerate(aus):
        for p in pk.packetize(au, 3000 * i):
            out.append((p.payload, (100 + len(out)) & 0xFFFF, p.timestamp, p.marker))
    return out


def test_lost_fu_a_fragment_drops_the_access_unit() -> None:
    aus = _access_units()
    pkts = _packets(aus)
    k = next(i for i, p in enumerate(pkts) if p[2] == 3000 * 2) + 1  # inside access unit 2
    dep = H264Depacketizer()
    out = [f for p in pkts[:k] + pkts[k + 1 :] for f in dep.push(*p)]
    assert [f.timestamp // 3000 for f in out] == [i for i in range(12) if i != 2]
    assert [f.discontinuity for f in out] == [i == 3 for i in range(12) if i != 2]


def test_fu_a_sequence_errors_drop_the_frame() -> None:
    frags = build_fu_a(IDR_NAL, 80)
    cases = [
        [frags[1], frags[2]],  # no start (but follows the previous frame: complete by sequence)
        [frags[0], frags[1]],  # no end, frame closed by marker
        [frags[0], PPS_NAL, frags[2]],  # interrupted
        [frags[0], frags[0][:1] + bytes((0x80 | IDR,)) + b"\x01", frags[2]],  # two starts
    ]
    for case in cases:
        dep = H264Depacketizer()
        assert dep.push(P_NAL[:1] + b"\x80", 1, 0, True)  # a first frame to follow
        for i, payload in enumerate(case):
            assert dep.push(payload, 2 + i, 3000, i == len(case) - 1) == []
        assert dep.frames_dropped == 1, case


def test_parameter_sets_from_sprop_are_inserted_before_idr() -> None:
    sprop = build_sprop_parameter_sets([SPS_NAL, PPS_NAL, IDR_NAL])
    assert sprop == base64.b64encode(SPS_NAL).decode() + "," + base64.b64encode(PPS_NAL).decode()
    sets = parse_sprop_parameter_sets(sprop)
    assert sets == [SPS_NAL, PPS_NAL]
    dep = H264Depacketizer(sets)
    idr = b"\x65\x88\x01\x02"
    out = dep.push(b"\x09\xf0", 1, 0, False) + dep.push(idr, 2, 0, True)  # AUD, then IDR
    assert out[0].data == join_annex_b([b"\x09\xf0", SPS_NAL, PPS_NAL, idr]) and out[0].keyframe
    # in-band parameter sets replace the remembered ones and are not duplicated
    new_sps = SPS_NAL[:-1] + b"\xab"
    out = dep.push(build_stap_a([new_sps, PPS_NAL, idr]), 3, 3000, True)
    assert out[0].data == join_annex_b([new_sps, PPS_NAL, idr])
    out = dep.push(idr, 4, 6000, True)
    assert out[0].data == join_annex_b([new_sps, PPS_NAL, idr])
    assert dep.parameter_sets_inserted == 2
    assert H264Depacketizer().push(idr, 1, 0, True)[0].data == join_annex_b([idr])


def test_access_unit_start_detection() -> None:
    dep = H264Depacketizer()
    # a slice with first_mb_in_slice != 0 cannot open a frame (the first slice was lost)
    assert dep.push(b"\x41\x40\x01", 10, 0, True) == []
    assert dep.push(b"\x41\x80\x01", 12, 3000, True)[0].discontinuity
    # an FU-A start of a first slice opens a frame
    frags = build_fu_a(b"\x41\x80" + bytes(100), 60)
    out = [f for i, p in enumerate(frags) for f in dep.push(p, 20 + i, 6000, i == len(frags) - 1)]
    assert len(out) == 1 and out[0].data == join_annex_b([b"\x41\x80" + bytes(100)])
    # a payload of a reserved type only fills its sequence number
    assert dep.push(b"\x00\xff", 30, 9000, False) == []
    assert dep.push(P_NAL[:1] + b"\x80", 31, 9000, True) == []  # the AU has to start with a known opener
    assert dep.frames_dropped >= 1


def test_sprop_rejections() -> None:
    for bad in ("Z0LADNo*", "aM48gA==,!!!!", "AA==", "6A=="):
        with pytest.raises(H264Error):
            parse_sprop_parameter_sets(bad)
    assert parse_sprop_parameter_sets(" Z0LADNo=,aM48gA==, ") == [bytes.fromhex("6742c00cda"), PPS_NAL]


def test_profile_level_id() -> None:
    pli = ProfileLevelId.from_hex("42e01f")
    assert pli == ProfileLevelId(0x42, 0xE0, 0x1F) and str(pli) == "42e01f" and pli.constrained_baseline
    assert not ProfileLevelId.from_hex("42001f").constrained_baseline
    assert ProfileLevelId.from_hex("4d801f").constrained_baseline
    assert ProfileLevelId.from_hex("58c01f").constrained_baseline
    assert not ProfileLevelId.from_hex("640c1f").constrained_baseline
    for bad in ("42e01", "42e01g", ""):
        with pytest.raises(H264Error):
            ProfileLevelId.from_hex(bad)
    with pytest.raises(H264Error):
        ProfileLevelId.from_sps(PPS_NAL)
