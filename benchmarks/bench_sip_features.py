"""Signalling cost of the user agent's call features: two sans-I/O UserAgents back to back in memory.

Workloads (CPU time of both UAs together, best of 3 runs; every datagram is parsed and
serialized as on the wire):

* ``call``           INVITE / reliable 180 + PRACK / 200 / ACK / BYE: one whole call, us/call
* ``reinvite``       re-INVITE offer, the owner's answer, 200, ACK in a confirmed call, us/exchange
* ``update_refresh`` session refresh: UPDATE without a body and its 200 (RFC 4028 §7.4), us/refresh
* ``info``           INFO application/dtmf-relay and its 200, us/INFO

Run:  python benchmarks/bench_sip_features.py
Prints a small table, then ONE JSON line: {"bench": "sip_features", "results": {...}}.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from wcs.entropy import SeededEntropy  # noqa: E402
from wcs.sip.info import DTMF_RELAY, dtmf_relay_body  # noqa: E402
from wcs.sip.transport import Address  # noqa: E402
from wcs.sip.ua import Account, IncomingCall, InviteSession, OfferReceived, UserAgent  # noqa: E402

A = Address("192.0.2.10", 5070)
B = Address("192.0.2.20", 5080)
SDP_A = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
SDP_B = SDP_A.replace(b"192.0.2.10", b"192.0.2.20").replace(b"4000", b"5000")
HOLD = SDP_A + b"a=sendonly\r\n"
ALICE = Account("alice", "192.0.2.20:5080")
HELD = SDP_B + b"a=recvonly\r\n"


class Pair:
    """Alice (A) and Bob (B); Bob answers everything at once."""

    def __init__(self) -> None:
        self.a = UserAgent(A, entropy=SeededEntropy(1))
        self.b = UserAgent(B, entropy=SeededEntropy(2))
        self.now = 0.0

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for ua, peer, src in ((self.a, self.b, A), (self.b, self.a, B)):
                for out in ua.outgoing():
                    moved = True
                    peer.receive_datagram(out.data, src, self.now)
            for event in self.b.events():
                if isinstance(event, IncomingCall):
                    self.b.ring(event.session, self.now)
                    self.b.answer(event.session, SDP_B, self.now)
                elif isinstance(event, OfferReceived):
                    self.b.answer_offer(event.session, HELD, self.now)
                moved = True
            self.a.events()

    def call(self) -> InviteSession:
        session = self.a.invite(ALICE, "sip:bob@192.0.2.20:5080", SDP_A, self.now)
        self.pump()
        return session

    def tick(self) -> None:
        """One second later: old transactions and sessions expire as they would."""
        self.now += 1.0
        self.a.handle_timer(self.now)
        self.b.handle_timer(self.now)
        self.pump()


def per_op(fn: Callable[[], object], min_time: float = 0.4) -> float:
    """Microseconds per call (CPU time, best of 3 runs of at least ``min_time``)."""
    best = float("inf")
    for _ in range(3):
        n = 0
        start = time.process_time()
        while (elapsed := time.process_time() - start) < min_time or n < 10:
            fn()
            n += 1
        best = min(best, elapsed / n)
    return best * 1e6


def main() -> None:
    pair = Pair()

    def whole_call() -> None:
        session = pair.call()
        pair.a.cancel_or_bye(session, pair.now)
        pair.pump()
        pair.tick()

    up = Pair()
    session = up.call()
    offers = [HOLD, SDP_A]   # alternate, so every offer is a change the owner answers

    def reinvite() -> None:
        offers.reverse()
        up.a.reinvite(session, offers[0], up.now)
        up.pump()
        up.tick()

    def refresh() -> None:
        up.a.update(session, None, up.now)
        up.pump()
        up.tick()

    def info() -> None:
        up.a.info(session, DTMF_RELAY, dtmf_relay_body("5"), up.now)
        up.pump()
        up.tick()

    results = {"call_us": per_op(whole_call), "reinvite_us": per_op(reinvite),
               "update_refresh_us": per_op(refresh), "info_us": per_op(info)}
    for name, value in results.items():
        print(f"{name:20s} {value:10.1f}")
    print(json.dumps({"bench": "sip_features", "results": {k: round(v, 1) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
