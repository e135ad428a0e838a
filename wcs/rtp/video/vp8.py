"""VP8 RTP payload format (RFC 7741): descriptor, packetizer, depacketizer, keyframes.

Every VP8 RTP payload opens with the payload descriptor (§4.2)::

     0 1 2 3 4 5 6 7
    +-+-+-+-+-+-+-+-+
    |X|R|N|S|R| PID |   S: start of a partition; PID: partition index
    +-+-+-+-+-+-+-+-+
    |I|L|T|K| RSV   |   present if X
    |M| PictureID   |   present if I (15 bits if M, else 7)
    |   TL0PICIDX   |   present if L
    |TID|Y| KEYIDX  |   present if T or K
    +-+-+-+-+-+-+-+-+

The first packet of a frame has S=1 and PID=0 and carries the VP8 payload header, the
first three octets of the frame (§4.3), whose low bit P is 0 for a keyframe (RFC 6386
§9.1).  The marker bit is set on the last packet of the frame (§4.1).

The packetizer keeps PID at 0 (allowed by §4.2), sets S only on the first packet,
carries a running 15- or 7-bit PictureID, and splits a frame into near-equal packets.
:class:`PictureIdRewriter` keeps PictureID, TL0PICIDX and KEYIDX continuous when a relay
splices another source into a stream (the informative note closing §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from wcs.entropy import Entropy, SystemEntropy, random_uint
from wcs.rtp.video.assembler import FrameAssembler
from wcs.rtp.video.common import VideoPacket, split_evenly
from wcs.rtp.video.errors import VideoUsageError, Vp8Error

__all__ = [
    "PictureIdRewriter",
    "Vp8Depacketizer",
    "Vp8Descriptor",
    "Vp8Packetizer",
    "descriptor_size",
    "frame_is_keyframe",
    "keyframe_dimensions",
    "payload_is_keyframe",
]

_KEYFRAME_START_CODE = b"\x9d\x01\x2a"


def descriptor_size(payload: bytes | bytearray | memoryview) -> int:
    """Octets of the payload descriptor at the start of ``payload``; raises :class:`Vp8Error`."""
    n = len(payload)
    if n < 1:
        raise Vp8Error("VP8 payload is empty")
    if not payload[0] & 0x80:
        size = 1
    else:
        if n < 2:
            raise Vp8Error("VP8 descriptor extension octet missing")
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I
            if n < 3:
                raise Vp8Error("VP8 PictureID truncated")
            size += 2 if payload[2] & 0x80 else 1
        if ext & 0x40:  # L
            size += 1
        if ext & 0x30:  # T or K
            size += 1
    if size >= n:
        raise Vp8Error("VP8 payload has no data after the descriptor")
    return size


@dataclass(slots=True)
class Vp8Descriptor:
    """The VP8 payload descriptor (RFC 7741 §4.2).

    Optional fields are ``None`` when absent.  ``long_picture_id`` selects the 15-bit
    PictureID form (M=1).  ``tid``/``layer_sync`` travel in the TID/Y/KEYIDX octet, which
    is written when ``tid`` or ``keyidx`` is set.
    """

    start: bool = False
    partition_index: int = 0
    non_reference: bool = False
    picture_id: int | None = None
    long_picture_id: bool = True
    tl0picidx: int | None = None
    tid: int | None = None
    layer_sync: bool = False
    keyidx: int | None = None

    @classmethod
    def parse(cls, payload: bytes | bytearray | memoryview) -> tuple[Vp8Descriptor, int]:
        """``(descriptor, size)``; the VP8 data starts at ``payload[size:]``."""
        size = descriptor_size(payload)
        b0 = payload[0]
        d = cls(start=bool(b0 & 0x10), partition_index=b0 & 0x07, non_reference=bool(b0 & 0x20))
        if b0 & 0x80:
            ext = payload[1]
            pos = 2
            if ext & 0x80:
                if payload[pos] & 0x80:
                    d.picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                    pos += 2
                else:
                    d.picture_id = payload[pos]
                    d.long_picture_id = False
                    pos += 1
            if ext & 0x40:
                d.tl0picidx = payload[pos]
                pos += 1
            if ext & 0x30:
                tk = payload[pos]
                if ext & 0x20:
                    d.tid = tk >> 6
                d.layer_sync = bool(tk & 0x20)
                if ext & 0x10:
                    d.keyidx = tk & 0x1F
        return d, size

    def __bytes__(self) -> bytes:
        if not 0 <= self.partition_index <= 7:
            raise VideoUsageError(f"VP8 partition index {self.partition_index} out of range")
        b0 = (0x20 if self.non_reference else 0) | (0x10 if self.start else 0) | self.partition_index
        ext = 0
        tail = bytearray()
        if self.picture_id is not None:
            ext |= 0x80
            if self.long_picture_id:
                if not 0 <= self.picture_id <= 0x7FFF:
                    raise VideoUsageError(f"VP8 15-bit PictureID {self.picture_id} out of range")
                tail += bytes((0x80 | self.picture_id >> 8, self.picture_id & 0xFF))
            else:
                if not 0 <= self.picture_id <= 0x7F:
                    raise VideoUsageError(f"VP8 7-bit PictureID {self.picture_id} out of range")
                tail.append(self.picture_id)
        if self.tl0picidx is not None:
            if not 0 <= self.tl0picidx <= 0xFF:
                raise VideoUsageError(f"VP8 TL0PICIDX {self.tl0picidx} out of range")
            ext |= 0x40
            tail.append(self.tl0picidx)
        if self.tid is not None or self.keyidx is not None:
            tid, key = self.tid or 0, self.keyidx or 0
            if not 0 <= tid <= 3 or not 0 <= key <= 31:
                raise VideoUsageError("VP8 TID/KEYIDX out of range")
            ext |= (0x20 if self.tid is not None else 0) | (0x10 if self.keyidx is not None else 0)
            tail.append(tid << 6 | (0x20 if self.layer_sync else 0) | key)
        if not ext:
            return bytes((b0,))
        return bytes((b0 | 0x80, ext)) + bytes(tail)


def payload_is_keyframe(payload: bytes | bytearray | memoryview) -> bool:
    """Whether this RTP payload opens a VP8 keyframe: S=1, PID=0 and P=0 (RFC 7741 §4.3).

    Malformed payloads are not keyframes (no exception).
    """
    try:
        size = descriptor_size(payload)
    except Vp8Error:
        return False
    return payload[0] & 0x17 == 0x10 and not payload[size] & 0x01


def frame_is_keyframe(frame: bytes | bytearray | memoryview) -> bool:
    """Whether an encoded VP8 frame is a keyframe (frame tag bit 0 clear, start code present)."""
    return len(frame) >= 10 and not frame[0] & 0x01 and bytes(frame[3:6]) == _KEYFRAME_START_CODE


def keyframe_dimensions(frame: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """``(width, height)`` of a VP8 keyframe (RFC 6386 §9.1: 14 bits each), ``None`` for an interframe."""
    if not frame_is_keyframe(frame):
        return None
    return (frame[6] | frame[7] << 8) & 0x3FFF, (frame[8] | frame[9] << 8) & 0x3FFF


def _check_frame(frame: bytes) -> bool:
    """Validate the frame tag (RFC 6386 §9.1) of a reassembled frame; returns ``keyframe``."""
    if len(frame) < 3:
        raise Vp8Error("VP8 frame shorter than its 3-octet frame tag")
    tag = frame[0] | frame[1] << 8 | frame[2] << 16
    keyframe = not tag & 0x01
    header = 10 if keyframe else 3
    if keyframe and (len(frame) < 10 or frame[3:6] != _KEYFRAME_START_CODE):
        raise Vp8Error("VP8 keyframe lacks the 9d 01 2a start code")
    if header + (tag >> 5) > len(frame):
        raise Vp8Error("VP8 frame shorter than its first partition")
    return keyframe


class Vp8Packetizer:
    """Splits encoded VP8 frames into RTP payloads of at most ``max_payload`` octets.

    ``max_payload`` counts the descriptor; leave room below the path MTU for the RTP
    header, header extensions and the SRTP tag.  ``picture_id_bits`` is 15 (default),
    7, or 0 for no PictureID; the first PictureID is random unless ``picture_id`` is given.
    """

    def __init__(
        self,
        max_payload: int = 1200,
        *,
        picture_id_bits: int = 15,
        picture_id: int | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        if picture_id_bits not in (0, 7, 15):
            raise VideoUsageError("VP8 PictureID has 0, 7 or 15 bits")
        self._bits = picture_id_bits
        self._mask = (1 << picture_id_bits) - 1
        head = 1 if not picture_id_bits else (3 if picture_id_bits == 7 else 4)
        if max_payload < head + 1:
            raise VideoUsageError(f"max_payload {max_payload} leaves no room for VP8 data")
        self.max_payload = max_payload
        self._chunk = max_payload - head
        if picture_id is None:
            picture_id = random_uint(entropy or SystemEntropy(), picture_id_bits) if picture_id_bits else 0
        self.picture_id = picture_id & self._mask

    def _descriptor(self, start: bool, non_reference: bool) -> bytes:
        b0 = (0x10 if start else 0) | (0x20 if non_reference else 0)
        if self._bits == 15:
            return bytes((b0 | 0x80, 0x80, 0x80 | self.picture_id >> 8, self.picture_id & 0xFF))
        if self._bits == 7:
            return bytes((b0 | 0x80, 0x80, self.picture_id))
        return bytes((b0,))

    def packetize(self, frame: bytes, timestamp: int, *, non_reference: bool = False) -> list[VideoPacket]:
        """The packets of one frame; the PictureID advances once per call."""
        if not frame:
            raise VideoUsageError("cannot packetize an empty VP8 frame")
        n = -(-len(frame) // self._chunk)
        first = self._descriptor(True, non_reference)
        rest = self._descriptor(False, non_reference) if n > 1 else b""
        out = [
            VideoPacket((first if i == 0 else rest) + frame[a:b], timestamp, i == n - 1)
            for i, (a, b) in enumerate(split_evenly(len(frame), n))
        ]
        if self._bits:
            self.picture_id = (self.picture_id + 1) & self._mask
        return out


class _Vp8Item:
    __slots__ = ("start", "data")

    def __init__(self, start: bool, data: bytes) -> None:
        self.start = start
        self.data = data


class Vp8Depacketizer(FrameAssembler[_Vp8Item]):
    """Reassembles VP8 frames from RTP payloads (see :class:`FrameAssembler` for loss handling).

    A frame is emitted only if it opens with S=1/PID=0 and its frame tag is consistent
    (keyframe start code, first partition within the frame); otherwise it is dropped.
    """

    def _parse(self, payload: bytes) -> _Vp8Item:
        size = descriptor_size(payload)
        return _Vp8Item(payload[0] & 0x17 == 0x10, payload[size:])

    def _is_start(self, item: _Vp8Item) -> bool:
        return item.start

    def _assemble(self, items: list[_Vp8Item]) -> tuple[bytes, bool]:
        if not items[0].start:
            raise Vp8Error("VP8 frame does not begin with S=1, PID=0")
        frame = b"".join(i.data for i in items)
        return frame, _check_frame(frame)


class PictureIdRewriter:
    """Keeps PictureID, TL0PICIDX and KEYIDX continuous across a source switch, in place.

    A relay that splices several senders into one stream must keep these running
    indexes monotonic (RFC 7741 §4.2, informative note on splicing).  Each field is
    offset by a delta chosen, at the first packet after :meth:`source_changed`, so that
    the new source continues from the last value sent.  Field widths are preserved
    (a 7-bit PictureID stays 7-bit, wrapping in its own space).
    """

    __slots__ = ("_pid_delta", "_tl0_delta", "_key_delta", "_last_pid", "_last_tl0", "_last_key", "_pending")

    def __init__(self) -> None:
        self._pid_delta = self._tl0_delta = self._key_delta = 0
        self._last_pid: int | None = None
        self._last_tl0: int | None = None
        self._last_key: int | None = None
        self._pending = 0  # fields (1 PictureID, 2 TL0PICIDX, 4 KEYIDX) awaiting a new delta

    def source_changed(self) -> None:
        """The next packet comes from a new sender."""
        self._pending = 7

    def rewrite(self, payload: bytearray | memoryview, offset: int = 0) -> None:
        """Rewrite the descriptor of the VP8 payload at ``payload[offset:]``; raises :class:`Vp8Error`."""
        view = memoryview(payload)[offset:]
        descriptor_size(view)
        if not view[0] & 0x80:
            return
        ext = view[1]
        pos = 2
        if ext & 0x80:
            long_id = bool(view[pos] & 0x80)
            pid = ((view[pos] & 0x7F) << 8 | view[pos + 1]) if long_id else view[pos]
            if self._pending & 1:
                self._pending &= ~1
                if self._last_pid is not None:
                    self._pid_delta = (self._last_pid + 1 - pid) & 0x7FFF
            if long_id:
                out = (pid + self._pid_delta) & 0x7FFF
                view[pos] = 0x80 | out >> 8
                view[pos + 1] = out & 0xFF
                pos += 2
            else:
                out = (pid + self._pid_delta) & 0x7F
                view[pos] = out
                pos += 1
            self._last_pid = out
        if ext & 0x40:
            tl0 = view[pos]
            if self._pending & 2:
                self._pending &= ~2
                if self._last_tl0 is not None:
                    self._tl0_delta = (self._last_tl0 + 1 - tl0) & 0xFF
            view[pos] = self._last_tl0 = (tl0 + self._tl0_delta) & 0xFF
            pos += 1
        if ext & 0x10:
            key = view[pos] & 0x1F
            if self._pending & 4:
                self._pending &= ~4
                if self._last_key is not None:
                    self._key_delta = (self._last_key + 1 - key) & 0x1F
            self._last_key = (key + self._key_delta) & 0x1F
            view[pos] = (view[pos] & 0xE0) | self._last_key
