"""RFC 4733 events: payload codec, RFC §5 examples, generator, receiver."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rtp.dtmf import (
    DtmfDigit,
    DtmfReceiver,
    EventPacket,
    TelephoneEvent,
    build_event,
    digit_to_event,
    event_to_digit,
    generate_event,
    parse_events,
)
from wcs.rtp.errors import DtmfError, RtpUsageError
from wcs.rtp.packet import RtpPacket

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
EXAMPLES = json.loads((DATA / "dtmf" / "rfc4733-examples.json").read_text())
TABLE5 = EXAMPLES["table5_event_reporting"]


def test_digit_mapping() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12 and digit_to_event("!") == 16 and digit_to_event("flash") == 16
    assert [event_to_digit(e) for e in range(17)] == list("0123456789*#ABCD!")
    assert event_to_digit(32) is None
    with pytest.raises(RtpUsageError, match="^not a DTMF digit: 'E'$"):
        digit_to_event("E")
    with pytest.raises(RtpUsageError, match="^not a DTMF digit: '12'$"):
        digit_to_event("12")


def test_fig3_event_packet() -> None:
    data = (DATA / "dtmf" / "rfc4733-fig3-event-payload.bin").read_bytes()
    pkt = RtpPacket.parse(data)
    assert bytes(pkt) == data
    assert (pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.ssrc) == (100, 18, 11200, 0x5234A8)
    assert parse_events(pkt.payload) == [TelephoneEvent(1, end=True, volume=20, duration=1760)]
    assert bytes(TelephoneEvent(1, True, 20, 1760)) == pkt.payload


def test_fig5_redundant_event_block() -> None:
    """RFC 2198 packet (Figure 5): the redundant block is a telephone-event report."""
    data = (DATA / "dtmf" / "rfc4733-fig5-red-tone-plus-event.bin").read_bytes()
    pkt = RtpPacket.parse(data)
    assert bytes(pkt) == data
    red = pkt.payload
    assert red[0] & 0x80 and red[0] & 0x7F == 100  # F=1, block PT = telephone-event
    block_len = ((red[2] & 0x03) << 8) | red[3]
    assert (((red[1] << 6) | (red[2] >> 2)), block_len) == (1600, 4)  # timestamp offset
    assert red[4] == 101  # final header: primary PT (tone)
    assert parse_events(red[5:5 + block_len]) == [TelephoneEvent(1, True, 20, 1760)]


def test_fig4_tone_packet_round_trips() -> None:
    data = (DATA / "dtmf" / "rfc4733-fig4-tone-payload.bin").read_bytes()
    assert bytes(RtpPacket.parse(data)) == data


def test_table5_payloads() -> None:
    for row in TABLE5:
        payload = bytes.fromhex(row["payload_hex"])
        want = TelephoneEvent(row["event"], bool(row["end_bit"]), 0, row["duration"])
        assert parse_events(payload) == [want]
        assert build_event(row["event"], bool(row["end_bit"]), 0, row["duration"]) == payload


def test_packed_events_and_reserved_bit_ignored() -> None:
    payload = build_event(1, True, 10, 800) + build_event(2, False, 10, 400)
    assert parse_events(payload) == [TelephoneEvent(1, True, 10, 800), TelephoneEvent(2, False, 10, 400)]
    assert parse_events(b"\x05\x4a\x00\xa0") == [TelephoneEvent(5, False, 10, 160)]  # R bit set


@pytest.mark.parametrize("payload, reason", [
    (b"", "telephone-event payload shorter than 4 octets"),
    (b"\x01\x0a\x00", "telephone-event payload shorter than 4 octets"),
    (b"\x01\x0a\x00\xa0\x00", "telephone-event payload length not a multiple of 4"),
])
def test_payload_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(DtmfError) as e:
        parse_events(payload)
    assert e.value.reason == reason


def test_build_rejects_out_of_range() -> None:
    with pytest.raises(RtpUsageError, match="^telephone-event field out of range: 1/64/0$"):
        build_event(1, False, 64, 0)


def _rows(packets: list[EventPacket]) -> list[tuple[float, bool, int, int, bool, int]]:
    out = []
    for p in packets:
        [ev] = parse_events(p.payload)
        out.append((round(p.offset, 6), p.marker, p.timestamp, ev.event, ev.end, ev.duration))
    return out


@pytest.mark.parametrize("digit, timestamp, seconds, first_row, last_row", [
    ("9", 0, 0.2, 0, 5),        # Table 5 packets 1-4 and the retransmissions
    ("1", 7040, 0.25, 6, 9),    # packets 5..9 (rows in between elided by the RFC)
    ("1", 11200, 0.22, 10, 13),  # packets 10..14: final duration 1760 with E on first send
])
def test_generator_matches_table5(digit: str, timestamp: int, seconds: float, first_row: int,
                                  last_row: int) -> None:
    packets = list(generate_event(digit, clock_rate=8000, timestamp=timestamp, duration=seconds,
                                  interval=0.05, volume=0))
    rows = TABLE5[first_row:last_row + 1]
    t0 = rows[0]["time_ms"]
    got = {round(p.offset * 1000) + t0: p for p in packets}
    for row in rows:
        p = got[row["time_ms"]]
        [ev] = parse_events(p.payload)
        assert (p.marker, p.timestamp, ev.event, ev.duration) == \
            (bool(row["marker"]), row["timestamp"], row["event"], row["duration"])
        # RFC 4733 may defer E to the retransmissions (Table 5 does, for a tone that ends
        # on an update boundary); we set it on every copy of the final report.
        if row["end_bit"]:
            assert ev.end
    assert len(packets) == {0.2: 6, 0.25: 7, 0.22: 7}[seconds]


def test_generator_shape() -> None:
    packets = list(generate_event("5", clock_rate=48000, timestamp=1000, duration=0.1, interval=0.02))
    assert _rows(packets) == [
        (0.0, True, 1000, 5, False, 960),
        (0.02, False, 1000, 5, False, 1920),
        (0.04, False, 1000, 5, False, 2880),
        (0.06, False, 1000, 5, False, 3840),
        (0.08, False, 1000, 5, True, 4800),
        (0.1, False, 1000, 5, True, 4800),
        (0.12, False, 1000, 5, True, 4800),
    ]


def test_generator_short_tone_is_all_end_packets() -> None:
    rows = _rows(list(generate_event("#", clock_rate=8000, timestamp=0xFFFFFFFF, duration=0.01)))
    assert rows == [(0.0, True, 0xFFFFFFFF, 11, True, 80), (0.02, False, 0xFFFFFFFF, 11, True, 80),
                    (0.04, False, 0xFFFFFFFF, 11, True, 80)]


def test_generator_long_event_segments() -> None:
    # 2 s at 48 kHz = 96000 units > 0xFFFF: two segments (§2.5.1.3)
    packets = list(generate_event("1", clock_rate=48000, timestamp=0xFFFFFF00, duration=2.0, interval=0.1))
    rows = _rows(packets)
    seg_end = [r for r in rows if r[5] == 0xFFFF]
    assert len(seg_end) == 3 and not any(r[4] for r in seg_end)
    assert all(r[2] == 0xFFFFFF00 for r in rows[: rows.index(seg_end[-1]) + 1])
    second = rows[rows.index(seg_end[-1]) + 1:]
    assert all(r[2] == (0xFFFFFF00 + 0xFFFF) & 0xFFFFFFFF and not r[1] for r in second)
    assert second[-1][4] and second[-1][5] == 96000 - 0xFFFF
    assert [r[1] for r in rows].count(True) == 1
    assert [r[0] for r in rows] == [round(0.1 * i, 6) for i in range(len(rows))]


def test_generator_usage_errors() -> None:
    with pytest.raises(RtpUsageError):
        list(generate_event("1", clock_rate=8000, timestamp=0, duration=0))
    with pytest.raises(RtpUsageError, match="^not a DTMF digit: 'x'$"):
        list(generate_event("x", clock_rate=8000, timestamp=0))


def _play(rx: DtmfReceiver, packets: list[EventPacket], t0: float,
          drop: frozenset[int] | set[int] = frozenset()) -> list[DtmfDigit]:
    digits = []
    for i, p in enumerate(packets):
        if i in drop:
            continue
        rx.receive(p.timestamp, p.payload, t0 + p.offset, p.marker)
        digits += rx.pop_digits()
    return digits


def test_receiver_reports_each_digit_once() -> None:
    rx = DtmfReceiver(8000)
    digits: list[DtmfDigit] = []
    for n, d in enumerate("911"):
        ts = 8000 * n
        digits += _play(rx, list(generate_event(d, clock_rate=8000, timestamp=ts, duration=0.1)), n * 1.0)
    assert [(d.digit, d.timestamp, d.duration, d.duration_ms) for d in digits] == [
        ("9", 0, 800, 100), ("1", 8000, 800, 100), ("1", 16000, 800, 100)]
    assert rx.get_timer() is None


def test_receiver_table5_stream() -> None:
    rx = DtmfReceiver(8000)
    for row in TABLE5:
        rx.receive(row["timestamp"], bytes.fromhex(row["payload_hex"]), row["time_ms"] / 1000,
                   bool(row["marker"]))
    assert [(d.digit, d.timestamp, d.duration) for d in rx.pop_digits()] == [
        ("9", 0, 1600), ("1", 7040, 2000), ("1", 11200, 1760)]


def test_receiver_first_packets_lost() -> None:
    rx = DtmfReceiver(8000)
    packets = list(generate_event("7", clock_rate=8000, timestamp=500, duration=0.1))
    assert [d.digit for d in _play(rx, packets, 0.0, drop={0, 1, 2})] == ["7"]


def test_receiver_all_end_packets_lost_times_out() -> None:
    rx = DtmfReceiver(8000, end_timeout=0.3)
    packets = list(generate_event("3", clock_rate=8000, timestamp=0, duration=0.1))
    assert _play(rx, packets, 10.0, drop={4, 5, 6}) == []
    deadline = rx.get_timer()
    assert deadline is not None and deadline == pytest.approx(10.06 + 0.3)
    rx.handle_timer(deadline - 0.001)
    assert rx.pop_digits() == []
    rx.handle_timer(deadline)
    [d] = rx.pop_digits()
    assert (d.digit, d.duration) == ("3", 640)
    assert rx.get_timer() is None
    rx.receive(0, packets[5].payload, 11.0)  # the lost end packet arrives very late
    assert rx.pop_digits() == []


def test_receiver_next_event_ends_the_current_one() -> None:
    a = list(generate_event("1", clock_rate=8000, timestamp=0, duration=0.1))
    b = list(generate_event("2", clock_rate=8000, timestamp=1600, duration=0.1))
    rx2 = DtmfReceiver(8000)
    got = _play(rx2, a[:2], 0.0) + _play(rx2, b, 0.2)
    assert [(d.digit, d.duration) for d in got] == [("1", 320), ("2", 800)]
    rx2.receive(0, a[3].payload, 0.5)  # a late update of "1": ignored
    assert rx2.pop_digits() == []


def test_receiver_long_event_segments() -> None:
    rx = DtmfReceiver(48000)
    packets = list(generate_event("0", clock_rate=48000, timestamp=123, duration=2.0, interval=0.1))
    got = _play(rx, packets, 0.0)
    assert [(d.digit, d.timestamp, d.duration, d.duration_ms) for d in got] == [("0", 123, 96000, 2000)]


def test_receiver_flash_and_other_events() -> None:
    rx = DtmfReceiver(8000)
    rx.receive(0, build_event(16, True, 0, 800), 0.0, True)
    rx.receive(800, build_event(70, True, 0, 80), 0.1, True)
    assert [(d.digit, d.event) for d in rx.pop_digits()] == [("!", 16), (None, 70)]


def test_receiver_packed_events() -> None:
    rx = DtmfReceiver(8000)
    rx.receive(100, build_event(1, True, 10, 400) + build_event(2, True, 10, 400), 0.0, True)
    assert [(d.digit, d.timestamp) for d in rx.pop_digits()] == [("1", 100), ("2", 500)]


def test_receiver_reset_and_bad_payload() -> None:
    rx = DtmfReceiver(8000)
    rx.receive(0, build_event(1, True, 10, 400), 0.0, True)
    rx.receive(0, build_event(1, True, 10, 400), 0.0, True)
    assert len(rx.pop_digits()) == 1
    rx.reset()
    rx.receive(0, build_event(1, True, 10, 400), 1.0, True)
    assert len(rx.pop_digits()) == 1
    with pytest.raises(DtmfError):
        rx.receive(0, b"\x01", 2.0)


@given(st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.binary(max_size=12), st.booleans()),
                max_size=40))
def test_receiver_never_raises_other_errors(packets: list[tuple[int, bytes, bool]]) -> None:
    rx = DtmfReceiver(8000)
    for i, (ts, payload, marker) in enumerate(packets):
        try:
            rx.receive(ts, payload, i * 0.02, marker)
        except DtmfError:
            pass
        rx.handle_timer(i * 0.02)
    rx.pop_digits()


@given(st.sampled_from("0123456789*#ABCD"), st.integers(0, 0xFFFFFFFF), st.integers(1, 300),
       st.sets(st.integers(0, 40), max_size=5))
def test_generated_digit_received_once_despite_loss(digit: str, ts: int, ms: int, drop: set[int]) -> None:
    packets = list(generate_event(digit, clock_rate=8000, timestamp=ts, duration=ms / 1000))
    rx = DtmfReceiver(8000)
    got = _play(rx, packets, 0.0, drop)
    if rx.get_timer() is not None:
        rx.handle_timer(100.0)
        got += rx.pop_digits()
    if len(drop & set(range(len(packets)))) < len(packets):
        assert [d.digit for d in got] == [digit]
    else:
        assert got == []
