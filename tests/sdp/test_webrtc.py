"""WebRTC ⇄ SIP translation: golden tests on Chromium offers and SIP answers."""

from __future__ import annotations

import pytest

from wcs.sdp import (
    CodecPolicy,
    NoCommonCodec,
    PtPair,
    SdpError,
    SessionDescription,
    SipTransport,
    WebRtcTransport,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)

from .helpers import load

SIP = SipTransport("192.0.2.10", {0: 40000, 1: 40002}, session_id="3917264512")
FINGERPRINT = "sha-256 " + ":".join(["AB"] * 32)
WEBRTC = WebRtcTransport("wcsU", "wcsPasswordPasswordPass1", FINGERPRINT,
                         ["1 1 udp 2130706431 127.0.0.1 40010 typ host"], session_id="77")

BROWSER_ONLY = ("a=ice-", "a=candidate", "a=end-of-candidates", "a=fingerprint", "a=setup", "a=mid",
                "a=msid", "a=ssrc", "a=rid", "a=simulcast", "a=extmap", "a=rtcp-mux", "a=rtcp-rsize",
                "a=group", "a=rtcp-fb:111", "a=rtcp-fb:96 goog-remb", "a=rtcp-fb:96 transport-cc",
                "a=rtcp-xr", "a=rtcp:")


def audio_offer() -> SessionDescription:
    return parse_sdp(load("chromium156-websdk-audio-offer.sdp"))


def av_offer() -> SessionDescription:
    return parse_sdp(load("chromium156-websdk-audio-video-offer.sdp"))


def lines(sd: SessionDescription) -> list[str]:
    return str(sd).split("\r\n")[:-1]


# ------------------------------------------------------------ browser offer → SIP offer

SIP_AUDIO_OFFER = (
    "v=0\r\n"
    "o=- 3917264512 1 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 111 9 0 8 110 126\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=fmtp:126 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def test_chromium_audio_offer_to_sip_offer_golden() -> None:
    offer = audio_offer()
    assert not offer.media[0].attributes("candidate")       # WebSDK flow: no candidates, port 9
    assert offer.media[0].port == 9
    sip = sip_offer_from_webrtc(offer, SIP, CodecPolicy())
    assert str(sip) == SIP_AUDIO_OFFER
    assert len(bytes(sip)) == 293
    assert not [ln for ln in lines(sip) if ln.startswith(BROWSER_ONLY)]
    # codecs: the browser's PT numbers and order; red (63) and CN (13) dropped by the policy
    assert sip.media[0].formats == ["111", "9", "0", "8", "110", "126"]


def test_chromium_audio_video_offer_without_video_policy_rejects_video() -> None:
    sip = sip_offer_from_webrtc(av_offer(), SIP, CodecPolicy())
    assert str(sip) == SIP_AUDIO_OFFER + "m=video 0 RTP/AVP 96\r\n"   # m-line count kept (RFC 3264 §6)


def test_chromium_audio_video_offer_with_settings_policy() -> None:
    sip = sip_offer_from_webrtc(av_offer(), SIP, CodecPolicy.from_settings())
    text = str(sip)
    assert text.startswith(SIP_AUDIO_OFFER)
    assert text[len(SIP_AUDIO_OFFER):] == (
        "m=video 40002 RTP/AVP 96 102 108 116\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
        "a=rtpmap:102 H264/90000\r\n"
        "a=fmtp:102 packetization-mode=1;profile-level-id=42001f\r\n"
        "a=rtpmap:108 H264/90000\r\n"
        "a=fmtp:108 packetization-mode=1;profile-level-id=42e01f\r\n"
        "a=rtpmap:116 H264/90000\r\n"
        "a=fmtp:116 packetization-mode=1;profile-level-id=4d001f\r\n"
        "a=rtcp-fb:* nack pli\r\n"
        "a=rtcp-fb:* ccm fir\r\n"
        "a=sendrecv\r\n")
    assert len(bytes(sip)) == 655                            # slim: INVITE stays under 1300 bytes
    assert not [ln for ln in lines(sip) if ln.startswith(BROWSER_ONLY)]
    assert "rtx" not in text and "red/" not in text and "ulpfec" not in text and "VP9" not in text


def test_sip_offer_from_rig_offer_with_candidates_is_the_same() -> None:
    rig = parse_sdp(load("chromium156-offer-audio-video.rig.sdp"))
    assert str(sip_offer_from_webrtc(rig, SIP, CodecPolicy())) == SIP_AUDIO_OFFER + "m=video 0 RTP/AVP 96\r\n"


def test_extra_lines_go_between_session_c_and_t() -> None:
    sip = sip_offer_from_webrtc(audio_offer(), SIP, CodecPolicy(), ["b=AS:3000", "b=TIAS:64000", "a=x-foo:1"])
    assert lines(sip)[:8] == ["v=0", "o=- 3917264512 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                              "b=AS:3000", "b=TIAS:64000", "t=0 0", "a=x-foo:1"]


@pytest.mark.parametrize(("line", "reason"), [
    ("AS:3000", "sipSDP line 'AS:3000': not an SDP line (expected x=value)"),
    ("q=1", "sipSDP line 'q=1': unknown SDP type letter 'q'"),
    ("m=audio 1 RTP/AVP 0", "sipSDP line 'm=audio 1 RTP/AVP 0': m= lines are not allowed"),
    ("c=IN IP4 1.2.3.4", "sipSDP line 'c=IN IP4 1.2.3.4': c= lines are not allowed"),
    ("b=AS", "sipSDP line 'b=AS': malformed b= line (expected b=<type>:<number>)"),
    ("b=AS:3000\r\nm=x", "sipSDP line 'b=AS:3000\\r\\nm=x': contains a line break"),
])
def test_invalid_extra_lines_raise(line: str, reason: str) -> None:
    with pytest.raises(SdpError) as info:
        sip_offer_from_webrtc(audio_offer(), SIP, CodecPolicy(), [line])
    assert info.value.reason == reason and info.value.status_code == 400


def test_no_common_codec_when_policy_allows_nothing() -> None:
    with pytest.raises(NoCommonCodec) as info:
        sip_offer_from_webrtc(audio_offer(), SIP, CodecPolicy(codecs=("g729", "telephone-event")))
    assert (info.value.reason, info.value.status_code) == ("No common codecs", 488)
    assert isinstance(info.value, SdpError)


def test_missing_port_rejects_the_stream() -> None:
    with pytest.raises(NoCommonCodec):
        sip_offer_from_webrtc(audio_offer(), SipTransport("192.0.2.10", {}), CodecPolicy())


def test_ipv6_sip_address() -> None:
    sip = sip_offer_from_webrtc(audio_offer(), SipTransport("2001:db8::1", {0: 4000}), CodecPolicy())
    assert lines(sip)[1] == "o=- 0 1 IN IP6 2001:db8::1"
    assert lines(sip)[3] == "c=IN IP6 2001:db8::1"


# ------------------------------------------------------------ SIP answer → browser answer

CHROME_REQUIRED_MEDIA = (
    "a=ice-ufrag:wcsU", "a=ice-pwd:wcsPasswordPasswordPass1", f"a=fingerprint:{FINGERPRINT}",
    "a=setup:passive", "a=rtcp-mux", "a=candidate:1 1 udp 2130706431 127.0.0.1 40010 typ host",
    "a=end-of-candidates", "c=IN IP4 127.0.0.1")


def test_baresip_answer_to_webrtc_answer_golden() -> None:
    sip_answer = parse_sdp(load("baresip-like-answer-pcmu.sdp"))
    answer, plans = webrtc_answer_from_sip(sip_answer, audio_offer(), WEBRTC)
    assert str(answer) == (
        "v=0\r\n"
        "o=- 77 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=ice-lite\r\n"
        "a=group:BUNDLE 0\r\n"
        "a=msid-semantic: WMS wcs\r\n"
        "m=audio 40010 UDP/TLS/RTP/SAVPF 0 126\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40010 typ host\r\n"
        "a=end-of-candidates\r\n"
        "a=ice-ufrag:wcsU\r\n"
        "a=ice-pwd:wcsPasswordPasswordPass1\r\n"
        f"a=fingerprint:{FINGERPRINT}\r\n"
        "a=setup:passive\r\n"
        "a=mid:0\r\n"
        "a=sendrecv\r\n"
        "a=msid:wcs wcs-audio-0\r\n"
        "a=rtcp-mux\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:126 telephone-event/8000\r\n"
        "a=fmtp:126 0-15\r\n"
        "a=ptime:20\r\n")                                # the SIP answer's ptime, passed on
    for required in CHROME_REQUIRED_MEDIA:
        assert required in lines(answer)
    (plan,) = plans
    assert plan.kind == "audio" and plan.webrtc_mid == "0" and plan.accepted
    # the SIP side renumbered telephone-event 126 → 101: the relay maps it
    assert plan.codecs == [PtPair(0, 0, "PCMU", 8000), PtPair(126, 101, "telephone-event", 8000)]
    assert plan.sip_remote == ("127.0.0.1", 10012)
    assert plan.sip_remote_rtcp == ("127.0.0.1", 10013)      # port + 1 (RFC 3605 absent)
    assert plan.direction == "sendrecv" and not plan.sip_rtcp_mux


def test_rejected_sip_video_gives_port_zero_outside_bundle() -> None:
    sip_answer = parse_sdp(load("baresip-like-answer-pcmu-video-rejected.sdp"))
    answer, plans = webrtc_answer_from_sip(sip_answer, av_offer(), WEBRTC)
    assert answer.groups("BUNDLE") == [["0"]]
    video = answer.media[1]
    assert (video.kind, video.port, video.proto, video.mid) == ("video", 0, "UDP/TLS/RTP/SAVPF", "1")
    assert video.direction == "inactive"
    assert [p.accepted for p in plans] == [True, False]
    assert plans[1].sip_remote is None and plans[1].direction == "inactive"


def test_video_passthrough_answer_keeps_browser_pts_and_sip_level() -> None:
    sip_offer = sip_offer_from_webrtc(av_offer(), SIP, CodecPolicy.from_settings())
    sip_answer = parse_sdp(
        "v=0\r\no=phone 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
        "m=audio 5000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        "m=video 5002 RTP/AVP 120\r\na=rtpmap:120 H264/90000\r\n"
        "a=fmtp:120 profile-level-id=42e016;packetization-mode=1\r\na=rtcp-fb:* nack pli\r\n"
        "a=rtcp:5010 IN IP4 192.0.2.51\r\n")
    answer, plans = webrtc_answer_from_sip(sip_answer, av_offer(), WEBRTC, sip_offer=sip_offer)
    video = answer.media[1]
    assert video.port == 40010 and video.formats == ["108"]     # 42e0xx, mode 1 = browser PT 108
    assert video.fmtp("108") == "packetization-mode=1;profile-level-id=42e016"   # lower common level
    assert video.rtcp_fb("108") == ["ccm fir", "nack pli"]
    assert plans[1].codecs == [PtPair(108, 120, "H264", 90000)]
    assert plans[1].sip_remote == ("192.0.2.50", 5002)
    assert plans[1].sip_remote_rtcp == ("192.0.2.51", 5010)    # a=rtcp (RFC 3605)
    assert answer.groups("BUNDLE") == [["0", "1"]]
    assert plans[0].codecs == [PtPair(8, 8, "PCMA", 8000), PtPair(126, 101, "telephone-event", 8000)]
    assert answer.media[0].fmtp("126") == "0-16"


def test_opus_answer_maps_48k_events_onto_8k_sip_events() -> None:
    sip_answer = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
        "m=audio 5000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\na=recvonly\r\n")
    answer, (plan,) = webrtc_answer_from_sip(sip_answer, audio_offer(), WEBRTC)
    assert answer.media[0].formats == ["111", "110", "126"]
    assert answer.media[0].fmtp("111") == "useinbandfec=1"
    assert plan.codecs == [PtPair(111, 96, "opus", 48000), PtPair(110, 101, "telephone-event", 48000, 8000),
                           PtPair(126, 101, "telephone-event", 8000)]
    # from SIP, PT 101 goes to the same-rate browser PT 126 (also as a dict built in order)
    assert plan.pair_for_sip_pt(101) == plan.codecs[2]
    assert {p.sip_pt: p.webrtc_pt for p in plan.codecs}[101] == 126
    assert plan.pair_for_webrtc_pt(110) == plan.codecs[1]
    assert answer.media[0].direction == "recvonly"   # the SIP side only receives …
    assert plan.direction == "sendonly"              # … so the browser only sends
    assert not answer.media[0].has_attribute("msid")
    assert plan.sip_rtcp_mux and plan.sip_remote_rtcp == plan.sip_remote == ("192.0.2.50", 5000)


def test_sip_answer_without_common_codec_raises() -> None:
    sip_answer = parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
                           "m=audio 5000 RTP/AVP 18\r\n")
    with pytest.raises(NoCommonCodec):
        webrtc_answer_from_sip(sip_answer, audio_offer(), WEBRTC)


# ------------------------------------------------ incoming: SIP offer → browser offer → SIP answer


def test_sip_offer_to_webrtc_offer_and_back() -> None:
    sip_offer = parse_sdp(load("neuralx-mxsf-invite.sipsorcery.sdp"))
    offer = webrtc_offer_from_sip(sip_offer, WEBRTC, CodecPolicy())
    assert str(offer) == (
        "v=0\r\n"
        "o=- 77 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=ice-lite\r\n"
        "a=group:BUNDLE 0\r\n"
        "a=msid-semantic: WMS wcs\r\n"
        "m=audio 40010 UDP/TLS/RTP/SAVPF 8 0 101\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40010 typ host\r\n"
        "a=end-of-candidates\r\n"
        "a=ice-ufrag:wcsU\r\n"
        "a=ice-pwd:wcsPasswordPasswordPass1\r\n"
        f"a=fingerprint:{FINGERPRINT}\r\n"
        "a=setup:actpass\r\n"
        "a=mid:0\r\n"
        "a=sendrecv\r\n"
        "a=msid:wcs wcs-audio-0\r\n"
        "a=rtcp-mux\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=ptime:20\r\n")
    browser_answer = parse_sdp(load("chromium-like-answer-incoming.sdp"))
    answer, (plan,) = sip_answer_from_webrtc(browser_answer, sip_offer, SIP, ["b=AS:80"])
    assert str(answer) == (
        "v=0\r\n"
        "o=- 3917264512 1 IN IP4 192.0.2.10\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.10\r\n"
        "b=AS:80\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 8 0 101\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n")
    assert plan.codecs == [PtPair(8, 8, "PCMA", 8000), PtPair(0, 0, "PCMU", 8000),
                           PtPair(101, 101, "telephone-event", 8000)]
    assert plan.sip_remote == ("10.1.1.241", 20026)
    assert plan.sip_remote_rtcp == ("10.1.1.241", 20027)
    assert plan.webrtc_mid == "0" and plan.direction == "sendrecv"


def test_incoming_offer_skips_unusable_streams_and_mids_name_sip_indexes() -> None:
    sip_offer = parse_sdp(load("bria4-audio-video-text.sipsorcery.sdp"))
    offer = webrtc_offer_from_sip(sip_offer, WEBRTC, CodecPolicy.from_settings())
    assert [(md.kind, md.mid) for md in offer.media] == [("audio", "0"), ("video", "1")]
    assert offer.groups("BUNDLE") == [["0", "1"]]
    assert offer.media[1].rtcp_fb("96") == ["nack pli", "ccm fir"]
    # the browser accepts audio only: the SIP answer keeps 3 m-lines, video and text rejected
    browser_answer = parse_sdp(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=inactive\r\n")
    sip = SipTransport("192.0.2.10", {0: 4000, 1: 4002})
    answer, plans = sip_answer_from_webrtc(browser_answer, sip_offer, sip)
    assert [md.m_line() for md in answer.media] == [
        "audio 4000 RTP/AVP 0", "video 0 RTP/AVP 96", "text 0 RTP/AVP 98"]
    assert [p.accepted for p in plans] == [True, False, False]


def test_incoming_offer_without_usable_stream_raises() -> None:
    with pytest.raises(NoCommonCodec):
        webrtc_offer_from_sip(parse_sdp(load("officemaster-foip-t38.sipsorcery.sdp")), WEBRTC, CodecPolicy())


def test_sip_video_without_common_codec_is_rejected_for_the_browser() -> None:
    sip_offer = sip_offer_from_webrtc(av_offer(), SIP, CodecPolicy.from_settings())
    sip_answer = parse_sdp(
        "v=0\r\no=phone 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
        "m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 34\r\n")   # H.263: not offered, not in the browser
    answer, plans = webrtc_answer_from_sip(sip_answer, av_offer(), WEBRTC, sip_offer=sip_offer)
    assert answer.media[1].port == 0 and answer.media[1].mid == "1" and not plans[1].accepted
    assert answer.groups("BUNDLE") == [["0"]]
