"""Negotiation with transcoding (wcs.sdp.transcoding): outgoing and incoming calls, passthrough
preferred, transcoding chosen, disabled, a codec library missing, telephone-event across a
transcoded stream, and re-offers of transcoded streams."""

from __future__ import annotations

import re

import pytest

from wcs.sdp import (
    CodecPolicy,
    Format,
    NoCommonCodec,
    PtPair,
    SessionDescription,
    VersionedOrigin,
    answer_sip_reoffer,
    apply_sip_answer,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_plans,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from wcs.sdp.transcoding import ENGINE_CODECS, TRANSCODING_DISABLED, TranscodingDisabled
from wcs.sdp.webrtc import StreamPlan

from .test_webrtc import SIP, WEBRTC, audio_offer

ENGINE = sorted(ENGINE_CODECS)
#: the gateway's default settings: WCS codec list, policy order, transcoding allowed, every library loads
POLICY = CodecPolicy.from_settings(keep_remote_order=False, allow_transcoding=True, transcodable=ENGINE)
OPUS_G729 = PtPair(111, 18, "opus", 48000, 8000, "G729")


def policy(**changes: object) -> CodecPolicy:
    args: dict[str, object] = {"keep_remote_order": False, "allow_transcoding": True, "transcodable": ENGINE}
    args.update(changes)
    return CodecPolicy.from_settings(**args)  # type: ignore[arg-type]


def opus_only_offer() -> SessionDescription:
    """Chromium's offer after the SDK's stripCodecs="PCMU,PCMA,G722"."""
    text = str(audio_offer())
    text = re.sub(r"a=rtpmap:(9|0|8) .*\r\n", "", text)
    text = text.replace(" 111 63 9 0 8 13 110 126", " 111 63 13 110 126")
    return parse_sdp(text)


def peer(media: str) -> SessionDescription:
    return parse_sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n" + media)


G729_ANSWER = ("m=audio 5000 RTP/AVP 18 126\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-15\r\n"
               "a=sendrecv\r\n")
G729_OFFER = ("m=audio 5000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")


# ------------------------------------------------------------------ outgoing: the SIP offer

def test_sip_offer_adds_the_sip_only_codecs_after_the_browsers() -> None:
    sip = sip_offer_from_webrtc(audio_offer(), SIP, POLICY)
    md = sip.media[0]
    # browser codecs in the `codecs` order, then G.729 and Speex/16000 (what the browser lacks), events
    assert md.formats == ["111", "8", "0", "9", "18", "98", "110", "126"]
    assert md.fmtp("18") == "annexb=no" and md.rtpmaps()["98"].name == "speex"
    assert "a=rtpmap:18" not in str(sip)   # static PT: no rtpmap needed (RFC 3551 §6)


def test_sip_offer_for_an_opus_only_browser_golden() -> None:
    sip = sip_offer_from_webrtc(opus_only_offer(), SIP, POLICY)
    assert str(sip) == (
        "v=0\r\no=- 3917264512 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 111 8 0 18 98 9 110 126\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
        "a=fmtp:18 annexb=no\r\na=rtpmap:98 speex/16000\r\n"
        "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-15\r\n"
        "a=ptime:20\r\na=sendrecv\r\n")


def test_sip_offer_with_only_sip_codecs_configured() -> None:
    # codecs=g729,telephone-event: the browser's opus is transcoded by the gateway to G.729
    sip = sip_offer_from_webrtc(audio_offer(), SIP, policy(codecs="g729,telephone-event"))
    assert sip.media[0].formats == ["18", "126"]
    assert sip.media[0].rtpmaps()["126"].clock_rate == 8000


def test_sip_offer_adds_telephone_event_8000_when_the_browser_has_none() -> None:
    text = str(opus_only_offer()).replace(" 110 126", " 110")
    text = text.replace("a=rtpmap:126 telephone-event/8000\r\n", "")
    sip = sip_offer_from_webrtc(parse_sdp(text), SIP, policy(codecs="ulaw,telephone-event"))
    assert sip.media[0].formats == ["0", "101"]
    assert sip.media[0].fmtp("101") == "0-15"


def test_opus_is_never_a_sip_only_codec() -> None:
    # stripCodecs="opus,G722,telephone-event": G.722 is added back for SIP, Opus (costly) is not
    text = str(audio_offer())
    text = re.sub(r"a=rtpmap:(111|9|110|126) .*\r\n", "", text).replace(" 111 63 9 0 8 13 110 126", " 0 8 13")
    sip = sip_offer_from_webrtc(parse_sdp(text), SIP, POLICY)
    assert sip.media[0].formats == ["8", "0", "18", "98", "9", "101"]


def test_sip_offer_without_transcoding_is_unchanged() -> None:
    sip = sip_offer_from_webrtc(audio_offer(), SIP, policy(allow_transcoding=False))
    assert sip.media[0].formats == ["111", "8", "0", "9", "110", "126"]
    assert sip_offer_from_webrtc(audio_offer(), SIP, CodecPolicy()).media[0].formats == \
        ["111", "9", "0", "8", "110", "126"]


def test_transcoding_disabled_says_so() -> None:
    with pytest.raises(TranscodingDisabled) as info:
        sip_offer_from_webrtc(audio_offer(), SIP,
                              policy(codecs="g729,telephone-event", allow_transcoding=False))
    assert info.value.reason == TRANSCODING_DISABLED == "Transcoding required, but disabled"
    assert info.value.status_code == 488 and isinstance(info.value, NoCommonCodec)


def test_missing_codec_library_is_not_offered() -> None:
    no_g729 = [key for key in ENGINE if key != ("g729", 8000)]
    sip = sip_offer_from_webrtc(audio_offer(), SIP, policy(transcodable=no_g729))
    assert "18" not in sip.media[0].formats and "98" in sip.media[0].formats
    # nothing else configured: plain "No common codecs", not "transcoding disabled"
    with pytest.raises(NoCommonCodec) as info:
        sip_offer_from_webrtc(audio_offer(), SIP, policy(codecs="g729", transcodable=no_g729))
    assert type(info.value) is NoCommonCodec and info.value.reason == "No common codecs"


def test_excluded_codecs_are_not_added() -> None:
    sip = sip_offer_from_webrtc(opus_only_offer(), SIP, policy(codecs_exclude_sip="g729,alaw,mpeg4-generic"))
    assert sip.media[0].formats == ["111", "0", "98", "9", "110", "126"]


# ------------------------------------------------------------------ outgoing: the SIP answer

def test_passthrough_wins_when_the_answer_picks_a_browser_codec() -> None:
    offer = audio_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    answer = peer("m=audio 5000 RTP/AVP 0 18 126\r\na=rtpmap:126 telephone-event/8000\r\n")
    browser, (plan,) = webrtc_answer_from_sip(answer, offer, WEBRTC, sip_offer=sip_offer, policy=POLICY)
    assert plan.transcoding is None
    assert plan.codecs[0] == PtPair(0, 0, "PCMU", 8000)
    assert browser.media[0].formats[0] == "0"
    # a later re-offer may still switch codec by transcoding: what we offered
    assert [f.pt for f in plan.sip_alternatives] == [111, 8, 0, 9, 18, 98]


def test_answer_with_a_sip_only_codec_transcodes_from_opus() -> None:
    offer = opus_only_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    browser, (plan,) = webrtc_answer_from_sip(peer(G729_ANSWER), offer, WEBRTC, sip_offer=sip_offer,
                                              policy=POLICY)
    assert plan.transcoding == OPUS_G729
    assert plan.codecs == [OPUS_G729, PtPair(110, 126, "telephone-event", 48000, 8000)]
    assert plan.sip_formats == [Format(18, "G729", 8000, 1, "annexb=no"),
                                Format(126, "telephone-event", 8000, 1, "0-15")]
    md = browser.media[0]
    assert md.formats == ["111", "110"]               # the browser's best codec and its events
    assert md.fmtp("111") == "minptime=10;useinbandfec=1"
    assert md.fmtp("110") == "0-15" and not md.attribute("ptime")
    assert plan.pair_for_sip_pt(18) == OPUS_G729 and plan.pair_for_sip_pt(111) is None


def test_answer_transcodes_without_a_policy_given_our_offer() -> None:
    offer = opus_only_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    _, (plan,) = webrtc_answer_from_sip(peer(G729_ANSWER), offer, WEBRTC, sip_offer=sip_offer)
    assert plan.transcoding == OPUS_G729
    with pytest.raises(NoCommonCodec):   # neither policy nor offer: nothing proves we offered G.729
        webrtc_answer_from_sip(peer(G729_ANSWER), offer, WEBRTC)


def test_answer_with_speex16_keeps_events_at_8000() -> None:
    offer = opus_only_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    answer = peer("m=audio 5000 RTP/AVP 98 126\r\na=rtpmap:98 speex/16000\r\n"
                  "a=rtpmap:126 telephone-event/8000\r\n")
    _, (plan,) = webrtc_answer_from_sip(answer, offer, WEBRTC, sip_offer=sip_offer, policy=POLICY)
    assert plan.codecs == [PtPair(111, 98, "opus", 48000, 16000, "speex"),
                           PtPair(110, 126, "telephone-event", 48000, 8000)]


def test_answer_with_a_codec_we_did_not_offer_is_refused() -> None:
    offer = opus_only_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, policy(codecs="opus,ulaw,telephone-event"))
    with pytest.raises(NoCommonCodec):
        webrtc_answer_from_sip(peer("m=audio 5000 RTP/AVP 18\r\n"), offer, WEBRTC, sip_offer=sip_offer,
                               policy=POLICY)


# ------------------------------------------------------------------ incoming

def chromium_answer(offer: SessionDescription, pts: list[str]) -> SessionDescription:
    """What Chromium answers to our offer: the formats it keeps, same PTs, mid kept."""
    md = offer.media[0]
    lines = [f"a=rtpmap:{pt} {md.rtpmaps()[pt].name}/{md.rtpmaps()[pt].clock_rate}" for pt in pts]
    return parse_sdp("v=0\r\no=- 5 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                     f"m=audio 9 UDP/TLS/RTP/SAVPF {' '.join(pts)}\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
                     "a=sendrecv\r\n" + "\r\n".join(lines) + "\r\n")


def test_incoming_g729_is_offered_to_the_browser_as_browser_codecs() -> None:
    offer = webrtc_offer_from_sip(peer(G729_OFFER), WEBRTC, POLICY)
    md = offer.media[0]
    assert md.formats == ["111", "8", "0", "9", "110", "126"]
    assert [md.rtpmaps()[pt].name for pt in md.formats] == ["opus", "PCMA", "PCMU", "G722", "telephone-event",
                                                           "telephone-event"]
    assert md.mid == "0" and not md.attribute("ptime")

    browser_answer = chromium_answer(offer, ["111", "0", "110", "126"])
    answer, (plan,) = sip_answer_from_webrtc(browser_answer, peer(G729_OFFER), SIP, policy=POLICY)
    assert plan.codecs == [OPUS_G729, PtPair(110, 101, "telephone-event", 48000, 8000)]
    assert str(answer).endswith("m=audio 40000 RTP/AVP 18 101\r\na=fmtp:18 annexb=no\r\n"
                                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
                                "a=ptime:20\r\na=sendrecv\r\n")
    assert [f.pt for f in plan.sip_alternatives] == [18]
    # without the policy the answer picks the same codecs (every library loads here)
    _, (again,) = sip_answer_from_webrtc(browser_answer, peer(G729_OFFER), SIP)
    assert again.codecs == plan.codecs


def test_incoming_passthrough_wins() -> None:
    sip_offer = peer("m=audio 5000 RTP/AVP 18 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    offer = webrtc_offer_from_sip(sip_offer, WEBRTC, POLICY)
    assert offer.media[0].formats == ["0", "101"]
    _, (plan,) = sip_answer_from_webrtc(chromium_answer(offer, ["0", "101"]), sip_offer, SIP, policy=POLICY)
    assert plan.transcoding is None and plan.codecs[0] == PtPair(0, 0, "PCMU", 8000)


def test_incoming_speex_avoids_the_sip_offers_payload_types() -> None:
    sip_offer = peer("m=audio 5000 RTP/AVP 110 111\r\na=rtpmap:110 speex/16000\r\n"
                     "a=rtpmap:111 speex/8000\r\n")
    offer = webrtc_offer_from_sip(sip_offer, WEBRTC, POLICY)
    md = offer.media[0]
    assert [(pt, md.rtpmaps()[pt].name) for pt in md.formats] == \
        [("96", "opus"), ("8", "PCMA"), ("0", "PCMU"), ("9", "G722")]   # no events: the peer offered none
    _, (plan,) = sip_answer_from_webrtc(chromium_answer(offer, ["96"]), sip_offer, SIP, policy=POLICY)
    assert plan.codecs == [PtPair(96, 110, "opus", 48000, 16000, "speex")]


def test_incoming_transcoding_disabled_and_missing_library() -> None:
    with pytest.raises(TranscodingDisabled):
        webrtc_offer_from_sip(peer(G729_OFFER), WEBRTC, policy(allow_transcoding=False))
    with pytest.raises(NoCommonCodec) as info:
        webrtc_offer_from_sip(peer(G729_OFFER), WEBRTC,
                              policy(transcodable=[k for k in ENGINE if k[0] != "g729"]))
    assert type(info.value) is NoCommonCodec
    with pytest.raises(NoCommonCodec) as info:   # the policy refuses the SIP codec altogether
        webrtc_offer_from_sip(peer(G729_OFFER), WEBRTC, policy(codecs="opus,telephone-event",
                                                                allow_outside_codecs=False))
    assert type(info.value) is NoCommonCodec


# ------------------------------------------------------------------ re-offers

def transcoded_call() -> tuple[list[StreamPlan], VersionedOrigin]:
    offer = opus_only_offer()
    sip_offer = sip_offer_from_webrtc(offer, SIP, POLICY)
    _, plans = webrtc_answer_from_sip(peer(G729_ANSWER), offer, WEBRTC, sip_offer=sip_offer, policy=POLICY)
    return plans, VersionedOrigin.adopt(sip_offer)


def test_hold_and_resume_of_a_transcoded_stream() -> None:
    plans, origin = transcoded_call()
    ours = sip_offer_from_plans(plans, SIP, origin, hold=True)
    assert ours.media[0].formats == ["18", "126"] and ours.media[0].direction == "sendonly"
    held = apply_sip_answer(peer(G729_ANSWER.replace("sendrecv", "recvonly")), plans)
    assert held[0].codecs == plans[0].codecs and held[0].direction == "sendonly"
    answer, theirs = answer_sip_reoffer(peer(G729_OFFER.replace("sendrecv", "sendonly")), plans, SIP, origin)
    assert answer.media[0].formats == ["18", "101"] and answer.media[0].direction == "recvonly"
    assert theirs[0].codecs == [OPUS_G729, PtPair(110, 101, "telephone-event", 48000, 8000)]


def test_codec_change_by_the_sip_peer_within_what_we_offered() -> None:
    plans, origin = transcoded_call()
    pcmu = peer("m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    answer, plans2 = answer_sip_reoffer(pcmu, plans, SIP, origin)
    assert plans2[0].codecs == [PtPair(111, 0, "opus", 48000, 8000, "PCMU"),
                                PtPair(110, 101, "telephone-event", 48000, 8000)]
    assert answer.media[0].formats == ["0", "101"] and plans2[0].sip_remote == ("192.0.2.50", 6000)
    # our next re-offer keeps the new codec
    assert sip_offer_from_plans(plans2, SIP, origin).media[0].formats == ["0", "126"]
    # back to the browser's own codec: passthrough
    opus = peer("m=audio 6000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n")
    _, plans3 = answer_sip_reoffer(opus, plans2, SIP, origin)
    assert plans3[0].codecs == [PtPair(111, 96, "opus", 48000)] and plans3[0].transcoding is None
    # a codec we never offered: 488, the call goes on unchanged
    with pytest.raises(NoCommonCodec):
        answer_sip_reoffer(peer("m=audio 6000 RTP/AVP 3\r\n"), plans2, SIP, origin)


def test_passthrough_stream_without_transcoding_cannot_switch() -> None:
    offer = audio_offer()
    pol = policy(allow_transcoding=False)
    sip_offer = sip_offer_from_webrtc(offer, SIP, pol)
    _, plans = webrtc_answer_from_sip(peer("m=audio 5000 RTP/AVP 0\r\n"), offer, WEBRTC, sip_offer=sip_offer,
                                      policy=pol)
    assert plans[0].sip_alternatives == []
    with pytest.raises(NoCommonCodec):
        answer_sip_reoffer(peer("m=audio 5000 RTP/AVP 8\r\n"), plans, SIP, VersionedOrigin.adopt(sip_offer))
