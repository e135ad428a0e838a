"""The media of one call: the browser's WebRTC transport bridged to plain RTP (sans-I/O).

Theory of operation
-------------------
A :class:`CallRelay` joins one :class:`~wcs.webrtc.transport.WebRtcEndpoint` (one
BUNDLEd UDP port toward the browser: ICE-lite, DTLS-SRTP) to one plain RTP leg per SIP
media stream (an even RTP port and the odd RTCP port above it, RFC 3550 §11).  The I/O
adapter owns the sockets; it hands every datagram in with the leg it came from and sends
what comes back as ``(leg, data, destination)`` tuples: ``leg`` is :data:`BROWSER`, a SIP
stream index (its RTP socket) or ``SIP_RTCP + index`` (its RTCP socket).

Per RTP packet (the hot path), in both directions: the source is checked (SRTP
authentication toward the browser; address and SSRC lock toward SIP, see
:mod:`.streams`), accounted in the stream's :class:`~.reports.Reception` (RFC 3550
statistics, RTP activity), telephone events are detected (RFC 4733, :class:`DtmfDetected`),
then — unless the call is held or the direction forbids it (RFC 3264 §5.1) — the
direction's processor (:mod:`.processor`: passthrough rewriting today) makes the outgoing
packets, which are accounted in the stream's :class:`~.reports.Transmission` and sent:
SRTP-protected toward the browser (routed there by payload type, as Chrome uses one PT
space across a BUNDLE group), to the latched SDP address toward SIP.

Everything else runs on the timer (:meth:`get_timer` / :meth:`handle_timer`): DTLS and
ICE consent, RTCP reports on each leg (:mod:`.reports`), ``sendDtmf`` events
(:mod:`.dtmf`), the end of received events whose end packets were lost, rate-limited
keyframe requests, RTP activity (:mod:`.activity`).  Media packets never move the
deadline, except when they carry telephone events or keyframe requests: then
:attr:`changed` is set, and the adapter drains :meth:`events` and re-reads
:meth:`get_timer`.

Incoming RTCP is terminated on both legs: SR/RR feed the statistics and round-trip
times, PLI/FIR are bridged as keyframe requests with the SSRCs of the other leg (RTCP
PLI/FIR toward a SIP peer that declared ``a=rtcp-fb`` ``nack pli``/``ccm fir`` for the
codec, else :class:`KeyframeNeeded` so that the gateway sends SIP INFO
``picture_fast_update``; always PLI toward the browser).  Malformed packets of any kind
are counted in :attr:`dropped` (by reason) and never raise.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ...entropy import Entropy, SystemEntropy, random_token
from ...rtp.dtmf import DtmfReceiver
from ...rtp.errors import RtcpError, RtpError, RtpUsageError
from ...rtp.rtcp import Fir, ReceiverReport, SenderReport, UnknownRtcp, parse_compound
from ...rtp.video.keyframe import KeyframeRequester
from ...sdp.plan import StreamPlan
from ...webrtc.transport import StateChanged, WebRtcEndpoint
from ..media import DtmfDetected, KeyframeNeeded, MediaEvent, MediaStateChanged, MediaTimeout
from .activity import ActivityMonitor
from .dtmf import DtmfSender, EventSend
from .legstats import LegStats
from .processor import ProcessorFactory, passthrough_factory
from .reports import MIN_INTERVAL, Reception, ReportTimer, apply_reports, compound, goodbye
from .streams import LATCHING, SIP_RTCP, Stream

__all__ = ["BROWSER", "SIP_RTCP", "CallRelay", "Datagram", "LegStats", "RelayConfig"]

Address = tuple[str, int]
#: the leg number of the browser's WebRTC socket; SIP streams are 0, 1, …
BROWSER = -1
#: (leg, data, destination)
Datagram = tuple[int, bytes | bytearray, Address]

_HDR = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")
_TS = struct.Struct("!I")
_NOTHING: list[Datagram] = []  # returned (never mutated) when a packet produces nothing
_LEGACY_FIR = 192


@dataclass(frozen=True)
class RelayConfig:
    """Relay behaviour the gateway settings control."""

    activity_detecting: bool = True
    activity_timeout: float = 30.0
    activity_grace: float = 10.0
    latching: str = "host"
    rtcp_interval: float = MIN_INTERVAL
    dtmf_interval: float = 0.02
    dtmf_gap: float = 0.05

    def __post_init__(self) -> None:
        if self.latching not in LATCHING:
            raise ValueError(f"latching must be one of {', '.join(LATCHING)}")


def _header_size(packet: bytes | bytearray) -> int:
    """Octets of the fixed header, CSRCs and extension (what RFC 3550 §6.4.1 octet counts leave out)."""
    b0 = packet[0]
    if not b0 & 0x1F:
        return 12
    start = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10 and len(packet) >= start + 4:
        start += 4 + 4 * _U16.unpack_from(packet, start + 2)[0]
    return min(start, len(packet))


class CallRelay:
    """Bridges a browser's WebRTC transport and the SIP side's RTP streams of one call."""

    # slots: one compact block per call, the per-packet fields first (see Stream.__slots__)
    __slots__ = ("_by_sip_index", "_by_browser_pt", "endpoint", "held", "forwarded_to_browser",
                 "forwarded_to_sip", "changed", "dropped",
                 "call_id", "config", "_entropy", "_processors", "wallclock_offset", "cname", "_streams",
                 "_by_browser_ssrc", "_browser_timer", "activity", "_closed", "_events", "keyframe_requests")

    def __init__(self, endpoint: WebRtcEndpoint, *, call_id: str = "", entropy: Entropy | None = None,
                 config: RelayConfig | None = None, processors: ProcessorFactory | None = None,
                 wallclock_offset: float = 0.0) -> None:
        self.endpoint = endpoint
        self.call_id = call_id
        self.config = config or RelayConfig()
        self._entropy = entropy or SystemEntropy()
        self._processors = processors or passthrough_factory(self._entropy)
        #: Unix time minus the caller's clock, for SR NTP timestamps (RTT only needs it constant)
        self.wallclock_offset = wallclock_offset
        self.cname = random_token(self._entropy, 16).encode()
        self._streams: list[Stream] = []
        self._by_browser_pt: dict[int, Stream] = {}
        self._by_sip_index: dict[int, Stream] = {}
        self._by_browser_ssrc: dict[int, Stream] = {}
        self._browser_timer: ReportTimer | None = None
        config = self.config
        self.activity = ActivityMonitor(enabled=config.activity_detecting, timeout=config.activity_timeout,
                                        grace=config.activity_grace)
        self.held = False
        self._closed = False
        self._events: list[MediaEvent] = []
        #: telephone events or keyframe requests arrived: drain :meth:`events`, re-read :meth:`get_timer`
        self.changed = False
        #: packets not forwarded, by reason
        self.dropped: Counter[str] = Counter()
        self.forwarded_to_sip = 0
        self.forwarded_to_browser = 0
        #: keyframe requests bridged, by leg and kind ("toSipPli", "toSipFir", "toSipInfo", "toBrowserPli")
        self.keyframe_requests: Counter[str] = Counter()

    # -- set-up ------------------------------------------------------------------------------

    def configure(self, plans: Sequence[StreamPlan], now: float) -> None:
        """Install (or replace) the negotiated streams; each SIP index keeps its outgoing streams."""
        previous = self._by_sip_index
        self._streams, self._by_browser_pt, self._by_sip_index = [], {}, {}
        for position, plan in enumerate(plans):
            if not plan.accepted:
                continue
            index = plan.sip_index if plan.sip_index is not None else position
            stream = previous.pop(index, None)
            if stream is None:
                timer = ReportTimer(self._entropy, now, self.config.rtcp_interval)
                stream = Stream(index, plan, self._processors, self.config.latching, timer, self._entropy,
                                self.dropped)
            else:
                stream.update(plan, self._processors)
            if stream.generator is not None:
                stream.generator.begin(now)
            self._streams.append(stream)
            self._by_sip_index[index] = stream
            for pair in plan.codecs:
                self._by_browser_pt[pair.webrtc_pt] = stream
        for gone in previous.values():
            if gone.dtmf_out is not None:
                gone.dtmf_out.cancel()
        self._by_browser_ssrc = {stream.to_browser.ssrc: stream for stream in self._streams}
        if self._browser_timer is None:
            self._browser_timer = ReportTimer(self._entropy, now, self.config.rtcp_interval)
        self._expect(now)
        self.changed = True

    def set_held(self, held: bool, now: float) -> None:
        """Stop (or resume) forwarding in both directions; sequence numbers stay continuous."""
        self.held = held
        if held:
            for stream in self._streams:
                if stream.dtmf_out is not None:
                    stream.dtmf_out.cancel()
        self._expect(now)
        self.changed = True

    @property
    def plans(self) -> list[StreamPlan]:
        return [stream.plan for stream in self._streams]

    def _expect(self, now: float) -> None:
        if self.held:
            self.activity.pause()
            return
        legs = {leg for stream in self._streams
                for leg, sends in (("browser", stream.send_to_sip), ("sip", stream.send_to_browser)) if sends}
        self.activity.expect(legs, self._heard(), now)

    def _heard(self) -> dict[str, float | None]:
        """Leg → arrival time of its last RTP packet."""
        def latest(receptions: list[Reception]) -> float | None:
            times = [r.last for r in receptions if r.last is not None]
            return max(times) if times else None
        return {"browser": latest([s.from_browser for s in self._streams]),
                "sip": latest([s.from_sip for s in self._streams])}

    # -- packets from the browser ------------------------------------------------------------

    def from_browser(self, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on the WebRTC socket; returns what to send (STUN/DTLS replies, RTP to SIP)."""
        endpoint = self.endpoint
        if not data or not 127 < data[0] < 192:  # STUN answers, DTLS flights (SRTP never makes any)
            endpoint.receive(data, addr, now)
            return [(BROWSER, payload, dest) for payload, dest in endpoint.datagrams_to_send()]
        packet = endpoint.unprotect(data, addr)
        if packet is None:
            return _NOTHING
        b1 = packet[1]
        if 191 < b1 < 224:
            out: list[Datagram] = []
            self._browser_rtcp(packet, now, out)
            return out
        # The per-packet path (see the module docstring); kept flat and in one function: each
        # Python call saved is a measurable share of the relay's CPU (benchmarks/relay_load.py).
        pt = b1 & 0x7F
        stream = self._by_browser_pt.get(pt)
        if stream is None:
            self.dropped["RTP from the browser with an unnegotiated payload type"] += 1
            return _NOTHING
        b0, _, seq, ts, ssrc = _HDR.unpack_from(packet)
        rx = stream.from_browser
        if ssrc != rx.ssrc:
            rx.adopt(ssrc, seq, now)
            for receiver in stream.browser_events.values():
                receiver.reset()
        rx.last = now
        rx.packets += 1
        rx.octets += len(packet) - (_header_size(packet) if b0 & 0x1F else 12)
        rx.stats.receive(seq, ts, now)  # type: ignore[union-attr]  # adopt() set it
        events = stream.browser_events
        if events and pt in events:
            self._detect(events[pt], "browser", ts, packet, now)
        dest = stream.sip_dest
        if self.held or not stream.send_to_sip or dest is None:
            self.dropped["RTP from the browser while not sending to SIP"] += 1
            return _NOTHING
        if stream.dtmf_out is not None and stream.dtmf_out.playing(now):
            self.dropped["RTP from the browser while a DTMF event plays"] += 1
            return _NOTHING
        out = []
        tx = stream.sent_to_sip.stats
        srtp = stream.srtp
        for outgoing in stream.to_sip.process(bytearray(packet), now):
            sealed = outgoing if srtp is None else srtp.seal(outgoing)
            if sealed is None:
                continue
            out.append((stream.index, sealed, dest))
            tx.sent(_TS.unpack_from(outgoing, 4)[0],
                    len(outgoing) - (_header_size(outgoing) if outgoing[0] & 0x1F else 12), now)
            self.forwarded_to_sip += 1
        transcoder = stream.from_browser_transcoder
        if transcoder is not None and transcoder.pop_keyframe_request():
            self._ask_keyframe(stream.keyframes_to_browser, stream.from_browser.ssrc, stream, now, out)
        return out

    def _browser_rtcp(self, packet: bytes, now: float, out: list[Datagram]) -> None:
        try:
            packets = parse_compound(packet)
        except RtcpError as exc:
            self.dropped[f"RTCP from the browser: {exc.reason}"] += 1
            return
        feedback = apply_reports(packets, {s.from_browser.ssrc: s.from_browser for s in self._streams},
                                 {s.sent_to_browser.ssrc: s.sent_to_browser for s in self._streams},
                                 now, self.wallclock_offset)
        for request in feedback:
            target = request.media_ssrc
            if isinstance(request, Fir) and request.entries:
                target = request.entries[0][0]  # FIR names its target in the FCI (RFC 5104 §4.3.1.2)
            stream = self._by_browser_ssrc.get(target)
            if stream is None or stream.keyframes_to_sip is None:
                self.dropped["keyframe request from the browser for no video stream"] += 1
                continue
            if stream.browser_sink is not None and stream.browser_sink.keyframe_requested(
                    now, isinstance(request, Fir)):
                continue   # black video or a transcoder's encoder answers it
            requester = stream.keyframes_to_sip
            requester.media_ssrc = stream.from_sip.ssrc if stream.from_sip.ssrc >= 0 else None
            requester.request(now, full=isinstance(request, Fir))
            self._keyframe_requests(stream, out)

    # -- packets from the SIP side ---------------------------------------------------------------

    def from_sip(self, index: int, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on SIP stream ``index``'s RTP socket; returns SRTP for the browser."""
        # the per-packet path, flat like from_browser's
        stream = self._by_sip_index.get(index)
        if stream is None:
            self.dropped["RTP on a SIP stream that is not negotiated"] += 1
            return _NOTHING
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 191 < data[1] < 224:
            return self._not_rtp(stream, data, addr, now)
        if stream.srtp is not None:
            opened = stream.srtp.open(data)
            if opened is None:
                return _NOTHING
            data = opened
        b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
        pt = b1 & 0x7F
        if pt not in stream.sip_pts:
            self.dropped["RTP from the SIP side with an unnegotiated payload type"] += 1
            return _NOTHING
        rx = stream.from_sip
        if ssrc != rx.ssrc or addr != stream.sip_source:
            if not self._sip_source(stream, addr, ssrc, seq, now):
                return _NOTHING
        rx.last = now
        rx.packets += 1
        rx.octets += len(data) - (_header_size(data) if b0 & 0x1F else 12)
        rx.stats.receive(seq, ts, now)  # type: ignore[union-attr]  # adopt() set it
        events = stream.sip_events
        if events and pt in events:
            self._detect(events[pt], "sip", ts, data, now)
        if self.held or not stream.send_to_browser:
            self.dropped["RTP from SIP while not sending to the browser"] += 1
            return _NOTHING
        out: list[Datagram] = []
        tx = stream.sent_to_browser.stats
        protect = self.endpoint.protect_rtp
        for outgoing in stream.to_browser.process(bytearray(data), now):
            protected = protect(outgoing)  # type: ignore[arg-type]
            if protected is None:
                self.dropped["RTP from SIP before the browser transport is up"] += 1
                continue
            out.append((BROWSER, protected[0], protected[1]))
            tx.sent(_TS.unpack_from(outgoing, 4)[0],
                    len(outgoing) - (_header_size(outgoing) if outgoing[0] & 0x1F else 12), now)
            self.forwarded_to_browser += 1
        if stream.from_sip_transcoder is not None and stream.from_sip_transcoder.pop_keyframe_request():
            self._ask_keyframe(stream.keyframes_to_sip, stream.from_sip.ssrc, stream, now, out)
        return out

    def _not_rtp(self, stream: Stream, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """RTCP on the RTP port (RFC 5761 §4: a second octet of 192–223) or a malformed datagram."""
        if len(data) >= 4 and data[0] & 0xC0 == 0x80 and 191 < data[1] < 224:
            if stream.plan.sip_rtcp_mux:
                return self.from_sip_rtcp(stream.index, data, addr, now)
            self.dropped["RTCP on the SIP RTP port without rtcp-mux"] += 1
        else:
            self.dropped["malformed RTP from the SIP side"] += 1
        return _NOTHING

    def _sip_source(self, stream: Stream, addr: Address, ssrc: int, seq: int, now: float) -> bool:
        """A packet from another address or SSRC than the locked source: accept it?"""
        if not stream.allowed(addr):
            self.dropped["RTP from the SIP side from an unexpected address"] += 1
            return False
        rx = stream.from_sip
        if ssrc != rx.ssrc:
            if addr == stream.plan.sip_remote and stream.sip_source != addr:
                rx.unlock()  # the SDP address displaces a source that locked from elsewhere first
            if not rx.adopt(ssrc, seq, now):
                self.dropped["RTP from the SIP side with an unexpected SSRC"] += 1
                return False
            for receiver in stream.sip_events.values():
                receiver.reset()
        if addr != stream.sip_source:
            stream.latch(addr)
        return True

    def from_sip_rtcp(self, index: int, data: bytes, addr: Address, now: float) -> list[Datagram]:
        """A datagram on SIP stream ``index``'s RTCP socket (or its RTP socket with rtcp-mux)."""
        stream = self._by_sip_index.get(index)
        if stream is None:
            self.dropped["RTCP on a SIP stream that is not negotiated"] += 1
            return _NOTHING
        if not stream.allowed(addr):
            self.dropped["RTCP from the SIP side from an unexpected address"] += 1
            return _NOTHING
        if stream.srtp is not None:
            opened = stream.srtp.open_rtcp(data)
            if opened is None:
                return _NOTHING
            data = opened
        try:
            packets = parse_compound(data)
        except RtcpError as exc:
            self.dropped[f"RTCP from the SIP side: {exc.reason}"] += 1
            return _NOTHING
        first = packets[0]
        if isinstance(first, SenderReport | ReceiverReport) and first.ssrc == stream.from_sip.ssrc:
            stream.latch_rtcp(addr)
        feedback: list[object] = list(apply_reports(packets, {stream.from_sip.ssrc: stream.from_sip},
                                                    {stream.sent_to_sip.ssrc: stream.sent_to_sip}, now,
                                                    self.wallclock_offset))
        # RFC 2032 §5.2.1 FIR (packet type 192): what libre/baresip send without rtcp-fb
        feedback += [p for p in packets if isinstance(p, UnknownRtcp) and p.type == _LEGACY_FIR]
        out: list[Datagram] = []
        for _ in feedback:
            if stream.sip_sink is not None and stream.sip_sink.keyframe_requested(now, True):
                continue   # a transcoder's encoder answers it
            requester = stream.keyframes_to_browser
            if requester is None:
                self.dropped["keyframe request from the SIP side for no video stream"] += 1
                continue
            requester.media_ssrc = stream.from_browser.ssrc if stream.from_browser.ssrc >= 0 else None
            requester.request(now)  # the browser is asked with PLI, FIR or not (RFC 5104 §4.3.1.2)
            self._keyframe_requests(stream, out)
        return out

    # -- events in the media ----------------------------------------------------------------------

    def _detect(self, receiver: DtmfReceiver, leg: str, ts: int, packet: bytes, now: float) -> None:
        start = 12 + 4 * (packet[0] & 0x0F)
        if packet[0] & 0x10 and len(packet) >= start + 4:
            start += 4 + 4 * _U16.unpack_from(packet, start + 2)[0]
        try:
            receiver.receive(ts, packet[start:], now, bool(packet[1] & 0x80))
        except RtpError as exc:
            self.dropped[f"telephone-event from the {leg} side: {exc.reason}"] += 1
            return
        self._digits(receiver, leg)
        self.changed = True

    def _digits(self, receiver: DtmfReceiver, leg: str) -> None:
        for digit in receiver.pop_digits():
            if digit.digit is not None:
                self._events.append(DtmfDetected(self.call_id, digit.digit, leg, digit.duration_ms / 1000))

    def _keyframe_requests(self, stream: Stream, out: list[Datagram]) -> None:
        if stream.keyframes_to_sip is not None:
            for request in stream.keyframes_to_sip.pop_requests():
                self.keyframe_requests[f"toSip{request.kind.capitalize()}"] += 1
                if request.rtcp is None:
                    self._events.append(KeyframeNeeded(self.call_id))
                elif stream.sip_rtcp_dest is not None:
                    datagram = stream.sip_rtcp(compound([ReceiverReport(stream.sent_to_sip.ssrc)], self.cname,
                                                        [request.rtcp]))
                    if datagram is not None:
                        out.append(datagram)
        if stream.keyframes_to_browser is not None:
            for request in stream.keyframes_to_browser.pop_requests():
                if request.rtcp is not None:
                    self.keyframe_requests[f"toBrowser{request.kind.capitalize()}"] += 1
                    data = compound([ReceiverReport(stream.sent_to_browser.ssrc)], self.cname, [request.rtcp])
                    self._to_browser_rtcp(data, out)
        self.changed = True

    def _ask_keyframe(self, requester: KeyframeRequester | None, ssrc: int, stream: Stream, now: float,
                      out: list[Datagram]) -> None:
        """A transcoder's decoder needs a keyframe: ask its source (``requester``'s leg)."""
        if requester is not None:
            requester.media_ssrc = ssrc if ssrc >= 0 else None
            requester.request(now, full=True)
            self._keyframe_requests(stream, out)

    def _to_browser_rtcp(self, data: bytes, out: list[Datagram]) -> None:
        protected = self.endpoint.protect_rtcp(data)
        if protected is not None:
            out.append((BROWSER, protected[0], protected[1]))

    # -- sendDtmf ---------------------------------------------------------------------------------

    def send_dtmf(self, digits: str, now: float, *, duration: float = 0.1) -> bool:
        """Play ``digits`` as RFC 4733 events toward the SIP peer (see :mod:`.dtmf`).

        False when no audio stream negotiated telephone-event or media does not flow toward
        SIP (held, ``recvonly``): the caller falls back to SIP INFO.  A character that is not
        a DTMF digit raises :class:`~wcs.rtp.errors.RtpUsageError`.
        """
        stream = next((s for s in self._streams if s.kind == "audio" and s.dtmf_pair is not None), None)
        if stream is None or stream.dtmf_pair is None or self.held or not stream.send_to_sip \
                or stream.sip_dest is None:
            return False
        if duration <= 0:
            raise RtpUsageError("DTMF duration must be positive")
        pair = stream.dtmf_pair
        clock = pair.sip_clock_rate or pair.clock_rate
        sender = stream.dtmf_out
        if sender is None or (sender.payload_type, sender.clock_rate) != (pair.sip_pt, clock):
            sender = stream.dtmf_out = DtmfSender(pair.sip_pt, clock, interval=self.config.dtmf_interval,
                                                  gap=self.config.dtmf_gap)
        sender.queue(digits, now, duration)
        self.changed = True
        return True

    def _send_event(self, stream: Stream, sender: DtmfSender, event: EventSend, out: list[Datagram]) -> None:
        dest = stream.sip_dest
        offset = event.offset * stream.clock_rate // sender.clock_rate
        packet = stream.to_sip.inject(sender.payload_type, event.payload, event.marker, event.start, offset)
        if packet is None or dest is None or self.held or not stream.send_to_sip:
            self.dropped["DTMF event not sendable"] += 1
            return
        sealed = stream.seal(packet)
        if sealed is not None:
            out.append((stream.index, sealed, dest))
            stream.sent_to_sip.stats.sent(_TS.unpack_from(packet, 4)[0], len(packet) - 12, event.at)

    # -- timers and events ---------------------------------------------------------------------

    def get_timer(self) -> float | None:
        deadlines = [self.endpoint.get_timer(), self.activity.get_timer()]
        if self._browser_timer is not None:
            deadlines.append(self._browser_timer.next)
        for stream in self._streams:
            deadlines += stream.deadlines()
        present = [d for d in deadlines if d is not None]
        return min(present) if present and not self._closed else None

    def handle_timer(self, now: float) -> list[Datagram]:
        if self._closed:
            return []
        self.endpoint.handle_timer(now)
        out: list[Datagram] = [(BROWSER, data, dest) for data, dest in self.endpoint.datagrams_to_send()]
        for stream in self._streams:
            self._stream_timers(stream, now, out)
        timer = self._browser_timer
        if timer is not None and now >= timer.next:
            timer.sent(now)
            reports = self._browser_reports(now)
            if reports:
                self._to_browser_rtcp(compound(reports, self.cname), out)
        for leg, seconds in self.activity.check(self._heard(), now):
            self._events.append(MediaTimeout(self.call_id, leg, seconds))
        return out

    def _browser_reports(self, now: float) -> list[SenderReport | ReceiverReport]:
        """One SR/RR per stream we send the browser (RFC 8108 §5.3: one session, several SSRCs)."""
        return [s.sent_to_browser.report(s.from_browser, now, self.wallclock_offset) for s in self._streams]

    def _stream_timers(self, stream: Stream, now: float, out: list[Datagram]) -> None:
        if now >= stream.sip_timer.next:
            stream.sip_timer.sent(now)
            if stream.sip_rtcp_dest is not None:
                report = stream.sent_to_sip.report(stream.from_sip, now, self.wallclock_offset)
                datagram = stream.sip_rtcp(compound([report], self.cname))
                if datagram is not None:
                    out.append(datagram)
        sender = stream.dtmf_out
        if sender is not None:
            for event in sender.due(now):
                self._send_event(stream, sender, event, out)
        for leg, receiver in stream.receivers():
            receiver.handle_timer(now)
            self._digits(receiver, leg)
        if stream.requesters():
            for requester in stream.requesters():
                requester.handle_timer(now)
            self._keyframe_requests(stream, out)
        if stream.sip_dest is not None:
            for packet in stream.to_sip.handle_timer(now):
                sealed = stream.seal(packet)
                if sealed is not None:
                    out.append((stream.index, sealed, stream.sip_dest))
        for packet in stream.to_browser.handle_timer(now):   # generated media (.generators)
            protected = self.endpoint.protect_rtp(packet)  # type: ignore[arg-type]
            if protected is not None and not self.held and stream.send_to_browser:
                out.append((BROWSER, protected[0], protected[1]))
                stream.sent_to_browser.stats.sent(_TS.unpack_from(packet, 4)[0],
                                                  len(packet) - _header_size(packet), now)

    def events(self) -> list[MediaEvent]:
        """Drain what happened: transport state changes, DTMF digits, RTP timeouts, keyframe needs."""
        events: list[MediaEvent] = [MediaStateChanged(self.call_id, event.state, event.error)
                                    for event in self.endpoint.events() if isinstance(event, StateChanged)]
        events += self._events
        self._events = []
        self.changed = False
        return events

    # -- statistics and the end -------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """Per-leg and per-stream counters, loss, jitter and round-trip time (REST API, logs)."""
        streams = [(s, LegStats.of(s.from_browser, s.sent_to_browser), LegStats.of(s.from_sip, s.sent_to_sip))
                   for s in self._streams]
        return {"state": self.endpoint.state, "held": self.held,
                "browser": LegStats.total([b for _, b, _ in streams]).as_dict(),
                "sip": LegStats.total([p for _, _, p in streams]).as_dict(),
                "streams": [{"index": s.index, "kind": s.kind, "browser": b.as_dict(), "sip": p.as_dict()}
                            for s, b, p in streams],
                "processing": [{"index": s.index, **s.describe()} for s in self._streams],
                "forwarded": {"toSip": self.forwarded_to_sip, "toBrowser": self.forwarded_to_browser},
                "keyframeRequests": dict(self.keyframe_requests),
                "dropped": dict(self.dropped + self.endpoint.dropped)}

    def close(self, now: float) -> list[Datagram]:
        """RTCP BYE on every leg (RFC 3550 §6.6), DTLS close_notify to the browser; stop forwarding."""
        out: list[Datagram] = []
        if self._closed:
            return out
        for stream in self._streams:
            if stream.sip_rtcp_dest is not None:
                report = stream.sent_to_sip.report(stream.from_sip, now, self.wallclock_offset)
                datagram = stream.sip_rtcp(goodbye([report], self.cname))
                if datagram is not None:
                    out.append(datagram)
        reports = self._browser_reports(now)
        if reports:
            self._to_browser_rtcp(goodbye(reports, self.cname), out)
        self.endpoint.close()
        out += [(BROWSER, payload, dest) for payload, dest in self.endpoint.datagrams_to_send()]
        self._streams, self._by_browser_pt, self._by_sip_index, self._by_browser_ssrc = [], {}, {}, {}
        self._closed = True
        return out
