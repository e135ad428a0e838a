"""Frame reassembly shared by the VP8 and H.264 depacketizers.

Theory of operation
-------------------
All RTP packets of one video frame carry the same timestamp, consecutive sequence
numbers, and the marker bit on the last one (RFC 3550 §5.1; RFC 7741 §4.1; RFC 6184
§5.1).  Packets are grouped by timestamp; each group keeps its packets by sequence
number, so reordering inside a frame (and between frames) is tolerated.  A group is
emitted as a :class:`~wcs.rtp.video.common.VideoFrame` once it is *complete*:

* its first packet is known to start the frame — the payload format says so (VP8: S=1
  and PID=0, RFC 7741 §4.2; H.264: an access-unit-opening NAL unit, RFC 6184 §5.1 and
  H.264 §7.4.1.2.3) or the packet just before it belongs to the previous frame or is
  padding;
* its last packet carries the marker bit, or the packet just after it belongs to
  another frame or is padding (some senders forget the marker);
* no sequence number between the two is missing.

Frames are emitted in sequence order.  When a frame completes, older incomplete ones
are abandoned: a decoder cannot use them after a newer frame anyway.  Any loss —
packets missing between the last emitted frame and this one, abandoned frames,
malformed packets or frames — sets ``discontinuity`` on the next frame emitted, which
tells the consumer its decoder may have lost its reference and a keyframe is needed
(RFC 4585 §6.3.1 PLI).  Empty payloads are padding (as browsers send for bandwidth
probing): they fill sequence gaps without data.  Packets older than the last emitted
frame are late and dropped; a jump far back restarts the assembler.

Malformed packets are counted and dropped, never raised.  No clock is read: a frame
whose last packet never comes is abandoned when a newer frame completes (or when more
than ``max_pending`` frames are waiting).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from wcs.rtp.errors import RtpError
from wcs.rtp.packet import payload_offset
from wcs.rtp.video.common import VideoFrame, seq_delta
from wcs.rtp.video.errors import VideoError

__all__ = ["FrameAssembler"]

T = TypeVar("T")

#: a packet this far behind the last emitted frame means the source restarted its numbering
_RESTART_DISTANCE = 3000


class _Group(Generic[T]):
    __slots__ = ("timestamp", "packets", "first", "last", "marker", "octets")

    def __init__(self, timestamp: int, seq: int) -> None:
        self.timestamp = timestamp
        self.packets: dict[int, T] = {}
        self.first = seq
        self.last = seq
        self.marker = False
        self.octets = 0


class FrameAssembler(Generic[T]):
    """Base of the depacketizers: subclasses define :meth:`_parse`, :meth:`_is_start`, :meth:`_assemble`.

    Feed packets with :meth:`push` (payload and header fields) or :meth:`push_packet`
    (a whole RTP packet); each returns the frames that became complete, oldest first.
    """

    #: frames (timestamps) waiting for packets before the oldest is abandoned
    max_pending = 16
    #: largest frame accepted, in payload octets (a 4K keyframe is well below this)
    max_frame_octets = 4 * 1024 * 1024

    def __init__(self) -> None:
        self._groups: dict[int, _Group[T]] = {}
        self._padding: set[int] = set()
        self._last_end: int | None = None
        self._last_ts: int | None = None
        self._newest = 0
        self._lost = False
        self.frames_emitted = 0
        self.frames_dropped = 0
        self.packets_malformed = 0
        self.packets_late = 0
        self.packets_duplicate = 0
        self.packets_padding = 0
        self.restarts = 0

    # -- codec hooks ------------------------------------------------------------------------------

    def _parse(self, payload: bytes) -> T:
        """Validate one payload; raise a :class:`VideoError` subclass if malformed."""
        raise NotImplementedError

    def _is_start(self, item: T) -> bool:
        """Whether this payload is the first of a frame."""
        raise NotImplementedError

    def _assemble(self, items: list[T]) -> tuple[bytes, bool]:
        """``(frame data, keyframe)`` from the payloads of one frame in order; may raise VideoError."""
        raise NotImplementedError

    # -- input ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (the source changed); the next frame is emitted with ``discontinuity``."""
        had_state = self._last_end is not None or bool(self._groups)
        self._groups.clear()
        self._padding.clear()
        self._last_end = None
        self._last_ts = None
        self._lost = had_state

    def push_packet(self, data: bytes | bytearray | memoryview) -> list[VideoFrame]:
        """:meth:`push` for a whole RTP packet; a malformed RTP header is counted and dropped."""
        try:
            start, end = payload_offset(data)
        except RtpError:
            self.packets_malformed += 1
            return []
        seq = (data[2] << 8) | data[3]
        ts = int.from_bytes(data[4:8], "big")
        return self.push(bytes(data[start:end]), seq, ts, bool(data[1] & 0x80))

    def push(self, payload: bytes, sequence_number: int, timestamp: int, marker: bool) -> list[VideoFrame]:
        """Add one packet's payload; returns the frames it completed."""
        seq = sequence_number & 0xFFFF
        if self._last_end is not None:
            behind = seq_delta(seq, self._last_end)
            if behind < -_RESTART_DISTANCE:
                self.restarts += 1
                self.reset()
            elif behind <= 0 or timestamp == self._last_ts:
                self.packets_late += 1
                return []
        if not self._groups or seq_delta(seq, self._newest) > 0:
            self._newest = seq
        if not payload:
            self.packets_padding += 1
            if len(self._padding) >= 4096:  # a long probing burst: forget it, assume loss
                self._padding.clear()
                self._lost = True
            self._padding.add(seq)
            return self._emit()
        try:
            item = self._parse(payload)
        except VideoError:
            self.packets_malformed += 1
            return []
        group = self._groups.get(timestamp)
        if group is None:
            if len(self._groups) >= self.max_pending:
                self._drop_oldest()
            group = self._groups[timestamp] = _Group(timestamp, seq)
        elif seq in group.packets:
            self.packets_duplicate += 1
            return []
        else:
            if seq_delta(seq, group.first) < 0:
                group.first = seq
            if seq_delta(seq, group.last) > 0:
                group.last = seq
                group.marker = False
        if seq == group.last and marker:
            group.marker = True
        group.octets += len(payload)
        group.packets[seq] = item
        if group.octets > self.max_frame_octets:
            del self._groups[timestamp]
            self.frames_dropped += 1
            self._lost = True
            return []
        return self._emit()

    # -- completion -------------------------------------------------------------------------------

    def _owned_elsewhere(self, seq: int, group: _Group[T]) -> bool:
        if seq in self._padding:
            return True
        return any(seq in other.packets for other in self._groups.values() if other is not group)

    def _complete(self, g: _Group[T]) -> bool:
        span = seq_delta(g.last, g.first) + 1
        if len(g.packets) != span:
            return False
        if not g.marker and not self._owned_elsewhere((g.last + 1) & 0xFFFF, g):
            return False
        if self._is_start(g.packets[g.first]):
            return True
        prev = (g.first - 1) & 0xFFFF
        return prev == self._last_end or self._owned_elsewhere(prev, g)

    def _drop_oldest(self) -> None:
        oldest = min(self._groups.values(), key=lambda g: seq_delta(g.first, self._newest))
        del self._groups[oldest.timestamp]
        self.frames_dropped += 1
        self._lost = True

    def _emit(self) -> list[VideoFrame]:
        out: list[VideoFrame] = []
        if not self._groups:
            return out
        ordered = sorted(self._groups.values(), key=lambda g: seq_delta(g.first, self._newest))
        pending = 0
        for idx, g in enumerate(ordered):
            if not self._complete(g):
                continue
            for older in ordered[pending:idx]:  # a newer frame is complete: these are lost
                del self._groups[older.timestamp]
                self.frames_dropped += 1
                self._lost = True
            pending = idx + 1
            del self._groups[g.timestamp]
            frame = self._finish(g)
            if frame is not None:
                out.append(frame)
        return out

    def _gap_is_padding(self, first: int) -> bool:
        if self._last_end is None:
            return True
        gap = seq_delta(first, self._last_end) - 1
        if gap <= 0:
            return True
        if gap > len(self._padding):
            return False
        return all(((self._last_end + i) & 0xFFFF) in self._padding for i in range(1, gap + 1))

    def _finish(self, g: _Group[T]) -> VideoFrame | None:
        discontinuity = self._lost or not self._gap_is_padding(g.first)
        self._last_end = g.last
        self._last_ts = g.timestamp
        end = g.last
        self._padding = {p for p in self._padding if seq_delta(p, end) > 0}
        items = [g.packets[(g.first + i) & 0xFFFF] for i in range(len(g.packets))]
        try:
            data, keyframe = self._assemble(items)
        except VideoError:
            self.frames_dropped += 1
            self._lost = True
            return None
        self._lost = False
        self.frames_emitted += 1
        return VideoFrame(data, g.timestamp, keyframe, discontinuity, g.first, g.last)
