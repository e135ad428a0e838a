"""Rewriting relayed RTP so each outgoing stream stays one valid, continuous stream.

Theory of operation
-------------------
The relay forwards packets from a source leg to a destination leg.  The source can
change under it — hold/resume, a re-INVITE to another media server, a transfer — and
each change brings a new SSRC with its own random sequence number and timestamp bases
(RFC 3550 §5.1).  The receiver on the destination leg must see one stream (RFC 3550
§8.2 would otherwise make it treat the change as a new participant, and RFC 3550 A.1
probation / jitter buffers would glitch), so a :class:`StreamRewriter` per outgoing
stream writes, in place:

* SSRC: its own, fixed for the life of the stream.
* Sequence number: ``source seq + offset`` (mod 2^16).  The offset is chosen when a
  source starts so that its first packet follows the last packet sent, +1.  Because it
  is an offset and not a counter, a packet reordered within the source keeps its
  position and a gap (loss) stays a gap the receiver can count.
* Timestamp: ``source ts + offset`` (mod 2^32).  On a source change the offset makes
  the new source's first timestamp equal the last timestamp sent plus the wall time
  elapsed since it was sent, in clock-rate units — so playout timing is preserved
  across the change.
* Marker bit: set on the first packet after a source change (RFC 3551 §4.1: the
  start of a talkspurt, letting the receiver re-sync its playout buffer); otherwise
  the source's marker is kept.  Video streams pass ``mark_source_changes=False``: there
  the marker ends a frame (RFC 7741 §4.1, RFC 6184 §5.1) and must stay the source's.
* Payload type: mapped through ``pt_map`` (source PT → destination PT, as negotiated
  on each leg); a PT missing from the map is dropped and counted.

Sequence checks follow RFC 3550 A.1 in spirit: a forward jump below ``max_dropout``
is in-order (perhaps after loss); a step back within ``max_misorder`` is a reordered
packet, forwarded through the same offsets unless it predates the source's first
forwarded packet (it would collide with the previous source's numbers: dropped as
stale); a larger jump is dropped unless the next packet follows it, and then taken as
a restart of the source (same SSRC, new bases; A.1's ``bad_seq`` rule) and handled
like a source change.  Late packets from the previous source, within
``max_misorder`` of where it stopped, are dropped as stale instead of flipping back.

The per-packet path is one ``unpack_from``, a few integer operations and one
``pack_into`` on the caller's ``bytearray``/``memoryview``; no objects are built.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from wcs.entropy import Entropy, SystemEntropy, random_uint

__all__ = ["StreamRewriter"]

_HDR = struct.Struct("!BBHII")
_TAIL = struct.Struct("!BHII")  # octets 1..11: M|PT, seq, ts, ssrc


class StreamRewriter:
    """Keeps one outgoing RTP stream continuous while its source changes.

    ``rewrite(packet, now)`` edits the header in place and returns ``True`` when the
    packet should be sent, ``False`` when it was dropped (see the ``dropped_*``
    counters).  ``pt_map=None`` forwards every payload type unchanged.
    """

    # the fields every packet reads or writes first, so that they share the object's first
    # cache lines (a relay touches hundreds of rewriters between two packets of one)
    __slots__ = (
        "_src", "_max_seq", "_ext_max", "_seq_off", "_ts_off", "ssrc", "pt_map", "max_dropout",
        "_out_seq", "_out_ts", "_out_time", "forwarded",
        "clock_rate", "max_misorder", "dropped_payload_type", "dropped_malformed", "dropped_stale",
        "dropped_jump", "source_changes", "mark_source_changes", "_started", "_prev_src", "_prev_max",
        "_bad_seq",
    )

    def __init__(
        self,
        clock_rate: int,
        *,
        ssrc: int | None = None,
        pt_map: Mapping[int, int] | None = None,
        entropy: Entropy | None = None,
        initial_sequence: int | None = None,
        initial_timestamp: int | None = None,
        max_dropout: int = 3000,
        max_misorder: int = 100,
        mark_source_changes: bool = True,
    ) -> None:
        rng = entropy if entropy is not None else SystemEntropy()
        self.mark_source_changes = mark_source_changes
        self.ssrc = random_uint(rng, 32) if ssrc is None else ssrc
        self.clock_rate = clock_rate
        self.pt_map: Mapping[int, int] | None = pt_map
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        self.forwarded = 0
        self.dropped_payload_type = 0
        self.dropped_malformed = 0
        self.dropped_stale = 0
        self.dropped_jump = 0
        self.source_changes = 0
        # RFC 3550 §5.1: initial sequence number and timestamp SHOULD be random; the
        # first packet ever gets these ("last sent" is one before them).
        seq0 = random_uint(rng, 16) if initial_sequence is None else initial_sequence
        ts0 = random_uint(rng, 32) if initial_timestamp is None else initial_timestamp
        self._out_seq = (seq0 - 1) & 0xFFFF
        self._out_ts = ts0
        self._out_time = 0.0
        self._started = False
        self._src = -1  # never equal to a 32-bit SSRC
        self._max_seq = 0
        self._ext_max = 0
        self._seq_off = 0
        self._ts_off = 0
        self._prev_src = -1
        self._prev_max = 0
        self._bad_seq = -1

    def source_changed(self) -> None:
        """Re-base on the next packet even if it keeps the current SSRC (e.g. after a
        re-INVITE to a server known to reuse SSRCs)."""
        if self._src >= 0:
            self._prev_src, self._prev_max = self._src, self._max_seq
        self._src = -1

    def rewrite(self, packet: bytearray | memoryview, now: float) -> bool:
        """Rewrite ``packet`` (a whole RTP packet, writable) for the outgoing stream."""
        if len(packet) < 12:
            self.dropped_malformed += 1
            return False
        b0, b1, seq, ts, ssrc = _HDR.unpack_from(packet)
        if b0 & 0xC0 != 0x80:
            self.dropped_malformed += 1
            return False
        pt = b1 & 0x7F
        if self.pt_map is not None:
            mapped = self.pt_map.get(pt)
            if mapped is None:
                self.dropped_payload_type += 1
                return False
            pt = mapped
        marker = b1 & 0x80
        newest = True
        if ssrc == self._src:
            delta = (seq - self._max_seq) & 0xFFFF
            if 0 < delta < self.max_dropout:
                self._max_seq = seq
                self._ext_max += delta
            elif delta == 0 or delta >= 0x10000 - self.max_misorder:
                # duplicate or reordered: same offsets, unless older than the first packet
                if self._ext_max - ((0x10000 - delta) & 0xFFFF) < 0:
                    self.dropped_stale += 1
                    return False
                newest = False
            elif seq == self._bad_seq:
                self._rebase(seq, ts, now)  # two in a row after a jump: a restart (A.1)
                if self.mark_source_changes:
                    marker = 0x80
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                self.dropped_jump += 1
                return False
        elif ssrc == self._prev_src and (self._prev_max - seq) & 0xFFFF < self.max_misorder:
            self.dropped_stale += 1
            return False
        else:
            if self._src >= 0:
                self._prev_src, self._prev_max = self._src, self._max_seq
            self._src = ssrc
            self._rebase(seq, ts, now)
            if self.mark_source_changes:
                marker = 0x80
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        _TAIL.pack_into(packet, 1, marker | pt, out_seq, out_ts, self.ssrc)
        if newest:
            self._out_seq = out_seq
            self._out_ts = out_ts
            self._out_time = now
        self.forwarded += 1
        return True

    def _rebase(self, seq: int, ts: int, now: float) -> None:
        """Choose offsets so (seq, ts) continue the outgoing stream (see module doc)."""
        if self._started:
            advance = round((now - self._out_time) * self.clock_rate)
            out_ts = self._out_ts + (advance if advance > 0 else 1)
            self.source_changes += 1
        else:
            out_ts = self._out_ts
            self._started = True
        self._seq_off = (self._out_seq + 1 - seq) & 0xFFFF
        self._ts_off = (out_ts - ts) & 0xFFFFFFFF
        self._max_seq = seq
        self._ext_max = 0
