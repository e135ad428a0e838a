"""Per-packet costs of wcs.rtp on this machine.

Run:  .venv/bin/python benchmarks/bench_rtp.py [--quick]

Prints one line per case and, last, one JSON line ``{"bench": "rtp", ...}`` with
operations per second.  A call direction carries ~50 packets/s (20 ms audio) and the
relay budget is far below 1% of a core per call, so the figures are read as "calls
per core" rather than as absolute targets.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from wcs.rtp.dtmf import DtmfReceiver, build_event
from wcs.rtp.packet import RtpPacket, peek_header
from wcs.rtp.rewrite import StreamRewriter
from wcs.rtp.rtcp import ReceiverReport, ReportBlock, Sdes, SdesChunk, parse_compound, serialize_compound
from wcs.rtp.srtp import SrtpSession
from wcs.rtp.stats import ReceiverStats


def measure(fn: Callable[[int], object], n: int) -> float:
    """ops/s of ``fn(i)`` over ``n`` calls (best of three runs)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    n = 20_000 if "--quick" in sys.argv else 200_000
    payload = b"\xff" * 160
    base = bytes(RtpPacket(payload_type=0, sequence_number=1, timestamp=0, ssrc=0x1234, payload=payload))
    buf = bytearray(base)
    results: dict[str, float] = {}

    rw = StreamRewriter(8000, ssrc=0xCAFE, pt_map={0: 0}, initial_sequence=0, initial_timestamp=0)

    def rewrite(i: int) -> None:
        buf[2:4] = (i & 0xFFFF).to_bytes(2, "big")  # the source advances
        rw.rewrite(buf, i * 0.02)

    results["rewrite_ops_per_s"] = measure(rewrite, n)

    def rewrite_switching(i: int) -> None:
        buf[2:4] = (i & 0xFFFF).to_bytes(2, "big")
        buf[8:12] = (0x1000 + (i >> 8 & 1)).to_bytes(4, "big")  # a new source every 256 packets
        rw.rewrite(buf, i * 0.02)

    results["rewrite_with_source_changes_ops_per_s"] = measure(rewrite_switching, n)
    results["peek_header_ops_per_s"] = measure(lambda i: peek_header(base), n)
    results["rtp_parse_ops_per_s"] = measure(lambda i: RtpPacket.parse(base), n // 4)
    pkt = RtpPacket.parse(base)
    results["rtp_serialize_ops_per_s"] = measure(lambda i: bytes(pkt), n // 4)

    compound = serialize_compound([
        ReceiverReport(1, [ReportBlock(2, 3, 4, 5, 6, 7, 8)]),
        Sdes([SdesChunk(1, [(1, b"wcs@example")])]),
    ])
    results["rtcp_parse_compound_ops_per_s"] = measure(lambda i: parse_compound(compound), n // 4)

    km = bytes(range(60))
    tx = SrtpSession.from_dtls("SRTP_AES128_CM_SHA1_80", km, is_server=False)
    rx = SrtpSession.from_dtls("SRTP_AES128_CM_SHA1_80", km, is_server=True)
    packets = []
    for i in range(n // 4):
        b = bytearray(base)
        b[2:4] = (i & 0xFFFF).to_bytes(2, "big")
        b[4:8] = (i * 160).to_bytes(4, "big")
        packets.append(bytes(b))
    protected: list[bytes] = []
    t0 = time.perf_counter()
    for p in packets:
        protected.append(tx.protect(p))
    results["srtp_protect_ops_per_s"] = len(packets) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in protected:
        rx.unprotect(p)
    results["srtp_unprotect_ops_per_s"] = len(packets) / (time.perf_counter() - t0)

    stats = ReceiverStats(0x1234, 8000)
    results["receiver_stats_ops_per_s"] = measure(
        lambda i: stats.receive(i & 0xFFFF, i * 160 & 0xFFFFFFFF, i * 0.02), n)

    dtmf = DtmfReceiver(8000)
    event = build_event(5, False, 10, 160)
    results["dtmf_receive_ops_per_s"] = measure(
        lambda i: dtmf.receive(i // 10 * 1600, event, i * 0.02), n // 4)

    for name, value in results.items():
        print(f"{name:42s} {value:12,.0f}")
    line: dict[str, object] = {"bench": "rtp", "python": sys.version.split()[0]}
    line.update({k: round(v) for k, v in results.items()})
    print(json.dumps(line))


if __name__ == "__main__":
    main()
