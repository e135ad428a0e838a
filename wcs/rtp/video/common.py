"""Types shared by the video payload formats, the transcoder and the generators.

* :class:`VideoPacket` — one RTP payload a packetizer produced, with the RTP timestamp
  and marker bit it must be sent with (RFC 3550 §5.1: the marker flags the last packet
  of a frame for both VP8, RFC 7741 §4.1, and H.264, RFC 6184 §5.1).  The relay puts its
  own header on it (payload type, SSRC, sequence number), e.g. with :class:`RtpWriter`.
* :class:`VideoFrame` — one reassembled frame a depacketizer produced.
* :class:`RtpWriter` — numbers packets of one outgoing stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from wcs.entropy import Entropy, SystemEntropy, random_uint
from wcs.rtp.errors import RtpUsageError

__all__ = ["VIDEO_CLOCK_RATE", "RtpWriter", "VideoFrame", "VideoPacket", "seq_delta", "split_evenly"]

#: RTP clock of every video payload format here (RFC 7741 §6.1, RFC 6184 §8.2.1).
VIDEO_CLOCK_RATE = 90000

_HEADER = struct.Struct("!BBHII")


class VideoPacket(NamedTuple):
    """An RTP payload with the timestamp and marker bit its packet carries."""

    payload: bytes
    timestamp: int
    marker: bool


@dataclass(slots=True, frozen=True)
class VideoFrame:
    """A complete encoded frame reassembled from RTP packets.

    ``data`` is the VP8 frame (RFC 6386 §9) or the H.264 access unit in Annex B byte
    stream form (start codes).  ``discontinuity`` is set when packets were lost (or
    frames dropped) between the previous emitted frame and this one, so a decoder fed
    only emitted frames may have lost its reference: it needs a keyframe unless
    ``keyframe`` is set.
    """

    data: bytes
    timestamp: int
    keyframe: bool
    discontinuity: bool = False
    first_sequence: int = 0
    last_sequence: int = 0


def split_evenly(size: int, count: int, start: int = 0) -> list[tuple[int, int]]:
    """``count`` consecutive ``(begin, end)`` ranges over ``start .. start + size``, sizes within 1."""
    base, extra = divmod(size, count)
    out = []
    pos = start
    for i in range(count):
        end = pos + base + (i < extra)
        out.append((pos, end))
        pos = end
    return out


def seq_delta(a: int, b: int) -> int:
    """``a - b`` for 16-bit RTP sequence numbers, in ``[-32768, 32767]`` (serial arithmetic)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


class RtpWriter:
    """Builds the RTP packets of one outgoing stream: fixed PT and SSRC, consecutive sequence numbers.

    The initial sequence number and SSRC are random (RFC 3550 §5.1, §8) unless given.
    ``timestamp_offset`` is added (mod 2^32) to every timestamp written, so a stream can
    carry source timestamps shifted to a random origin.
    """

    __slots__ = ("payload_type", "ssrc", "sequence_number", "timestamp_offset", "packets", "octets")

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        sequence_number: int | None = None,
        timestamp_offset: int = 0,
        entropy: Entropy | None = None,
    ) -> None:
        if not 0 <= payload_type <= 127:
            raise RtpUsageError(f"RTP payload type {payload_type} out of range")
        rng = entropy or SystemEntropy()
        self.payload_type = payload_type
        self.ssrc = ssrc if ssrc is not None else (random_uint(rng, 32) or 1)
        self.sequence_number = sequence_number if sequence_number is not None else random_uint(rng, 16)
        self.timestamp_offset = timestamp_offset
        self.packets = 0
        self.octets = 0

    def write(self, payload: bytes, timestamp: int, marker: bool = False) -> bytes:
        """One RTP packet (no CSRC, no extension, no padding); advances the sequence number."""
        seq = self.sequence_number
        self.sequence_number = (seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += len(payload)
        b1 = self.payload_type | (0x80 if marker else 0)
        ts = (timestamp + self.timestamp_offset) & 0xFFFFFFFF
        return _HEADER.pack(0x80, b1, seq, ts, self.ssrc) + payload

    def write_packet(self, packet: VideoPacket) -> bytes:
        """:meth:`write` for a packetizer's output."""
        return self.write(packet.payload, packet.timestamp, packet.marker)
