"""Transcoding in the relay (wcs.gateway.relay.transcoding) with real packets: a 1 kHz tone in Opus
from the browser comes out as PCMU / G.729 / Speex toward SIP and back; DTMF from the browser and
sendDtmf in the transcoded stream; RTCP on the SIP leg's clock; re-INVITE codec changes; a codec
that cannot be built; the settings that feed the negotiation."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from wcs.entropy import SeededEntropy
from wcs.gateway.relay import SIP_RTCP, CallRelay
from wcs.gateway.relay.processor import Passthrough
from wcs.gateway.relay.transcoding import Transcoding, Unavailable, transcoding_factory
from wcs.gateway.settings import Settings, apply
from wcs.rtp.codecs import CodecRegistry, create_decoder
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import SenderReport, parse_compound
from wcs.sdp.codecs import Format
from wcs.sdp.webrtc import PtPair, StreamPlan

from ..rtp.codecs.audio import peak_hz, requires, steady, tone
from ..rtp.test_transcode import packets
from ..webrtc.browser import Browser
from .test_relay import BROWSER_SSRC, PHONE_SSRC, SIP_FROM, drive, make_relay, plan, rtp

EVENT_PT = PtPair(110, 101, "telephone-event", 48000, 8000)
SIP_CODECS = {"PCMU": (0, 8000), "G729": (18, 8000), "speex/16000": (98, 16000)}


def transcoded(codec: str = "PCMU") -> StreamPlan:
    pt, rate = SIP_CODECS[codec]
    name = codec.split("/")[0]
    return plan(codecs=[PtPair(111, pt, "opus", 48000, rate, name), EVENT_PT],
                sip_formats=[Format(pt, name, rate), Format(101, "telephone-event", 8000, 1, "0-15")])


def relay_for(stream: StreamPlan, registry: CodecRegistry | None = None) -> tuple[CallRelay, Browser]:
    return make_relay(stream, processors=transcoding_factory(SeededEntropy(5), registry))


def browser_opus(relay: CallRelay, browser: Browser, stream: list[bytes], t0: float = 1.0) -> list[RtpPacket]:
    """Send the browser's SRTP; the RTP packets the relay sent to the SIP peer."""
    out = []
    for i, packet in enumerate(stream):
        for leg, data, _ in relay.from_browser(browser.srtp.protect(packet), browser.addr, t0 + i * 0.02):
            if leg == 0:
                out.append(RtpPacket.parse(data))
    return out


def decode(codec: str, received: list[RtpPacket]) -> np.ndarray:
    decoder = create_decoder(codec)
    return np.concatenate([decoder.decode(bytes(p.payload)) for p in received])


@pytest.mark.parametrize("codec", [pytest.param(c, marks=requires("opus/48000", key))
                                   for c, key in (("PCMU", "PCMU/8000"), ("G729", "G729/8000"),
                                                  ("speex/16000", "speex/16000"))])
def test_a_tone_in_opus_comes_out_in_the_sip_codec_and_back(codec: str) -> None:
    pt, rate = SIP_CODECS[codec]
    relay, browser = relay_for(transcoded(codec))
    opus = packets("opus", tone(1000, 48000, 1.0), pt=111, ssrc=BROWSER_SSRC)
    out = browser_opus(relay, browser, opus)
    assert len(out) == 50 and {p.payload_type for p in out} == {pt}
    assert len({p.ssrc for p in out}) == 1 and out[0].marker and not any(p.marker for p in out[1:])
    assert [p.sequence_number for p in out] == [(out[0].sequence_number + i) & 0xFFFF for i in range(50)]
    assert [p.timestamp - out[0].timestamp for p in out[:3]] == [0, rate // 50, 2 * rate // 50]
    assert peak_hz(steady(decode(codec, out), rate), rate) == 1000

    phone = packets(codec, tone(1000, rate, 1.0), pt=pt, ssrc=PHONE_SSRC)
    back = []
    for i, packet in enumerate(phone):
        for _, data, dest in relay.from_sip(0, packet, SIP_FROM, 2.0 + i * 0.02):
            assert dest == browser.addr
            back.append(RtpPacket.parse(browser.srtp.unprotect(data)))
    assert len(back) == 50 and {p.payload_type for p in back} == {111}
    assert [p.timestamp - back[0].timestamp for p in back[:3]] == [0, 960, 1920]
    assert peak_hz(steady(decode("opus", back), 48000), 48000) == 1000
    assert relay.forwarded_to_sip == 50 and relay.forwarded_to_browser == 50
    stats = relay.stats()["sip"]
    assert stats["packetsReceived"] == 50 and stats["packetsSent"] == 50   # type: ignore[index]


@requires("opus/48000")
def test_browser_dtmf_is_relayed_into_the_transcoded_stream() -> None:
    relay, browser = relay_for(transcoded())
    opus = packets("opus", tone(1000, 48000, 0.2), pt=111, ssrc=BROWSER_SSRC, seq=100, ts=0)
    audio = browser_opus(relay, browser, opus)            # 10 packets, the last at 1.18
    last = audio[-1]
    events = []
    for i, (end, duration) in enumerate([(False, 960), (False, 1920), (True, 4800), (True, 4800)]):
        payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, duration)
        packet = rtp(110, 110 + i, 9600, BROWSER_SSRC, payload, marker=i == 0)
        events += browser_opus(relay, browser, [packet], 1.20 + i * 0.02)
    assert {(p.payload_type, p.ssrc) for p in events} == {(101, last.ssrc)}
    assert [p.sequence_number for p in events] == [(last.sequence_number + 1 + i) & 0xFFFF for i in range(4)]
    # the event starts where the audio left off (48 kHz timestamp 9600 → 8 kHz), durations rescaled
    assert {p.timestamp for p in events} == {(last.timestamp + 160) & 0xFFFFFFFF}
    assert [struct.unpack("!H", bytes(p.payload)[2:])[0] for p in events] == [160, 320, 800, 800]
    assert events[0].marker


@requires("opus/48000")
def test_send_dtmf_goes_into_the_transcoded_stream() -> None:
    relay, browser = relay_for(transcoded())
    opus = packets("opus", tone(1000, 48000, 0.1), pt=111, ssrc=BROWSER_SSRC, seq=100, ts=0)
    audio = browser_opus(relay, browser, opus)            # 5 packets, the last at 1.08
    seq0, ts0, ssrc = audio[0].sequence_number, audio[0].timestamp, audio[0].ssrc
    assert relay.send_dtmf("5", 1.10) is True
    events = [RtpPacket.parse(data) for _, (leg, data, _) in drive(relay, 1.3) if leg == 0]
    assert len(events) == 7 and {(p.payload_type, p.ssrc) for p in events} == {(101, ssrc)}
    assert [p.sequence_number for p in events] == [(seq0 + 5 + i) & 0xFFFF for i in range(7)]
    assert {p.timestamp for p in events} == {(ts0 + 800) & 0xFFFFFFFF}   # the audio timeline at 1.10
    durations = [struct.unpack("!H", bytes(p.payload)[2:])[0] for p in events]
    assert durations == [160, 320, 480, 640, 800, 800, 800]
    # the browser's audio resumes: a new talkspurt after the event, by wall-clock time
    more = packets("opus", tone(1000, 48000, 0.04), pt=111, ssrc=BROWSER_SSRC, seq=113, ts=13 * 960)
    resumed = browser_opus(relay, browser, more, 1.26)
    assert resumed[0].sequence_number == (seq0 + 12) & 0xFFFF and resumed[0].marker
    assert resumed[0].timestamp == (ts0 + 2080) & 0xFFFFFFFF


@requires("opus/48000")
def test_sip_dtmf_reaches_the_browser_at_its_clock() -> None:
    relay, browser = relay_for(transcoded())
    phone = packets("PCMU", tone(500, 8000, 0.1), pt=0, ssrc=PHONE_SSRC, seq=7, ts=800)
    for i, packet in enumerate(phone):
        relay.from_sip(0, packet, SIP_FROM, 1.0 + i * 0.02)
    payload = struct.pack("!BBH", 7, 0x8A, 800)
    [(_, data, _)] = relay.from_sip(0, rtp(101, 12, 1600, payload=payload, marker=True), SIP_FROM, 1.1)
    event = RtpPacket.parse(browser.srtp.unprotect(data))
    assert event.payload_type == 110 and struct.unpack("!H", bytes(event.payload)[2:])[0] == 4800
    assert [d.digit for d in relay.events() if hasattr(d, "digit")] == ["7"]


@requires("opus/48000")
def test_rtcp_reports_the_transcoded_stream_on_the_sip_clock() -> None:
    relay, browser = relay_for(transcoded())
    out = browser_opus(relay, browser, packets("opus", tone(1000, 48000, 1.0), pt=111, ssrc=BROWSER_SSRC))
    reports = [parse_compound(bytes(data))[0] for t, (leg, data, _) in drive(relay, 9.0) if leg == SIP_RTCP]
    sr = next(r for r in reports if isinstance(r, SenderReport))
    assert sr.ssrc == out[-1].ssrc and sr.packet_count == 50 and sr.octet_count == 50 * 160
    # the SR's RTP timestamp extrapolates the last sent one at 8000 Hz (RFC 3550 §6.4.1)
    assert 0 < (sr.rtp_timestamp - out[-1].timestamp) & 0xFFFFFFFF < 8000 * 9


@requires("opus/48000", "G729/8000")
def test_codec_change_and_back_to_passthrough_keep_the_outgoing_stream() -> None:
    relay, browser = relay_for(transcoded("PCMU"))
    opus = packets("opus", tone(1000, 48000, 0.3), pt=111, ssrc=BROWSER_SSRC)
    before = browser_opus(relay, browser, opus[:5])
    relay.configure([transcoded("G729")], 1.2)
    after = browser_opus(relay, browser, opus[5:10], 1.2)
    assert {p.ssrc for p in before + after} == {before[0].ssrc}
    assert {p.payload_type for p in after} == {18} and {len(p.payload) for p in after} == {20}
    assert after[0].sequence_number == (before[-1].sequence_number + 1) & 0xFFFF and after[0].marker
    stream = relay._streams[0]
    assert isinstance(stream.to_sip, Transcoding) and stream.sent_to_sip.ssrc == before[0].ssrc
    relay.configure([plan(codecs=[PtPair(111, 96, "opus", 48000), EVENT_PT])], 1.4)
    assert isinstance(relay._streams[0].to_sip, Passthrough)
    through = browser_opus(relay, browser, opus[10:12], 1.4)
    assert {p.ssrc for p in through} == {before[0].ssrc} and {p.payload_type for p in through} == {96}
    assert through[0].sequence_number == (after[-1].sequence_number + 1) & 0xFFFF
    assert bytes(through[0].payload) == opus[10][12:]     # passthrough: the browser's payload


def test_a_codec_that_cannot_be_built_drops_instead_of_crashing() -> None:
    relay, browser = relay_for(transcoded("G729"), CodecRegistry(disabled={"G729"}))
    stream = relay._streams[0]
    assert isinstance(stream.to_sip, Unavailable) and "G729 unavailable" in stream.to_sip.reason
    assert browser_opus(relay, browser, [rtp(111, 1, 0, BROWSER_SSRC, b"\xfc\xff\xfe")]) == []
    assert relay.from_sip(0, rtp(18, 1, 0, payload=bytes(20)), SIP_FROM, 1.0) == []
    assert relay.send_dtmf("1", 1.0) is True and all(leg != 0 for _, (leg, _, _) in drive(relay, 1.5))
    assert relay.dropped["DTMF event not sendable"] > 0


@requires("opus/48000")
def test_unknown_payload_types_are_counted_by_the_processor() -> None:
    relay, _ = relay_for(transcoded())
    assert relay.from_sip(0, rtp(111, 1, 0, payload=b"\xfc"), SIP_FROM, 1.0) == []   # our browser PT from SIP
    assert relay._streams[0].to_browser.dropped == 1   # type: ignore[attr-defined]


def test_settings_feed_the_negotiation() -> None:
    settings = Settings()
    assert settings.allow_transcoding is True
    policy = settings.codec_policy()
    assert policy.transcoding and ("g729", 8000) in policy.transcodable
    no_g729 = settings.codec_policy(CodecRegistry(disabled={"G729"}))
    assert ("g729", 8000) not in no_g729.transcodable and ("speex", 16000) in no_g729.transcodable
    off = apply(settings, [("allow_transcoding", "false")]).codec_policy()
    assert not off.transcoding and off.transcodable   # kept: "Transcoding required, but disabled"
