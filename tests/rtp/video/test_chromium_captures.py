"""Golden tests on RTP captured from Chromium 156: libvpx VP8, OpenH264 H.264 (see data SOURCES.md)."""

from __future__ import annotations

from wcs.rtp.ffmpeg import VideoDecoder
from wcs.rtp.packet import RtpPacket
from wcs.rtp.video.h264 import (
    FU_A,
    IDR,
    PPS,
    SPS,
    STAP_A,
    H264Depacketizer,
    H264Packetizer,
    ProfileLevelId,
    nal_type,
    parse_payload,
    payload_is_keyframe,
    split_annex_b,
)
from wcs.rtp.video.vp8 import Vp8Depacketizer, Vp8Descriptor, Vp8Packetizer, keyframe_dimensions
from wcs.rtp.video.vp8 import payload_is_keyframe as vp8_payload_is_keyframe

from .samples import rtp_packets


def test_chromium_vp8_capture() -> None:
    raw = rtp_packets("chromium156_vp8.rtp")
    pkts = [RtpPacket.parse(p) for p in raw]
    assert len(pkts) == 17 and {(p.payload_type, p.ssrc) for p in pkts} == {(96, 0x5F3B9F5E)}
    descs = [Vp8Descriptor.parse(p.payload)[0] for p in pkts]
    # Chromium: X=1, I=1 with a 15-bit PictureID, no L/T/K for a 1:1 call, PID 0, S on frame starts
    assert all(d.long_picture_id and d.tl0picidx is d.tid is d.keyidx is None for d in descs)
    assert {d.partition_index for d in descs} == {0}
    starts = [d.picture_id for d in descs if d.start]
    assert starts == list(range(2882, 2882 + len(starts)))
    # the first keyframe in two 1000-octet packets; the second answers our PLI
    assert [len(p.payload) for p in pkts[:2]] == [1000, 1000]
    assert [p.marker for p in pkts[:2]] == [False, True]
    assert [i for i, p in enumerate(pkts) if vp8_payload_is_keyframe(p.payload)] == [0, 11]
    dep = Vp8Depacketizer()
    frames = [f for p in raw for f in dep.push_packet(p)]
    assert len(frames) == 15 and [i for i, f in enumerate(frames) if f.keyframe] == [0, 10]
    assert not any(f.discontinuity for f in frames) and dep.packets_malformed == 0
    assert keyframe_dimensions(frames[0].data) == (320, 240)
    decoder = VideoDecoder("vp8")
    assert {(p.width, p.height) for f in frames for p in decoder.decode(f.data, f.timestamp)} == {(320, 240)}
    # re-packetized with Chromium's PictureIDs, the keyframe splits exactly as Chromium split it
    again = Vp8Packetizer(1000, picture_id=2882).packetize(frames[0].data, frames[0].timestamp)
    assert [p.payload for p in again] == [p.payload for p in pkts[:2]]


def test_chromium_h264_capture() -> None:
    raw = rtp_packets("chromium156_h264.rtp")
    pkts = [RtpPacket.parse(p) for p in raw]
    assert len(pkts) == 18 and {(p.payload_type, p.ssrc) for p in pkts} == {(108, 0xE7A658D7)}
    # packetization-mode 1: STAP-A(SPS, PPS), FU-A for the IDR slice, single NAL units for P slices
    assert [nal_type(p.payload) for p in pkts[:4]] == [STAP_A, FU_A, FU_A, 1]
    sps, pps = parse_payload(pkts[0].payload)
    assert (nal_type(sps), nal_type(pps)) == (SPS, PPS)
    assert str(ProfileLevelId.from_sps(sps)) == "42c015"  # OpenH264: Constrained Baseline, level 2.1
    assert ProfileLevelId.from_sps(sps).constrained_baseline
    assert [p.marker for p in pkts[:4]] == [False, False, True, True]
    assert [i for i, p in enumerate(pkts) if payload_is_keyframe(p.payload)] == [1, 13]
    dep = H264Depacketizer()
    frames = [f for p in raw for f in dep.push_packet(p)]
    assert len(frames) == 14 and [i for i, f in enumerate(frames) if f.keyframe] == [0, 10]
    assert [nal_type(n) for n in split_annex_b(frames[0].data)] == [SPS, PPS, IDR]
    assert not any(f.discontinuity for f in frames) and dep.parameter_sets_inserted == 0
    decoder = VideoDecoder("h264")
    assert {(p.width, p.height) for f in frames for p in decoder.decode(f.data, f.timestamp)} == {(320, 240)}
    # Chromium leaves the zero octet of the 4-octet start code that followed the SPS in OpenH264's
    # byte stream at the end of the SPS (a trailing_zero_8bits, harmless); we strip it when splitting
    assert sps.endswith(b"\x35\x00") and split_annex_b(frames[0].data)[0] == sps[:-1]
    # our packetizer with Chromium's limit otherwise reproduces Chromium's payloads
    rebuilt = [
        p.payload for f in frames for p in H264Packetizer(1000).packetize(split_annex_b(f.data), f.timestamp)
    ]
    assert rebuilt[0] == b"\x78\x00\x11" + sps[:-1] + b"\x00\x04" + pps
    assert rebuilt[1:4] == [p.payload for p in pkts[1:4]]
