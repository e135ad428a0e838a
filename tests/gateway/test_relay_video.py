"""Video in the relay, sans-I/O with a fake clock: keyframe bridging details, generated media (black VP8,
silence) toward the browser, and VP8 ⇄ H.264 transcoding with av-encoded streams."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wcs.entropy import SeededEntropy
from wcs.gateway.media import KeyframeNeeded
from wcs.gateway.relay import BROWSER, SIP_RTCP, CallRelay, Passthrough, ProcessorFactory, passthrough_factory
from wcs.gateway.relay.generators import Generating, generator_factory
from wcs.gateway.relay.video import VideoTranscoding, video_factory
from wcs.gateway.settings import Settings, SettingsError, apply
from wcs.rtp.ffmpeg import VideoDecoder
from wcs.rtp.packet import RtpPacket
from wcs.rtp.rtcp import Pli, ReceiverReport, UnknownRtcp, parse_compound, serialize_compound
from wcs.rtp.video.h264 import H264Depacketizer
from wcs.rtp.video.vp8 import Vp8Depacketizer, payload_is_keyframe
from wcs.sdp.codecs import Format
from wcs.sdp.webrtc import PtPair, StreamPlan

from ..rtp.video.samples import rtp_packets
from ..webrtc.browser import Browser
from .test_relay import SIP_FROM, SipSource, drive, make_relay, plan, rtp

VIDEO_PEER = ("127.0.0.1", 10002)
VIDEO_RTCP = ("127.0.0.1", 10003)
PHONE_VIDEO_SSRC = 0x7ECA
BROWSER_VIDEO_SSRC = 0xB1DE0
TIMEOUT = 0.5


def processors() -> ProcessorFactory:
    entropy = SeededEntropy(3)
    return generator_factory(entropy, TIMEOUT, video_factory(entropy, passthrough_factory(entropy)))


def video_plan(**changes: object) -> StreamPlan:
    base = plan(kind="video", index=1, codecs=[PtPair(96, 100, "VP8", 90000)], remote=VIDEO_PEER,
                sip_formats=[Format(100, "VP8", 90000, rtcp_fb=("nack pli",))])
    return replace(base, **changes)  # type: ignore[arg-type]


def relay_with(*plans: StreamPlan, now: float = 0.0) -> tuple[CallRelay, Browser]:
    return make_relay(*plans, now=now, processors=processors())


Sent = list[tuple[int, bytes | bytearray, tuple[str, int]]]


def to_browser(browser: Browser, out: Sent) -> list[RtpPacket]:
    return [RtpPacket.parse(browser.srtp.unprotect(d)) for leg, d, _ in out
            if leg == BROWSER and not 191 < d[1] < 224]


# ---------------------------------------------------------------- keyframe bridging


def test_rfc2032_fir_from_a_sip_phone_becomes_a_pli_for_the_browser() -> None:
    relay, browser = make_relay(plan(), video_plan())
    first = rtp(96, 1, 0, BROWSER_VIDEO_SSRC, b"\x10\x00")
    relay.from_browser(browser.srtp.protect(first), browser.addr, 1.0)
    legacy = serialize_compound([ReceiverReport(PHONE_VIDEO_SSRC), UnknownRtcp(192, 0, b"\x00\x00\x7e\xca")])
    [(leg, srtcp, _)] = relay.from_sip_rtcp(1, legacy, VIDEO_RTCP, 2.0)
    assert leg == BROWSER
    assert any(isinstance(p, Pli) and p.media_ssrc == BROWSER_VIDEO_SSRC
               for p in parse_compound(browser.srtp.unprotect_rtcp(srtcp)))
    assert relay.stats()["keyframeRequests"] == {"toBrowserPli": 1}


def test_keyframe_requests_are_counted_per_leg_and_kind() -> None:
    relay, browser = make_relay(plan(), video_plan(sip_formats=[Format(100, "VP8", 90000)]))
    relay.from_sip(1, rtp(100, 1, 0, PHONE_VIDEO_SSRC, b"\x10\x00"), VIDEO_PEER, 1.0)
    [(_, data, _)] = relay.from_sip(1, rtp(100, 2, 0, PHONE_VIDEO_SSRC, b"\x10\x00"), VIDEO_PEER, 1.0)
    ours = RtpPacket.parse(browser.srtp.unprotect(data)).ssrc
    pli = bytes(ReceiverReport(BROWSER_VIDEO_SSRC)) + bytes(Pli(BROWSER_VIDEO_SSRC, ours))
    relay.events()
    assert relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 2.0) == []
    assert relay.events() == [KeyframeNeeded("c1")] and relay.stats()["keyframeRequests"] == {"toSipInfo": 1}


# ---------------------------------------------------------------- generated media


def generated_video() -> StreamPlan:
    return StreamPlan("video", "1", [PtPair(96, 96, "VP8", 90000)], None, None, "recvonly", sip_index=1,
                      webrtc_index=1, webrtc_direction="recvonly", generate=True, generated=True)


def test_black_video_for_a_stream_the_sip_side_refused() -> None:
    relay, browser = relay_with(plan(), generated_video(), now=10.0)
    assert isinstance(relay._by_sip_index[1].to_browser, Generating)
    sent = drive(relay, 10.0 + TIMEOUT - 0.01)
    assert to_browser(browser, [d for _, d in sent]) == []         # nothing before the start timeout
    packets = to_browser(browser, [d for _, d in drive(relay, 12.5)])
    frames: dict[int, list[RtpPacket]] = {}
    for p in packets:
        frames.setdefault(p.timestamp, []).append(p)
    assert 19 <= len(frames) <= 21                                  # 10 frames/s for 2 s
    assert len({p.ssrc for p in packets}) == 1 and {p.payload_type for p in packets} == {96}
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    stamps = sorted(frames)
    assert {(b - a) & 0xFFFFFFFF for a, b in zip(stamps, stamps[1:], strict=False)} == {9000}
    first = frames[stamps[0]]
    assert payload_is_keyframe(first[0].payload) and first[-1].marker
    # the browser decodes it: 320x240 black
    decoder, dep = VideoDecoder("vp8"), Vp8Depacketizer()
    pictures = [pic for p in packets for f in dep.push(p.payload, p.sequence_number, p.timestamp, p.marker)
                for pic in decoder.decode(f.data, f.timestamp)]
    assert len(pictures) == len(frames) and {(pic.width, pic.height) for pic in pictures} == {(320, 240)}
    assert relay.stats()["streams"][1]["browser"]["packetsSent"] == len(packets)  # type: ignore[index]


def test_a_browser_pli_restarts_the_black_picture_with_a_keyframe() -> None:
    relay, browser = relay_with(plan(), generated_video(), now=0.0)
    packets = to_browser(browser, [d for _, d in drive(relay, 1.0)])
    pli = bytes(ReceiverReport(BROWSER_VIDEO_SSRC)) + bytes(Pli(BROWSER_VIDEO_SSRC, packets[0].ssrc))
    relay.events()
    assert relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 1.01) == []
    assert relay.events() == []                                     # answered here: no SIP INFO
    after = to_browser(browser, [d for _, d in drive(relay, 1.15)])
    assert payload_is_keyframe(after[0].payload)


def test_silence_fills_the_gaps_of_an_audio_stream_in_one_continuous_stream() -> None:
    relay, browser = relay_with(replace(plan(), generate=True), now=0.0)
    silence = to_browser(browser, [d for _, d in drive(relay, 1.0)])
    assert 24 <= len(silence) <= 26 and {p.payload for p in silence} == {b"\xff" * 160}   # PCMU zero
    assert silence[0].marker and not any(p.marker for p in silence[1:])
    phone = SipSource()
    real = to_browser(browser, relay.from_sip(0, phone.next(), SIP_FROM, 1.0))
    real += to_browser(browser, relay.from_sip(0, phone.next(), SIP_FROM, 1.02))
    assert to_browser(browser, [d for _, d in drive(relay, 1.3)]) == []     # the phone speaks: no filler
    stream = silence + real
    assert len({p.ssrc for p in stream}) == 1
    seqs = [p.sequence_number for p in stream]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    assert 0 < (real[0].timestamp - silence[-1].timestamp) & 0xFFFFFFFF <= 8000 * 0.05
    # the phone goes quiet again: after the timeout the filler resumes on the same stream
    again = to_browser(browser, [d for _, d in drive(relay, 2.0)])
    assert again and again[0].ssrc == silence[0].ssrc
    assert again[0].sequence_number == (real[-1].sequence_number + 1) & 0xFFFF


def test_nothing_is_generated_while_held() -> None:
    relay, browser = relay_with(plan(), generated_video(), now=0.0)
    relay.set_held(True, 0.0)
    assert to_browser(browser, [d for _, d in drive(relay, 2.0)]) == []
    relay.set_held(False, 2.0)
    assert to_browser(browser, [d for _, d in drive(relay, 2.5)])


def test_streams_without_a_generator_keep_their_processor() -> None:
    vp9 = replace(generated_video(), codecs=[PtPair(98, 98, "VP9", 90000)])
    g729 = PtPair(111, 18, "opus", 48000, 8000, sip_name="G729")
    transcoded_audio = replace(plan(codecs=[g729]), generate=True)
    factory = processors()
    assert isinstance(factory(vp9, False, None), Passthrough)
    assert not isinstance(factory(transcoded_audio, False, None), Generating)
    assert isinstance(factory(replace(plan(), generate=True), True, None), Passthrough)


# ---------------------------------------------------------------- VP8 ⇄ H.264


def transcoded_video() -> StreamPlan:
    """The browser has VP8 only, the phone H.264 only (PT 102 on its side)."""
    fmtp = "profile-level-id=42e01f;packetization-mode=1"
    h264 = Format(102, "H264", 90000, fmtp=fmtp, rtcp_fb=("nack pli",))
    return video_plan(codecs=[PtPair(96, 102, "VP8", 90000, sip_name="H264")], sip_formats=[h264])


def decode_all(codec: str, packets: list[RtpPacket]) -> list[tuple[int, int]]:
    dep = Vp8Depacketizer() if codec == "vp8" else H264Depacketizer()
    decoder = VideoDecoder(codec)
    return [(pic.width, pic.height) for p in packets
            for f in dep.push(p.payload, p.sequence_number, p.timestamp, p.marker)
            for pic in decoder.decode(f.data, f.timestamp)]


def test_vp8_from_the_browser_reaches_the_phone_as_h264() -> None:
    relay, browser = relay_with(plan(), transcoded_video())
    assert isinstance(relay._by_sip_index[1].to_sip, VideoTranscoding)
    out = []
    for i, packet in enumerate(rtp_packets("vp8_160x120.rtp")):
        data = bytearray(packet)
        data[1] = (data[1] & 0x80) | 96
        data[8:12] = BROWSER_VIDEO_SSRC.to_bytes(4, "big")
        out += relay.from_browser(browser.srtp.protect(bytes(data)), browser.addr, 1.0 + i / 30)
    sent = [RtpPacket.parse(d) for leg, d, dest in out if leg == 1 and dest == VIDEO_PEER]
    assert sent and {p.payload_type for p in sent} == {102} and len({p.ssrc for p in sent}) == 1
    assert decode_all("h264", sent) == [(160, 120)] * 12


def test_h264_from_the_phone_reaches_the_browser_as_vp8_and_loss_asks_the_phone() -> None:
    relay, browser = relay_with(plan(), transcoded_video())
    raw = rtp_packets("h264_160x120.rtp")
    out, lost = [], None
    for i, packet in enumerate(raw):
        data = bytearray(packet)
        data[1] = (data[1] & 0x80) | 102
        data[8:12] = PHONE_VIDEO_SSRC.to_bytes(4, "big")
        if i == 3 and lost is None:     # one packet of a delta frame is lost
            lost = i
            continue
        out += relay.from_sip(1, bytes(data), VIDEO_PEER, 1.0 + i / 30)
    pictures = decode_all("vp8", to_browser(browser, out))
    assert pictures and set(pictures) == {(160, 120)}
    # the decoder lost its reference: the phone (rtcp-fb nack pli) is asked with RTCP PLI
    requests = [parse_compound(d) for leg, d, dest in out if leg == SIP_RTCP + 1]
    assert any(isinstance(p, Pli) and p.media_ssrc == PHONE_VIDEO_SSRC for c in requests for p in c)
    counts = relay.stats()["keyframeRequests"]
    assert isinstance(counts, dict) and counts.get("toSipPli", 0) >= 1


def test_a_browser_pli_is_answered_by_the_encoder_not_the_phone() -> None:
    relay, browser = relay_with(plan(), transcoded_video())
    raw = rtp_packets("h264_160x120.rtp")
    out = []
    for i, packet in enumerate(raw[: len(raw) // 2]):
        data = bytearray(packet)
        data[1] = (data[1] & 0x80) | 102
        out += relay.from_sip(1, bytes(data), VIDEO_PEER, 1.0 + i / 30)
    ssrc = to_browser(browser, out)[0].ssrc
    pli = bytes(ReceiverReport(BROWSER_VIDEO_SSRC)) + bytes(Pli(BROWSER_VIDEO_SSRC, ssrc))
    assert relay.from_browser(browser.srtp.protect_rtcp(pli), browser.addr, 2.0) == []
    later = []
    for i, packet in enumerate(raw[len(raw) // 2:]):
        data = bytearray(packet)
        data[1] = (data[1] & 0x80) | 102
        later += to_browser(browser, relay.from_sip(1, bytes(data), VIDEO_PEER, 2.0 + i / 30))
    assert payload_is_keyframe(later[0].payload)
    counts = relay.stats()["keyframeRequests"]
    assert isinstance(counts, dict) and "toSipPli" not in counts


@pytest.mark.parametrize("toward_sip", [True, False])
def test_a_transcoder_is_kept_across_renegotiations(toward_sip: bool) -> None:
    factory = processors()
    first = factory(transcoded_video(), toward_sip, None)
    renumbered = replace(transcoded_video(), codecs=[PtPair(96, 104, "VP8", 90000, sip_name="H264")])
    assert factory(renumbered, toward_sip, first) is first
    assert factory(video_plan(), toward_sip, first) is not first


# ---------------------------------------------------------------- settings


def test_generation_and_video_transcoding_settings() -> None:
    settings = apply(Settings(), [("generate_av_for_ua", "Polycom, Grandstream GXV"),
                                  ("rtp_generator_start_timeout", "0.5"), ("video_transcoding", "true")])
    assert settings.generate_av_for_ua == ("Polycom", "Grandstream GXV")
    assert settings.rtp_generator_start_timeout == 0.5 and settings.video_transcoding
    assert settings.generates_for("PolycomVVX-VVX_411-UA/5.9.0")
    assert settings.generates_for("grandstream gxv3370")
    assert not settings.generates_for("baresip v1.0.0") and not settings.generates_for(None)
    everyone = apply(Settings(), [("generate_av_for_ua", "all")])
    assert everyone.generates_for(None) and everyone.generates_for("baresip")
    assert not Settings().generates_for("anything") and not apply(Settings(), [("generate_av_for_ua", "none")]
                                                                   ).generates_for("none")
    with pytest.raises(SettingsError, match="rtp_generator_start_timeout"):
        apply(Settings(), [("rtp_generator_start_timeout", "-1")])
