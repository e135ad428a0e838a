"""Parse/serialize throughput of SIP messages as a WebRTC gateway sees them.

Messages: a browser-originated INVITE over WebSocket (RFC 7118) carrying Chromium's WebRTC
offer (tests/data/sip/chromium-offer.sdp, ~5.9 KB) and the 200 OK a PBX answers with.
Workloads, each timed on one core:

* ``invite_parse``         parse only
* ``invite_parse_access``  parse + Call-ID, CSeq, top Via branch, From tag (the per-packet
                           work of a transaction layer; the target is >= 20,000/s)
* ``invite_serialize``     bytes(message) of a parsed INVITE
* ``ok_parse_access``      the 200 OK, parse + the same accesses
* ``invite_round_trip``    parse + accesses + serialize

Other parsers (sippy, pyVoIP, aiosipua …) plug in as an :class:`Adapter` subclass named
with ``--adapter module:Class`` (the module must be importable); only wcs is built in.

Prints a table, then ONE JSON line: {"bench": "sip_parse", "python": …, "results":
{adapter: {workload: ops_per_second}}}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SDP = (ROOT / "tests" / "data" / "sip" / "chromium-offer.sdp").read_bytes()

INVITE = (
    "INVITE sip:+4930123456@pbx.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK5396853;rport\r\n"
    "Max-Forwards: 69\r\n"
    "To: <sip:+4930123456@pbx.example.com>\r\n"
    'From: "Alice Browser" <sip:alice@pbx.example.com>;tag=ofpcp3c2tk\r\n'
    "Call-ID: 2shu4ah4l4cq8jdj2q2f\r\n"
    "CSeq: 1597 INVITE\r\n"
    "Contact: <sip:k1lq8f7m@df7jal23ls0d.invalid;transport=ws;ob>\r\n"
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n"
    "Supported: timer,ice,replaces,outbound\r\n"
    "Session-Expires: 1800;refresher=uac\r\n"
    "Min-SE: 90\r\n"
    "User-Agent: wcs-webphone/0.1 (Chromium)\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n"
    "\r\n"
).encode() + SDP

OK_SDP = (
    b"v=0\r\no=- 1780318811 1780318812 IN IP4 192.0.2.1\r\ns=Asterisk\r\nc=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\nm=audio 13924 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:120\r\n"
    b"a=sendrecv\r\n"
)

OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bK-524287-1---9f2b\r\n"
    "Record-Route: <sip:192.0.2.1;lr;ftag=ofpcp3c2tk>\r\n"
    'From: "Alice Browser" <sip:alice@pbx.example.com>;tag=ofpcp3c2tk\r\n'
    "To: <sip:+4930123456@pbx.example.com>;tag=as5d6f7g8h\r\n"
    "Call-ID: 2shu4ah4l4cq8jdj2q2f\r\n"
    "CSeq: 1597 INVITE\r\n"
    "Server: Asterisk PBX 20.5.0\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n"
    "Supported: replaces, timer\r\n"
    "Contact: <sip:+4930123456@192.0.2.1:5060>\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(OK_SDP)}\r\n"
    "\r\n"
).encode() + OK_SDP


class Adapter:
    """One SIP parser under test."""

    name = "?"

    def parse(self, data: bytes) -> Any:
        raise NotImplementedError

    def access(self, message: Any) -> tuple[Any, ...]:
        """Call-ID, CSeq number and method, top Via branch, From tag."""
        raise NotImplementedError

    def serialize(self, message: Any) -> bytes:
        raise NotImplementedError


class WcsAdapter(Adapter):
    name = "wcs"

    def __init__(self) -> None:
        from wcs.sip.message import parse_message

        self._parse = parse_message

    def parse(self, data: bytes) -> Any:
        return self._parse(data)

    def access(self, message: Any) -> tuple[Any, ...]:
        cseq = message.cseq
        return message.call_id, cseq.seq, cseq.method, message.top_via.branch, message.from_tag

    def serialize(self, message: Any) -> bytes:
        return bytes(message)


def _rate(fn: Callable[[], object], min_time: float) -> float:
    """Operations per CPU second of ``fn``, best of 5 runs of about ``min_time`` each.

    CPU time of this process (not wall time) so that other load on the machine, which
    deschedules us, does not count against the parser.
    """
    n = 1
    while True:
        start = time.process_time()
        for _ in range(n):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= min_time / 4:
            break
        n *= 2
    best = 0.0
    for _ in range(5):
        count = max(1, int(n * min_time / max(elapsed, 1e-9) / 2))
        start = time.process_time()
        for _ in range(count):
            fn()
        elapsed = time.process_time() - start
        best = max(best, count / elapsed)
    return best


def _round_trip(adapter: Adapter, data: bytes) -> bytes:
    message = adapter.parse(data)
    adapter.access(message)
    return adapter.serialize(message)


def workloads(adapter: Adapter) -> dict[str, Callable[[], object]]:
    parse, access, serialize = adapter.parse, adapter.access, adapter.serialize
    expected = ("2shu4ah4l4cq8jdj2q2f", 1597, "INVITE")
    assert access(parse(INVITE))[:3] == expected, f"{adapter.name}: wrong INVITE facts"
    assert access(parse(OK))[:3] == expected, f"{adapter.name}: wrong 200 OK facts"
    parsed = parse(INVITE)
    return {
        "invite_parse": lambda: parse(INVITE),
        "invite_parse_access": lambda: access(parse(INVITE)),
        "invite_serialize": lambda: serialize(parsed),
        "ok_parse_access": lambda: access(parse(OK)),
        "invite_round_trip": lambda: _round_trip(adapter, INVITE),
    }


def _load(spec: str) -> Adapter:
    module, _, cls = spec.partition(":")
    adapter: Adapter = getattr(importlib.import_module(module), cls)()
    return adapter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", action="append", default=[], help="extra parser, module:Class")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    args = parser.parse_args(argv)
    adapters = [WcsAdapter()] + [_load(spec) for spec in args.adapter]
    results: dict[str, dict[str, float]] = {}
    print(f"INVITE {len(INVITE)} bytes (SDP {len(SDP)}), 200 OK {len(OK)} bytes; "
          f"Python {platform.python_version()}")
    print(f"{'adapter':<10} {'workload':<22} {'ops/s':>12} {'us/op':>9}")
    for adapter in adapters:
        results[adapter.name] = {}
        for name, fn in workloads(adapter).items():
            rate = _rate(fn, args.min_time)
            results[adapter.name][name] = round(rate)
            print(f"{adapter.name:<10} {name:<22} {rate:>12,.0f} {1e6 / rate:>9.1f}")
    print(json.dumps({"bench": "sip_parse", "python": platform.python_version(),
                      "invite_bytes": len(INVITE), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
