"""The media of one call: the browser's WebRTC transport bridged to plain RTP (sans-I/O).

Theory of operation
-------------------
A :class:`CallRelay` joins one :class:`~wcs.webrtc.transport.WebRtcEndpoint` (one
BUNDLEd UDP port toward the browser: ICE-lite, DTLS-SRTP) to one plain RTP leg per SIP
media stream (an even RTP port and the odd RTCP port above it, RFC 3550 §11).  The
I/O adapter owns the sockets; it hands every datagram in with the leg it came from and
sends what comes back as ``(leg, data, destination)`` tuples, where ``leg`` is
:data:`BROWSER` or the SIP stream index.

Per packet (the hot path):

* browser → SIP: the endpoint answers STUN, runs DTLS and unprotects SRTP; each RTP
  packet is routed to its stream by payload type (Chrome uses one PT space across a
  BUNDLE group), rewritten by the stream's :class:`~wcs.rtp.rewrite.StreamRewriter`
  (our SSRC, continuous sequence numbers and timestamps, browser PT → SIP PT) and sent
  to the SIP peer's RTP address from the SDP;
* SIP → browser: rewritten the other way and SRTP-protected by the endpoint.

RTCP is terminated on both legs (counted and dropped): each side's reports describe a
stream the other side never sees, and neither Chrome nor SIP phones need ours to play
media.  Generating reports per leg is the media engine's job (RFC 3550 §6).

Nothing is forwarded before :meth:`configure` received the stream plans from the SDP
negotiation, nor toward a side whose direction forbids it (hold, RFC 3264 §5.1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..entropy import Entropy, SystemEntropy
from ..rtp.rewrite import StreamRewriter
from ..sdp.webrtc import StreamPlan
from ..webrtc.transport import EndpointEvent, WebRtcEndpoint

__all__ = ["BROWSER", "CallRelay", "Datagram"]

Address = tuple[str, int]
#: the leg number of the browser's WebRTC socket; SIP streams are 0, 1, …
BROWSER = -1
#: (leg, data, destination)
Datagram = tuple[int, bytes, Address]


@dataclass(eq=False)
class _Stream:
    index: int
    plan: StreamPlan
    to_sip: StreamRewriter
    to_browser: StreamRewriter
    sip_remote: Address | None
    send_to_sip: bool
    send_to_browser: bool


def _sends(direction: str) -> tuple[bool, bool]:
    """(browser → SIP allowed, SIP → browser allowed) for a plan direction seen from the browser."""
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


class CallRelay:
    """Bridges a browser's WebRTC transport and the SIP side's RTP streams of one call."""

    def __init__(self, endpoint: WebRtcEndpoint, *, entropy: Entropy | None = None) -> None:
        self.endpoint = endpoint
        self._entropy = entropy or SystemEntropy()
        self._streams: list[_Stream] = []
        self._by_browser_pt: dict[int, _Stream] = {}
        self._by_sip_index: dict[int, _Stream] = {}
        self.held = False
        #: packets not forwarded, by reason
        self.dropped: Counter[str] = Counter()
        self.forwarded_to_sip = 0
        self.forwarded_to_browser = 0

    # -- set-up ------------------------------------------------------------------------------

    def configure(self, plans: Sequence[StreamPlan]) -> None:
        """Install (or replace) the negotiated streams; continuity is kept per SIP index."""
        previous = self._by_sip_index
        self._streams = []
        self._by_browser_pt = {}
        self._by_sip_index = {}
        for position, plan in enumerate(plans):
            if not plan.accepted:
                continue
            index = plan.sip_index if plan.sip_index is not None else position
            rate = plan.codecs[0].clock_rate
            old = previous.get(index)
            to_sip = old.to_sip if old else StreamRewriter(rate, entropy=self._entropy)
            to_browser = old.to_browser if old else StreamRewriter(rate, entropy=self._entropy)
            to_sip.pt_map = {pair.webrtc_pt: pair.sip_pt for pair in plan.codecs}
            # a SIP peer may send with the PT it declared or with the one we declared
            # (RFC 3264 §6.1), so both map to the browser's number
            arriving = {p.sip_pt for p in plan.codecs} | {p.webrtc_pt for p in plan.codecs}
            to_browser.pt_map = {pt: pair.webrtc_pt for pt in arriving
                                 if (pair := plan.pair_for_sip_pt(pt)) is not None}
            send_to_sip, send_to_browser = _sends(plan.direction)
            stream = _Stream(index, plan, to_sip, to_browser, plan.sip_remote, send_to_sip,
                             send_to_browser)
            self._streams.append(stream)
            self._by_sip_index[index] = stream
            for pair in plan.codecs:
                self._by_browser_pt[pair.webrtc_pt] = stream

    def set_held(self, held: bool) -> None:
        """Stop (or resume) forwarding in both directions; sequence numbers stay continuous."""
        self.held = held

    @property
    def plans(self) -> list[StreamPlan]:
        return [stream.plan for stream in self._streams]

    # -- packets -----------------------------------------------------------------------------

    def from_browser(self, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on the WebRTC socket; returns what to send (STUN/DTLS replies, RTP to SIP)."""
        out: list[Datagram] = []
        for packet in self.endpoint.receive(data, addr, now):
            if 191 < packet[1] < 224:
                self.dropped["RTCP from the browser (terminated)"] += 1
                continue
            stream = self._by_browser_pt.get(packet[1] & 0x7F)
            if stream is None:
                self.dropped["RTP from the browser with an unnegotiated payload type"] += 1
                continue
            if self.held or not stream.send_to_sip or stream.sip_remote is None:
                self.dropped["RTP from the browser while not sending to SIP"] += 1
                continue
            buf = bytearray(packet)
            if stream.to_sip.rewrite(buf, now):
                out.append((stream.index, bytes(buf), stream.sip_remote))
                self.forwarded_to_sip += 1
        for payload, dest in self.endpoint.datagrams_to_send():  # STUN answers, DTLS flights
            out.append((BROWSER, payload, dest))
        return out

    def from_sip(self, index: int, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on SIP stream ``index``'s RTP socket; returns SRTP for the browser."""
        stream = self._by_sip_index.get(index)
        if stream is None:
            self.dropped["RTP on a SIP stream that is not negotiated"] += 1
            return []
        if len(data) < 12 or data[0] >> 6 != 2:
            self.dropped["malformed RTP from the SIP side"] += 1
            return []
        if 191 < data[1] < 224:
            self.dropped["RTCP on the SIP RTP port (terminated)"] += 1
            return []
        if self.held or not stream.send_to_browser:
            self.dropped["RTP from SIP while not sending to the browser"] += 1
            return []
        buf = bytearray(data)
        if not stream.to_browser.rewrite(buf, now):
            return []
        protected = self.endpoint.protect_rtp(bytes(buf))
        if protected is None:
            self.dropped["RTP from SIP before the browser transport is up"] += 1
            return []
        self.forwarded_to_browser += 1
        return [(BROWSER, protected[0], protected[1])]

    def from_sip_rtcp(self, index: int, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on SIP stream ``index``'s RTCP socket (terminated)."""
        self.dropped["RTCP from the SIP side (terminated)"] += 1
        return []

    # -- timers and events ---------------------------------------------------------------------

    def get_timer(self) -> float | None:
        return self.endpoint.get_timer()

    def handle_timer(self, now: float) -> list[Datagram]:
        self.endpoint.handle_timer(now)
        return [(BROWSER, payload, dest) for payload, dest in self.endpoint.datagrams_to_send()]

    def events(self) -> list[EndpointEvent]:
        return self.endpoint.events()

    def close(self) -> list[Datagram]:
        """Send the browser a DTLS close_notify and stop forwarding."""
        self.endpoint.close()
        self._streams, self._by_browser_pt, self._by_sip_index = [], {}, {}
        return [(BROWSER, payload, dest) for payload, dest in self.endpoint.datagrams_to_send()]
