"""The relay's per-packet Python cost without sockets: CallRelay.from_sip / from_browser in a loop.

A connected :class:`~wcs.gateway.relay.CallRelay` (the DTLS handshake with a
:class:`~benchmarks.relay.peers.SimBrowser` done in memory) is fed pre-built packets —
plain RTP as a SIP phone sends it, SRTP as a browser does — and the time per call is the
best of several rounds.  This is the part of the per-packet cost that is ours (Python and
libsrtp); the load benchmark adds the system calls, the event loop and the kernel.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from wcs.entropy import SeededEntropy
from wcs.gateway.relay import CallRelay
from wcs.sdp.webrtc import PtPair, StreamPlan
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.transport import WebRtcEndpoint

from .peers import SimBrowser, SimPhone

PHONE = ("127.0.0.1", 40000)
BROWSER = ("127.0.0.1", 50000)
CODECS = [PtPair(0, 0, "PCMU", 8000), PtPair(101, 101, "telephone-event", 8000)]


def connected_relay() -> tuple[CallRelay, SimBrowser]:
    cert = Certificate.generate(datetime.now(UTC) - timedelta(days=1), entropy=SeededEntropy(1))
    endpoint = WebRtcEndpoint(cert, entropy=SeededEntropy(2))
    browser = SimBrowser(("127.0.0.1", 30000), endpoint.local_ufrag, endpoint.local_pwd, endpoint.fingerprint,
                         ssrc=0xB0B0)
    endpoint.set_remote_fingerprints([browser.fingerprint], 0.0)
    relay = CallRelay(endpoint, call_id="bench", entropy=SeededEntropy(3))
    relay.configure([StreamPlan("audio", "0", CODECS, PHONE, (PHONE[0], PHONE[1] + 1), "sendrecv", 0)], 0.0)
    pending = [browser.check()]
    for _ in range(20):
        replies = [data for datagram in pending for _, data, _ in relay.from_browser(datagram, BROWSER, 0.0)]
        pending = []
        for data in replies:
            browser.receive(data, 0.0)
            pending += browser.outgoing()
        if browser.connected and endpoint.state == "connected":
            return relay, browser
    raise RuntimeError("in-memory DTLS handshake did not complete")


def per_packet_us(rounds: int = 5, packets: int = 20_000) -> dict[str, float]:
    """Best-of-``rounds`` microseconds per packet for each direction."""
    relay, browser = connected_relay()
    phone = SimPhone(0x5EED)
    best = {"from_sip_us": float("inf"), "from_browser_us": float("inf")}
    now = 1.0
    for _ in range(rounds):
        from_phone = [phone.packet(1) for _ in range(packets)]
        from_browser = [browser.packet(2) for _ in range(packets)]
        start = time.perf_counter()
        for data in from_phone:
            relay.from_sip(0, data, PHONE, now)
        middle = time.perf_counter()
        for data in from_browser:
            relay.from_browser(data, BROWSER, now)
        end = time.perf_counter()
        best["from_sip_us"] = min(best["from_sip_us"], (middle - start) / packets * 1e6)
        best["from_browser_us"] = min(best["from_browser_us"], (end - middle) / packets * 1e6)
        now += packets * 0.02
    assert relay.forwarded_to_sip == relay.forwarded_to_browser == rounds * packets, relay.dropped
    return {key: round(value, 3) for key, value in best.items()}
