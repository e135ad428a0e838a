"""CPU cost of a transcoded call through the real relay (CallRelay, sans-I/O), and calls per core.

Run:  .venv/bin/python benchmarks/bench_relay_transcoding.py [--seconds 30]

One call: a browser sending Opus (SRTP, 50 packets/s) and a SIP phone sending PCMU, G.729 or
Speex/16000 (50 packets/s), both through one :class:`~wcs.gateway.relay.CallRelay` whose
processors come from :func:`~wcs.gateway.relay.transcoding.transcoding_factory` — so each packet
pays SRTP, the relay's accounting (RTCP statistics, DTMF detection lookups) and the transcoder.
Passthrough (PCMU both sides) is measured the same way for comparison.  The signal is the
speech-like audio of bench_transcode.py.  Reports µs per packet per direction (best of three)
and calls per core = 1 s / (50 × (µs browser→SIP + µs SIP→browser)).  Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_transcode import speech_like  # noqa: E402
from tests.gateway.test_relay import SIP_FROM, make_relay, plan  # noqa: E402
from tests.rtp.test_transcode import packets  # noqa: E402
from wcs.entropy import SeededEntropy  # noqa: E402
from wcs.gateway.relay.transcoding import transcoding_factory  # noqa: E402
from wcs.sdp.codecs import Format  # noqa: E402
from wcs.sdp.webrtc import PtPair  # noqa: E402

CASES = {  # name: (SIP codec for the phone's packets, its PT, its clock, pairs)
    "passthrough PCMU": ("PCMU", 0, 8000, [PtPair(0, 0, "PCMU", 8000)]),
    "opus ⇄ PCMU": ("PCMU", 0, 8000, [PtPair(111, 0, "opus", 48000, 8000, "PCMU")]),
    "opus ⇄ G729": ("G729", 18, 8000, [PtPair(111, 18, "opus", 48000, 8000, "G729")]),
    "opus ⇄ speex/16000": ("speex/16000", 98, 16000, [PtPair(111, 98, "opus", 48000, 16000, "speex")]),
}


def run(case: str, seconds: float) -> dict[str, Any]:
    codec, pt, rate, pairs = CASES[case]
    stream = plan(codecs=pairs, sip_formats=[Format(pt, codec.split("/")[0], rate)])
    relay, browser = make_relay(stream, processors=transcoding_factory(SeededEntropy(1)))
    browser_codec = "PCMU" if pairs[0].name == "PCMU" else "opus"
    browser_rate = 8000 if browser_codec == "PCMU" else 48000
    voice = speech_like(browser_rate, seconds)
    from_sip = packets(codec, speech_like(rate, seconds, seed=9), pt=pt, ssrc=0x11223344)
    best = [float("inf"), float("inf")]
    for attempt in range(3):
        # fresh sequence numbers each time: SRTP would drop replayed packets (RFC 3711 §3.3.2)
        from_browser = [browser.srtp.protect(p) for p in
                        packets(browser_codec, voice, pt=pairs[0].webrtc_pt, seq=attempt * 5000)]
        t0 = time.process_time()
        for i, data in enumerate(from_browser):
            relay.from_browser(data, browser.addr, 1000.0 * attempt + i * 0.02)
        t1 = time.process_time()
        for i, data in enumerate(from_sip):
            relay.from_sip(0, data, SIP_FROM, 1000.0 * attempt + i * 0.02)
        t2 = time.process_time()
        best = [min(best[0], (t1 - t0) / len(from_browser)), min(best[1], (t2 - t1) / len(from_sip))]
        # the next attempt is a new talkspurt of the same sources (timestamps and sequence move on)
        relay._streams[0].to_sip.source_changed()
        relay._streams[0].to_browser.source_changed()
    us = [round(x * 1e6, 1) for x in best]
    return {"case": case, "us_to_sip": us[0], "us_to_browser": us[1],
            "calls_per_core": round(1 / (50 * (best[0] + best[1]))),
            "forwarded": [relay.forwarded_to_sip, relay.forwarded_to_browser]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    rows = [run(case, args.seconds) for case in CASES]
    for row in rows:
        print(f"{row['case']:>20}: {row['us_to_sip']:7.1f} µs browser→SIP, {row['us_to_browser']:7.1f} µs "
              f"SIP→browser per packet → {row['calls_per_core']} calls per core")
    print(json.dumps({"bench": "relay_transcoding", "rows": rows}))


if __name__ == "__main__":
    main()
