"""SDES in the WebRTC ⇄ SIP translations and re-offers (wcs.sdp.sdes): the three sip_srtp modes on
Chromium's offer and on SIP offers with RTP/SAVP or RTP/AVP + a=crypto (the Polycom phone of the corpus)."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from wcs.sdp import (
    CodecPolicy,
    NoCommonCodec,
    SipTransport,
    StreamPlan,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from wcs.sdp.crypto import KEY_MATERIAL, CryptoError, SrtpKeys, parse_crypto
from wcs.sdp.errors import SdpUsageError
from wcs.sdp.negotiate import VersionedOrigin
from wcs.sdp.reoffer import answer_sip_reoffer, apply_sip_answer, sip_offer_from_plans
from wcs.sdp.sdes import translatable

from .test_webrtc import WEBRTC, audio_offer

KEY_A, KEY_B = bytes([0xA1]) * KEY_MATERIAL, bytes([0xB2]) * KEY_MATERIAL
PEER = base64.b64encode(bytes([0x77]) * 30).decode()


def sip(mode: str) -> SipTransport:
    return SipTransport("192.0.2.10", {0: 40000}, session_id="1", srtp=mode, srtp_keys={0: (KEY_A, KEY_B)})


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def sip_answer(proto: str, crypto: str | None) -> str:
    return ("v=0\r\no=- 5 5 IN IP4 192.0.2.99\r\ns=-\r\nc=IN IP4 192.0.2.99\r\nt=0 0\r\n"
            f"m=audio 30000 {proto} 0 126\r\na=rtpmap:126 telephone-event/8000\r\n"
            + (f"a=crypto:{crypto}\r\n" if crypto else "") + "a=sendrecv\r\n")


@pytest.mark.parametrize(("mode", "proto", "crypto"), [("off", "RTP/AVP", 0), ("optional", "RTP/AVP", 2),
                                                       ("mandatory", "RTP/SAVP", 2)])
def test_our_offer_per_mode(mode: str, proto: str, crypto: int) -> None:
    offer = sip_offer_from_webrtc(audio_offer(), sip(mode), CodecPolicy())
    md = offer.media[0]
    assert md.proto == proto and len(md.attributes("crypto")) == crypto
    if crypto:
        assert md.attributes("crypto") == [f"1 AES_CM_128_HMAC_SHA1_80 inline:{b64(KEY_A[:30])}",
                                           f"2 AES_CM_128_HMAC_SHA1_32 inline:{b64(KEY_B[:30])}"]
        assert str(offer).index("a=crypto") < str(offer).index("a=sendrecv")


def test_missing_key_material_is_a_local_error() -> None:
    with pytest.raises(SdpUsageError):
        sip_offer_from_webrtc(audio_offer(), SipTransport("192.0.2.10", {0: 40000}, srtp="optional"),
                              CodecPolicy())


def outgoing(mode: str, answer: str) -> list[StreamPlan]:
    offer = sip_offer_from_webrtc(audio_offer(), sip(mode), CodecPolicy())
    _, plans = webrtc_answer_from_sip(parse_sdp(answer), audio_offer(), WEBRTC, sip_offer=offer)
    return list(plans)


def test_the_answer_keys_the_stream() -> None:
    [plan] = outgoing("mandatory", sip_answer("RTP/SAVP", f"2 AES_CM_128_HMAC_SHA1_32 inline:{PEER}"))
    assert plan.sip_srtp == SrtpKeys("AES_CM_128_HMAC_SHA1_32", 2, KEY_B[:30], bytes([0x77]) * 30, None,
                                     "RTP/SAVP")
    [plain] = outgoing("optional", sip_answer("RTP/AVP", None))          # best effort declined
    assert plain.accepted and plain.sip_srtp is None
    [best] = outgoing("optional", sip_answer("RTP/AVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER}"))
    assert best.sip_srtp is not None and best.sip_srtp.proto == "RTP/AVP"


@pytest.mark.parametrize("answer", [
    sip_answer("RTP/SAVP", None),                                          # SAVP answered without a key
    sip_answer("RTP/SAVP", f"3 AES_CM_128_HMAC_SHA1_80 inline:{PEER}"),    # a tag we did not offer
    sip_answer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_32 inline:{PEER}"),    # tag 1 with another suite
    sip_answer("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64(bytes(16))),   # short key
])
def test_a_bad_answer_refuses_the_stream(answer: str) -> None:
    with pytest.raises(NoCommonCodec):
        outgoing("mandatory", answer)


POLYCOM = (b"v=0\r\no=- 1197975037 1197975037 IN IP4 192.168.9.74\r\ns=Polycom IP Phone\r\n"
           b"c=IN IP4 192.168.9.74\r\nt=0 0\r\nm=audio 49200 RTP/AVP 8 0 9 18 96\r\na=sendrecv\r\n"
           b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:tMuyik1Aiiq9p4DQVHhAASSWDEP7K7wo0cICOn39\r\n"
           b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\n"
           b"a=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\n")   # tests/data: corpus copy


def savp(offer: bytes) -> bytes:
    return offer.replace(b"RTP/AVP", b"RTP/SAVP")


@pytest.mark.parametrize(("offer", "mode", "ok"), [
    (POLYCOM, "off", True), (POLYCOM, "optional", True), (POLYCOM, "mandatory", True),
    (savp(POLYCOM), "off", False), (savp(POLYCOM), "optional", True), (savp(POLYCOM), "mandatory", True),
    (POLYCOM.replace(b"a=crypto", b"a=x-crypto"), "mandatory", False),
    (savp(POLYCOM).replace(b"AES_CM_128_HMAC_SHA1_80", b"F8_128_HMAC_SHA1_80"), "optional", False),
])
def test_which_incoming_offers_reach_the_browser(offer: bytes, mode: str, ok: bool) -> None:
    sd = parse_sdp(offer)
    assert translatable(sd.media[0], mode) is ok
    if ok:
        browser = webrtc_offer_from_sip(sd, WEBRTC, CodecPolicy(), sip=sip(mode))
        assert browser.media[0].proto == "UDP/TLS/RTP/SAVPF"
    else:
        with pytest.raises(NoCommonCodec):
            webrtc_offer_from_sip(sd, WEBRTC, CodecPolicy(), sip=sip(mode))
    assert translatable(sd.media[0], "off") is (sd.media[0].proto == "RTP/AVP")


def incoming(offer: bytes, mode: str) -> tuple[str, StreamPlan]:
    sd = parse_sdp(offer)
    browser_offer = webrtc_offer_from_sip(sd, WEBRTC, CodecPolicy(), sip=sip(mode))
    browser_answer = parse_sdp(str(browser_offer).replace("a=setup:actpass", "a=setup:active"))
    answer, [plan] = sip_answer_from_webrtc(browser_answer, sd, sip(mode))
    return str(answer), plan


def test_we_answer_an_incoming_savp_offer_with_our_key() -> None:
    answer, plan = incoming(savp(POLYCOM), "optional")
    assert "m=audio 40000 RTP/SAVP 8 0 9 96\r\n" in answer, answer
    assert f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{b64(KEY_A[:30])}\r\n" in answer
    keys = plan.sip_srtp
    assert keys is not None and keys.local == KEY_A[:30] and keys.remote == parse_crypto(
        "1 AES_CM_128_HMAC_SHA1_80 inline:tMuyik1Aiiq9p4DQVHhAASSWDEP7K7wo0cICOn39").key.key_salt


def test_best_effort_offers_per_mode() -> None:
    answer, plan = incoming(POLYCOM, "optional")          # RTP/AVP + a=crypto: SRTP, on RTP/AVP
    assert "RTP/AVP" in answer and "a=crypto:1 " in answer
    assert plan.sip_srtp is not None and plan.sip_srtp.proto == "RTP/AVP"
    answer, plan = incoming(POLYCOM, "off")
    assert "a=crypto" not in answer and plan.sip_srtp is None
    plain = b"".join(ln for ln in POLYCOM.splitlines(keepends=True) if not ln.startswith(b"a=crypto"))
    with pytest.raises(NoCommonCodec):                    # mandatory: a plain offer is refused
        webrtc_offer_from_sip(parse_sdp(plain), WEBRTC, CodecPolicy(), sip=sip("mandatory"))


def test_reoffers_keep_our_key_and_follow_the_peer() -> None:
    answer, plan = incoming(savp(POLYCOM), "optional")
    transport = sip("optional")
    origin = VersionedOrigin.adopt(parse_sdp(answer))
    # the peer re-offers with a new key and both suites: we keep the suite, and our key
    new_key = b64(bytes([0x55]) * 30)
    reoffer = parse_sdp(savp(POLYCOM).replace(
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:tMuyik1Aiiq9p4DQVHhAASSWDEP7K7wo0cICOn39",
        b"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:" + new_key.encode()
        + b"\r\na=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:" + new_key.encode()))
    ours, [again] = answer_sip_reoffer(reoffer, [plan], transport, origin)
    assert again.sip_srtp is not None
    assert f"a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:{b64(KEY_A[:30])}" in str(ours)
    assert again.sip_srtp.local == KEY_A[:30] and again.sip_srtp.remote == bytes([0x55]) * 30
    # a re-offer without usable crypto for an SRTP stream: 488, the session goes on
    with pytest.raises(CryptoError):
        answer_sip_reoffer(parse_sdp(savp(POLYCOM).replace(b"a=crypto", b"a=x")), [again], transport, origin)
    # our own re-offer (hold) repeats the negotiated line on the same transport
    hold = sip_offer_from_plans([again], transport, origin, hold=True)
    assert hold.media[0].proto == "RTP/SAVP"
    assert hold.media[0].attributes("crypto") == [f"5 AES_CM_128_HMAC_SHA1_80 inline:{b64(KEY_A[:30])}"]
    # the answer echoes our tag with the peer's (new) key; one without crypto fails an SAVP stream
    peer_answer = str(hold).replace(b64(KEY_A[:30]), b64(bytes([0x66]) * 30)).replace("sendonly", "recvonly")
    [rekeyed] = apply_sip_answer(parse_sdp(peer_answer), [again])
    assert rekeyed.sip_srtp is not None and rekeyed.sip_srtp.remote == bytes([0x66]) * 30
    stripped = "\r\n".join(ln for ln in peer_answer.split("\r\n") if not ln.startswith("a=crypto"))
    with pytest.raises(NoCommonCodec):
        apply_sip_answer(parse_sdp(stripped), [again])
    plain = replace(again, sip_srtp=None)
    assert sip_offer_from_plans([plain], transport, origin).media[0].proto == "RTP/AVP"
