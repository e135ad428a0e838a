"""The SDP side of the relay's video work (wcs.sdp.video and the hooks in webrtc/reoffer): generated
streams for a SIP answer without video, VP8 ⇄ H.264 transcoding offers and answers, keyframe feedback
toward SIP video phones on RTP/AVP."""

from __future__ import annotations

import re

import pytest

from wcs.sdp import (
    CodecPolicy,
    NoCommonCodec,
    SessionDescription,
    SipTransport,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from wcs.sdp.codecs import media_formats
from wcs.sdp.negotiate import VersionedOrigin
from wcs.sdp.reoffer import answer_sip_reoffer, apply_sip_answer, sip_offer_from_plans

from ..sdp.test_webrtc import WEBRTC, av_offer

POLICY = CodecPolicy(codecs=("opus", "pcmu", "telephone-event", "vp8", "h264"))
SIP = SipTransport("192.0.2.10", {0: 40000, 1: 40002}, session_id="9")
AUDIO_ANSWER = ("v=0\r\no=- 5 5 IN IP4 192.0.2.99\r\ns=-\r\nc=IN IP4 192.0.2.99\r\nt=0 0\r\n"
                "m=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n")


def without_h264(offer: SessionDescription) -> SessionDescription:
    """The browser's offer after the SDK's stripCodecs="H264" (rtpmap lines gone, PTs left)."""
    h264 = {m.group(1) for m in re.finditer(r"a=rtpmap:(\d+) H264/", str(offer))}
    text = "\r\n".join(ln for ln in str(offer).split("\r\n")
                       if not re.match(rf"a=(rtpmap|fmtp|rtcp-fb):({'|'.join(h264)})\b", ln))
    return parse_sdp(text)


# ---------------------------------------------------------------- generated streams


def test_a_refused_video_m_line_is_fed_by_the_generator_when_generation_applies() -> None:
    offer = av_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    sip_answer = parse_sdp(AUDIO_ANSWER + "m=video 0 RTP/AVP 96\r\n")
    plain, plain_plans = webrtc_answer_from_sip(sip_answer, offer, WEBRTC, sip_offer=sip_offer)
    assert plain.media[1].port == 0 and not plain_plans[1].accepted
    answer, plans = webrtc_answer_from_sip(sip_answer, offer, WEBRTC, sip_offer=sip_offer, generate=True)
    video = answer.media[1]
    assert video.port != 0 and video.direction == "sendonly" and video.formats == ["96"]
    assert video.rtcp_fb("96") == ["ccm fir", "nack pli"] and video.mid == "1"
    assert "a=group:BUNDLE 0 1" in str(answer) and video.attribute("msid") is not None
    gen = plans[1]
    assert gen.generated and gen.generate and gen.sip_remote is None and gen.direction == "recvonly"
    assert [(p.webrtc_pt, p.name) for p in gen.codecs] == [(96, "VP8")]
    assert plans[0].generate and not plans[0].generated          # audio: filled while the phone is silent


def test_h264_when_the_browser_offers_no_vp8_and_nothing_it_cannot_have() -> None:
    offer = av_offer()
    text = str(offer).replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP9/90000")
    sip_answer = parse_sdp(AUDIO_ANSWER + "m=video 0 RTP/AVP 96\r\n")
    _, plans = webrtc_answer_from_sip(sip_answer, parse_sdp(text), WEBRTC, generate=True)
    assert [(p.name, p.webrtc_pt) for p in plans[1].codecs] == [("H264", 108)]   # CB, packetization-mode 1
    inactive = parse_sdp(str(offer).replace("a=sendrecv", "a=sendonly"))         # browser will not receive
    _, plans = webrtc_answer_from_sip(sip_answer, inactive, WEBRTC, generate=True)
    assert not plans[1].accepted


def test_generated_media_alone_is_no_call() -> None:
    sip_answer = parse_sdp(AUDIO_ANSWER.replace("m=audio 30000", "m=audio 0") + "m=video 0 RTP/AVP 96\r\n")
    with pytest.raises(NoCommonCodec):
        webrtc_answer_from_sip(sip_answer, av_offer(), WEBRTC, generate=True)


def test_sip_renegotiations_leave_a_generated_stream_alone() -> None:
    offer = av_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    sip_answer = parse_sdp(AUDIO_ANSWER + "m=video 0 RTP/AVP 96\r\n")
    _, plans = webrtc_answer_from_sip(sip_answer, offer, WEBRTC, sip_offer=sip_offer, generate=True)
    origin = VersionedOrigin.adopt(sip_offer)
    # the phone re-offers, even with video now: the browser leg cannot change, the stream stays ours
    reoffer = parse_sdp(AUDIO_ANSWER.replace("o=- 5 5", "o=- 5 6")
                        + "m=video 30002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")
    answer, after = answer_sip_reoffer(reoffer, plans, SIP, origin)
    assert answer.media[1].port == 0 and after[1] is plans[1]
    hold = sip_offer_from_plans(after, SIP, origin, hold=True, previous=sip_offer)
    assert hold.media[1].port == 0 and hold.media[0].direction == "sendonly"
    assert apply_sip_answer(parse_sdp(AUDIO_ANSWER + "m=video 0 RTP/AVP 96\r\n"), after)[1] is plans[1]


# ---------------------------------------------------------------- VP8 ⇄ H.264


def transcoding_sip(on: bool) -> SipTransport:
    return SipTransport("192.0.2.10", {0: 40000, 1: 40002}, session_id="9", transcode_video=on)


def test_our_offer_adds_h264_for_a_vp8_only_browser_when_transcoding_is_on() -> None:
    offer = without_h264(av_offer())
    off = sip_offer_from_webrtc(offer, transcoding_sip(False), POLICY)
    assert [f.name for f in media_formats(off.media[1])] == ["VP8"]
    on = sip_offer_from_webrtc(offer, transcoding_sip(True), POLICY)
    formats = media_formats(on.media[1])
    assert [f.name for f in formats] == ["VP8", "H264"]
    taken = {int(pt) for md in offer.media for pt in md.formats}
    assert formats[1].pt not in taken and formats[1].fmtp == "profile-level-id=42e01f;packetization-mode=1"
    assert on.media[1].rtcp_fb("*") == ["nack pli", "ccm fir"]
    both = sip_offer_from_webrtc(av_offer(), transcoding_sip(True), POLICY)     # passthrough either way
    assert str(both) == str(sip_offer_from_webrtc(av_offer(), transcoding_sip(False), POLICY))


def test_an_h264_answer_makes_a_transcoded_stream() -> None:
    offer = without_h264(av_offer())
    sip_offer = sip_offer_from_webrtc(offer, transcoding_sip(True), POLICY)
    h264 = media_formats(sip_offer.media[1])[1]
    sip_answer = parse_sdp(AUDIO_ANSWER + f"m=video 30002 RTP/AVP {h264.pt}\r\n"
                           f"a=rtpmap:{h264.pt} H264/90000\r\n"
                           f"a=fmtp:{h264.pt} profile-level-id=42e01e;packetization-mode=1\r\n"
                           f"a=rtcp-fb:* nack pli\r\n")
    answer, plans = webrtc_answer_from_sip(sip_answer, offer, WEBRTC, sip_offer=sip_offer)
    pair = plans[1].transcoding
    assert pair is not None
    assert (pair.webrtc_pt, pair.name, pair.sip_pt, pair.sip_name) == (96, "VP8", h264.pt, "H264")
    assert answer.media[1].formats == ["96"] and answer.media[1].direction == "sendrecv"
    assert plans[1].sip_remote == ("192.0.2.99", 30002) and plans[1].sip_formats == [h264]


# ---------------------------------------------------------------- keyframe feedback on RTP/AVP


def test_our_answer_to_a_video_phone_on_rtp_avp_keeps_its_keyframe_feedback() -> None:
    baresip = parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
                        "m=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n"
                        "m=video 20002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=fmtp:96 max-fs=3600\r\n"
                        "a=sendrecv\r\na=rtcp-fb:* nack pli\r\n")
    browser_offer = webrtc_offer_from_sip(baresip, WEBRTC, POLICY)
    browser_answer = parse_sdp(str(browser_offer).replace("a=setup:actpass", "a=setup:active"))
    answer, _ = sip_answer_from_webrtc(browser_answer, baresip, SIP)
    video = answer.media[1]
    assert video.proto == "RTP/AVP" and video.rtcp_fb("96") == ["nack pli"]   # not ccm fir: not offered
    assert answer.media[0].rtcp_fb("0") == []


def test_an_incoming_call_marks_its_streams_for_filling_when_generation_applies() -> None:
    phone = parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
                      "m=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n")
    browser_offer = webrtc_offer_from_sip(phone, WEBRTC, POLICY)
    browser_answer = parse_sdp(str(browser_offer).replace("a=setup:actpass", "a=setup:active"))
    _, [plain] = sip_answer_from_webrtc(browser_answer, phone, SIP)
    _, [filled] = sip_answer_from_webrtc(browser_answer, phone, SIP, generate=True)
    assert not plain.generate and filled.generate and not filled.generated


def test_an_incoming_h264_only_offer_gets_vp8_for_the_browser_and_transcodes_when_it_picks_vp8() -> None:
    phone = parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
                      "m=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n"
                      "m=video 20002 RTP/AVP 102\r\na=rtpmap:102 H264/90000\r\n"
                      "a=fmtp:102 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:102 nack pli\r\n"
                      "a=sendrecv\r\n")
    assert [f.name for f in media_formats(webrtc_offer_from_sip(phone, WEBRTC, POLICY, sip=SIP).media[1])] \
        == ["H264"]
    offer = webrtc_offer_from_sip(phone, WEBRTC, POLICY, sip=transcoding_sip(True))
    formats = media_formats(offer.media[1])
    assert [f.name for f in formats] == ["H264", "VP8"] and formats[1].pt not in (0, 102)
    # a browser without H.264 answers VP8 only
    vp8_only = "\r\n".join(ln for ln in str(offer).replace("a=setup:actpass", "a=setup:active").split("\r\n")
                           if not re.match(r"a=(rtpmap|fmtp|rtcp-fb):102\b", ln))
    vp8_only = vp8_only.replace(f"m=video 40010 UDP/TLS/RTP/SAVPF 102 {formats[1].pt}",
                                f"m=video 40010 UDP/TLS/RTP/SAVPF {formats[1].pt}")
    answer, plans = sip_answer_from_webrtc(parse_sdp(vp8_only), phone, transcoding_sip(True))
    pair = plans[1].transcoding
    assert pair is not None and (pair.name, pair.webrtc_pt, pair.sip_name, pair.sip_pt) == (
        "VP8", formats[1].pt, "H264", 102)
    assert answer.media[1].formats == ["102"] and answer.media[1].fmtp("102") == \
        "profile-level-id=42e01f;packetization-mode=1" and answer.media[1].rtcp_fb("102") == ["nack pli"]
    no_audio = parse_sdp(vp8_only.replace("m=audio 40010", "m=audio 0"))
    with pytest.raises(NoCommonCodec):   # without the setting the same browser answer has no video
        sip_answer_from_webrtc(no_audio, phone, transcoding_sip(False))
