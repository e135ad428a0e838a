"""Transcoded directions of a relayed audio stream: the processor and the factory that picks it.

Theory of operation
-------------------
When the negotiation paired the browser's codec with another SIP codec
(``StreamPlan.transcoding``, see :mod:`wcs.sdp.transcoding`), each direction of that stream
gets a :class:`Transcoding` processor built on :class:`~wcs.rtp.transcode.AudioTranscoder`:
every audio packet of the source codec is decoded and the outgoing stream is encoded in
the destination codec with its own SSRC, sequence numbers and timestamps (the relay
accounts and reports on that stream: RTCP SR/RR per leg keep working unchanged).

* Telephone events (RFC 4733) are relayed, not transcoded: ``relay_event`` re-stamps
  them into the outgoing stream's sequence and timestamp space and rescales their
  durations when the two legs number events at different clocks.
* ``sendDtmf`` events made by the relay come through :meth:`Transcoding.inject`: the
  event's start (wall time) is turned into a source timestamp by extrapolating from the
  last audio packet, then relayed like a received event; the browser's audio is not
  forwarded while the event plays (the relay drops it), so the audio after the event is
  taken as a new talkspurt (:meth:`~wcs.rtp.transcode.AudioTranscoder.source_changed`):
  its timestamps continue after the event by wall-clock time, with the marker bit.
* PTs: toward SIP the source is the browser's codec PT; from SIP the peer may send with
  the PT it declared or the one we declared (RFC 3264 §6.1), both are accepted.  Other
  PTs are dropped and counted (``dropped``).

:func:`transcoding_factory` wraps another :data:`~.processor.ProcessorFactory` (passthrough
by default, or e.g. a video one): streams without a transcoded pair go to it.  A stream
that switches between passthrough and transcoding in a re-INVITE keeps its outgoing SSRC
(and, from a transcoder, its sequence numbers).  The codec registry decides what the
negotiation may offer, so building a transcoder cannot fail for a missing library in a
well-configured gateway; should it fail anyway, the direction gets an :class:`Unavailable`
processor that drops its packets (counted) — never an exception on the media path.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ...entropy import Entropy, random_uint
from ...rtp.codecs import CodecRegistry, CodecUnavailable, CodecUsageError, default_registry
from ...rtp.rewrite import StreamRewriter
from ...rtp.transcode import AudioTranscoder
from ...sdp.plan import PtPair, StreamPlan
from .processor import Passthrough, ProcessorFactory, StreamProcessor, passthrough_factory

__all__ = ["Transcoding", "Unavailable", "transcoding_factory"]

_HDR = struct.Struct("!BBHII")
_TS = struct.Struct("!I")
Codecs = tuple[tuple[str, int], tuple[str, int]]   # (source name, clock), (destination name, clock)


def _codecs(pair: PtPair, toward_sip: bool) -> Codecs:
    browser, sip = (pair.name, pair.clock_rate), (pair.sip_name or pair.name, pair.sip_rate)
    return (browser, sip) if toward_sip else (sip, browser)


def _events(plan: StreamPlan) -> list[PtPair]:
    return [p for p in plan.codecs if p.name.lower() == "telephone-event"]


class Transcoding:
    """One direction of a transcoded audio stream (see the module docstring)."""

    def __init__(self, plan: StreamPlan, toward_sip: bool, *, registry: CodecRegistry | None = None,
                 entropy: Entropy, ssrc: int | None = None, initial_sequence: int | None = None,
                 initial_timestamp: int | None = None) -> None:
        pair = plan.transcoding
        if pair is None:
            raise CodecUsageError("the plan has no transcoded pair")
        self.toward_sip = toward_sip
        self.codecs = _codecs(pair, toward_sip)
        (src, src_rate), (dst, dst_rate) = self.codecs
        self.transcoder = AudioTranscoder(
            src, dst, payload_type=pair.sip_pt if toward_sip else pair.webrtc_pt, src_clock_rate=src_rate,
            dst_clock_rate=dst_rate, registry=registry or default_registry, ssrc=ssrc, entropy=entropy,
            initial_sequence=initial_sequence, initial_timestamp=initial_timestamp)
        self._src_clock = self.transcoder.src.clock_rate
        #: the stream clock the relay gives ``inject`` offsets in (the browser codec's)
        self._stream_clock = pair.clock_rate
        self._synthetic = random_uint(entropy, 32)
        #: packets of a PT this direction does not carry
        self.dropped = 0
        self.last_timestamp: int | None = None   # of the last packet sent
        self._audio: frozenset[int] = frozenset()
        self._events: dict[int, tuple[int, int, int]] = {}   # source PT → (destination PT, clocks)
        self._last: tuple[int, int, int, float] | None = None   # last source audio: ssrc, seq, ts, time
        self._resync = False
        self.update(plan)

    @property
    def ssrc(self) -> int:
        return self.transcoder.ssrc

    def update(self, plan: StreamPlan) -> None:
        """New PTs (same codecs: the factory builds a new transcoder for others)."""
        pair = plan.transcoding
        assert pair is not None
        events: dict[int, tuple[int, int, int]] = {}
        if self.toward_sip:
            self.transcoder.payload_type = pair.sip_pt
            self._audio = frozenset({pair.webrtc_pt})
            for p in _events(plan):
                events[p.webrtc_pt] = (p.sip_pt, p.clock_rate, p.sip_rate)
        else:
            self.transcoder.payload_type = pair.webrtc_pt
            self._audio = frozenset({pair.sip_pt, *self._declared(plan, pair.sip_encoding, pair.sip_rate)})
            for p in _events(plan):
                for pt in {p.sip_pt, *self._declared(plan, "telephone-event", p.sip_rate)}:
                    events.setdefault(pt, (p.webrtc_pt, p.sip_rate, p.clock_rate))
        self._events = events

    @staticmethod
    def _declared(plan: StreamPlan, encoding: str, rate: int) -> list[int]:
        """PTs our SIP SDP declared for a format (the peer may send with them)."""
        return [f.pt for f in plan.sip_formats if f.encoding == encoding and f.clock_rate == rate]

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        pt = packet[1] & 0x7F
        if pt in self._audio:
            if self._resync:
                self._resync = False
                self.transcoder.source_changed()
            _, _, seq, ts, ssrc = _HDR.unpack_from(packet)
            self._last = (ssrc, seq, ts, now)
            out = self.transcoder.receive(packet, now)
        else:
            event = self._events.get(pt)
            if event is None:
                self.dropped += 1
                return ()
            out = self.transcoder.relay_event(packet, now, payload_type=event[0], src_rate=event[1],
                                              dst_rate=event[2])
        if out:
            self.last_timestamp = _TS.unpack_from(out[-1], 4)[0]
        return out

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        clock = next((dst_rate for dst, _, dst_rate in self._events.values() if dst == payload_type), None)
        if clock is None:
            return None
        offset = offset * self._src_clock // self._stream_clock
        if self._last is None:   # no audio yet: the event anchors the timeline
            ssrc, seq, timestamp = self._synthetic, 0, offset
        else:
            ssrc, seq, ts, at = self._last
            timestamp = ts + round((start - at) * self._src_clock) + offset
        # the sequence number of the last source packet: relay_event leaves the loss detector alone
        packet = _HDR.pack(0x80, (0x80 if marker else 0) | payload_type, seq, timestamp & 0xFFFFFFFF, ssrc)
        out = self.transcoder.relay_event(packet + payload, start, payload_type=payload_type,
                                          src_rate=clock, dst_rate=clock)
        self._resync = True
        if not out:
            return None
        self.last_timestamp = _TS.unpack_from(out[-1], 4)[0]
        return out[-1]

    def source_changed(self) -> None:
        self.transcoder.source_changed()

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        return ()


class Unavailable:
    """A direction that cannot be transcoded here: drops (and counts) what arrives."""

    def __init__(self, reason: str, entropy: Entropy, ssrc: int | None = None) -> None:
        self.reason = reason
        self._ssrc = random_uint(entropy, 32) if ssrc is None else ssrc
        self.dropped = 0

    @property
    def ssrc(self) -> int:
        return self._ssrc

    def update(self, plan: StreamPlan) -> None:
        pass

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        self.dropped += 1
        return ()

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        return None

    def source_changed(self) -> None:
        pass

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        return ()


def transcoding_factory(entropy: Entropy, registry: CodecRegistry | None = None,
                        fallback: ProcessorFactory | None = None) -> ProcessorFactory:
    """A factory giving transcoded audio directions a :class:`Transcoding`, others to ``fallback``."""
    other = fallback or passthrough_factory(entropy)

    def factory(plan: StreamPlan, toward_sip: bool, previous: StreamProcessor | None) -> StreamProcessor:
        pair = plan.transcoding if plan.kind == "audio" else None
        if pair is None:
            if not isinstance(previous, Transcoding | Unavailable):
                return other(plan, toward_sip, previous)
            processor = other(plan, toward_sip, None)
            if isinstance(processor, Passthrough):   # back to passthrough: the same outgoing stream
                seq = previous.transcoder.next_sequence if isinstance(previous, Transcoding) else None
                last = previous.last_timestamp if isinstance(previous, Transcoding) else None
                processor.rewriter = StreamRewriter(
                    plan.codecs[0].clock_rate, ssrc=previous.ssrc, entropy=entropy, initial_sequence=seq,
                    initial_timestamp=None if last is None else last + plan.codecs[0].clock_rate // 50)
                processor.update(plan)
            return processor
        if isinstance(previous, Transcoding) and previous.codecs == _codecs(pair, toward_sip):
            previous.update(plan)
            return previous
        seq = timestamp = None
        if isinstance(previous, Transcoding):
            seq = previous.transcoder.next_sequence
            if previous.last_timestamp is not None:
                timestamp = previous.last_timestamp + _codecs(pair, toward_sip)[1][1] // 50
        try:
            return Transcoding(plan, toward_sip, registry=registry, entropy=entropy,
                               ssrc=previous.ssrc if previous is not None else None,
                               initial_sequence=seq, initial_timestamp=timestamp)
        except (CodecUnavailable, CodecUsageError) as exc:
            return Unavailable(str(exc), entropy, previous.ssrc if previous is not None else None)

    return factory
