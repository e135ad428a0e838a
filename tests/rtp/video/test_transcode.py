"""VP8 ⇄ H.264 transcoding through PyAV, and the codec boundary itself."""

from __future__ import annotations

import pytest

from wcs.entropy import SeededEntropy
from wcs.rtp.ffmpeg import Picture, VideoDecoder, VideoEncoder
from wcs.rtp.packet import RtpPacket
from wcs.rtp.video.common import VideoPacket
from wcs.rtp.video.errors import DecodeError, VideoUsageError
from wcs.rtp.video.h264 import FU_A, STAP_A, H264Depacketizer, nal_type, split_annex_b
from wcs.rtp.video.transcode import VideoTranscoder
from wcs.rtp.video.vp8 import Vp8Depacketizer, frame_is_keyframe

from .samples import KEYFRAMES, SIZE, rtp_packets

SOURCES = {"vp8": "vp8_160x120.rtp", "h264": "h264_160x120.rtp"}


def _decode(codec: str, packets: list[VideoPacket]) -> list[tuple[int, int, int, bool]]:
    """(timestamp, width, height, keyframe) of each picture the target stream decodes to."""
    dep = Vp8Depacketizer() if codec == "vp8" else H264Depacketizer()
    dec = VideoDecoder(codec)
    out = []
    for seq, p in enumerate(packets):
        for frame in dep.push(p.payload, seq, p.timestamp, p.marker):
            assert not frame.discontinuity
            for pic in dec.decode(frame.data, frame.timestamp):
                out.append((frame.timestamp, pic.width, pic.height, frame.keyframe))
    return out


@pytest.mark.parametrize(("source", "target"), [("vp8", "h264"), ("h264", "vp8")])
def test_transcode_decodes_to_frames_of_the_right_size(source: str, target: str) -> None:
    raw = rtp_packets(SOURCES[source])
    tr = VideoTranscoder(source, target, max_payload=300, entropy=SeededEntropy(1))
    out = [p for packet in raw for p in tr.receive(packet)]
    assert all(len(p.payload) <= 300 for p in out)
    pictures = _decode(target, out)
    in_ts = sorted({RtpPacket.parse(p).timestamp for p in raw})
    assert [p[0] for p in pictures] == in_ts  # source timestamps are kept (both clocks are 90 kHz)
    assert {p[1:3] for p in pictures} == {SIZE}
    assert pictures[0][3] and not any(p[3] for p in pictures[1:])  # only the first frame needs a keyframe
    assert (tr.frames_in, tr.frames_decoded, tr.frames_encoded) == (12, 12, 12)
    assert tr.keyframes_encoded == 1 and not tr.pop_keyframe_request()


def test_fixed_output_size_and_keyframe_on_request() -> None:
    tr = VideoTranscoder("vp8", "h264", width=96, height=64)
    out: list[VideoPacket] = []
    for i, packet in enumerate(rtp_packets(SOURCES["vp8"])):
        out += tr.receive(packet)
        if i == 10:
            tr.request_keyframe()
    pictures = _decode("h264", out)
    assert {p[1:3] for p in pictures} == {(96, 64)}
    assert sum(p[3] for p in pictures) == 2 and tr.keyframes_encoded == 2


def test_loss_skips_to_the_next_keyframe_and_asks_the_source() -> None:
    raw = rtp_packets(SOURCES["h264"])
    stamps = [RtpPacket.parse(p).timestamp for p in raw]
    k = stamps.index(3000 * 2)  # the first packet of frame 2
    tr = VideoTranscoder("h264", "vp8")
    out: list[VideoPacket] = []
    asked = []
    for i, packet in enumerate(raw):
        if i == k:
            continue
        out += tr.receive(packet)
        asked.append(tr.pop_keyframe_request())
    pictures = _decode("vp8", out)
    # frame 2 is lost, 3-5 cannot be decoded without it, 6 is a keyframe
    assert [p[0] // 3000 for p in pictures] == [0, 1, 6, 7, 8, 9, 10, 11]
    assert tr.frames_skipped == 3 and sum(asked) == 3
    assert tr.depacketizer.frames_dropped == 1


def test_waits_for_a_first_keyframe() -> None:
    raw = rtp_packets(SOURCES["vp8"])
    stamps = [RtpPacket.parse(p).timestamp for p in raw]
    start = stamps.index(1000 + 3000)  # join in the middle: frame 1 onwards
    tr = VideoTranscoder("vp8", "h264")
    out = [p for packet in raw[start:] for p in tr.receive(packet)]
    assert tr.frames_skipped == KEYFRAMES[1] - 1 and tr.pop_keyframe_request()
    assert [p[0] for p in _decode("h264", out)][0] == 1000 + 3000 * KEYFRAMES[1]
    tr.reset()  # a new source: wait again
    last = [p for p in raw if RtpPacket.parse(p).timestamp == stamps[-1]]
    assert [p for packet in last for p in tr.receive(packet)] == [] and tr.pop_keyframe_request()


def test_packetization_mode_0_output_is_single_nal_units() -> None:
    tr = VideoTranscoder("vp8", "h264", packetization_mode=0, max_payload=200)
    out = [p for packet in rtp_packets(SOURCES["vp8"]) for p in tr.receive(packet)]
    assert out and all(len(p.payload) <= 200 and nal_type(p.payload) not in (STAP_A, FU_A) for p in out)
    assert len(_decode("h264", out)) == 12


def test_undecodable_frames_are_counted_and_trigger_a_request() -> None:
    tr = VideoTranscoder("vp8", "h264")
    bogus = b"\x10" + b"\x50\x02\x00\x9d\x01\x2a\xa0\x00\x78\x00" + bytes(range(256)) * 2  # a "keyframe"
    assert tr.receive_payload(bogus, 1, 0, True) == []
    assert tr.decode_errors == 1 and tr.pop_keyframe_request()
    assert tr.receive(b"\x80") == [] and tr.depacketizer.packets_malformed == 1


def test_usage_errors() -> None:
    for args in (("vp8", "vp9"), ("av1", "h264")):
        with pytest.raises(VideoUsageError):
            VideoTranscoder(*args)
    with pytest.raises(VideoUsageError):
        VideoTranscoder("vp8", "h264", width=320)


# -- the codec boundary -----------------------------------------------------------------------------


def test_codec_boundary() -> None:
    black = Picture.black(64, 48, pts=5)
    assert (black.width, black.height, black.pts) == (64, 48, 5)
    planes = black.to_yuv420p()
    assert planes == bytes([16]) * 64 * 48 + bytes([128]) * (64 * 48 // 2)
    assert black.scaled(64, 48) is black and black.scaled(32, 24).width == 32
    for bad in ((63, 48), (0, 2)):
        with pytest.raises(VideoUsageError):
            Picture.black(*bad)
    with pytest.raises(VideoUsageError):
        VideoDecoder("mpeg2")
    with pytest.raises(VideoUsageError):
        VideoEncoder("h264", 65, 48)
    vp8 = VideoEncoder("vp8", 64, 48)
    frames = [f for i in range(3) for f in vp8.encode(black, 3000 * i, keyframe=i == 2)]
    assert [f.keyframe for f in frames] == [True, False, True] and [f.pts for f in frames] == [0, 3000, 6000]
    assert frame_is_keyframe(frames[2].data)
    h264 = VideoEncoder("h264", 64, 48)
    au = h264.encode(Picture.black(64, 48), 0)[0]
    assert au.keyframe and [nal_type(n) for n in split_annex_b(au.data)][:2] == [7, 8]
    with pytest.raises(DecodeError):
        VideoDecoder("h264").decode(b"\x00\x00\x00\x01\x65" + bytes(range(1, 200)), 0)


def test_reset_keeps_the_output_timeline_continuous() -> None:
    raw = rtp_packets(SOURCES["vp8"])
    tr = VideoTranscoder("vp8", "h264", fps=30)
    first = [p for packet in raw for p in tr.receive(packet)]
    tr.reset()
    shifted = []
    for packet in raw:  # the same clip again as a "new source" with timestamps far in the past
        pkt = RtpPacket.parse(packet)
        pkt.timestamp = (pkt.timestamp - 10**6) & 0xFFFFFFFF
        pkt.sequence_number = (pkt.sequence_number + 100) & 0xFFFF
        shifted += tr.receive(bytes(pkt))
    stamps = sorted({p.timestamp for p in first}) + sorted({p.timestamp for p in shifted})
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [3000] * 23
