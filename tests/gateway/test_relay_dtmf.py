"""DTMF in the relay: sendDtmf as RFC 4733 events (byte by byte), and digits detected on both legs."""

from __future__ import annotations

import struct

import pytest

from wcs.gateway.media import DtmfDetected
from wcs.gateway.relay import CallRelay
from wcs.rtp.dtmf import DtmfReceiver
from wcs.rtp.errors import RtpUsageError
from wcs.rtp.packet import RtpPacket
from wcs.sdp.webrtc import PtPair

from ..webrtc.browser import Browser
from .test_relay import BROWSER_SSRC, SIP_FROM, SipSource, drive, make_relay, plan, rtp, to_sip


@pytest.fixture
def linked() -> tuple[CallRelay, Browser]:
    return make_relay()


def sent_to_sip(relay: CallRelay, until: float) -> list[tuple[float, RtpPacket]]:
    return [(t, RtpPacket.parse(data)) for t, (leg, data, _) in drive(relay, until) if leg == 0]


def event(number: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", number, (0x80 if end else 0) | volume, duration)


def test_a_digit_is_rfc4733_events_in_the_audio_stream(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    audio = [to_sip(relay, browser, rtp(0, 100 + i, 160 * i, BROWSER_SSRC), 1.0 + i * 0.02)[0]
             for i in range(5)]  # the last at 1.08
    seq0, ts0, ssrc = audio[0].sequence_number, audio[0].timestamp, audio[0].ssrc
    assert relay.send_dtmf("5", 1.10) is True
    # the browser keeps talking during the event: suppressed, the events own the stream
    for i in range(5, 12):
        assert to_sip(relay, browser, rtp(0, 100 + i, 160 * i, BROWSER_SSRC), 1.10 + (i - 5) * 0.02) == []
    events = sent_to_sip(relay, 1.3)
    assert relay.dropped == {"RTP from the browser while a DTMF event plays": 7}
    # RFC 4733 §2.5.1.2-2.5.1.4: one packet per 20 ms, duration growing, M on the first, E ×3
    assert [t for t, _ in events] == pytest.approx([1.12, 1.14, 1.16, 1.18, 1.20, 1.22, 1.24])
    assert [bytes(p.payload) for _, p in events] == [event(5, False, 160), event(5, False, 320),
                                                     event(5, False, 480), event(5, False, 640),
                                                     event(5, True, 800), event(5, True, 800),
                                                     event(5, True, 800)]
    assert [p.marker for _, p in events] == [True] + [False] * 6
    assert {(p.payload_type, p.ssrc) for _, p in events} == {(101, ssrc)}
    # §2.1: one sequence space with the audio; the event timestamp is the audio timeline at its start
    assert [p.sequence_number for _, p in events] == [(seq0 + 5 + i) & 0xFFFF for i in range(7)]
    assert {p.timestamp for _, p in events} == {(ts0 + 800) & 0xFFFFFFFF}
    # audio resumes after the last end packet: next number, timestamp where real time is
    [resumed] = to_sip(relay, browser, rtp(0, 113, 160 * 13, BROWSER_SSRC), 1.26)
    assert resumed.sequence_number == (seq0 + 12) & 0xFFFF
    assert resumed.timestamp == (ts0 + 2080) & 0xFFFFFFFF and resumed.marker


def test_digits_play_one_after_the_other(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    assert relay.send_dtmf("12", 5.0, duration=0.1)
    assert relay.send_dtmf("#", 5.05)  # queued behind the first two
    events = sent_to_sip(relay, 6.0)
    assert len(events) == 21
    starts = [t for t, p in events if p.marker]
    last_ends = [events[i][0] for i in (6, 13)]
    assert all(start - end >= 0.05 + 0.02 - 1e-9 for start, end in zip(starts[1:], last_ends, strict=True))
    seqs = [p.sequence_number for _, p in events]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(21)]
    timestamps = sorted({p.timestamp for _, p in events})
    assert [b - a for a, b in zip(timestamps, timestamps[1:], strict=False)] == [1520, 1520]  # 190 ms
    receiver = DtmfReceiver(8000)
    for _, p in events:
        receiver.receive(p.timestamp, p.payload, 6.0, p.marker)
    assert [(d.digit, d.duration) for d in receiver.pop_digits()] == [("1", 800), ("2", 800), ("#", 800)]


def test_a_long_digit_is_sent_in_segments(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    relay.send_dtmf("9", 1.0, duration=10.0)
    events = sent_to_sip(relay, 12.0)
    firsts = {}
    for _, p in events:
        firsts.setdefault(p.timestamp, p)
    first, second = firsts.values()
    assert second.timestamp == (first.timestamp + 0xFFFF) & 0xFFFFFFFF  # §2.5.1.3
    assert first.marker and not second.marker
    receiver = DtmfReceiver(8000)
    for _, p in events:
        receiver.receive(p.timestamp, p.payload, 12.0, p.marker)
    assert [(d.digit, d.duration) for d in receiver.pop_digits()] == [("9", 80000)]


def test_events_use_the_telephone_event_clock_of_the_sip_side() -> None:
    opus = [PtPair(111, 111, "opus", 48000), PtPair(110, 101, "telephone-event", 48000, 8000)]
    relay, _ = make_relay(plan(codecs=opus))
    assert relay.send_dtmf("3", 1.0)
    events = sent_to_sip(relay, 2.0)
    assert [struct.unpack("!H", bytes(p.payload)[2:])[0] for _, p in events] == [160, 320, 480, 640, 800,
                                                                                 800, 800]
    assert {p.payload_type for _, p in events} == {101}


def test_send_dtmf_refuses_when_it_cannot_send(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    with pytest.raises(RtpUsageError, match="not a DTMF digit: 'x'"):
        relay.send_dtmf("1x", 1.0)
    relay.set_held(True, 1.0)
    assert relay.send_dtmf("1", 1.0) is False
    relay.set_held(False, 1.0)
    relay.configure([plan("recvonly")], 1.0)
    assert relay.send_dtmf("1", 1.0) is False
    no_events, _ = make_relay(plan(codecs=[PtPair(0, 0, "PCMU", 8000)]))
    assert no_events.send_dtmf("1", 1.0) is False


def test_hold_cuts_a_digit_short(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    relay.send_dtmf("123", 1.0)
    assert len(sent_to_sip(relay, 1.03)) == 1
    relay.set_held(True, 1.03)
    assert sent_to_sip(relay, 3.0) == []


def test_digits_from_the_sip_side_are_detected_and_relayed(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    phone = SipSource()
    relay.from_sip(0, phone.next(), SIP_FROM, 1.0)
    relay.events()
    for i, (end, duration) in enumerate([(False, 160), (False, 400), (True, 800), (True, 800), (True, 800)]):
        packet = rtp(101, phone.seq + i, phone.ts, payload=event(7, end, duration), marker=i == 0)
        [(_, data, _)] = relay.from_sip(0, packet, SIP_FROM, 1.02 + i * 0.02)
        assert RtpPacket.parse(browser.srtp.unprotect(data)).payload_type == 126
    assert relay.changed
    assert relay.events() == [DtmfDetected("c1", "7", "sip", 0.1)]


def test_a_digit_whose_end_packets_were_lost_ends_on_the_timer(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    relay.from_sip(0, rtp(101, 1, 800, payload=event(11, False, 160), marker=True), SIP_FROM, 1.0)
    relay.from_sip(0, rtp(101, 2, 800, payload=event(11, False, 320)), SIP_FROM, 1.02)
    assert relay.events() == []
    drive(relay, 1.4)
    assert relay.events() == [DtmfDetected("c1", "#", "sip", 0.04)]


def test_digits_from_the_browser_are_detected_and_relayed(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    for i, (end, duration) in enumerate([(False, 160), (True, 480), (True, 480), (True, 480)]):
        [packet] = to_sip(relay, browser, rtp(126, 50 + i, 3200, BROWSER_SSRC, event(1, end, duration),
                                              marker=i == 0), 1.0 + i * 0.02)
        assert packet.payload_type == 101 and packet.payload == event(1, end, duration)
    assert relay.events() == [DtmfDetected("c1", "1", "browser", 0.06)]


def test_malformed_events_are_counted(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    assert len(relay.from_sip(0, rtp(101, 1, 0, payload=b"\x01\x02"), SIP_FROM, 1.0)) == 1
    reason = "telephone-event from the sip side: telephone-event payload shorter than 4 octets"
    assert relay.dropped == {reason: 1}
