"""What handles one direction of one relayed stream: the processor protocol and passthrough.

Theory of operation
-------------------
Every accepted stream has two directions (browser → SIP, SIP → browser) and each has one
:class:`StreamProcessor`.  The relay authenticates, routes and accounts a packet, then
hands it to the direction's processor and sends whatever comes back; the processor owns
the *outgoing* stream: its SSRC, sequence numbers and timestamps.  Three kinds fit:

* :class:`Passthrough` (today): the payload goes through unchanged; a
  :class:`~wcs.rtp.rewrite.StreamRewriter` keeps the outgoing stream one continuous
  stream across hold/resume, re-INVITEs and transfers (source changes) and maps payload
  types; telephone-event durations are rescaled where the two legs number events at
  different clocks (``PtPair.sip_clock_rate``, e.g. telephone-event/48000 ⇄ /8000);
* a transcoder (``wcs.rtp.transcode.AudioTranscoder``): zero or more packets out per
  packet in;
* a generator (silence, black video): packets on its own clock through
  :meth:`~StreamProcessor.get_timer` / :meth:`~StreamProcessor.handle_timer`.

The relay picks processors with a :data:`ProcessorFactory` each time the streams are
(re)configured, passing the processor the direction had so far; returning that same
object (after :meth:`~StreamProcessor.update`) keeps the outgoing stream continuous.

Packets the relay makes itself — RFC 4733 events for ``sendDtmf`` — must be part of the
same outgoing stream (RFC 4733 §2.1: same SSRC, sequence and timestamp space), so they
go through :meth:`~StreamProcessor.inject`, which numbers them.  :class:`Passthrough`
does that by feeding them to its rewriter as a *synthetic source* whose timeline is wall
time (``round(now × clock rate)``): the rewriter's source-change rule places the event's
timestamp where the outgoing stream's timeline is at the event start (RFC 3550 §5.1
continuity), the next sequence number follows the last one sent, and when the real
source resumes after the event it is re-based once more — sequence numbers stay one
gap-free stream.  The rewriter is told that every packet of an event happens at the
event's start (``now = start``), so the stream's timeline after the event continues
from the start plus the wall time elapsed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Protocol

from ...entropy import Entropy, random_uint
from ...rtp.rewrite import StreamRewriter
from ...sdp.plan import StreamPlan

__all__ = ["Passthrough", "ProcessorFactory", "StreamProcessor", "passthrough_factory"]

_HDR = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")


class StreamProcessor(Protocol):
    """One direction of one stream: source-leg packets in, destination-leg packets out."""

    @property
    def ssrc(self) -> int:
        """The SSRC of the outgoing stream (RTCP reports and feedback are sent for it)."""
        ...

    def update(self, plan: StreamPlan) -> None:
        """The negotiation changed (re-INVITE): new payload types, same outgoing stream."""
        ...

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        """One RTP packet from the source leg (writable); the packets to send, possibly none."""
        ...

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        """Number a packet the relay generated into the outgoing stream.

        ``payload_type`` is the destination's; the packet belongs to something that began at
        ``start`` (seconds, the caller's clock) and lies ``offset`` clock units after it (RFC
        4733 events: every packet of an event has the event's start timestamp, offset 0;
        a long event's next segment starts 0xFFFF units later).  ``None``: cannot be sent.
        """
        ...

    def source_changed(self) -> None:
        """The source will change even if its SSRC does not (re-INVITE to another server)."""
        ...

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has packets to make (generators); ``None``: never."""
        ...

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        """The packets due by ``now``."""
        ...


#: ``factory(plan, toward_sip, previous)`` → the processor for that direction of that stream
ProcessorFactory = Callable[[StreamPlan, bool, "StreamProcessor | None"], StreamProcessor]


class Passthrough:
    """Forwards payloads unchanged through a :class:`~wcs.rtp.rewrite.StreamRewriter`."""

    __slots__ = ("rewriter", "toward_sip", "_rescale", "_source_pt", "_synthetic", "_synthetic_seq")

    def __init__(self, plan: StreamPlan, toward_sip: bool, entropy: Entropy) -> None:
        # video: the marker ends a frame, so a source change must not set it (wcs.rtp.rewrite)
        self.rewriter = StreamRewriter(plan.codecs[0].clock_rate, entropy=entropy,
                                       mark_source_changes=plan.kind != "video")
        self.toward_sip = toward_sip
        #: source PT → (source clock, destination clock) of telephone-event pairs that differ;
        #: None when there are none (the per-packet test then reads no dictionary)
        self._rescale: dict[int, tuple[int, int]] | None = None
        #: destination PT → a source PT that maps to it (for injected packets)
        self._source_pt: dict[int, int] = {}
        self._synthetic = random_uint(entropy, 32)
        self._synthetic_seq = random_uint(entropy, 16)
        self.update(plan)

    @property
    def ssrc(self) -> int:
        return self.rewriter.ssrc

    def update(self, plan: StreamPlan) -> None:
        rescale: dict[int, tuple[int, int]] = {}
        if self.toward_sip:
            pt_map = {pair.webrtc_pt: pair.sip_pt for pair in plan.codecs}
            for pair in plan.codecs:
                if pair.sip_clock_rate:
                    rescale[pair.webrtc_pt] = (pair.clock_rate, pair.sip_clock_rate)
        else:
            # a SIP peer may send with the PT it declared or with the one we declared
            # (RFC 3264 §6.1), so both map to the browser's number
            pt_map = {}
            for pt in {p.sip_pt for p in plan.codecs} | {p.webrtc_pt for p in plan.codecs}:
                found = plan.pair_for_sip_pt(pt)
                if found is not None:
                    pt_map[pt] = found.webrtc_pt
                    if found.sip_clock_rate:
                        rescale[pt] = (found.sip_clock_rate, found.clock_rate)
        self.rewriter.pt_map = pt_map
        self._rescale = rescale or None
        self._source_pt = {}
        for src, dst in sorted(pt_map.items(), reverse=True):
            self._source_pt[dst] = src  # the lowest source PT wins; any maps correctly

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        rescale = self._rescale
        if rescale is not None:
            clocks = rescale.get(packet[1] & 0x7F)
            if clocks is not None:
                _rescale_events(packet, *clocks)
        if self.rewriter.rewrite(packet, now):
            return (packet,)
        return ()

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        source_pt = self._source_pt.get(payload_type)
        if source_pt is None:
            return None
        rate = self.rewriter.clock_rate
        self._synthetic_seq = seq = (self._synthetic_seq + 1) & 0xFFFF
        timestamp = (round(start * rate) + offset) & 0xFFFFFFFF
        packet = bytearray(_HDR.pack(0x80, (0x80 if marker else 0) | source_pt, seq, timestamp,
                                     self._synthetic))
        packet += payload
        if not self.rewriter.rewrite(packet, start + offset / rate):
            return None
        if not marker:
            packet[1] &= 0x7F  # a re-based synthetic source must not add a marker (RFC 4733 §2.2.2)
        return packet

    def source_changed(self) -> None:
        self.rewriter.source_changed()

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        return ()


def _rescale_events(packet: bytearray, source_clock: int, dest_clock: int) -> None:
    """Rescale the duration of each RFC 4733 §2.3 event report in ``packet`` (in place)."""
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and len(packet) >= start + 4:
        start += 4 + 4 * _U16.unpack_from(packet, start + 2)[0]
    for pos in range(start + 2, len(packet) - 1, 4):
        duration = _U16.unpack_from(packet, pos)[0] * dest_clock // source_clock
        _U16.pack_into(packet, pos, min(duration, 0xFFFF))


def passthrough_factory(entropy: Entropy) -> ProcessorFactory:
    """The default factory: :class:`Passthrough` for every direction, kept across updates."""

    def factory(plan: StreamPlan, toward_sip: bool, previous: StreamProcessor | None) -> StreamProcessor:
        if previous is not None:
            previous.update(plan)
            return previous
        return Passthrough(plan, toward_sip, entropy)

    return factory
