"""Per-packet costs of wcs.webrtc on this machine.

Run:  .venv/bin/python benchmarks/bench_webrtc.py [--quick]

Cases: RFC 7983 classification, the endpoint's inbound media path (classify, address
check, SRTP/SRTCP unprotect) and outbound ``protect_rtp`` for both SRTP profiles, an
ICE connectivity check answered (parse, HMAC, response), and a full DTLS handshake
between two in-memory sessions.  Prints one line per case and, last, one JSON line
``{"bench": "webrtc", ...}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from wcs.entropy import SeededEntropy
from wcs.webrtc import stun
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.demux import classify
from wcs.webrtc.dtls import DtlsSession
from wcs.webrtc.stun import StunMessage
from wcs.webrtc.transport import WebRtcEndpoint

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
SERVER = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(1))
CLIENT = Certificate.generate(NOT_BEFORE, entropy=SeededEntropy(2))
BROWSER = ("127.0.0.1", 50000)


def best_rate(fn: Callable[[], int]) -> float:
    """ops/s of ``fn`` (which returns how many operations it did), best of three."""
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        count = fn()
        best = max(best, count / (time.perf_counter() - t0))
    return best


def check(endpoint: WebRtcEndpoint, tid: int) -> bytes:
    request = StunMessage(stun.BINDING, stun.REQUEST, tid.to_bytes(12, "big"))
    request.add_text(stun.USERNAME, f"{endpoint.local_ufrag}:brow")
    request.add_uint64(stun.ICE_CONTROLLING, 1).add(stun.USE_CANDIDATE, b"")
    request.add_uint32(stun.PRIORITY, 1853824767)
    return request.encode(endpoint.local_pwd.encode(), fingerprint=True)


def connected(profile: str) -> tuple[WebRtcEndpoint, DtlsSession]:
    endpoint = WebRtcEndpoint(SERVER, entropy=SeededEntropy(3), srtp_profiles=[profile],
                              remote_fingerprints=[("sha-256", CLIENT.fingerprint())])
    browser = DtlsSession(CLIENT, is_server=False, remote_fingerprints=[("sha-256", SERVER.fingerprint())],
                          srtp_profiles=[profile])
    endpoint.receive(check(endpoint, 1), BROWSER, 0.0)
    browser.start(0.0)
    for _ in range(10):
        for data in browser.datagrams_to_send():
            endpoint.receive(data, BROWSER, 0.0)
        for data, _addr in endpoint.datagrams_to_send():
            if classify(data) == "dtls":
                browser.receive(data, 0.0)
    assert endpoint.state == "connected", endpoint.error
    return endpoint, browser


def rtp(seq: int) -> bytes:
    """A 20 ms Opus-sized RTP packet (12-byte header + 120 bytes)."""
    timestamp = (seq * 960) & 0xFFFFFFFF
    return bytes([0x80, 111]) + (seq & 0xFFFF).to_bytes(2, "big") + timestamp.to_bytes(4, "big") \
        + b"\x12\x34\x56\x78" + b"\xfc" * 120


def main() -> None:
    n = 10_000 if "--quick" in sys.argv else 60_000
    results: dict[str, float] = {}
    packet = rtp(1)

    def classify_loop() -> int:
        for _ in range(n):
            classify(packet)
        return n

    results["classify_ops_per_s"] = best_rate(classify_loop)

    for profile, key in (("SRTP_AEAD_AES_128_GCM", "gcm"), ("SRTP_AES128_CM_SHA1_80", "sha1_80")):
        endpoint, browser = connected(profile)
        srtp = browser.srtp_session()
        runs = [[srtp.protect(rtp(r * n + i)) for i in range(n)] for r in range(3)]

        def receive_loop(batch: list[bytes] | None = None, endpoint: WebRtcEndpoint = endpoint) -> int:
            assert batch is not None
            for data in batch:
                endpoint.receive(data, BROWSER, 1.0)
            return len(batch)

        best = 0.0
        for batch in runs:
            t0 = time.perf_counter()
            receive_loop(batch)
            best = max(best, len(batch) / (time.perf_counter() - t0))
        assert not endpoint.dropped, endpoint.dropped
        results[f"receive_srtp_{key}_ops_per_s"] = best
        # the same work on a bare SrtpSession: what the endpoint adds on top
        raw_rx = endpoint.dtls.srtp_session()
        raw_runs = [[srtp.protect(rtp(r * n + i)) for i in range(n)] for r in range(3, 6)]
        best = 0.0
        for batch in raw_runs:
            t0 = time.perf_counter()
            for data in batch:
                raw_rx.unprotect(data)
            best = max(best, len(batch) / (time.perf_counter() - t0))
        results[f"bare_unprotect_{key}_ops_per_s"] = best

        plain = [rtp(i) for i in range(n)]

        def protect_loop(endpoint: WebRtcEndpoint = endpoint, plain: list[bytes] = plain) -> int:
            for data in plain:
                endpoint.protect_rtp(data)
            return len(plain)

        results[f"protect_rtp_{key}_ops_per_s"] = best_rate(protect_loop)

    endpoint, _ = connected("SRTP_AEAD_AES_128_GCM")
    requests = [check(endpoint, i) for i in range(2000)]

    def stun_loop() -> int:
        for data in requests:
            endpoint.receive(data, BROWSER, 2.0)
        endpoint.datagrams_to_send()
        return len(requests)

    results["stun_check_answered_ops_per_s"] = best_rate(stun_loop)

    handshakes = 20 if "--quick" in sys.argv else 100

    def handshake_loop() -> int:
        for _ in range(handshakes):
            connected("SRTP_AEAD_AES_128_GCM")
        return handshakes

    results["dtls_handshake_per_s"] = best_rate(handshake_loop)

    for name, value in results.items():
        print(f"{name:40s} {value:14,.0f}")
    print(json.dumps({"bench": "webrtc", **{k: round(v) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
