"""One relayed media stream: its per-direction state, built from a negotiated StreamPlan.

A :class:`Stream` is one SIP m-line and the browser m-line it stands for.  Per direction
it holds the processor (the outgoing stream), the :class:`~.reports.Reception` of what
arrives and the :class:`~.reports.Transmission` of what is sent; per leg its telephone-
event receivers; for video, one keyframe requester per direction; and where the SIP
peer's media goes and comes from.

Where the SIP peer is (RFC 4961 symmetric RTP, "latching")
-----------------------------------------------------------
We send to the address in the peer's SDP.  A peer behind a NAT, or one whose RTP leaves
from another port than the one it advertised, is only reachable at the address its
packets come from, so with ``latching``:

* ``"host"`` (default): RTP and RTCP are accepted from the SDP address's host, any port;
  once the locked source (see :class:`~.reports.Reception`) sends from an address, we
  send there (the peer is assumed symmetric, RFC 4961 §4);
* ``"any"``: the same for any source address (a peer whose SDP shows a private address
  behind a NAT — "comedia"); anyone who guesses the port can start the stream, so this
  is opt-in;
* ``"off"``: RTP and RTCP from the SDP host only, always sent to the SDP addresses.

The first valid packet from an allowed address locks the source.  Should a stranger win
that race from another port, the peer's first packet from the exact SDP address takes the
stream back at once.

A renegotiation (re-INVITE) resets the destinations to the new SDP and unlocks the
source, which may change at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ...entropy import Entropy
from ...rtp.dtmf import DtmfReceiver
from ...rtp.video.keyframe import FeedbackSupport, KeyframeRequester
from ...sdp.plan import StreamPlan
from .dtmf import DtmfSender
from .generators import Generating
from .processor import ProcessorFactory, StreamProcessor
from .reports import Reception, ReportTimer, Transmission
from .sdes import SipSrtp
from .video import KeyframeSink, VideoTranscoding

__all__ = ["LATCHING", "SIP_RTCP", "Stream", "event_receivers"]

Address = tuple[str, int]
#: SIP stream ``i``'s RTCP socket is leg ``SIP_RTCP + i`` (the relay's datagram legs)
SIP_RTCP = 1 << 16
LATCHING = ("off", "host", "any")
TELEPHONE_EVENT = "telephone-event"


def _sends(direction: str) -> tuple[bool, bool]:
    """(browser → SIP allowed, SIP → browser allowed) for a plan direction seen from the browser."""
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def event_receivers(pts_clocks: Sequence[tuple[int, int]]) -> dict[int, DtmfReceiver]:
    """PT → DtmfReceiver, one receiver per clock rate."""
    by_clock: dict[int, DtmfReceiver] = {}
    return {pt: by_clock.setdefault(clock, DtmfReceiver(clock)) for pt, clock in pts_clocks}


class Stream:
    """The state of one stream (see the module docstring); built and updated by the relay."""

    # Slots keep a stream's fields in one block, those the relay reads per packet first: the
    # per-packet path touches a handful of objects per call, and at hundreds of calls each one
    # is a cache miss (see CallRelay.from_sip).
    __slots__ = ("from_sip", "to_browser", "sent_to_browser", "srtp", "sip_pts", "sip_source", "sip_events",
                 "send_to_browser", "from_sip_transcoder",
                 "from_browser", "to_sip", "sent_to_sip", "browser_events", "sip_dest", "send_to_sip",
                 "dtmf_out", "index", "from_browser_transcoder",
                 "dropped", "_entropy", "clock_rate", "sip_clock_rate", "latching", "sip_timer",
                 "keyframes_to_sip", "keyframes_to_browser", "plan", "kind", "sdp_host", "sip_rtcp_dest",
                 "dtmf_pair", "generator", "browser_sink", "sip_sink")

    def __init__(self, index: int, plan: StreamPlan, processors: ProcessorFactory, latching: str,
                 timer: ReportTimer, entropy: Entropy, dropped: Counter[str] | None = None) -> None:
        self.index = index
        #: the relay's counter of packets not forwarded (SRTP failures on the SIP leg go there)
        self.dropped: Counter[str] = dropped if dropped is not None else Counter()
        self._entropy = entropy
        rate = plan.codecs[0].clock_rate
        self.clock_rate = rate
        #: the SIP leg's clock: differs when the stream is transcoded (opus/48000 ⇄ G729/8000)
        self.sip_clock_rate = plan.codecs[0].sip_rate
        self.from_browser = Reception(rate, locked=False)  # SRTP-authenticated: no lock needed
        self.from_sip = Reception(self.sip_clock_rate, locked=True)
        self.to_sip: StreamProcessor = processors(plan, True, None)
        self.to_browser: StreamProcessor = processors(plan, False, None)
        self.sent_to_sip = Transmission(self.to_sip.ssrc, self.sip_clock_rate)
        self.sent_to_browser = Transmission(self.to_browser.ssrc, rate)
        self.latching = latching
        self.sip_timer = timer
        self.dtmf_out: DtmfSender | None = None
        self.keyframes_to_sip: KeyframeRequester | None = None
        self.keyframes_to_browser: KeyframeRequester | None = None
        self.srtp: SipSrtp | None = None
        self._apply(plan)

    def update(self, plan: StreamPlan, processors: ProcessorFactory) -> None:
        """A renegotiation of this stream: same outgoing streams where the factory keeps them."""
        self.to_sip = processors(plan, True, self.to_sip)
        self.to_browser = processors(plan, False, self.to_browser)
        sip_rate = plan.codecs[0].sip_rate
        if self.sent_to_sip.ssrc != self.to_sip.ssrc or sip_rate != self.sip_clock_rate:
            self.sent_to_sip = Transmission(self.to_sip.ssrc, sip_rate)
        self.sip_clock_rate = self.from_sip.clock_rate = sip_rate
        if self.sent_to_browser.ssrc != self.to_browser.ssrc:
            self.sent_to_browser = Transmission(self.to_browser.ssrc, self.clock_rate)
        self.from_sip.unlock()
        self._apply(plan)

    def _apply(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.kind = plan.kind
        self.send_to_sip, self.send_to_browser = _sends(plan.direction)
        #: PTs the SIP peer may send: its own or ours (RFC 3264 §6.1)
        self.sip_pts = frozenset(p.sip_pt for p in plan.codecs) | frozenset(p.webrtc_pt for p in plan.codecs)
        # where the SIP peer is: SDP addresses, reset on every negotiation
        self.sdp_host = plan.sip_remote[0] if plan.sip_remote else None
        self.sip_dest: Address | None = plan.sip_remote
        self.sip_source: Address | None = plan.sip_remote
        self.sip_rtcp_dest: Address | None = plan.sip_remote if plan.sip_rtcp_mux else plan.sip_remote_rtcp
        # telephone events: PT → receiver per leg, and the PTs
        events = [p for p in plan.codecs if p.name.lower() == TELEPHONE_EVENT]
        self.browser_events = event_receivers([(p.webrtc_pt, p.clock_rate) for p in events])
        sip_side = []
        for pt in {p.sip_pt for p in events} | {p.webrtc_pt for p in events}:
            pair = plan.pair_for_sip_pt(pt)
            if pair is not None and pair.name.lower() == TELEPHONE_EVENT:
                sip_side.append((pt, pair.sip_clock_rate or pair.clock_rate))
        self.sip_events = event_receivers(sip_side)
        # the pair we send sendDtmf events with: same clock as the audio if there is one
        self.dtmf_pair = next((p for p in events if p.sip_rate == self.sip_clock_rate),
                              events[0] if events else None)
        if self.dtmf_out is not None and (self.dtmf_pair is None or not self.send_to_sip):
            self.dtmf_out.cancel()
        if plan.kind == "video":
            self._keyframes(plan)
        self.srtp = SipSrtp.update(self.srtp, plan.sip_srtp, self.dropped)   # SDES on the SIP leg (.sdes)
        self._special_processors()

    def _special_processors(self) -> None:
        """Processors the relay talks to beyond process(): generators and video transcoders."""
        to_browser = self.to_browser
        self.generator = to_browser if isinstance(to_browser, Generating) else None
        inner = to_browser.inner if isinstance(to_browser, Generating) else to_browser
        #: the transcoders whose decoders may need a keyframe from their source (SIP, browser)
        self.from_sip_transcoder = inner if isinstance(inner, VideoTranscoding) else None
        self.from_browser_transcoder = self.to_sip if isinstance(self.to_sip, VideoTranscoding) else None
        #: who answers a keyframe request from the browser / the SIP peer instead of the other leg
        self.browser_sink: KeyframeSink | None = to_browser if isinstance(
            to_browser, Generating | VideoTranscoding) else None
        self.sip_sink: KeyframeSink | None = self.from_browser_transcoder

    def _keyframes(self, plan: StreamPlan) -> None:
        first = plan.codecs[0]
        encoding = (first.sip_name or first.name).lower()   # the SIP codec of a transcoded stream
        fmt = next((f for f in plan.sip_formats
                    if f.encoding == encoding and f.clock_rate == first.clock_rate), None)
        feedback = plan.sip_feedback   # the peer's own a=rtcp-fb when its SDP was the answer
        if feedback is None:
            feedback = fmt.rtcp_fb if fmt is not None else ()
        support = FeedbackSupport.from_rtcp_fb(feedback)
        if self.keyframes_to_sip is None or self.keyframes_to_browser is None:
            self.keyframes_to_sip = KeyframeRequester(support, sender_ssrc=self.to_sip.ssrc,
                                                      entropy=self._entropy)
            self.keyframes_to_browser = KeyframeRequester(FeedbackSupport(pli=True, info=False),
                                                          sender_ssrc=self.to_browser.ssrc,
                                                          entropy=self._entropy)
        else:
            self.keyframes_to_sip.support = support
            self.keyframes_to_sip.sender_ssrc = self.to_sip.ssrc
            self.keyframes_to_browser.sender_ssrc = self.to_browser.ssrc

    def describe(self) -> dict[str, object]:
        """How the stream is relayed (for stats): codecs per leg, transcoding, generated media, SRTP."""
        first = self.plan.codecs[0]
        generator = self.generator
        sip = None if self.plan.generated else first.sip_name or first.name
        return {"codec": {"browser": first.name, "sip": sip},
                "transcoded": self.plan.transcoding is not None, "srtp": self.srtp is not None,
                "generating": generator is not None and generator.generating,
                "generated": generator.generated if generator is not None else 0}

    # -- what goes to the SIP peer ------------------------------------------------------------

    def seal(self, packet: bytes | bytearray) -> bytes | bytearray | None:
        """An RTP packet as the SIP peer gets it: SRTP when keyed (None: refused, counted)."""
        return packet if self.srtp is None else self.srtp.seal(packet)

    def sip_rtcp(self, data: bytes) -> tuple[int, bytes, Address] | None:
        """(leg, datagram, destination) for a compound RTCP packet to the SIP peer, or None."""
        dest = self.sip_rtcp_dest
        if dest is None:
            return None
        sealed = data if self.srtp is None else self.srtp.seal_rtcp(data)
        if sealed is None:
            return None
        return (self.index if self.plan.sip_rtcp_mux else SIP_RTCP + self.index), sealed, dest

    # -- the SIP peer's addresses -----------------------------------------------------------

    def allowed(self, addr: Address) -> bool:
        """Whether media from ``addr`` may come from the SIP peer (see the module docstring)."""
        return self.latching == "any" or addr[0] == self.sdp_host

    def latch(self, addr: Address) -> None:
        """The locked source now sends from ``addr``."""
        self.sip_source = addr
        if self.latching != "off":
            self.sip_dest = addr
            if self.plan.sip_rtcp_mux:
                self.sip_rtcp_dest = addr

    def latch_rtcp(self, addr: Address) -> None:
        """RTCP from the locked source arrived from ``addr``."""
        if self.latching != "off" and not self.plan.sip_rtcp_mux:
            self.sip_rtcp_dest = addr

    # -- timers -----------------------------------------------------------------------------

    def receivers(self) -> list[tuple[str, DtmfReceiver]]:
        """(leg, receiver) for each distinct telephone-event receiver."""
        out: list[tuple[str, DtmfReceiver]] = []
        for leg, receivers in (("browser", self.browser_events), ("sip", self.sip_events)):
            out += [(leg, r) for r in {id(r): r for r in receivers.values()}.values()]
        return out

    def requesters(self) -> list[KeyframeRequester]:
        return [r for r in (self.keyframes_to_sip, self.keyframes_to_browser) if r is not None]

    def deadlines(self) -> list[float | None]:
        out = [self.sip_timer.next, self.to_sip.get_timer(), self.to_browser.get_timer()]
        out += [r.get_timer() for _, r in self.receivers()]
        out += [r.get_timer() for r in self.requesters()]
        if self.dtmf_out is not None:
            out.append(self.dtmf_out.get_timer())
        return out
