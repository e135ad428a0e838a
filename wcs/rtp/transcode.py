"""Transcoding one direction of one RTP audio stream, sans-I/O.

Theory of operation
-------------------
An :class:`AudioTranscoder` sits where the relay would forward a packet but the two
legs share no codec.  ``receive(packet, now)`` takes one incoming RTP packet of the
source codec and returns the complete outgoing RTP packets (zero, one or more) of the
destination codec: its own SSRC, continuous sequence numbers, timestamps in the
destination clock, the negotiated payload type.  The relay only has to protect and
send them.  Telephone events (RFC 4733) are not audio: ``relay_event`` re-stamps them
into the same outgoing stream (RFC 4733 §2.1: same SSRC, sequence and timestamp space).

Per packet: decode → (resample) → FIFO → encode whole ``ptime`` frames → packetise.

* Rates.  Opus runs at the other codec's rate (libopus decodes to and encodes from 8,
  16 or 48 kHz directly), so Opus ⇄ G.711/G.729/Speex/G.722 needs no resampler; other
  pairs with different rates go through :class:`~wcs.rtp.codecs.resample.Resampler`.
  Audio is mono: a stereo Opus stream is downmixed by the decoder.
* Timeline.  Output timestamps count encoded samples (``ticks`` per frame: 160 for
  20 ms of PCMU or G.722, 960 for Opus — RFC 3551 §4.5.2, RFC 7587 §4.1), so the
  outgoing stream is gap-free while the source is.  The source position of each packet
  is tracked (``next_src_ts`` = its timestamp + its decoded duration) to classify the
  next one, RFC 3550 A.1 style on sequence numbers:

  - in order, timestamp where expected → decoded and appended;
  - after a sequence gap (loss) of at most ``max_conceal`` seconds → the gap is filled
    by the decoder's concealment (Opus PLC, or its in-band FEC from this packet; G.729
    and Speex PLC; pitch repetition for G.711/G.722), then the packet is decoded;
  - a timestamp jump without loss (silence suppression / DTX, RFC 3551 §4.1), a longer
    loss, or a jump backwards → a *discontinuity*: the partial frame is padded with
    silence and sent, the output timeline jumps by the same time (mapped to the
    destination clock; wall-clock time when the source went backwards or leapt more
    than 10 s ahead) and the next packet carries the marker bit;
  - duplicates and late (reordered) packets → dropped and counted (no jitter buffer);
  - a sequence jump beyond ``max_dropout`` → dropped unless the next packet follows it
    (then the source restarted: handled like a source change);
  - a new SSRC (re-INVITE, transfer) → partial frame flushed, coder state reset, output
    continues after the last packet sent plus the wall-clock time elapsed, marker set;
  - an undecodable payload → counted and treated as lost (concealed with the next).

* Events.  ``relay_event`` maps the event timestamp through the same source →
  destination mapping as audio (``map_timestamp``), rescales RFC 4733 durations when
  the event clocks differ (telephone-event/48000 ⇄ /8000) and gives the packet the
  next outgoing sequence number.  Event packets consume source sequence numbers too,
  so they advance the loss detector.  Comfort noise (RFC 3389) is the caller's choice:
  drop it (the pause becomes a discontinuity) or, when both clocks are 8000 Hz, pass
  it through ``relay_event`` with the destination's CN payload type.
* Output is mono; Opus is sent mono even when SDP says ``opus/48000/2`` (RFC 7587 §7).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from wcs.entropy import Entropy, SystemEntropy, random_uint
from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Fmtp, Pcm
from wcs.rtp.codecs.errors import CodecError, CodecUsageError
from wcs.rtp.codecs.opus import OPUS
from wcs.rtp.codecs.registry import CodecRegistry, default_registry, lookup
from wcs.rtp.codecs.resample import Resampler
from wcs.rtp.errors import RtpError
from wcs.rtp.packet import payload_offset

__all__ = ["AudioTranscoder"]

_HDR = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")


class AudioTranscoder:
    """One direction of one stream: ``src`` codec packets in, ``dst`` codec packets out.

    ``src``/``dst`` are SDP codec names (``"opus"``, ``"PCMU"``, ``"speex/16000"``);
    ``payload_type`` is the destination PT to stamp; ``src_payload_type``, if given,
    drops any other PT.  ``src_fmtp`` is the sender's fmtp, ``dst_fmtp`` the
    receiver's (it shapes the encoder: Opus FEC/bitrate/bandwidth, G.729 Annex B).
    ``ssrc``, ``initial_sequence`` and ``initial_timestamp`` default to random values
    from ``entropy`` (RFC 3550 §5.1).
    """

    def __init__(
        self,
        src: str,
        dst: str,
        *,
        payload_type: int,
        src_payload_type: int | None = None,
        src_clock_rate: int | None = None,
        dst_clock_rate: int | None = None,
        src_fmtp: Fmtp = None,
        dst_fmtp: Fmtp = None,
        ptime: int = 20,
        encoder_options: Mapping[str, Any] | None = None,
        registry: CodecRegistry | None = None,
        ssrc: int | None = None,
        entropy: Entropy | None = None,
        initial_sequence: int | None = None,
        initial_timestamp: int | None = None,
        max_conceal: float = 0.12,
        max_dropout: int = 3000,
        max_misorder: int = 100,
    ) -> None:
        if not 0 <= payload_type <= 127:
            raise CodecUsageError(f"payload type {payload_type} out of range")
        reg = registry or default_registry
        self.src: CodecInfo = lookup(src, src_clock_rate)
        self.dst: CodecInfo = lookup(dst, dst_clock_rate)
        dec_rate, enc_rate = self.src.sample_rate, self.dst.sample_rate
        if self.src is OPUS and self.dst is not OPUS:
            dec_rate = enc_rate  # libopus decodes straight to 8/16 kHz
        elif self.dst is OPUS and self.src is not OPUS:
            enc_rate = dec_rate  # … and encodes from them
        self.decoder: Decoder = reg.create_decoder(self.src.name, self.src.clock_rate, 1, src_fmtp,
                                                   sample_rate=dec_rate)
        self.encoder: Encoder = reg.create_encoder(self.dst.name, self.dst.clock_rate, 1, dst_fmtp,
                                                   sample_rate=enc_rate, ptime=ptime,
                                                   **dict(encoder_options or {}))
        self.resampler = Resampler(dec_rate, enc_rate) if dec_rate != enc_rate else None
        rng = entropy if entropy is not None else SystemEntropy()
        self.ssrc = random_uint(rng, 32) if ssrc is None else ssrc
        self.payload_type = payload_type
        self.src_payload_type = src_payload_type
        self.clock_rate = self.dst.clock_rate
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        # counters
        self.received = 0
        self.sent = 0
        self.lost = 0
        self.late = 0
        self.concealed = 0  # samples (at the decoder rate) made up by concealment
        self.decode_errors = 0
        self.malformed = 0
        self.dropped_payload_type = 0
        self.dropped_jump = 0
        self.discontinuities = 0
        self.source_changes = 0
        self.events = 0
        # rates and frame geometry
        self._dec_rate, self._enc_rate = dec_rate, enc_rate
        self._src_clock, self._dst_clock = self.src.clock_rate, self.dst.clock_rate
        self._frame = self.encoder.samples_per_frame
        self._frame_ticks = self.dst.ticks(self._frame, enc_rate)
        self._tolerance = int(self._src_clock * self.src.frame_ms) // 2000  # half a codec frame
        self._max_conceal = int(max_conceal * self._src_clock)
        self._max_gap = 10 * self._src_clock  # longer "pauses" are restarts: use the wall clock
        # output stream state
        self._seq = random_uint(rng, 16) if initial_sequence is None else initial_sequence & 0xFFFF
        self._fifo_ts = random_uint(rng, 32) if initial_timestamp is None else initial_timestamp & 0xFFFFFFFF
        self._marker = 0x80
        self._last_sent_ts: int | None = None
        self._last_sent_time = 0.0
        self._fifo = np.zeros(max(4 * self._frame, enc_rate // 2), np.int16)
        self._fifo_len = 0
        # source state
        self._src_ssrc = -1
        self._next_seq = 0
        self._next_src_ts = 0
        self._bad_seq = -1
        self._map_src: int | None = None
        self._map_dst = 0

    # ----------------------------------------------------------------- public API

    def receive(self, packet: bytes | bytearray | memoryview, now: float) -> list[bytes]:
        """Feed one source RTP packet; returns the outgoing RTP packets it completes."""
        out: list[bytes] = []
        parsed = self._parse(packet)
        if parsed is None:
            return out
        pt, seq, ts, ssrc, payload = parsed
        if self.src_payload_type is not None and pt != self.src_payload_type:
            self.dropped_payload_type += 1
            return out
        self.received += 1
        if ssrc != self._src_ssrc:
            self._new_source(ssrc, seq, ts, now, out)
        lost = self._sequence(seq, ts, now, out)
        if lost < 0:
            return out
        gap = _signed(ts - self._next_src_ts)
        if lost and 0 < gap <= self._max_conceal:
            self.lost += lost
            self._append(self.decoder.conceal(gap * self._dec_rate // self._src_clock, payload), now, out,
                         concealed=True)
        elif -self._tolerance <= gap <= self._tolerance:
            self.lost += lost
        else:
            self.lost += lost
            self._discontinuity(gap, now, out)
        try:
            pcm = self.decoder.decode(payload)
        except CodecError:
            self.decode_errors += 1  # _next_seq stays: the next packet conceals this one
            return out
        self._next_seq = (seq + 1) & 0xFFFF
        self._map_src = ts
        self._map_dst = (self._fifo_ts + self._fifo_len * self._dst_clock // self._enc_rate) & 0xFFFFFFFF
        self._next_src_ts = (ts + len(pcm) * self._src_clock // self._dec_rate) & 0xFFFFFFFF
        self._append(pcm, now, out)
        return out

    def relay_event(self, packet: bytes | bytearray | memoryview, now: float, *, payload_type: int,
                    src_rate: int | None = None, dst_rate: int | None = None) -> list[bytes]:
        """Re-stamp a telephone-event packet (RFC 4733) into the outgoing stream.

        ``payload_type`` is the destination's telephone-event PT; ``src_rate`` /
        ``dst_rate`` the event clocks on each side (default: the audio clocks) — event
        durations are rescaled between them.  Returns the packets to send: audio
        flushed by a source change, if any, then the event.
        """
        out: list[bytes] = []
        parsed = self._parse(packet)
        if parsed is None:
            return out
        _, seq, ts, ssrc, payload = parsed
        if ssrc != self._src_ssrc:
            self._new_source(ssrc, seq, ts, now, out)
        if (seq - self._next_seq) & 0xFFFF < self.max_dropout:
            self._next_seq = (seq + 1) & 0xFFFF
        if self._map_src is None:  # no audio yet: anchor on the event
            self._map_src, self._map_dst = ts, self._fifo_ts
        src_rate = src_rate or self._src_clock
        dst_rate = dst_rate or self._dst_clock
        if src_rate != dst_rate and len(payload) % 4 == 0:
            body = bytearray(payload)
            for i in range(0, len(body), 4):
                duration = _U16.unpack_from(body, i + 2)[0] * dst_rate // src_rate
                _U16.pack_into(body, i + 2, min(duration, 0xFFFF))
            payload = bytes(body)
        marker = packet[1] & 0x80
        out.append(_HDR.pack(0x80, marker | (payload_type & 0x7F), self._seq, self.map_timestamp(ts),
                             self.ssrc) + payload)
        self._seq = (self._seq + 1) & 0xFFFF
        self.events += 1
        return out

    def map_timestamp(self, src_timestamp: int) -> int:
        """The destination timestamp of a source timestamp (for events, RTCP, logs)."""
        if self._map_src is None:
            return self._fifo_ts
        delta = _signed(src_timestamp - self._map_src)
        return (self._map_dst + delta * self._dst_clock // self._src_clock) & 0xFFFFFFFF

    def flush(self, now: float) -> list[bytes]:
        """Send what waits in the FIFO (padded to a whole frame), e.g. before hold."""
        out: list[bytes] = []
        self._pad_and_flush(now, out)
        return out

    def source_changed(self) -> None:
        """Treat the next packet as a new source even if it keeps the SSRC."""
        self._src_ssrc = -1

    def counters(self) -> dict[str, int]:
        """The counters by name, for metrics and logs."""
        names = ("received", "sent", "lost", "late", "concealed", "decode_errors", "malformed",
                 "dropped_payload_type", "dropped_jump", "discontinuities", "source_changes", "events")
        return {name: getattr(self, name) for name in names}

    @property
    def next_sequence(self) -> int:
        """Sequence number the next outgoing packet will carry."""
        return self._seq

    # ----------------------------------------------------------------- internals

    def _parse(self, packet: bytes | bytearray | memoryview) -> tuple[int, int, int, int, bytes] | None:
        if len(packet) < 12:
            self.malformed += 1
            return None
        b0, b1, seq, ts, ssrc = _HDR.unpack_from(packet)
        if b0 == 0x80:
            return b1 & 0x7F, seq, ts, ssrc, bytes(packet[12:])
        try:
            start, end = payload_offset(packet)
        except RtpError:
            self.malformed += 1
            return None
        return b1 & 0x7F, seq, ts, ssrc, bytes(packet[start:end])

    def _sequence(self, seq: int, ts: int, now: float, out: list[bytes]) -> int:
        """Packets lost before ``seq`` (0 in order), or -1 if the packet is dropped."""
        delta = (seq - self._next_seq) & 0xFFFF
        if delta < self.max_dropout:
            return delta
        if delta >= 0x10000 - self.max_misorder:
            self.late += 1
            return -1
        if seq != self._bad_seq:
            self._bad_seq = (seq + 1) & 0xFFFF
            self.dropped_jump += 1
            return -1
        self._new_source(self._src_ssrc, seq, ts, now, out)  # two in a row: a restart (A.1)
        return 0

    def _new_source(self, ssrc: int, seq: int, ts: int, now: float, out: list[bytes]) -> None:
        if self._src_ssrc != -1 or self._last_sent_ts is not None:
            self.source_changes += 1
        self._pad_and_flush(now, out)
        self._skip_to_wall_clock(now)
        self.decoder.reset()  # the encoder and resampler carry on: the output is one stream
        self._src_ssrc = ssrc
        self._next_seq = seq
        self._next_src_ts = ts
        self._bad_seq = -1
        self._map_src = None
        self._marker = 0x80

    def _discontinuity(self, gap: int, now: float, out: list[bytes]) -> None:
        self.discontinuities += 1
        real_end = self._fifo_ts + self._fifo_len * self._dst_clock // self._enc_rate
        self._pad_and_flush(now, out)
        if 0 < gap <= self._max_gap:
            target = real_end + gap * self._dst_clock // self._src_clock
            if _signed(target - self._fifo_ts) > 0:
                self._fifo_ts = target & 0xFFFFFFFF
        else:
            self._skip_to_wall_clock(now)
        self._marker = 0x80

    def _skip_to_wall_clock(self, now: float) -> None:
        """Move the (empty) FIFO's timestamp to where wall-clock time says it is."""
        if self._last_sent_ts is None:
            return
        elapsed = round((now - self._last_sent_time) * self._dst_clock)
        target = self._last_sent_ts + elapsed
        if _signed(target - self._fifo_ts) > 0:
            self._fifo_ts = target & 0xFFFFFFFF

    def _pad_and_flush(self, now: float, out: list[bytes]) -> None:
        if self._fifo_len:
            self._fifo[self._fifo_len : self._frame] = 0
            self._fifo_len = self._frame
            self._drain(now, out)

    def _append(self, pcm: Pcm, now: float, out: list[bytes], concealed: bool = False) -> None:
        if concealed:
            self.concealed += len(pcm)
            ticks = len(pcm) * self._src_clock // self._dec_rate
            self._next_src_ts = (self._next_src_ts + ticks) & 0xFFFFFFFF
        if self.resampler is not None:
            pcm = self.resampler.process(pcm)
        n = len(pcm)
        if self._fifo_len == 0 and n == self._frame:  # the common case: frame in, frame out
            self._send(self.encoder.encode(pcm), now, out)
            return
        need = self._fifo_len + n
        if need > len(self._fifo):
            grown = np.zeros(max(need, 2 * len(self._fifo)), np.int16)
            grown[: self._fifo_len] = self._fifo[: self._fifo_len]
            self._fifo = grown
        self._fifo[self._fifo_len : need] = pcm
        self._fifo_len = need
        self._drain(now, out)

    def _drain(self, now: float, out: list[bytes]) -> None:
        frame, pos = self._frame, 0
        while self._fifo_len - pos >= frame:
            self._send(self.encoder.encode(self._fifo[pos : pos + frame]), now, out)
            pos += frame
        if pos:
            rest = self._fifo_len - pos
            self._fifo[:rest] = self._fifo[pos : self._fifo_len]
            self._fifo_len = rest

    def _send(self, payload: bytes, now: float, out: list[bytes]) -> None:
        ts = self._fifo_ts
        self._fifo_ts = (ts + self._frame_ticks) & 0xFFFFFFFF
        if not payload:  # DTX: nothing to send, the next packet starts a talkspurt
            self._marker = 0x80
            return
        out.append(_HDR.pack(0x80, self._marker | self.payload_type, self._seq, ts, self.ssrc) + payload)
        self._seq = (self._seq + 1) & 0xFFFF
        self._marker = 0
        self._last_sent_ts = ts
        self._last_sent_time = now
        self.sent += 1


def _signed(delta: int) -> int:
    """A 32-bit timestamp difference as a signed integer."""
    return ((delta + 0x80000000) & 0xFFFFFFFF) - 0x80000000
