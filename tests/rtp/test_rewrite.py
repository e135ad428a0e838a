"""StreamRewriter: continuity across source changes, reordering, wrap, PT mapping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wcs.entropy import SeededEntropy
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rewrite import StreamRewriter

OUT_SSRC = 0x0BADCAFE


def pkt(ssrc: int, seq: int, ts: int, pt: int = 0, marker: bool = False, payload: bytes = b"p" * 160
        ) -> bytearray:
    return bytearray(bytes(RtpPacket(payload_type=pt, sequence_number=seq & 0xFFFF,
                                     timestamp=ts & 0xFFFFFFFF, ssrc=ssrc, marker=marker,
                                     payload=payload)))


def rewriter(**kw: object) -> StreamRewriter:
    args: dict[str, object] = {"ssrc": OUT_SSRC, "initial_sequence": 1000, "initial_timestamp": 50000}
    args.update(kw)
    return StreamRewriter(8000, **args)  # type: ignore[arg-type]


def fields(buf: bytearray) -> tuple[int, int, int, bool, int]:
    p = RtpPacket.parse(buf)
    assert p.ssrc == OUT_SSRC
    return p.sequence_number, p.timestamp, p.payload_type, p.marker, len(p.payload)


def test_first_packet_gets_own_bases_and_marker() -> None:
    rw = rewriter()
    buf = pkt(0x1111, 7, 123456)
    assert rw.rewrite(buf, now=10.0)
    assert fields(buf) == (1000, 50000, 0, True, 160)
    buf = pkt(0x1111, 8, 123456 + 160)
    assert rw.rewrite(buf, now=10.02)
    assert fields(buf) == (1001, 50160, 0, False, 160)
    assert rw.forwarded == 2 and rw.source_changes == 0


def test_random_bases_from_entropy() -> None:
    a = StreamRewriter(8000, entropy=SeededEntropy(1))
    b = StreamRewriter(8000, entropy=SeededEntropy(1))
    assert a.ssrc == b.ssrc
    x, y = pkt(1, 5, 5), pkt(1, 5, 5)
    a.rewrite(x, 0.0)
    b.rewrite(y, 0.0)
    assert x == y


def test_source_change_continues_sequence_and_rebases_timestamp() -> None:
    rw = rewriter()
    for i in range(3):
        rw.rewrite(pkt(0xA, 100 + i, 8000 + 160 * i), now=1.0 + 0.02 * i)
    # hold: nothing for 5 s, then a different source with unrelated bases resumes
    buf = pkt(0xB, 40000, 999999)
    assert rw.rewrite(buf, now=1.04 + 5.0)
    seq, ts, _, marker, _ = fields(buf)
    assert seq == 1003 and marker
    assert ts == 50000 + 320 + 5 * 8000  # last sent + elapsed * clock rate
    buf = pkt(0xB, 40001, 999999 + 160, marker=False)
    rw.rewrite(buf, now=6.06)
    assert fields(buf)[:4] == (1004, ts + 160, 0, False)
    assert rw.source_changes == 1


def test_source_marker_is_kept_and_timestamp_always_advances() -> None:
    rw = rewriter()
    rw.rewrite(pkt(0xA, 1, 0), now=2.0)
    buf = pkt(0xA, 2, 160, marker=True)
    rw.rewrite(buf, now=2.02)
    assert fields(buf)[3] is True
    buf = pkt(0xB, 9, 0)
    rw.rewrite(buf, now=2.02)  # change at the same instant: timestamp still moves on
    assert fields(buf)[:2] == (1002, 50161)


def test_reordering_keeps_relative_position() -> None:
    rw = rewriter()
    out = []
    for seq in (10, 11, 13, 12, 15, 14, 16):
        buf = pkt(0xA, seq, seq * 160)
        assert rw.rewrite(buf, now=seq * 0.02)
        out.append(fields(buf)[0])
    assert out == [1000, 1001, 1003, 1002, 1005, 1004, 1006]


def test_loss_stays_a_gap() -> None:
    rw = rewriter()
    out = []
    for seq in (10, 11, 15, 16):
        buf = pkt(0xA, seq, seq * 160)
        rw.rewrite(buf, now=seq * 0.02)
        out.append(fields(buf)[:2])
    assert out == [(1000, 50000), (1001, 50160), (1005, 50800), (1006, 50960)]


def test_sequence_and_timestamp_wrap() -> None:
    rw = rewriter(initial_sequence=65534, initial_timestamp=0xFFFFFF00)
    out = []
    for i, seq in enumerate((65533, 65534, 65535, 0, 1)):
        buf = pkt(0xA, seq, 0xFFFFFFFF - 200 + 160 * i)
        assert rw.rewrite(buf, now=i * 0.02)
        out.append(fields(buf)[:2])
    assert [s for s, _ in out] == [65534, 65535, 0, 1, 2]
    assert [t for _, t in out] == [(0xFFFFFF00 + 160 * i) & 0xFFFFFFFF for i in range(5)]


def test_reordered_across_source_wrap() -> None:
    rw = rewriter()
    out = []
    for seq in (65534, 0, 65535, 1):
        buf = pkt(0xA, seq, 0)
        assert rw.rewrite(buf, now=0.0)
        out.append(fields(buf)[0])
    assert out == [1000, 1002, 1001, 1003]


def test_payload_type_mapping() -> None:
    rw = rewriter(pt_map={0: 0, 101: 126})
    buf = pkt(0xA, 1, 0, pt=101, marker=True)
    assert rw.rewrite(buf, now=0.0)
    assert fields(buf)[2:4] == (126, True)
    assert not rw.rewrite(pkt(0xA, 2, 0, pt=8), now=0.02)
    assert rw.dropped_payload_type == 1
    rw.pt_map = {8: 8}  # renegotiated
    buf = pkt(0xA, 3, 320, pt=8)
    assert rw.rewrite(buf, now=0.04)
    assert fields(buf)[:3] == (1002, 50320, 8)


def test_malformed_dropped() -> None:
    rw = rewriter()
    assert not rw.rewrite(bytearray(11), now=0.0)
    assert not rw.rewrite(bytearray(b"\x40" + bytes(11)), now=0.0)
    assert rw.dropped_malformed == 2 and rw.forwarded == 0


def test_late_packet_from_previous_source_is_dropped() -> None:
    rw = rewriter()
    for i in range(5):
        rw.rewrite(pkt(0xA, 100 + i, 160 * i), now=0.02 * i)
    rw.rewrite(pkt(0xB, 7, 0), now=0.1)
    assert not rw.rewrite(pkt(0xA, 103, 480), now=0.11)  # straggler
    assert not rw.rewrite(pkt(0xA, 104, 640), now=0.11)  # duplicate of the last one
    assert rw.dropped_stale == 2
    buf = pkt(0xB, 8, 160)
    rw.rewrite(buf, now=0.12)
    assert fields(buf)[0] == 1006
    # A comes back later (resume): a genuine change, continuing the numbering
    buf = pkt(0xA, 400, 99999)
    assert rw.rewrite(buf, now=2.0)
    assert fields(buf)[0] == 1007 and fields(buf)[3]
    assert rw.source_changes == 2


def test_new_source_packet_older_than_its_first_is_dropped() -> None:
    rw = rewriter()
    rw.rewrite(pkt(0xA, 1, 0), now=0.0)
    rw.rewrite(pkt(0xB, 501, 0), now=0.02)  # → 1001
    assert not rw.rewrite(pkt(0xB, 500, 0), now=0.03)  # would be 1000 again: A's number
    assert rw.dropped_stale == 1


def test_same_ssrc_restart_needs_two_sequential_packets() -> None:
    rw = rewriter()
    for i in range(3):
        rw.rewrite(pkt(0xA, 100 + i, 160 * i), now=0.02 * i)
    assert not rw.rewrite(pkt(0xA, 30000, 7777), now=0.06)
    assert rw.dropped_jump == 1
    buf = pkt(0xA, 30001, 7777 + 160)
    assert rw.rewrite(buf, now=0.08)
    seq, ts, _, marker, _ = fields(buf)
    assert (seq, marker) == (1003, True)
    assert ts == 50000 + 320 + 320  # 40 ms after the last packet sent
    buf = pkt(0xA, 103, 480)  # an old-numbering straggler is now a jump again
    assert not rw.rewrite(buf, now=0.09)


def test_source_changed_forces_rebase_with_same_ssrc() -> None:
    rw = rewriter()
    rw.rewrite(pkt(0xA, 10, 0), now=0.0)
    rw.source_changed()
    buf = pkt(0xA, 11, 160)
    assert rw.rewrite(buf, now=0.02)
    assert fields(buf)[:4] == (1001, 50160, 0, True)
    assert not rw.rewrite(pkt(0xA, 10, 0), now=0.03)  # before the re-base point: stale


def test_works_on_memoryview_of_larger_buffer() -> None:
    rw = rewriter()
    arena = bytearray(1500)
    data = pkt(0xA, 1, 0)
    arena[: len(data)] = data
    view = memoryview(arena)[: len(data)]
    assert rw.rewrite(view, now=0.0)
    assert fields(bytearray(view))[:2] == (1000, 50000)


@given(
    segments=st.lists(
        st.tuples(st.sampled_from([0xA, 0xB, 0xC]), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                  st.integers(1, 30), st.floats(0.0, 10.0)),
        min_size=1, max_size=8),
)
def test_output_is_continuous_for_in_order_sources(
        segments: list[tuple[int, int, int, int, float]]) -> None:
    """Whatever the sources do (in order within each), the output is +1 per packet and
    its timestamps never go backwards."""
    rw = rewriter()
    now = 0.0
    state: dict[int, tuple[int, int]] = {}
    last_out: tuple[int, int] | None = None
    previous = -1
    for ssrc, seq0, ts0, count, gap in segments:
        now += gap
        seq, ts = state.get(ssrc, (seq0, ts0))
        if ssrc in state and ssrc != previous:
            seq, ts = seq + 200, ts0  # a returning source has moved on (not a straggler)
        for i in range(count):
            buf = pkt(ssrc, seq + i, ts + 160 * i, payload=b"")
            now += 0.02
            assert rw.rewrite(buf, now)
            out = fields(buf)[:2]
            if last_out is not None:
                assert out[0] == (last_out[0] + 1) & 0xFFFF
                assert 0 < (out[1] - last_out[1]) & 0xFFFFFFFF < 0x80000000
            last_out = out
        state[ssrc] = ((seq + count) & 0xFFFF, ts + 160 * count)
        previous = ssrc


def test_video_streams_keep_the_source_marker_across_a_source_change() -> None:
    """Video: the marker ends a frame (RFC 7741 §4.1, RFC 6184 §5.1), so a new source's first
    packet — say a STAP-A with SPS/PPS starting a keyframe — must not be marked."""
    rw = rewriter(mark_source_changes=False)
    first, frame_end = pkt(0xA, 10, 1000), pkt(0xA, 11, 1000, marker=True)
    assert rw.rewrite(first, now=1.0) and rw.rewrite(frame_end, now=1.0)
    assert fields(first)[3] is False and fields(frame_end)[3] is True
    new_source = pkt(0xB, 500, 77777)
    assert rw.rewrite(new_source, now=2.0)
    assert fields(new_source)[3] is False and rw.source_changes == 1
