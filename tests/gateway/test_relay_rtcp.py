"""RTCP on each leg of the relay: report timing and contents, RTT, malformed input, keyframe bridging."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.gateway.media import KeyframeNeeded
from wcs.gateway.relay import BROWSER, SIP_RTCP, CallRelay
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import (
    Bye,
    Fir,
    Pli,
    ReceiverReport,
    ReportBlock,
    Sdes,
    SenderReport,
    parse_compound,
    serialize_compound,
)
from wcs.rtp.stats import ntp_from_unix, ntp_middle32
from wcs.sdp.codecs import Format
from wcs.sdp.webrtc import PtPair

from ..webrtc.browser import Browser
from .test_relay import BROWSER_SSRC, PHONE_SSRC, SIP_FROM, SIP_PEER, SipSource, drive, make_relay, plan, rtp

SIP_RTCP_ADDR = (SIP_PEER[0], SIP_PEER[1] + 1)
VIDEO_PEER = ("127.0.0.1", 10002)
PHONE_VIDEO_SSRC = 0x7ECA
BROWSER_VIDEO_SSRC = 0xB1DE0


@pytest.fixture
def linked() -> tuple[CallRelay, Browser]:
    return make_relay()


def sip_reports(sent: list[tuple[float, tuple[int, bytes | bytearray, tuple[str, int]]]],
                leg: int = SIP_RTCP) -> list[tuple[float, list[object]]]:
    return [(t, list(parse_compound(data))) for t, (lg, data, _) in sent if lg == leg]


def test_reports_follow_rfc3550_intervals_on_each_leg(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    sent = drive(relay, 60.0)
    sip_times = [t for t, (leg, _, dest) in sent if leg == SIP_RTCP and dest == SIP_RTCP_ADDR]
    browser_times = [t for t, (leg, _, _) in sent if leg == BROWSER]
    for times in (sip_times, browser_times):
        assert 1.25 <= times[0] <= 3.75  # half the 5 s minimum, randomised 0.5-1.5 (§6.2, §6.3.1)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(2.5 <= gap <= 7.5 for gap in gaps) and len(set(gaps)) == len(gaps)
        assert 8 <= len(times) <= 24
    assert sip_times[:3] != browser_times[:3]  # each leg draws its own randomisation


def test_receiver_report_then_sender_report_on_the_sip_leg(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(_, [rr, sdes])] = sip_reports(drive(relay, 4.0))[:1]
    assert isinstance(rr, ReceiverReport) and rr.reports == []  # nothing sent, nothing received yet
    assert isinstance(sdes, Sdes) and sdes.cname(rr.ssrc) == relay.cname and len(relay.cname) == 16
    # now media flows both ways for a second
    phone, now = SipSource(), 4.0
    for i in range(50):
        relay.from_sip(0, phone.next(), SIP_FROM, now)
        packet = browser.srtp.protect(rtp(0, 300 + i, 160 * i, BROWSER_SSRC))
        out = relay.from_browser(packet, browser.addr, now)
        now += 0.02
    our_ssrc = RtpPacket.parse(out[0][1]).ssrc
    [(when, [sr, _])] = sip_reports(drive(relay, now + 7.5))[:1]
    assert isinstance(sr, SenderReport) and sr.ssrc == our_ssrc == rr.ssrc
    assert (sr.packet_count, sr.octet_count) == (50, 50 * 160)
    assert sr.ntp_timestamp == ntp_from_unix(when)  # the relay's wallclock offset is 0 here
    [block] = sr.reports
    assert (block.ssrc, block.highest_sequence, block.packets_lost, block.fraction_lost) == (
        PHONE_SSRC, 1049, 0, 0)
    assert (block.lsr, block.dlsr) == (0, 0)  # no SR from the phone yet


def test_browser_leg_reports_are_srtcp_about_the_browser(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    for i in range(5):
        relay.from_browser(browser.srtp.protect(rtp(0, 10 + i, 160 * i, BROWSER_SSRC)), browser.addr, 1.0)
    relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    [(_, _, data)] = [(t, leg, data) for t, (leg, data, _) in drive(relay, 4.0) if leg == BROWSER][:1]
    sr, sdes = parse_compound(browser.srtp.unprotect_rtcp(data))
    assert isinstance(sr, SenderReport) and sr.packet_count == 1
    assert [b.ssrc for b in sr.reports] == [BROWSER_SSRC] and sr.reports[0].highest_sequence == 14
    assert isinstance(sdes, Sdes) and sdes.cname(sr.ssrc) == relay.cname


def test_round_trip_time_on_both_legs(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr, 1.0)
    relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    sent = drive(relay, 4.0)
    [(t_sip, [sip_sr, _])] = sip_reports(sent)[:1]
    [(t_browser, data)] = [(t, data) for t, (leg, data, _) in sent if leg == BROWSER][:1]
    browser_sr = parse_compound(browser.srtp.unprotect_rtcp(data))[0]
    assert isinstance(sip_sr, SenderReport) and isinstance(browser_sr, SenderReport)
    # each peer answers 10 ms after it received our SR; the network adds 40 ms (SIP) / 20 ms (browser)
    hold = int(0.010 * 65536)
    answer = ReceiverReport(PHONE_SSRC, [ReportBlock(sip_sr.ssrc, lsr=ntp_middle32(sip_sr.ntp_timestamp),
                                                     dlsr=hold)])
    assert relay.from_sip_rtcp(0, bytes(answer), SIP_RTCP_ADDR, t_sip + 0.05) == []
    lsr = ntp_middle32(browser_sr.ntp_timestamp)
    answer = ReceiverReport(BROWSER_SSRC, [ReportBlock(browser_sr.ssrc, lsr=lsr, dlsr=hold)])
    assert relay.from_browser(browser.srtp.protect_rtcp(bytes(answer)), browser.addr, t_browser + 0.03) == []
    stats = relay.stats()
    assert stats["sip"]["rttMs"] == pytest.approx(40.0, abs=0.05)  # type: ignore[index]
    assert stats["browser"]["rttMs"] == pytest.approx(20.0, abs=0.05)  # type: ignore[index]


def test_sender_reports_we_receive_fill_lsr_and_dlsr(linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    relay.from_sip(0, SipSource(seq=1001).next(), SIP_FROM, 1.02)
    ntp = ntp_from_unix(1_700_000_000.25)
    report = SenderReport(PHONE_SSRC, ntp_timestamp=ntp, rtp_timestamp=5160, packet_count=2, octet_count=320)
    relay.from_sip_rtcp(0, bytes(report) + bytes(Sdes()), SIP_RTCP_ADDR, 1.5)
    [(when, [rr, _])] = sip_reports(drive(relay, 4.0))[:1]
    [block] = rr.reports  # type: ignore[attr-defined]
    assert block.lsr == ntp_middle32(ntp)
    assert block.dlsr == int((when - 1.5) * 65536)


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x80", "RTCP packet shorter than 4-octet header"),
    (b"\x40\xc9\x00\x01" + bytes(4), "RTCP version is not 2"),
    (b"\x81\xc9\x00\x07" + bytes(8), "RTCP length field exceeds datagram"),
    (b"\x81\xc8\x00\x01" + bytes(4), "RTCP SR shorter than sender info"),
    (b"\x81\xca\x00\x02" + b"\x00\x00\x00\x01\x01\x05ab", "RTCP SDES item truncated"),
])
def test_malformed_rtcp_is_counted_on_both_legs(linked: tuple[CallRelay, Browser], data: bytes,
                                                reason: str) -> None:
    relay, browser = linked
    assert relay.from_sip_rtcp(0, data, SIP_RTCP_ADDR, 1.0) == []
    if data[0] >= 0x80 and len(data) >= 8:  # (the browser's port demultiplexes by the first octet)
        assert relay.from_browser(browser.srtp.protect_rtcp(data), browser.addr, 1.0) == []
        assert relay.dropped[f"RTCP from the browser: {reason}"] == 1
    assert relay.dropped[f"RTCP from the SIP side: {reason}"] == 1


def test_rtcp_from_another_host_is_dropped_and_the_rtcp_destination_latches(
        linked: tuple[CallRelay, Browser]) -> None:
    relay, _ = linked
    relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    assert relay.from_sip_rtcp(0, bytes(ReceiverReport(PHONE_SSRC)), ("192.0.2.1", 10001), 1.0) == []
    assert relay.dropped == {"RTCP from the SIP side from an unexpected address": 1}
    relay.from_sip_rtcp(0, bytes(ReceiverReport(0x666)), ("127.0.0.1", 20001), 1.0)  # not the source
    relay.from_sip_rtcp(0, bytes(ReceiverReport(PHONE_SSRC)), ("127.0.0.1", 10901), 1.0)
    dests = {dest for _, (leg, _, dest) in drive(relay, 10.0) if leg == SIP_RTCP}
    assert dests == {("127.0.0.1", 10901)}


def test_rtcp_mux_on_the_sip_side() -> None:
    relay, _ = make_relay(plan(rtcp_mux=True))
    relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    assert relay.from_sip(0, bytes(ReceiverReport(PHONE_SSRC)), SIP_FROM, 1.0) == []
    assert not relay.dropped
    assert {(leg, dest) for _, (leg, _, dest) in drive(relay, 10.0) if leg != BROWSER} == {(0, SIP_FROM)}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_datagrams_never_escape(data: bytes) -> None:
    relay, browser = _FUZZ
    relay.from_sip_rtcp(0, data, SIP_RTCP_ADDR, 1.0)
    relay.from_sip(0, data, SIP_FROM, 1.0)
    relay.from_sip(0, b"\x80\xc9" + data, SIP_FROM, 1.0)
    relay.from_browser(data, browser.addr, 1.0)
    if len(data) >= 6:
        relay.from_browser(browser.srtp.protect_rtcp(b"\x80\xc9" + data), browser.addr, 1.0)


_FUZZ = make_relay(plan(rtcp_mux=True))


# --- keyframe requests ----------------------------------------------------------------------------

def video_relay(rtcp_fb: tuple[str, ...]) -> tuple[CallRelay, Browser, int, int]:
    """Audio + VP8 video; returns the relay, the browser and our video SSRCs toward SIP and the browser."""
    video = plan(kind="video", index=1, codecs=[PtPair(96, 100, "VP8", 90000)], remote=VIDEO_PEER,
                 sip_formats=[Format(100, "VP8", 90000, rtcp_fb=rtcp_fb)])
    relay, browser = make_relay(plan(), video)
    [(_, to_browser, _)] = relay.from_sip(1, rtp(100, 1, 0, PHONE_VIDEO_SSRC, b"\x10\x00"), VIDEO_PEER, 1.0)
    out = relay.from_browser(browser.srtp.protect(rtp(96, 1, 0, BROWSER_VIDEO_SSRC, b"\x10\x00")),
                             browser.addr, 1.0)
    return relay, browser, RtpPacket.parse(out[0][1]).ssrc, RtpPacket.parse(
        browser.srtp.unprotect(to_browser)).ssrc


@pytest.mark.parametrize(("rtcp_fb", "kind"), [(("nack", "nack pli"), Pli), (("ccm fir",), Fir)])
def test_browser_pli_reaches_the_sip_peer_as_rtcp(rtcp_fb: tuple[str, ...], kind: type) -> None:
    relay, browser, to_sip_ssrc, to_browser_ssrc = video_relay(rtcp_fb)
    pli = bytes(ReceiverReport(BROWSER_VIDEO_SSRC)) + bytes(Pli(BROWSER_VIDEO_SSRC, to_browser_ssrc))
    [(leg, data, dest)] = relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 2.0)
    assert (leg, dest) == (SIP_RTCP + 1, (VIDEO_PEER[0], VIDEO_PEER[1] + 1))
    rr, sdes, request = parse_compound(data)
    assert isinstance(rr, ReceiverReport) and rr.ssrc == to_sip_ssrc and isinstance(sdes, Sdes)
    assert isinstance(request, kind) and request.sender_ssrc == to_sip_ssrc
    if isinstance(request, Pli):
        assert request.media_ssrc == PHONE_VIDEO_SSRC
    else:
        assert isinstance(request, Fir) and request.entries[0][0] == PHONE_VIDEO_SSRC
    # a second request within 0.5 s waits for the rate limit, then goes out once
    assert relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 2.1) == []
    later = [(t, leg) for t, (leg, data, _) in drive(relay, 2.6) if leg == SIP_RTCP + 1
             and any(isinstance(p, kind) for p in parse_compound(data))]
    assert later == [(2.5, SIP_RTCP + 1)]


def test_browser_pli_without_rtcp_fb_asks_the_gateway_for_sip_info() -> None:
    relay, browser, _, to_browser_ssrc = video_relay(())
    relay.events()
    fir = bytes(ReceiverReport(BROWSER_VIDEO_SSRC)) + bytes(Fir(BROWSER_VIDEO_SSRC, [(to_browser_ssrc, 3)]))
    assert relay.from_browser(browser.srtp.protect_rtcp(fir), browser.addr, 2.0) == []
    assert relay.changed and relay.events() == [KeyframeNeeded("c1")]


def test_pli_for_an_audio_stream_is_dropped(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    [(_, data, _)] = relay.from_sip(0, SipSource().next(), SIP_FROM, 1.0)
    ours = RtpPacket.parse(browser.srtp.unprotect(data)).ssrc
    pli = bytes(ReceiverReport(BROWSER_SSRC)) + bytes(Pli(BROWSER_SSRC, ours))
    assert relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 2.0) == []
    assert relay.dropped == {"keyframe request from the browser for no video stream": 1}


@pytest.mark.parametrize("request_packet", [Pli(PHONE_VIDEO_SSRC, 0), Fir(PHONE_VIDEO_SSRC, [(0, 1)])])
def test_sip_keyframe_requests_reach_the_browser_as_pli(request_packet: Pli | Fir) -> None:
    relay, browser, to_sip_ssrc, to_browser_ssrc = video_relay(("nack pli",))
    if isinstance(request_packet, Pli):
        request_packet.media_ssrc = to_sip_ssrc
    else:
        request_packet.entries = [(to_sip_ssrc, 1)]
    data = serialize_compound([ReceiverReport(PHONE_VIDEO_SSRC), request_packet])
    [(leg, srtcp, dest)] = relay.from_sip_rtcp(1, data, (VIDEO_PEER[0], VIDEO_PEER[1] + 1), 2.0)
    assert (leg, dest) == (BROWSER, browser.addr)
    rr, _, pli = parse_compound(browser.srtp.unprotect_rtcp(srtcp))
    assert isinstance(rr, ReceiverReport) and rr.ssrc == to_browser_ssrc
    assert isinstance(pli, Pli) and (pli.sender_ssrc, pli.media_ssrc) == (to_browser_ssrc, BROWSER_VIDEO_SSRC)


def test_bye_names_our_ssrcs(linked: tuple[CallRelay, Browser]) -> None:
    relay, browser = linked
    relay.from_browser(browser.srtp.protect(rtp(0, 1, 0, BROWSER_SSRC)), browser.addr, 1.0)
    (_, sip, _), (_, srtcp, _), _ = relay.close(1.5)
    sr, _, bye = parse_compound(sip)
    assert isinstance(sr, SenderReport) and isinstance(bye, Bye) and bye.ssrcs == [sr.ssrc]
    rr, _, bye = parse_compound(browser.srtp.unprotect_rtcp(srtcp))
    assert isinstance(rr, ReceiverReport) and isinstance(bye, Bye) and bye.ssrcs == [rr.ssrc]
