"""Cost of the transport decisions per request, and SIP-over-TCP throughput of the endpoint.

Workloads:

* ``prepare_udp``      Router.prepare on a REGISTER that stays on UDP (Via/Contact rewrite,
                       one serialization for the RFC 3261 §18.1.1 size check), us/op
* ``prepare_tcp``      the same on a 2 KB INVITE that moves to TCP (two rewrites), us/op
* ``locate_cached``    RFC 3263 NAPTR → SRV → A over answers already in memory, us/op
* ``tcp_requests``     OPTIONS pipelined on one loopback TCP connection to a SipEndpoint, every
                       one answered 200 by its user agent: requests/s (wall clock, one process)

Run:  python benchmarks/bench_sip_transport.py [--requests 2000]
Prints a small table, then ONE JSON line: {"bench": "sip_transport", "results": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from wcs.aio.sip import create_sip_endpoint  # noqa: E402
from wcs.entropy import SeededEntropy  # noqa: E402
from wcs.sip.headers import Headers  # noqa: E402
from wcs.sip.locate import Naptr, Query, Record, Srv, Target, locate_with  # noqa: E402
from wcs.sip.message import Request  # noqa: E402
from wcs.sip.transport import Address  # noqa: E402
from wcs.sip.transport_select import Router, TransportPolicy  # noqa: E402

LOCAL = Address("192.0.2.10", 5070)
POLICY = TransportPolicy({"udp": LOCAL, "tcp": Address("192.0.2.10", 5070, "tcp")})
ZONE: dict[Query, list[Record]] = {
    Query("example.com", "NAPTR"): [Naptr(10, 10, "s", "SIP+D2T", "", "_sip._tcp.example.com"),
                                    Naptr(20, 10, "s", "SIP+D2U", "", "_sip._udp.example.com")],
    Query("_sip._tcp.example.com", "SRV"): [Srv(10, 60, 5060, "a.example.com"),
                                            Srv(10, 40, 5060, "b.example.com")],
    Query("_sip._udp.example.com", "SRV"): [Srv(10, 0, 5060, "a.example.com")],
    Query("a.example.com", "A"): ["192.0.2.1"],
    Query("b.example.com", "A"): ["192.0.2.2"],
}


def request(method: str, body: bytes = b"") -> Request:
    return Request(method, "sip:bob@example.com", Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10:5070;rport;branch=z9hG4bKbench"), ("Max-Forwards", "70"),
        ("From", "<sip:alice@example.com>;tag=abc"), ("To", "<sip:bob@example.com>"), ("Call-ID", "bench-1"),
        ("CSeq", f"1 {method}"), ("Contact", "<sip:alice@192.0.2.10:5070>"),
        ("Content-Type", "application/sdp")]), body)


def per_op(fn: Callable[[], object], min_time: float = 0.5) -> float:
    """Microseconds per call (CPU time, best of 3 runs of at least ``min_time``)."""
    best = float("inf")
    for _ in range(3):
        n, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < min_time:
            for _ in range(100):
                fn()
            n += 100
        best = min(best, elapsed / n * 1e6)
    return best


async def tcp_requests(count: int) -> float:
    endpoint = await create_sip_endpoint("127.0.0.1", 0, lambda event: None)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.listeners["tcp"].port)
        data = b"".join(
            (f"OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKb{i}\r\n"
             f"Max-Forwards: 70\r\nFrom: <sip:b@127.0.0.1>;tag=t{i}\r\nTo: <sip:bench@127.0.0.1>\r\n"
             f"Call-ID: bench-{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
            for i in range(count))
        start = time.perf_counter()
        writer.write(data)
        for _ in range(count):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"SIP/2.0 200 "), head[:40]
        elapsed = time.perf_counter() - start
        writer.close()
        return count / elapsed
    finally:
        endpoint.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    router = Router(LOCAL, POLICY)
    small, big = request("REGISTER"), request("INVITE", b"a=x:" + b"p" * 2000 + b"\r\n")
    results = {
        "prepare_udp_us": per_op(lambda: router.prepare(small, Address("192.0.2.1", 5060))),
        "prepare_tcp_us": per_op(lambda: router.prepare(big, Address("192.0.2.1", 5060))),
        "locate_cached_us": per_op(lambda: locate_with(Target("example.com"), ZONE.get, SeededEntropy(1))),
        "tcp_requests_per_s": asyncio.run(tcp_requests(args.requests)),
    }
    for name, value in results.items():
        print(f"{name:24s} {value:12.1f}")
    print(json.dumps({"bench": "sip_transport", "results": {k: round(v, 1) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
