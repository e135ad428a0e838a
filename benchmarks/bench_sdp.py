"""Costs of wcs.sdp on this machine, and the size of the SDP we put in an INVITE.

Run:  .venv/bin/python benchmarks/bench_sdp.py [--quick]

Cases (inputs from tests/data/sdp/):

* parse / serialize the Chromium 156 audio+video offer (5.4 kB, 160 lines);
* a whole outgoing-call negotiation: parse the browser offer, build and serialize the
  SIP offer, parse a SIP answer, build and serialize the browser answer, for each of
  the corpus answers (baresip-like, Asterisk 200 OK, and a permissive echo answer);
* the incoming-call direction: SIP offer → browser offer, browser answer → SIP answer.

Then the byte size of the INVITE's SDP for the Chromium audio-only offer (issue-2
policy) and the audio+video offer (WCS default settings), and of a whole INVITE with
a typical header block, against the 1300-byte limit of RFC 3261 §18.1.1 above which
UDP must give way to a congestion-controlled transport.  Ends with ONE JSON line.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from collections.abc import Callable

from wcs.sdp import (
    CodecPolicy,
    SipTransport,
    WebRtcTransport,
    parse_sdp,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "sdp"
SIP = SipTransport("203.0.113.10", {0: 31000, 1: 31002}, session_id="3917264512")
WEBRTC = WebRtcTransport("Xq7f", "1bX9kLmN0pQrS2tUvW3yZa4b", "sha-256 " + ":".join(["5E"] * 32),
                         ["1 1 udp 2130706431 203.0.113.10 31010 typ host"], session_id="3917264513")
# A typical INVITE header block as our UA sends it (through a proxy, with a display name).
INVITE_HEAD = (
    "INVITE sip:1001@sip.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 203.0.113.10:5070;branch=z9hG4bK.Vh3kT0b1RZmQx8yNcA2p;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:1000@sip.example.com>;tag=8fKq2LmZ\r\n"
    "To: <sip:1001@sip.example.com>\r\n"
    "Call-ID: 4bX0p9QmZ2rT7sVwY1uA3cE5gI@203.0.113.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:1000@203.0.113.10:5070;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE, PRACK\r\n"
    "Supported: replaces, timer, 100rel\r\n"
    "User-Agent: wcs/0.1\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {n}\r\n\r\n"
)


def measure(fn: Callable[[], object], n: int) -> float:
    """ops/s of ``fn()`` over ``n`` calls (best of three runs)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    n = 100 if "--quick" in sys.argv else 500
    av_text = (DATA / "chromium156-websdk-audio-video-offer.sdp").read_bytes()
    audio_text = (DATA / "chromium156-websdk-audio-offer.sdp").read_bytes()
    settings = CodecPolicy.from_settings()
    av = parse_sdp(av_text)
    results: dict[str, float | int] = {}

    results["parse_chromium_av_ops_per_s"] = measure(lambda: parse_sdp(av_text), n)
    results["serialize_chromium_av_ops_per_s"] = measure(lambda: str(av), n)

    sip_offer_av = sip_offer_from_webrtc(av, SIP, settings)
    echo = parse_sdp(str(sip_offer_av).replace("o=- ", "o=peer ").replace("203.0.113.10", "198.51.100.7"))
    answers = {
        "baresip": (DATA / "baresip-like-answer-pcmu-video-rejected.sdp").read_bytes(),
        "asterisk": (DATA / "asterisk-chan_sip-200ok.sipsorcery.sdp").read_bytes(),
        "echo": str(echo).encode(),
    }
    for name, answer_text in answers.items():
        def outgoing(answer_text: bytes = answer_text) -> None:
            offer = parse_sdp(av_text)
            str(sip_offer_from_webrtc(offer, SIP, settings))
            browser_answer, _ = webrtc_answer_from_sip(parse_sdp(answer_text), offer, WEBRTC)
            str(browser_answer)

        results[f"outgoing_call_vs_{name}_ops_per_s"] = measure(outgoing, n)

    sip_invite = (DATA / "neuralx-mxsf-invite.sipsorcery.sdp").read_bytes()
    chrome_answer = (DATA / "chromium-like-answer-incoming.sdp").read_bytes()

    def incoming() -> None:
        sip_offer = parse_sdp(sip_invite)
        str(webrtc_offer_from_sip(sip_offer, WEBRTC, settings))
        answer, _ = sip_answer_from_webrtc(parse_sdp(chrome_answer), sip_offer, SIP)
        str(answer)

    results["incoming_call_ops_per_s"] = measure(incoming, n)

    audio_sdp = bytes(sip_offer_from_webrtc(parse_sdp(audio_text), SIP, CodecPolicy()))
    av_sdp = bytes(sip_offer_av)
    results["invite_sdp_bytes_audio"] = len(audio_sdp)
    results["invite_sdp_bytes_audio_video"] = len(av_sdp)
    for key, sdp in (("audio", audio_sdp), ("audio_video", av_sdp)):
        results[f"invite_bytes_{key}"] = len(INVITE_HEAD.format(n=len(sdp)).encode()) + len(sdp)
    results["browser_offer_bytes_audio_video"] = len(av_text)

    for key, value in results.items():
        print(f"{key:40} {value:>12,.0f}")
    print(json.dumps({"bench": "sdp", **{k: round(v) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
