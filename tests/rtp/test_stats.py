"""RFC 3550 A.1/A.3/A.8 receiver statistics, SR generation and RTT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtp.rtcp import ReceiverReport, SenderReport, parse_compound
from wcs.rtp.stats import (
    NTP_EPOCH_OFFSET,
    ReceiverStats,
    SenderStats,
    ntp_from_unix,
    ntp_middle32,
    round_trip_time,
)


def feed(rs: ReceiverStats, seqs: list[int], start: float = 0.0) -> list[bool]:
    return [rs.receive(s & 0xFFFF, (s * 160) & 0xFFFFFFFF, start + i * 0.02) for i, s in enumerate(seqs)]


def test_probation_min_sequential() -> None:
    rs = ReceiverStats(1, 8000)
    assert rs.report_block(0.0) is None
    assert feed(rs, [100, 101, 102]) == [False, True, True]
    assert (rs.base_seq, rs.received, rs.expected, rs.lost) == (101, 2, 2, 0)


def test_probation_restarts_on_gap() -> None:
    rs = ReceiverStats(1, 8000)
    assert feed(rs, [10, 20, 21, 22]) == [False, False, True, True]
    assert rs.base_seq == 21


def test_loss_and_fraction_per_interval() -> None:
    rs = ReceiverStats(7, 8000)
    seqs = [s for s in range(0, 101) if s not in range(50, 60)]  # 10 of 100 lost after probation
    feed(rs, seqs)
    block = rs.report_block(2.0)
    assert block is not None
    assert (block.ssrc, block.packets_lost, block.highest_sequence) == (7, 10, 100)
    assert block.fraction_lost == (10 << 8) // 100  # 25
    feed(rs, list(range(101, 151)), start=3.0)
    block = rs.report_block(4.0)
    assert block is not None
    assert (block.packets_lost, block.fraction_lost, block.highest_sequence) == (10, 0, 150)


def test_sequence_wrap_counts_cycles() -> None:
    rs = ReceiverStats(1, 8000)
    feed(rs, list(range(65530, 65536)) + list(range(0, 6)))
    assert rs.cycles == 65536 and rs.max_seq == 5
    assert rs.extended_max == 65536 + 5 and rs.expected == 11 and rs.lost == 0
    block = rs.report_block(1.0)
    assert block is not None and block.highest_sequence == 65541


def test_duplicates_make_loss_negative_and_reorder_counts() -> None:
    rs = ReceiverStats(1, 8000)
    assert feed(rs, [1, 2, 3, 5, 4, 4, 6]) == [False, True, True, True, True, True, True]
    assert rs.expected == 5 and rs.received == 6 and rs.lost == -1
    block = rs.report_block(1.0)
    assert block is not None and block.packets_lost == -1 and block.fraction_lost == 0
    assert parse_compound(bytes(ReceiverReport(9, [block])))[0] == ReceiverReport(9, [block])


def test_jump_needs_confirmation_then_restarts() -> None:
    rs = ReceiverStats(1, 8000)
    feed(rs, [1, 2, 3, 4])
    assert not rs.receive(40000, 0, 1.0)
    assert rs.received == 3
    assert rs.receive(40001, 160, 1.02)  # confirms: the source restarted (A.1)
    assert (rs.base_seq, rs.received, rs.expected) == (40001, 1, 1)
    assert rs.receive(5, 0, 1.04) is False  # the old numbering is now the jump


def test_old_packet_beyond_misorder_is_ignored() -> None:
    rs = ReceiverStats(1, 8000)
    feed(rs, list(range(1000, 1300)))
    assert not rs.receive(900, 0, 10.0)


def test_jitter_a8() -> None:
    rs = ReceiverStats(1, 8000)
    arrivals = [0.0, 0.02, 0.04, 0.07, 0.08, 0.10]  # the 4th packet is 10 ms late
    for i, t in enumerate(arrivals):
        rs.receive(i, i * 160, t)
    # first two: probation then init (no previous transit); D for packets 2..5
    j = 0.0
    for d in (0.0, 80.0, 80.0, 0.0):
        j += (abs(d) - j) / 16
    assert rs.jitter == pytest.approx(j)
    block = rs.report_block(1.0)
    assert block is not None and block.jitter == int(j)


def test_jitter_across_timestamp_wrap() -> None:
    rs = ReceiverStats(1, 8000)
    for i in range(6):
        rs.receive(i, (0xFFFFFF00 + 160 * i) & 0xFFFFFFFF, i * 0.02)
    assert rs.jitter == pytest.approx(0.0, abs=1e-6)


def test_lsr_dlsr() -> None:
    rs = ReceiverStats(1, 8000)
    feed(rs, [1, 2, 3])
    ntp = ntp_from_unix(1_700_000_000.25)
    rs.handle_sender_report(ntp, now=10.0)
    block = rs.report_block(10.5)
    assert block is not None
    assert block.lsr == ntp_middle32(ntp) and block.dlsr == 32768


def test_ntp_conversion() -> None:
    assert ntp_from_unix(0.0) == NTP_EPOCH_OFFSET << 32
    assert ntp_from_unix(1.5) == ((NTP_EPOCH_OFFSET + 1) << 32) | 0x80000000
    assert ntp_middle32(0x0123456789ABCDEF) == 0x456789AB


def test_round_trip_time_edge_cases() -> None:
    assert round_trip_time(0, 0, 123) is None
    arrival = 0x0000_1000_0000_0000  # middle 32 = 0x10000000
    assert round_trip_time(0x10000000 - 0x20000, 0x10000, arrival) == 1.0
    assert round_trip_time(0x10000000, 0x10000, arrival) == 0.0  # negative → 0


def test_sender_report_and_rtt_end_to_end() -> None:
    offset = 1_700_000_000.0  # wall clock = now + offset (sender side)
    tx = SenderStats(0xAAAA, 8000)
    for i in range(50):
        tx.sent(1000 + 160 * i, 160, 5.0 + 0.02 * i)
    sr = tx.sender_report(now=6.0, wallclock_offset=offset)
    # last packet at 5.98 with ts 1000 + 49*160; 20 ms later
    assert (sr.packet_count, sr.octet_count) == (50, 8000)
    assert sr.rtp_timestamp == 1000 + 49 * 160 + 160
    assert sr.ntp_timestamp == ntp_from_unix(6.0 + offset)
    # through the wire to the receiver, 100 ms one way; it answers 250 ms later
    [got] = parse_compound(bytes(sr))
    assert isinstance(got, SenderReport)
    rx = ReceiverStats(0xAAAA, 8000)
    feed(rx, [1, 2, 3], start=40.0)
    rx.handle_sender_report(got.ntp_timestamp, now=40.1)  # receiver's own monotonic origin
    block = rx.report_block(40.35)
    assert block is not None
    rtt = tx.handle_report_block(block, now=6.0 + 0.1 + 0.25 + 0.1, wallclock_offset=offset)
    assert rtt == pytest.approx(0.2, abs=2 / 65536)
    assert tx.rtt == rtt


def test_sender_report_before_anything_sent() -> None:
    sr = SenderStats(1, 48000).sender_report(0.0, 0.0)
    assert (sr.packet_count, sr.octet_count, sr.rtp_timestamp) == (0, 0, 0)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)), max_size=200))
def test_any_sequence_gives_serialisable_reports(packets: list[tuple[int, int]]) -> None:
    rs = ReceiverStats(1, 90000)
    for i, (seq, ts) in enumerate(packets):
        rs.receive(seq, ts, i * 0.01)
        if i % 17 == 0:
            block = rs.report_block(i * 0.01)
            if block is not None:
                assert 0 <= block.fraction_lost <= 255
                bytes(block)


class _ReferenceA1:
    """RFC 3550 A.1/A.8 as ReceiverStats had it before its in-order fast path (the oracle)."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate, self.max_dropout, self.max_misorder = clock_rate, 3000, 100
        self.max_seq = self.cycles = self.base_seq = self.received = 0
        self.bad_seq, self.probation, self.jitter = 1 << 17, 2, 0.0
        self.last_ts, self.last_arrival, self.seen = 0, None, False

    def _init(self, seq: int) -> None:
        self.base_seq = self.max_seq = seq
        self.bad_seq, self.cycles, self.received, self.last_arrival = 1 << 17, 0, 0, None

    def _jitter(self, ts: int, now: float) -> None:
        if self.last_arrival is not None:
            delta = (ts - self.last_ts) & 0xFFFFFFFF
            delta -= 0x100000000 if delta >= 0x80000000 else 0
            self.jitter += (abs((now - self.last_arrival) * self.clock_rate - delta) - self.jitter) / 16.0
        self.last_ts, self.last_arrival = ts, now

    def receive(self, seq: int, ts: int, now: float) -> bool:
        if not self.seen:
            self._init(seq)
            self.max_seq, self.seen = (seq - 1) & 0xFFFF, True
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    self._jitter(ts, now)
                    return True
            else:
                self.probation, self.max_seq = 1, seq
            return False
        if udelta < self.max_dropout:
            if seq < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        elif udelta <= (1 << 16) - self.max_misorder:
            if seq == self.bad_seq:
                self._init(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        self.received += 1
        self._jitter(ts, now)
        return True


@given(st.integers(0, 0xFFFF),
       st.lists(st.tuples(st.one_of(st.integers(-5, 40), st.integers(0, 0xFFFF)), st.integers(0, 2000)),
                max_size=300),
       st.integers(0, 0xFFFFFFFF))
def test_fast_path_matches_the_reference(start: int, steps: list[tuple[int, int]], ts0: int) -> None:
    """Mostly in-order streams with jumps back and forth, across the sequence wrap."""
    stats, ref = ReceiverStats(1, 8000), _ReferenceA1(8000)
    seq, ts, now = start, ts0, 0.0
    for step, ts_step in steps:
        seq, ts, now = (seq + step) & 0xFFFF, (ts + ts_step) & 0xFFFFFFFF, now + ts_step / 8000 + 0.001
        assert stats.receive(seq, ts, now) == ref.receive(seq, ts, now)
        assert (stats.max_seq, stats.cycles, stats.base_seq, stats.received, stats.jitter) == \
            (ref.max_seq, ref.cycles, ref.base_seq, ref.received, ref.jitter)
