"""Hypothesis properties: parsers return or raise their typed error; packetize → depacketize is lossless."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.video.common import VideoPacket
from wcs.rtp.video.errors import H264Error, Vp8Error
from wcs.rtp.video.h264 import (
    AUD,
    H264Depacketizer,
    H264Packetizer,
    join_annex_b,
    parse_payload,
    parse_sprop_parameter_sets,
    split_annex_b,
)
from wcs.rtp.video.keyframe import is_picture_fast_update
from wcs.rtp.video.vp8 import PictureIdRewriter, Vp8Depacketizer, Vp8Descriptor, Vp8Packetizer

# -- parsers never raise anything but their error ---------------------------------------------------


@given(st.binary(max_size=40))
def test_vp8_descriptor_parse_total(data: bytes) -> None:
    try:
        desc, size = Vp8Descriptor.parse(data)
    except Vp8Error:
        return
    assert 1 <= size < len(data)
    again, n = Vp8Descriptor.parse(bytes(desc) + b"\x00")
    assert again == desc


@given(
    st.builds(
        Vp8Descriptor,
        start=st.booleans(),
        partition_index=st.integers(0, 7),
        non_reference=st.booleans(),
        picture_id=st.none() | st.integers(0, 0x7F),
        long_picture_id=st.booleans(),
        tl0picidx=st.none() | st.integers(0, 255),
        tid=st.none() | st.integers(0, 3),
        layer_sync=st.booleans(),
        keyidx=st.none() | st.integers(0, 31),
    ),
    st.binary(min_size=1, max_size=8),
)
def test_vp8_descriptor_round_trip(desc: Vp8Descriptor, data: bytes) -> None:
    if desc.tid is None and desc.keyidx is None:
        desc.layer_sync = False
    if desc.picture_id is None:
        desc.long_picture_id = True
    raw = bytes(desc)
    parsed, size = Vp8Descriptor.parse(raw + data)
    assert parsed == desc and size == len(raw)


@given(st.binary(max_size=60))
def test_h264_payload_parse_total(data: bytes) -> None:
    try:
        items = parse_payload(data)
    except H264Error:
        return
    assert isinstance(items, list)


@given(st.text(max_size=60))
def test_sprop_parse_total(value: str) -> None:
    try:
        parse_sprop_parameter_sets(value)
    except H264Error:
        pass


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_media_control_parse_total(body: bytes | str) -> None:
    assert is_picture_fast_update(body) in (True, False)


@given(st.binary(min_size=0, max_size=20))
def test_picture_id_rewriter_total(data: bytes) -> None:
    rw = PictureIdRewriter()
    rw.source_changed()
    buf = bytearray(data)
    try:
        rw.rewrite(buf)
    except Vp8Error:
        assert buf == data
        return
    assert len(buf) == len(data)


_packets = st.lists(
    st.tuples(st.binary(max_size=30), st.integers(0, 40), st.integers(0, 5), st.booleans()), max_size=60
)


@given(_packets)
def test_depacketizers_never_raise(packets: list[tuple[bytes, int, int, bool]]) -> None:
    vp8, h264 = Vp8Depacketizer(), H264Depacketizer()
    for payload, seq, ts, marker in packets:
        for dep in (vp8, h264):
            for frame in dep.push(payload, seq, ts * 3000, marker):
                assert frame.data and frame.timestamp == frame.timestamp & 0xFFFFFFFF
        vp8.push_packet(payload)
        h264.push_packet(payload)


# -- round trips with loss and reordering -----------------------------------------------------------


def _vp8_frame(body: bytes, key: bool) -> bytes:
    if key:  # frame tag P=0, first partition of size 0, start code, 16x16
        return b"\x00\x00\x00\x9d\x01\x2a\x10\x00\x10\x00" + body
    return b"\x01\x00\x00" + body


_vp8_frames = st.lists(st.tuples(st.binary(max_size=300), st.booleans()), min_size=1, max_size=8)
_h264_aus = st.lists(  # an AUD opens each access unit; later slices have first_mb_in_slice != 0
    st.lists(st.binary(min_size=1, max_size=200).map(lambda b: b"\x41" + bytes([b[0] & 0x7F]) + b[1:]),
             min_size=1, max_size=4),
    min_size=1,
    max_size=8,
)


def _check(frames: list[bytes], packets: list[list[VideoPacket]], dep: Vp8Depacketizer | H264Depacketizer,
           seq0: int, lost: set[int], swaps: list[int]) -> None:
    flat = [(p, i) for i, pkts in enumerate(packets) for p in pkts]
    numbered = [(p.payload, (seq0 + n) & 0xFFFF, p.timestamp, p.marker, i) for n, (p, i) in enumerate(flat)]
    for k in swaps:  # swap neighbours that belong to the same frame
        if k + 1 < len(numbered) and numbered[k][4] == numbered[k + 1][4]:
            numbered[k], numbered[k + 1] = numbered[k + 1], numbered[k]
    out = []
    for n, (payload, seq, ts, marker, _) in enumerate(numbered):
        if n not in lost:
            out += dep.push(payload, seq, ts, marker)
    indexes = [f.timestamp // 3000 for f in out]
    assert indexes == sorted(set(indexes))
    for k, f in enumerate(out):
        assert f.data == frames[indexes[k]]
        if k:
            assert f.discontinuity == (indexes[k] != indexes[k - 1] + 1)
    if not lost:
        assert indexes == list(range(len(frames))) and not any(f.discontinuity for f in out)


@settings(max_examples=150)
@given(_vp8_frames, st.integers(20, 400), st.integers(0, 0xFFFF), st.sets(st.integers(0, 60), max_size=3),
       st.lists(st.integers(0, 60), max_size=6))
def test_vp8_round_trip(spec: list[tuple[bytes, bool]], max_payload: int, seq0: int, lost: set[int],
                        swaps: list[int]) -> None:
    frames = [_vp8_frame(body, key) for body, key in spec]
    pk = Vp8Packetizer(max_payload, picture_id=0)
    packets = [pk.packetize(f, 3000 * i) for i, f in enumerate(frames)]
    assert all(len(p.payload) <= max_payload for pkts in packets for p in pkts)
    _check(frames, packets, Vp8Depacketizer(), seq0, lost, swaps)


@settings(max_examples=150)
@given(_h264_aus, st.integers(20, 400), st.integers(0, 0xFFFF), st.sets(st.integers(0, 60), max_size=3),
       st.lists(st.integers(0, 60), max_size=6))
def test_h264_round_trip(aus: list[list[bytes]], max_payload: int, seq0: int, lost: set[int],
                         swaps: list[int]) -> None:
    nal_lists = [[bytes((AUD, 0xF0))] + au for au in aus]
    pk = H264Packetizer(max_payload)
    packets = [pk.packetize(nals, 3000 * i) for i, nals in enumerate(nal_lists)]
    assert all(len(p.payload) <= max_payload for pkts in packets for p in pkts)
    _check([join_annex_b(n) for n in nal_lists], packets, H264Depacketizer(), seq0, lost, swaps)


@given(st.lists(st.binary(min_size=1, max_size=50).map(lambda b: bytes(x or 1 for x in b)), max_size=6))
def test_annex_b_round_trip(nals: list[bytes]) -> None:
    assert split_annex_b(join_annex_b(nals) or b"\x00\x00\x01") == nals
