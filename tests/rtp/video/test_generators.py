"""Black video and silence generators: payloads, cadence, timestamps, delayed start (sans-I/O)."""

from __future__ import annotations

import av
import numpy as np
import opuslib
import pytest

from wcs.entropy import SeededEntropy
from wcs.rtp.errors import RtpUsageError
from wcs.rtp.ffmpeg import VideoDecoder
from wcs.rtp.generators import SILENCE, BlackVideoGenerator, RtpGenerator, SilenceGenerator, black_frames
from wcs.rtp.packet import RtpPacket
from wcs.rtp.video.common import RtpWriter, VideoPacket
from wcs.rtp.video.h264 import FU_A, STAP_A, H264Depacketizer, nal_type
from wcs.rtp.video.vp8 import Vp8Depacketizer, payload_is_keyframe


def _run(gen: RtpGenerator, until: float) -> list[tuple[float, RtpPacket]]:
    """Drive the generator's timer by hand up to ``until``: (send time, packet) pairs."""
    out = []
    while (deadline := gen.get_timer()) is not None and deadline <= until:
        gen.handle_timer(deadline)
        out += [(deadline, RtpPacket.parse(p)) for p in gen.pop_packets()]
    return out


# -- silence ----------------------------------------------------------------------------------------


def _ulaw(b: int) -> int:
    b = ~b & 0xFF
    mag = (((b & 0x0F) << 3) + 0x84) << ((b >> 4) & 7)
    return (0x84 - mag) if b & 0x80 else (mag - 0x84)


def _alaw(b: int) -> int:
    b ^= 0x55
    seg, mag = (b >> 4) & 7, (b & 0x0F) << 4
    mag = mag + 8 if seg == 0 else (mag + 0x108) << (seg - 1)
    return mag if b & 0x80 else -mag


def test_silence_payloads_decode_to_silence() -> None:
    assert _ulaw(SILENCE["pcmu"][1][0]) == 0 and abs(_alaw(SILENCE["pcma"][1][0])) == 8  # G.711 zero
    opus = opuslib.Decoder(48000, 2)
    for _ in range(3):
        pcm = np.frombuffer(opus.decode(SILENCE["opus"][1], 960), dtype="<i2")
        assert len(pcm) == 2 * 960 and not pcm.any()
    dec = av.CodecContext.create("g722", "r")
    samples = [f.to_ndarray() for _ in range(25) for f in dec.decode(av.Packet(SILENCE["g722"][1]))]
    pcm = np.concatenate(samples, axis=None)
    assert len(pcm) == 25 * 320 and int(np.abs(pcm.astype(int)).max()) <= 4  # -78 dBFS at most


@pytest.mark.parametrize(
    ("codec", "clock", "step", "size"), [("pcmu", 8000, 160, 160), ("pcma", 8000, 160, 160),
                                          ("g722", 8000, 160, 160), ("opus", 48000, 960, 3)]
)
def test_silence_cadence_and_numbering(codec: str, clock: int, step: int, size: int) -> None:
    gen = SilenceGenerator(codec, 111, entropy=SeededEntropy(7))
    assert gen.get_timer() is None and not gen.running
    gen.start(100.0, delay=1.5)  # rtp_generator_start_timeout
    assert gen.running and gen.get_timer() == 101.5
    gen.handle_timer(101.49)
    assert gen.pop_packets() == []
    sent = _run(gen, 102.5)
    assert len(sent) == 51  # 101.5 .. 102.5 inclusive at 20 ms
    times = [t for t, _ in sent]
    assert times[0] == 101.5 and times[-1] == pytest.approx(102.5)
    pkts = [p for _, p in sent]
    assert {p.payload_type for p in pkts} == {111} and {p.ssrc for p in pkts} == {gen.ssrc}
    assert [p.marker for p in pkts[:2]] == [True, False] and not any(p.marker for p in pkts[1:])
    assert all(len(p.payload) == size for p in pkts) and pkts[0].payload == SILENCE[codec][1]
    assert [(p.sequence_number - pkts[0].sequence_number) & 0xFFFF for p in pkts] == list(range(51))
    assert [(p.timestamp - pkts[0].timestamp) & 0xFFFFFFFF for p in pkts] == [step * i for i in range(51)]
    assert gen.clock_rate == clock and gen.sequence_number == (pkts[-1].sequence_number + 1) & 0xFFFF
    assert gen.timestamp == (pkts[-1].timestamp + step) & 0xFFFFFFFF
    again = SilenceGenerator(codec, 111, entropy=SeededEntropy(7))
    again.start(0.0)
    again.handle_timer(0.0)
    assert RtpPacket.parse(again.pop_packets()[0]) == pkts[0]  # the same entropy replays exactly


def test_stall_sends_a_bounded_burst_and_skips_the_rest() -> None:
    gen = SilenceGenerator("pcmu", 0, ssrc=5, entropy=SeededEntropy(1), max_burst=4)
    gen.start(0.0)
    gen.handle_timer(0.0)
    first = RtpPacket.parse(gen.pop_packets()[0])
    gen.handle_timer(1.0)  # the loop stalled for a second: 50 frames are due
    burst = [RtpPacket.parse(p) for p in gen.pop_packets()]
    assert len(burst) == 4 and gen.frames_skipped == 46
    assert [p.sequence_number - first.sequence_number for p in burst] == [1, 2, 3, 4]  # no sequence gap
    assert [(p.timestamp - first.timestamp) // 160 for p in burst] == [47, 48, 49, 50]  # real time kept
    assert gen.get_timer() == pytest.approx(1.02)


def test_stop_and_restart() -> None:
    gen = SilenceGenerator("pcma", 8, ptime=0.03, entropy=SeededEntropy(2))
    gen.start(10.0, delay=5.0)
    gen.stop()  # real media arrived before the start timeout
    assert gen.get_timer() is None and not gen.running
    gen.handle_timer(20.0)
    assert gen.pop_packets() == []
    gen.start(20.0)
    sent = _run(gen, 20.1)
    assert [len(p.payload) for _, p in sent] == [240] * 4  # 30 ms of PCMA
    gen.stop()
    gen.start(30.0)
    more = _run(gen, 30.0)
    assert (more[0][1].timestamp - sent[-1][1].timestamp) & 0xFFFFFFFF == 240
    gen.start(31.0)  # already running: no effect
    assert gen.get_timer() == pytest.approx(30.03)


def test_silence_usage_errors() -> None:
    with pytest.raises(RtpUsageError):
        SilenceGenerator("gsm", 3)
    with pytest.raises(RtpUsageError):
        SilenceGenerator("opus", 111, ptime=0.04)
    with pytest.raises(RtpUsageError):
        SilenceGenerator("pcmu", 0, ptime=0.001)
    with pytest.raises(RtpUsageError):
        SilenceGenerator("pcmu", 128)


# -- black video ------------------------------------------------------------------------------------


def _decode(codec: str, pkts: list[RtpPacket]) -> list[tuple[int, bool, float, tuple[int, int]]]:
    dep = Vp8Depacketizer() if codec == "vp8" else H264Depacketizer()
    dec = VideoDecoder(codec)
    out = []
    for p in pkts:
        for f in dep.push(p.payload, p.sequence_number, p.timestamp, p.marker):
            assert not f.discontinuity
            for pic in dec.decode(f.data, f.timestamp):
                luma = np.frombuffer(pic.to_yuv420p()[: pic.width * pic.height], dtype=np.uint8)
                out.append((f.timestamp, f.keyframe, float(luma.mean()), (pic.width, pic.height)))
    return out


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_black_video_renders_black_at_the_right_cadence(codec: str) -> None:
    gen = BlackVideoGenerator(codec, 96, fps=10, keyframe_interval=2.0, entropy=SeededEntropy(3))
    gen.start(0.0, delay=0.5)
    sent = _run(gen, 3.45)
    frames = _decode(codec, [p for _, p in sent])
    assert len(frames) == 30 and gen.frames_sent == 30
    ts0 = frames[0][0]
    assert [(f[0] - ts0) & 0xFFFFFFFF for f in frames] == [9000 * i for i in range(30)]
    assert [i for i, f in enumerate(frames) if f[1]] == [0, 20]  # a keyframe every 2 s
    assert {f[3] for f in frames} == {(320, 240)}
    assert all(abs(f[2] - 16) <= 1 for f in frames)  # video-range black
    markers = [(t, p.marker) for t, p in sent]
    assert markers[-1][1] and sent[0][0] == 0.5
    assert gen.keyframes_sent == 2


def test_black_video_keyframe_on_request() -> None:
    gen = BlackVideoGenerator("h264", 102, fps=15, keyframe_interval=10.0, entropy=SeededEntropy(4))
    gen.start(0.0)
    first = _run(gen, 0.0)
    gen.request_keyframe()  # the keyframe just went out: not repeated (idr_pic_id would repeat)
    nxt = _run(gen, 1 / 15 + 1e-6)
    assert nal_type(first[0][1].payload) == STAP_A and nal_type(nxt[-1][1].payload) == 1
    middle = _run(gen, 0.5)
    gen.request_keyframe()
    after = _run(gen, 0.6)
    assert nal_type(after[0][1].payload) == STAP_A  # SPS+PPS+IDR
    frames = _decode("h264", [p for _, p in first + nxt + middle + after])
    assert [f[1] for f in frames] == [True] + [False] * (len(frames) - 3) + [True, False]


def test_black_video_packetization_limits() -> None:
    mode0 = BlackVideoGenerator("h264", 102, packetization_mode=0, max_payload=120, entropy=SeededEntropy(5))
    mode0.start(0.0)
    pkts = [p for _, p in _run(mode0, 1.0)]
    assert all(len(p.payload) <= 120 and nal_type(p.payload) not in (STAP_A, FU_A) for p in pkts)
    assert len(_decode("h264", pkts)) == 11
    vp8 = BlackVideoGenerator("vp8", 96, max_payload=60, entropy=SeededEntropy(6))
    vp8.start(0.0)
    pkts = [p for _, p in _run(vp8, 0.0)]
    assert len(pkts) > 1 and all(len(p.payload) <= 60 for p in pkts)
    assert [p.marker for p in pkts] == [False] * (len(pkts) - 1) + [True]
    with pytest.raises(RtpUsageError):
        BlackVideoGenerator("vp9", 98)
    with pytest.raises(RtpUsageError):
        BlackVideoGenerator("vp8", 96, fps=0)


def test_black_frames_are_cached() -> None:
    assert black_frames("vp8") is black_frames("vp8")
    frames = black_frames("h264", 160, 120, 5, 4)
    assert len(frames) == 4 and [nal_type(n) for n in frames[0]] == [7, 8, 5]


def test_rtp_writer() -> None:
    w = RtpWriter(100, ssrc=0xABCDEF01, sequence_number=0xFFFF, timestamp_offset=10)
    a = RtpPacket.parse(w.write_packet(VideoPacket(b"x", 0xFFFFFFFF, True)))
    b = RtpPacket.parse(w.write(b"yz", 5))
    assert (a.sequence_number, a.timestamp, a.marker) == (0xFFFF, 9, True)
    assert (a.payload_type, a.ssrc) == (100, 0xABCDEF01)
    assert (b.sequence_number, b.timestamp, b.marker) == (0, 15, False)
    assert (w.packets, w.octets) == (2, 3)
    seeded = RtpWriter(0, entropy=SeededEntropy(9))
    assert (seeded.ssrc, seeded.sequence_number) == (RtpWriter(0, entropy=SeededEntropy(9)).ssrc,
                                                     RtpWriter(0, entropy=SeededEntropy(9)).sequence_number)
    with pytest.raises(RtpUsageError):
        RtpWriter(200)


def test_black_video_restart_begins_with_a_keyframe() -> None:
    gen = BlackVideoGenerator("vp8", 96, entropy=SeededEntropy(8))
    gen.start(0.0)
    before = _run(gen, 0.35)
    assert [payload_is_keyframe(p.payload) for _, p in before] == [True, False, False, False]
    gen.stop()
    gen.start(10.0)
    after = _run(gen, 10.15)
    assert [payload_is_keyframe(p.payload) for _, p in after] == [True, False]
