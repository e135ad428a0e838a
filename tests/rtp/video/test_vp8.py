"""RFC 7741 VP8 payload: descriptor, packetizer, depacketizer, keyframes, PictureID rewriting."""

from __future__ import annotations

import pytest

from wcs.entropy import SeededEntropy
from wcs.rtp.packet import RtpPacket
from wcs.rtp.video.common import VideoPacket
from wcs.rtp.video.errors import VideoUsageError, Vp8Error
from wcs.rtp.video.vp8 import (
    PictureIdRewriter,
    Vp8Depacketizer,
    Vp8Descriptor,
    Vp8Packetizer,
    descriptor_size,
    frame_is_keyframe,
    keyframe_dimensions,
    payload_is_keyframe,
)

from .samples import KEYFRAMES, SIZE, ivf_frames, rtp_packets

# -- descriptor -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fields", "size"),
    [
        # RFC 7741 §4.6.1: X=1, S=1, PID=0; I=1; PictureID 17
        (b"\x90\x80\x11", dict(start=True, picture_id=17, long_picture_id=False), 3),
        # §4.6.2: X=0, S=1, PID=0
        (b"\x10", dict(start=True), 1),
        # §4.6.3 second packet: S=1, PID=1
        (b"\x91\x80\x11", dict(start=True, partition_index=1, picture_id=17, long_picture_id=False), 3),
        # §4.6.4 third packet: S=0, PID=1
        (b"\x81\x80\x11", dict(partition_index=1, picture_id=17, long_picture_id=False), 3),
        # §4.6.5: long PictureID 4711 = 0x1267
        (b"\x90\x80\x92\x67", dict(start=True, picture_id=4711), 4),
        # everything: N, I (15 bit), L, T, Y, K
        (
            b"\xb3\xf0\x80\x05\x2a\x7d",
            dict(start=True, non_reference=True, partition_index=3, picture_id=5, tl0picidx=0x2A,
                 tid=1, layer_sync=True, keyidx=29),
            6,
        ),
        # K without T: TID bits ignored; T without K: KEYIDX ignored
        (b"\x90\x10\xff", dict(start=True, layer_sync=True, keyidx=31), 3),
        (b"\x90\x20\xe0", dict(start=True, tid=3, layer_sync=True), 3),
    ],
)
def test_descriptor_golden(raw: bytes, fields: dict[str, object], size: int) -> None:
    payload = raw + b"\x00\x01\x02"
    desc, n = Vp8Descriptor.parse(payload)
    assert n == size == descriptor_size(payload)
    assert desc == Vp8Descriptor(**fields)  # type: ignore[arg-type]
    if raw != b"\x90\x10\xff":  # TID bits are not kept when T=0
        assert bytes(desc) == raw


def test_descriptor_reserved_bits_ignored() -> None:
    desc, n = Vp8Descriptor.parse(b"\xd0\x8f\x11\x00")  # R bit in octet 0, RSV bits in the extension
    assert (desc.start, desc.picture_id, n) == (True, 17, 3)
    assert bytes(desc) == b"\x90\x80\x11"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "VP8 payload is empty"),
        (b"\x90", "VP8 descriptor extension octet missing"),
        (b"\x90\x80", "VP8 PictureID truncated"),
        (b"\x90\x80\x92", "VP8 payload has no data after the descriptor"),
        (b"\x90\x80\x92\x67", "VP8 payload has no data after the descriptor"),
        (b"\x90\x40", "VP8 payload has no data after the descriptor"),
        (b"\x90\xf0\x80\x05\x2a\x7d", "VP8 payload has no data after the descriptor"),
        (b"\x10", "VP8 payload has no data after the descriptor"),
    ],
)
def test_descriptor_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(Vp8Error) as info:
        Vp8Descriptor.parse(raw)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "desc",
    [
        Vp8Descriptor(partition_index=8),
        Vp8Descriptor(picture_id=0x8000),
        Vp8Descriptor(picture_id=0x80, long_picture_id=False),
        Vp8Descriptor(tl0picidx=256),
        Vp8Descriptor(tid=4),
        Vp8Descriptor(keyidx=32),
    ],
)
def test_descriptor_build_rejects_out_of_range(desc: Vp8Descriptor) -> None:
    with pytest.raises(VideoUsageError):
        bytes(desc)


# -- keyframes on real encoder output ---------------------------------------------------------------


def test_keyframe_detection_on_libvpx_output() -> None:
    frames = ivf_frames()
    assert [i for i, f in enumerate(frames) if frame_is_keyframe(f)] == list(KEYFRAMES)
    assert keyframe_dimensions(frames[0]) == SIZE
    assert keyframe_dimensions(frames[1]) is None
    packets = [RtpPacket.parse(p) for p in rtp_packets("vp8_160x120.rtp")]
    starts = [p for p in packets if payload_is_keyframe(p.payload)]
    assert len(starts) == len(KEYFRAMES)
    assert not payload_is_keyframe(b"") and not payload_is_keyframe(b"\x90\x80")
    # RFC 7741 §4.6.1: P = 0 keyframe; §4.6.2: P = 1 interframe
    assert payload_is_keyframe(b"\x90\x80\x11\x10\x00\x00")
    assert not payload_is_keyframe(b"\x10\x11\x00\x00")
    assert not payload_is_keyframe(b"\x81\x80\x11\x10\x00\x00")  # not the start of partition 0


# -- golden packets ---------------------------------------------------------------------------------


def test_golden_packets_round_trip() -> None:
    """The stored dump (made by this packetizer from libvpx output) depacketizes to the IVF frames."""
    frames = ivf_frames()
    raw = rtp_packets("vp8_160x120.rtp")
    first = RtpPacket.parse(raw[0])
    assert (first.payload_type, first.ssrc, first.sequence_number) == (96, 0x11223344, 65530)
    assert not first.marker
    desc, _ = Vp8Descriptor.parse(first.payload)
    assert desc == Vp8Descriptor(start=True, picture_id=0x7FF8)
    dep = Vp8Depacketizer()
    out = [f for p in raw for f in dep.push_packet(p)]
    assert [f.data for f in out] == frames
    assert [f.keyframe for f in out] == [i in KEYFRAMES for i in range(len(frames))]
    assert not any(f.discontinuity for f in out)
    assert out[0].first_sequence == 65530
    # PictureID wraps 0x7fff -> 0 in the 15-bit space
    pids = []
    for p in raw:
        d, _ = Vp8Descriptor.parse(RtpPacket.parse(p).payload)
        if d.start:
            pids.append(d.picture_id)
    assert pids == [(0x7FF8 + i) & 0x7FFF for i in range(len(frames))]
    # the same packets, rebuilt, are byte-identical
    pk = Vp8Packetizer(400, picture_id=0x7FF8)
    rebuilt = [p.payload for i, f in enumerate(frames) for p in pk.packetize(f, 1000 + 3000 * i)]
    assert rebuilt == [RtpPacket.parse(p).payload for p in raw]


# -- packetizer -------------------------------------------------------------------------------------


def test_packetizer_splits_evenly_with_s_bit_and_marker() -> None:
    frame = bytes(range(256)) * 10  # 2560 octets
    pk = Vp8Packetizer(1000, picture_id=300)
    pkts = pk.packetize(frame, 42)
    assert len(pkts) == 3 and all(len(p.payload) <= 1000 for p in pkts)
    assert [p.marker for p in pkts] == [False, False, True] and {p.timestamp for p in pkts} == {42}
    descs = [Vp8Descriptor.parse(p.payload) for p in pkts]
    assert [d.start for d, _ in descs] == [True, False, False]
    assert {d.partition_index for d, _ in descs} == {0} and {d.picture_id for d, _ in descs} == {300}
    assert b"".join(p.payload[n:] for p, (_, n) in zip(pkts, descs, strict=True)) == frame
    sizes = [len(p.payload) - 4 for p in pkts]
    assert max(sizes) - min(sizes) <= 1
    assert pk.picture_id == 301


def test_packetizer_picture_id_widths() -> None:
    seven = Vp8Packetizer(100, picture_id_bits=7, picture_id=127)
    a, b = seven.packetize(b"\x01\x02\x03", 0), seven.packetize(b"\x01\x02\x03", 1)
    assert a[0].payload[:3] == b"\x90\x80\x7f" and b[0].payload[:3] == b"\x90\x80\x00"
    none = Vp8Packetizer(100, picture_id_bits=0)
    assert none.packetize(b"\x01", 0) == [VideoPacket(b"\x10\x01", 0, True)]
    nonref = Vp8Packetizer(100, picture_id_bits=0).packetize(b"\x01", 0, non_reference=True)
    assert nonref[0].payload[0] == 0x30
    random_start = Vp8Packetizer(entropy=SeededEntropy(3)).picture_id
    assert random_start == Vp8Packetizer(entropy=SeededEntropy(3)).picture_id and 0 <= random_start < 0x8000


def test_packetizer_usage_errors() -> None:
    with pytest.raises(VideoUsageError):
        Vp8Packetizer(4)
    with pytest.raises(VideoUsageError):
        Vp8Packetizer(picture_id_bits=8)
    with pytest.raises(VideoUsageError):
        Vp8Packetizer().packetize(b"", 0)


# -- depacketizer: loss, reordering, padding --------------------------------------------------------


Packet = tuple[bytes, int, int, bool]


def _stream(frames: list[bytes], max_payload: int = 100, seq0: int = 1000) -> list[Packet]:
    pk = Vp8Packetizer(max_payload, picture_id=0)
    out, seq = [], seq0
    for i, f in enumerate(frames):
        for p in pk.packetize(f, i * 3000):
            out.append((p.payload, seq & 0xFFFF, p.timestamp, p.marker))
            seq += 1
    return out


def _run(dep: Vp8Depacketizer, packets: list[Packet]) -> list[tuple[int, bool, bool]]:
    out = []
    for payload, seq, ts, m in packets:
        out += [(f.timestamp // 3000, f.keyframe, f.discontinuity) for f in dep.push(payload, seq, ts, m)]
    return out


def test_loss_drops_the_broken_frame_and_flags_the_next() -> None:
    frames = ivf_frames()
    pkts = _stream(frames)
    per_frame = [sum(1 for p in pkts if p[2] == i * 3000) for i in range(len(frames))]
    assert per_frame[0] > 2  # the keyframe spans several packets
    lost = per_frame[0] + per_frame[1] + 1  # a middle packet of frame 2 (a 2-packet frame) is lost
    assert per_frame[2] >= 2
    dep = Vp8Depacketizer()
    got = _run(dep, pkts[:lost] + pkts[lost + 1 :])
    assert [g[0] for g in got] == [i for i in range(len(frames)) if i != 2]
    assert [g[2] for g in got] == [i == 3 for i in range(len(frames)) if i != 2]
    assert dep.frames_dropped == 1 and dep.frames_emitted == len(frames) - 1


def test_loss_of_a_whole_frame_is_a_discontinuity() -> None:
    frames = ivf_frames()
    pkts = _stream(frames, max_payload=5000)  # one packet per frame
    got = _run(Vp8Depacketizer(), pkts[:4] + pkts[5:])
    assert [g[0] for g in got if g[2]] == [5]


def test_reordering_within_and_across_frames() -> None:
    frames = ivf_frames()
    pkts = _stream(frames)
    shuffled = list(pkts)
    shuffled[0], shuffled[2] = shuffled[2], shuffled[0]  # inside the keyframe
    shuffled[1], shuffled[3] = shuffled[3], shuffled[1]
    k = next(i for i, p in enumerate(pkts) if p[2] == 3000)  # frame 1 starts; it spans 2+ packets
    assert pkts[k + 1][2] == 3000
    shuffled[k - 1], shuffled[k] = shuffled[k], shuffled[k - 1]  # frame 1's start overtakes frame 0's end
    got = _run(Vp8Depacketizer(), shuffled)
    assert [g[0] for g in got] == list(range(len(frames))) and not any(g[2] for g in got)


def test_a_complete_newer_frame_abandons_an_older_incomplete_one() -> None:
    pkts = _stream(ivf_frames(), max_payload=5000)
    dep = Vp8Depacketizer()
    got = _run(dep, [pkts[0], pkts[2], pkts[1], pkts[3]])  # frame 1 arrives after frame 2
    assert got == [(0, True, False), (2, False, True), (3, False, False)]
    assert dep.packets_late == 1


def test_missing_marker_completes_on_next_frame() -> None:
    pkts = [(p, s, t, False) for p, s, t, _ in _stream(ivf_frames()[:3])]
    got = _run(Vp8Depacketizer(), pkts)
    assert [g[0] for g in got] == [0, 1]  # the last frame waits for a successor


def test_padding_duplicates_late_and_malformed() -> None:
    frames = ivf_frames()[:4]
    pkts = _stream(frames, max_payload=5000)
    dep = Vp8Depacketizer()
    assert dep.push(*pkts[0]) and dep.push(*pkts[0]) == []  # duplicate of an emitted frame: late
    seq = pkts[0][1]
    assert dep.push(b"", seq + 1, 99, False) == [] and dep.push(b"", seq + 2, 99, False) == []  # padding
    shifted = [(p, s + 2, t, m) for p, s, t, m in pkts[1:]]
    got = _run(dep, shifted[:1])
    assert got == [(1, False, False)]  # the gap was padding only
    assert dep.push(b"\x90", seq + 4, 6000, True) == []  # malformed: counted, frame 2 lost
    got = _run(dep, shifted[2:])
    assert got == [(3, False, True)]
    assert (dep.packets_padding, dep.packets_late, dep.packets_malformed) == (2, 1, 1)


def test_frame_not_starting_with_partition_zero_is_dropped() -> None:
    dep = Vp8Depacketizer()
    ok = dep.push(b"\x10\x11\x00\x00\x01", 1, 0, True)  # interframe, first partition size 0
    assert ok and not ok[0].keyframe
    # S=0 first packet, after the previous frame: complete by sequence but not a VP8 frame start
    assert dep.push(b"\x00\x11\x00\x00\x01", 2, 3000, True) == []
    assert dep.frames_dropped == 1
    got = dep.push(b"\x10\x11\x00\x00\x01", 3, 6000, True)
    assert got[0].discontinuity


@pytest.mark.parametrize(
    "data",
    [
        b"\x10\x00\x00",  # keyframe tag without the 9d 01 2a start code
        b"\x10\xf1\xff\xff\x00",  # interframe whose first partition overruns the frame
        b"\x10\x01",  # shorter than a frame tag
    ],
)
def test_inconsistent_frames_are_dropped(data: bytes) -> None:
    dep = Vp8Depacketizer()
    assert dep.push(data, 1, 0, True) == []
    assert dep.frames_dropped == 1 and dep.frames_emitted == 0


def test_sequence_wrap_and_restart() -> None:
    frames = ivf_frames()[:6]
    pkts = _stream(frames, seq0=65534)
    got = _run(Vp8Depacketizer(), pkts)
    assert [g[0] for g in got] == list(range(6))
    dep = Vp8Depacketizer()
    assert _run(dep, pkts[:8])
    restarted = [(p, (s - 5000) & 0xFFFF, t, m) for p, s, t, m in _stream(frames, seq0=1000)]
    got = _run(dep, restarted)
    assert dep.restarts == 1 and got and got[0][2]


def test_push_packet_and_reset() -> None:
    raw = rtp_packets("vp8_160x120.rtp")
    dep = Vp8Depacketizer()
    assert dep.push_packet(b"\x80\x60") == [] and dep.packets_malformed == 1
    n = sum(len(dep.push_packet(p)) for p in raw[:10])
    dep.reset()
    again = [f for p in raw for f in dep.push_packet(p)]
    assert n + len(again) >= len(ivf_frames()) and again[0].discontinuity


def test_pending_frames_are_bounded() -> None:
    dep = Vp8Depacketizer()
    for i in range(40):  # frames that never complete (first packet missing)
        dep.push(b"\x00\x01\x02", 10 * i + 1, 3000 * i, True)
    assert len(dep._groups) <= dep.max_pending
    assert dep.frames_dropped >= 40 - dep.max_pending


# -- PictureID rewriting ----------------------------------------------------------------------------


def test_picture_id_rewriter_keeps_indexes_continuous() -> None:
    rw = PictureIdRewriter()

    def send(desc: Vp8Descriptor) -> Vp8Descriptor:
        buf = bytearray(b"\xff\xff" + bytes(desc) + b"\x10\x00\x00")
        rw.rewrite(buf, 2)
        assert buf[:2] == b"\xff\xff"
        return Vp8Descriptor.parse(buf[2:])[0]

    def desc(pid: int, tl0: int, key: int) -> Vp8Descriptor:
        return Vp8Descriptor(start=True, picture_id=pid & 0x7FFF, tl0picidx=tl0 & 0xFF, tid=0, keyidx=key)

    a = [send(desc(100 + i, 7 + i, 3)) for i in range(3)]
    assert [d.picture_id for d in a] == [100, 101, 102]  # unchanged before any switch
    rw.source_changed()
    b = [send(desc(32760 + i, 250 + i, 30)) for i in range(10)]
    assert [d.picture_id for d in b] == list(range(103, 113))
    assert [d.tl0picidx for d in b] == list(range(10, 20))
    assert {d.keyidx for d in b} == {4}
    assert {d.tid for d in b} == {0}
    rw.source_changed()
    no_ext = bytearray(b"\x10\x10\x00\x00")
    rw.rewrite(no_ext)  # a packet without the fields keeps the switch pending
    assert no_ext == b"\x10\x10\x00\x00"
    c = send(Vp8Descriptor(start=True, picture_id=5, long_picture_id=False))
    assert c.picture_id == 113 & 0x7F and not c.long_picture_id
    with pytest.raises(Vp8Error):
        rw.rewrite(bytearray(b"\x90"))
