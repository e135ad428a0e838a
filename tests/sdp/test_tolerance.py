"""Translation of what real browsers and phones send: BUNDLE, extmap, ssrc, rid and
simulcast, data channels, the SDK's stripCodecs, PT clashes, odd transports."""

from __future__ import annotations

import re

import pytest

from wcs.sdp import (
    CodecPolicy,
    NoCommonCodec,
    PtPair,
    SdpUsageError,
    SessionDescription,
    SipTransport,
    WebRtcTransport,
    media_formats,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from wcs.sdp.delayed import webrtc_offer_from_policy

from .helpers import load

SIP = SipTransport("192.0.2.10", {0: 40000, 1: 40002, 2: 40004})
WEBRTC = WebRtcTransport("wcsU", "wcsPasswordPasswordPass1", "sha-256 " + ":".join(["AB"] * 32),
                         ["1 1 udp 2130706431 127.0.0.1 40010 typ host"])
BROWSER_ONLY = re.compile(
    r"^a=(ice-|candidate|end-of-candidates|fingerprint|setup|mid|msid|ssrc|rid|simulcast|"
    r"extmap|rtcp-mux|rtcp-rsize|group|sctp|rtcp-xr|rtcp:)|goog-remb|transport-cc", re.M)

BROWSER_OFFERS = ["chromium156-websdk-audio-video-offer.sdp", "chrome-offer.sipsorcery.sdp",
                  "chrome-audio-offer.aiortc.sdp", "chrome-planb-offer.webrtc-sdp.sdp",
                  "firefox-audio-offer.aiortc.sdp", "firefox84-offer.sipsorcery.sdp",
                  "firefox99-offer.sipsorcery.sdp", "safari-offer.aiortc.sdp"]


def echo_answer(sip_offer: SessionDescription) -> SessionDescription:
    """A SIP answer accepting every offered format (what a permissive SIP UA does)."""
    answer = parse_sdp(str(sip_offer).replace("o=- ", "o=peer ").replace("192.0.2.10", "192.0.2.99"))
    for md in answer.media:
        if md.port:
            md.port += 1000
            if md.direction_attribute:
                mirror = {"sendonly": "recvonly", "recvonly": "sendonly"}
                md.set_direction(mirror.get(md.direction, md.direction))
    return answer


@pytest.mark.parametrize("name", BROWSER_OFFERS)
def test_browser_offers_translate_both_ways(name: str) -> None:
    offer = parse_sdp(load(name))
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy.from_settings())
    text = str(sip_offer)
    assert not BROWSER_ONLY.search(text), BROWSER_ONLY.findall(text)
    assert len(sip_offer.media) == len(offer.media)                 # RFC 3264 §6: same m-line count
    assert all(md.proto == "RTP/AVP" or md.port == 0 for md in sip_offer.media)
    answer, plans = webrtc_answer_from_sip(echo_answer(sip_offer), offer, WEBRTC, sip_offer=sip_offer)
    assert [md.mid for md in answer.media] == [md.mid for md in offer.media]
    assert [md.kind for md in answer.media] == [md.kind for md in offer.media]
    for md, plan in zip(answer.media, plans, strict=True):
        assert (md.port == 0) == (not plan.accepted)
        if plan.accepted:
            assert md.has_attribute("rtcp-mux") and md.attribute("ice-ufrag") == "wcsU"
            assert not md.has_attribute("extmap") and not md.has_attribute("ssrc")
            assert all(p.webrtc_pt == p.sip_pt for p in plan.codecs)   # identity mapping
    bundle = offer.groups("BUNDLE")
    if bundle:
        assert answer.groups("BUNDLE") == [[m for m in bundle[0] if any(p.webrtc_mid == m and p.accepted
                                                                         for p in plans)]]


def test_simulcast_and_rid_are_left_out() -> None:
    text = load("chromium156-websdk-audio-video-offer.sdp").decode().replace(
        "a=rtcp-rsize\r\na=rtcp-xr:rcvr-rtt=all\r\na=rtpmap:96",
        "a=rtcp-rsize\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n"
        "a=rtcp-xr:rcvr-rtt=all\r\na=rtpmap:96")
    offer = parse_sdp(text)
    assert offer.media[1].attributes("rid") == ["h send", "l send"]
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy.from_settings())
    answer, _ = webrtc_answer_from_sip(echo_answer(sip_offer), offer, WEBRTC)
    assert "rid" not in str(sip_offer) and "simulcast" not in str(answer)   # one stream each way


def strip_codecs(sdp: str, names: str) -> str:
    """What the WebSDK's client-side stripCodecs does (util.js:391, see docs/websdk-protocol.md):
    drop the rtpmap lines of the named codecs, every fmtp/rtcp-fb line whose text starts with
    their PT (a prefix match: PT 9 also hits 96-99), and the PTs from the m= line."""
    lines = sdp.split("\r\n")
    pts = set()
    for line in lines:
        m = re.match(r"a=rtpmap:(\d+) ([^/]+)/", line)
        if m and m.group(2).lower() in names.lower().split(","):
            pts.add(m.group(1))
    out = []
    for line in lines:
        if any(line.startswith(f"a=rtpmap:{pt} ") for pt in pts):
            continue
        if any(line.startswith((f"a=fmtp:{pt}", f"a=rtcp-fb:{pt}")) for pt in pts):
            continue
        if line.startswith("m="):
            fields = line.split(" ")
            line = " ".join(fields[:3] + [f for f in fields[3:] if f not in pts])
        out.append(line)
    return "\r\n".join(out)


def test_strip_codecs_leftovers_are_tolerated() -> None:
    text = strip_codecs(load("chromium156-websdk-audio-video-offer.sdp").decode(), "G722")
    offer = parse_sdp(text)
    video = offer.media[1]
    assert video.fmtp("97") is None and video.rtcp_fb("96") == []   # collateral damage of the prefix match
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy.from_settings())
    assert sip_offer.media[0].formats == ["111", "0", "8", "110", "126"]
    assert sip_offer.media[1].formats == ["96", "102", "108", "116"]   # VP8 kept without its rtcp-fb
    assert sip_offer.media[1].attributes("rtcp-fb") == []              # not every format offered PLI
    # rtx PTs 97/99 that lost apt never reach SIP; VP9 98 lost profile-id and reads as profile 0
    vp9 = [f for f in media_formats(video) if f.pt == 98][0]
    assert vp9.fmtp == "" and vp9.name == "VP9"


def test_data_channel_m_line_is_kept_rejected() -> None:
    offer = parse_sdp(load("firefox99-offer.sipsorcery.sdp"))
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy.from_settings())
    assert sip_offer.media[2].m_line() == "application 0 UDP/DTLS/SCTP webrtc-datachannel"
    answer, plans = webrtc_answer_from_sip(echo_answer(sip_offer), offer, WEBRTC)
    assert answer.media[2].m_line() == "application 0 UDP/DTLS/SCTP webrtc-datachannel"
    assert answer.media[2].mid == "2" and not plans[2].accepted
    assert answer.groups("BUNDLE") == [["0", "1"]]


def test_sip_offer_reusing_pts_across_m_lines_is_renumbered_for_bundle() -> None:
    sip_offer = parse_sdp(
        "v=0\r\no=pbx 1 1 IN IP4 192.0.2.60\r\ns=-\r\nc=IN IP4 192.0.2.60\r\nt=0 0\r\n"
        "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n"
        "m=video 6002 RTP/AVP 101 34\r\na=rtpmap:101 VP8/90000\r\n")
    offer = webrtc_offer_from_sip(sip_offer, WEBRTC, CodecPolicy.from_settings())
    assert offer.media[0].formats == ["0", "101"] and offer.media[0].attribute("ptime") == "30"
    # allow_outside_codecs passes codecs `codecs` does not name, but only those a browser can
    # decode: H263 (34) never reaches it
    assert offer.media[1].formats == ["96"]
    assert offer.media[1].rtpmaps()["96"].name == "VP8"
    browser_answer = parse_sdp(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"
        "a=rtpmap:96 VP8/90000\r\n")
    answer, plans = sip_answer_from_webrtc(browser_answer, sip_offer, SIP)
    assert answer.media[1].formats == ["101"] and answer.media[1].direction == "recvonly"
    assert plans[1].codecs == [PtPair(96, 101, "VP8", 90000)]
    assert plans[1].direction == "recvonly"    # the browser only receives video


def test_answer_setup_follows_offer_and_ipv6_candidate() -> None:
    offer = parse_sdp(load("chromium156-websdk-audio-offer.sdp").decode().replace("a=setup:actpass",
                                                                                   "a=setup:passive"))
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy())
    transport = WebRtcTransport("wcsU", "wcsPasswordPasswordPass1", "sha-256 00",
                                ["1 1 udp 2130706431 2001:db8::5 40010 typ host"], ice_lite=False)
    answer, _ = webrtc_answer_from_sip(echo_answer(sip_offer), offer, transport)
    assert answer.media[0].attribute("setup") == "active"          # RFC 4145 §4.1
    assert answer.media[0].connection_address == "2001:db8::5"
    assert answer.media[0].values("c") == ["IN IP6 2001:db8::5"]
    assert not answer.has_attribute("ice-lite")


def test_no_candidates_gives_port_9_placeholder() -> None:
    offer = parse_sdp(load("chromium156-websdk-audio-offer.sdp"))
    transport = WebRtcTransport("wcsU", "wcsPasswordPasswordPass1", "sha-256 00", [])
    answer, _ = webrtc_answer_from_sip(echo_answer(sip_offer_from_webrtc(offer, SIP, CodecPolicy())),
                                       offer, transport)
    assert answer.media[0].port == 9 and answer.media[0].connection_address == "0.0.0.0"
    assert not answer.media[0].has_attribute("end-of-candidates")


@pytest.mark.parametrize(("ufrag", "pwd", "reason"), [
    ("abc", "p" * 22, "ice_ufrag must be 4-256 ice-chars (RFC 8839 §5.4)"),
    ("abcd", "p" * 21, "ice_pwd must be 22-256 ice-chars (RFC 8839 §5.4)"),
    ("ab d", "p" * 22, "ice_ufrag must be 4-256 ice-chars (RFC 8839 §5.4)"),
])
def test_ice_credentials_checked(ufrag: str, pwd: str, reason: str) -> None:
    with pytest.raises(SdpUsageError) as info:
        WebRtcTransport(ufrag, pwd, "sha-256 00", [])
    assert str(info.value) == reason


def test_delayed_offer_flow() -> None:
    """INVITE without SDP: browser offer from the policy, SIP offer from the browser answer,
    plans from the ACK's answer."""
    policy = CodecPolicy.from_settings()
    offer = webrtc_offer_from_policy(WEBRTC, policy, ("audio", "video"))
    assert [(md.kind, md.mid, md.formats) for md in offer.media] == [
        ("audio", "0", ["111", "9", "0", "8", "110", "101"]), ("video", "1", ["96", "102"])]
    assert offer.groups("BUNDLE") == [["0", "1"]] and offer.media[0].attribute("setup") == "actpass"
    browser_answer = parse_sdp(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 101\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
        "a=setup:active\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\n"
        "a=setup:active\r\na=rtpmap:96 VP8/90000\r\n")
    sip_offer = sip_offer_from_webrtc(browser_answer, SIP, policy)
    assert [md.formats for md in sip_offer.media] == [["111", "0", "101"], ["96"]]
    ack = parse_sdp(
        "v=0\r\no=pbx 1 1 IN IP4 192.0.2.60\r\ns=-\r\nc=IN IP4 192.0.2.60\r\nt=0 0\r\n"
        "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 96\r\n")
    _, plans = webrtc_answer_from_sip(ack, browser_answer, WEBRTC)
    assert plans[0].codecs == [PtPair(0, 0, "PCMU", 8000), PtPair(101, 101, "telephone-event", 8000)]
    assert plans[0].direction == "sendrecv" and not plans[1].accepted
    with pytest.raises(NoCommonCodec):
        webrtc_offer_from_policy(WEBRTC, CodecPolicy(codecs=("g729",)), ("audio",))


def test_bundle_only_section_is_not_rejected() -> None:
    text = load("chromium156-websdk-audio-video-offer.sdp").decode()
    text = text.replace("m=video 9 ", "m=video 0 ").replace("a=mid:1\r\n", "a=mid:1\r\na=bundle-only\r\n")
    offer = parse_sdp(text)
    assert offer.media[1].port == 0 and not offer.media[1].rejected      # RFC 8843 §6, JSEP §5.2.1
    sip_offer = sip_offer_from_webrtc(offer, SIP, CodecPolicy.from_settings())
    assert sip_offer.media[1].port == 40002
    answer, plans = webrtc_answer_from_sip(echo_answer(sip_offer), offer, WEBRTC)
    assert answer.media[1].port == 40010 and plans[1].accepted
    assert answer.groups("BUNDLE") == [["0", "1"]]
