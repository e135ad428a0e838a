"""RFC 3264 offer/answer rules and SIP-side renegotiation (hold/resume, streams, versions)."""

from __future__ import annotations

import pytest

from wcs.sdp import (
    CodecPolicy,
    NoCommonCodec,
    PtPair,
    SdpUsageError,
    SessionDescription,
    SipTransport,
    StreamPlan,
    WebRtcTransport,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
)
from wcs.sdp.negotiate import (
    VersionedOrigin,
    answer_direction,
    effective_direction,
    intersect_directions,
    is_hold,
    remote_changed,
    reverse_direction,
)
from wcs.sdp.reoffer import answer_sip_reoffer, apply_sip_answer, sip_offer_from_plans

from .helpers import load

SIP = SipTransport("192.0.2.10", {0: 40000, 1: 40002}, session_id="555")
WEBRTC = WebRtcTransport("uuuu", "p" * 22, "sha-256 " + ":".join(["00"] * 32),
                         ["1 1 udp 2130706431 127.0.0.1 40010 typ host"])
HEAD = "v=0\r\no=peer 9 {v} IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 {c}\r\nt=0 0\r\n"


def peer_sdp(body: str, version: int = 1, c: str = "192.0.2.50") -> str:
    return HEAD.format(v=version, c=c) + body


@pytest.mark.parametrize(("offered", "answer"), [
    ("sendrecv", "sendrecv"), ("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive")])
def test_answer_direction_rfc3264_6_1(offered: str, answer: str) -> None:
    assert answer_direction(offered) == answer
    assert answer_direction(offered, "inactive") == "inactive"
    assert answer_direction("sendrecv", "recvonly") == "recvonly"


def test_direction_algebra() -> None:
    assert reverse_direction("sendonly") == "recvonly" and reverse_direction("sendrecv") == "sendrecv"
    assert intersect_directions("sendrecv", "recvonly") == "recvonly"
    assert intersect_directions("sendonly", "recvonly") == "inactive"
    with pytest.raises(SdpUsageError):
        reverse_direction("both")


def test_hold_forms() -> None:
    held = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n"))
    assert is_hold(held, held.media[0]) and effective_direction(held, held.media[0]) == "sendonly"
    legacy = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\n", c="0.0.0.0"))   # RFC 3264 §8.4 (RFC 2543)
    assert is_hold(legacy, legacy.media[0]) and effective_direction(legacy, legacy.media[0]) == "sendonly"
    session_level = parse_sdp(HEAD.format(v=1, c="192.0.2.50") + "a=inactive\r\nm=audio 5000 RTP/AVP 0\r\n")
    assert effective_direction(session_level, session_level.media[0]) == "inactive"
    # an ICE offer's c=0.0.0.0 / port 9 is a placeholder, not hold (RFC 8839 §4.2)
    chrome = parse_sdp(load("chromium156-websdk-audio-offer.sdp"))
    assert not is_hold(chrome, chrome.media[0])


def test_versioned_origin_bumps_only_on_change() -> None:
    origin = VersionedOrigin("-", "555", "192.0.2.10")
    sd = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\n"))
    assert origin.stamp(sd).origin.session_version == 1
    assert origin.stamp(parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\n", 7))).origin.session_version == 1
    changed = origin.stamp(parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n")))
    assert str(changed.origin) == "- 555 2 IN IP4 192.0.2.10"
    adopted = VersionedOrigin.adopt(changed)
    assert adopted.stamp(parse_sdp(str(changed))).origin.session_version == 2
    assert adopted.stamp(parse_sdp(peer_sdp("m=audio 5002 RTP/AVP 0\r\n"))).origin.session_version == 3


def test_remote_changed() -> None:
    a = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\n"))
    assert remote_changed(None, a)
    assert not remote_changed(a, parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\n")))
    assert remote_changed(a, parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n", 2)))


# ------------------------------------------------------------ re-INVITEs on an outgoing call


def call() -> tuple[list[StreamPlan], VersionedOrigin, SessionDescription]:
    """An established outgoing call: plans, our o= numbering and our SIP offer."""
    offer = parse_sdp(load("chromium156-websdk-audio-video-offer.sdp"))
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy())
    sip_answer = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                    "a=fmtp:101 0-15\r\nm=video 0 RTP/AVP 96\r\n"))
    _, plans = webrtc_answer_from_sip(sip_answer, offer, WEBRTC)
    return plans, VersionedOrigin.adopt(sip_offer), sip_offer


def established() -> tuple[list[StreamPlan], VersionedOrigin]:
    plans, origin, _ = call()
    return plans, origin


def test_plan_records_our_declared_formats() -> None:
    plans, origin = established()
    assert plans[0].codecs == [PtPair(0, 0, "PCMU", 8000), PtPair(126, 101, "telephone-event", 8000)]
    assert [(f.pt, f.fmtp) for f in plans[0].sip_formats] == [(0, ""), (126, "0-15")]
    assert plans[0].webrtc_direction == "sendrecv" and origin.version == 1
    assert plans[0].pair_for_sip_pt(101) == plans[0].pair_for_sip_pt(126) == plans[0].codecs[1]
    assert plans[0].pair_for_webrtc_pt(126) == plans[0].codecs[1] and plans[0].pair_for_sip_pt(8) is None


def test_sip_hold_and_resume_reoffer() -> None:
    plans, origin = established()
    hold = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                              "a=sendonly\r\nm=video 0 RTP/AVP 96\r\n", 2))
    answer, held = answer_sip_reoffer(hold, plans, SIP, origin)
    assert str(answer) == (
        "v=0\r\no=- 555 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        "a=ptime:20\r\na=recvonly\r\nm=video 0 RTP/AVP 96\r\n")
    assert held[0].direction == "recvonly"           # the browser only receives (music on hold)
    assert held[0].codecs == plans[0].codecs
    legacy = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                "m=video 0 RTP/AVP 96\r\n", 3, c="0.0.0.0"))
    answer, held2 = answer_sip_reoffer(legacy, plans, SIP, origin)
    assert held2[0].sip_remote is None and held2[0].direction == "recvonly"
    assert answer.origin.session_version == 2         # same body as before: version unchanged
    resume = parse_sdp(peer_sdp("m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                "m=video 0 RTP/AVP 96\r\n", 4))
    answer, resumed = answer_sip_reoffer(resume, held, SIP, origin)
    assert answer.origin.session_version == 3 and answer.media[0].direction == "sendrecv"
    assert resumed[0].direction == "sendrecv" and resumed[0].sip_remote == ("192.0.2.50", 5004)


def test_reoffer_adding_and_removing_streams() -> None:
    plans, origin = established()
    reoffer = parse_sdp(peer_sdp("m=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
                                 "m=audio 5008 RTP/AVP 8\r\n", 2))
    with pytest.raises(NoCommonCodec):      # every stream gone: 488, the old session continues
        answer_sip_reoffer(reoffer, plans, SIP, origin)
    reoffer = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
                                 "m=video 5010 RTP/AVP 97\r\na=rtpmap:97 VP8/90000\r\n", 2))
    sip = SipTransport("192.0.2.10", {0: 40000, 1: 40002, 2: 40004})
    answer, new = answer_sip_reoffer(reoffer, plans, sip, origin)
    assert [md.m_line() for md in answer.media] == ["audio 40000 RTP/AVP 0", "video 0 RTP/AVP 96",
                                                    "video 0 RTP/AVP 97"]   # added stream refused
    assert [p.accepted for p in new] == [True, False, False]
    assert new[0].codecs == [PtPair(0, 0, "PCMU", 8000)]   # telephone-event dropped by the re-offer


def test_reoffer_without_common_codec_is_refused() -> None:
    plans, origin = established()
    with pytest.raises(NoCommonCodec) as info:
        answer_sip_reoffer(parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 8\r\nm=video 0 RTP/AVP 96\r\n", 2)),
                           plans, SIP, origin)
    assert info.value.status_code == 488


def test_reoffer_renumbering_keeps_relay_mapping() -> None:
    plans, origin = established()
    reoffer = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0 100\r\na=rtpmap:100 telephone-event/8000\r\n"
                                 "m=video 0 RTP/AVP 96\r\n", 2))
    answer, new = answer_sip_reoffer(reoffer, plans, SIP, origin)
    assert answer.media[0].formats == ["0", "100"]         # the answer follows the offer's PTs
    assert new[0].codecs[1] == PtPair(126, 100, "telephone-event", 8000)


def test_our_hold_reoffer_and_answer() -> None:
    plans, origin, previous = call()
    offer = sip_offer_from_plans(plans, SIP, origin, hold=True, previous=previous)
    assert str(offer) == (
        "v=0\r\no=- 555 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 126\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-15\r\n"
        "a=ptime:20\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\n")
    answer = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                "a=recvonly\r\nm=video 0 RTP/AVP 96\r\n", 2))
    held = apply_sip_answer(answer, plans)
    assert held[0].direction == "sendonly" and held[0].codecs == plans[0].codecs
    # unhold: version rises again; the same offer twice keeps it (RFC 3264 §8)
    assert sip_offer_from_plans(plans, SIP, origin).origin.session_version == 3
    assert sip_offer_from_plans(plans, SIP, origin).origin.session_version == 3
    with pytest.raises(NoCommonCodec):
        apply_sip_answer(parse_sdp(peer_sdp("m=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n", 3)), plans)


def test_incoming_call_reoffer_keeps_sip_pts() -> None:
    sip_offer = parse_sdp(load("neuralx-mxsf-invite.sipsorcery.sdp"))
    browser_answer = parse_sdp(load("chromium-like-answer-incoming.sdp"))
    answer, plans = sip_answer_from_webrtc(browser_answer, sip_offer, SIP)
    origin = VersionedOrigin.adopt(answer)
    reoffer = parse_sdp(str(sip_offer).replace("a=ptime:20", "a=ptime:20\r\na=inactive")
                        .replace("1174909601", "1174909602"))
    answer2, new = answer_sip_reoffer(reoffer, plans, SIP, origin)
    assert answer2.media[0].formats == ["8", "0", "101"] and answer2.media[0].direction == "inactive"
    assert answer2.origin.session_version == 2 and new[0].direction == "inactive"


def test_reoffer_while_we_hold() -> None:
    plans, origin = established()
    held_by_both = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\n", 2))
    answer, new = answer_sip_reoffer(held_by_both, plans, SIP, origin, hold=True)
    assert answer.media[0].direction == "inactive" and new[0].direction == "inactive"   # RFC 6337 §5.3
    refresh = parse_sdp(peer_sdp("m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n", 3))
    answer, new = answer_sip_reoffer(refresh, plans, SIP, origin, hold=True)
    assert answer.media[0].direction == "sendonly" and new[0].direction == "sendonly"
