"""RTP data packets (RFC 3550 §5.1) and per-packet helpers.

:class:`RtpPacket` is the parsed form, with ``parse(data)`` and ``bytes(packet)``.  The
relay does not build objects per packet: it reads header fields straight from the
datagram with :func:`peek_header` and friends, and classifies RTP vs RTCP on a shared
port with :func:`is_rtcp` (RFC 5761 §4).  Header-extension elements (RFC 8285 one-byte
and two-byte forms) are decoded on demand by :func:`parse_extensions`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from wcs.rtp.errors import RtpError, RtpUsageError

__all__ = [
    "EXTENSION_ONE_BYTE",
    "EXTENSION_TWO_BYTE",
    "RtpPacket",
    "build_extensions",
    "is_rtcp",
    "parse_extensions",
    "payload_offset",
    "peek_header",
    "peek_payload_type",
    "peek_sequence",
    "peek_ssrc",
    "peek_timestamp",
]

_HEADER = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_EXT = struct.Struct("!HH")

#: RFC 8285 §4.2 one-byte header profile; two-byte (§4.3) is 0x100 in the top 12 bits.
EXTENSION_ONE_BYTE = 0xBEDE
EXTENSION_TWO_BYTE = 0x1000


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4: on a muxed port, a second octet of 192–223 marks RTCP (PT 64–95 + M)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def peek_header(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int]:
    """``(payload_type, sequence_number, timestamp, ssrc)`` without building a packet."""
    if len(data) < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpError("RTP version is not 2")
    return b1 & 0x7F, seq, ts, ssrc


def peek_ssrc(data: bytes | bytearray | memoryview) -> int:
    """The SSRC of an RTP packet (octets 8–11)."""
    if len(data) < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    return int(_U32.unpack_from(data, 8)[0])


def peek_sequence(data: bytes | bytearray | memoryview) -> int:
    """The sequence number of an RTP packet (octets 2–3)."""
    if len(data) < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    return int(_U16.unpack_from(data, 2)[0])


def peek_timestamp(data: bytes | bytearray | memoryview) -> int:
    """The timestamp of an RTP packet (octets 4–7)."""
    if len(data) < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    return int(_U32.unpack_from(data, 4)[0])


def peek_payload_type(data: bytes | bytearray | memoryview) -> int:
    """The payload type of an RTP packet (low 7 bits of octet 1)."""
    if len(data) < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    return data[1] & 0x7F


def _bounds(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(payload start, payload end) of a validated packet; raises RtpError."""
    n = len(data)
    if n < 12:
        raise RtpError("RTP packet shorter than 12-octet header")
    b0 = data[0]
    if b0 >> 6 != 2:
        raise RtpError("RTP version is not 2")
    pos = 12 + 4 * (b0 & 0x0F)
    if pos > n:
        raise RtpError("RTP CSRC list truncated")
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpError("RTP header extension truncated")
        pos += 4 + 4 * _U16.unpack_from(data, pos + 2)[0]
        if pos > n:
            raise RtpError("RTP header extension truncated")
    end = n
    if b0 & 0x20:
        if n == pos:
            raise RtpError("RTP padding bit set but no padding count")
        pad = data[n - 1]
        if pad == 0:
            raise RtpError("RTP padding count is zero")
        if pad > n - pos:
            raise RtpError("RTP padding count exceeds packet")
        end = n - pad
    return pos, end


def payload_offset(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """``(start, end)`` of the payload (after CSRCs/extension, before padding)."""
    return _bounds(data)


@dataclass(slots=True)
class RtpPacket:
    """An RTP data packet (RFC 3550 §5.1).

    ``padding`` and ``extension`` are the P and X bits; P is derived from
    ``padding_size`` (the trailing padding octets, count octet included), which is
    serialised as zeros followed by the count.  ``extension_data`` is the header
    extension body (a multiple of 4 octets) under ``extension_profile``.
    """

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    extension: bool = False
    extension_profile: int = 0
    extension_data: bytes = b""
    payload: bytes = b""
    padding_size: int = 0

    @property
    def version(self) -> int:
        """Always 2 (RFC 3550); :meth:`parse` rejects other versions."""
        return 2

    @property
    def padding(self) -> bool:
        """The P bit."""
        return self.padding_size > 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Decode one RTP packet; raises :class:`RtpError` naming the defect."""
        start, end = _bounds(data)
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        cc = b0 & 0x0F
        csrc = list(struct.unpack_from(f"!{cc}I", data, 12)) if cc else []
        profile, ext = 0, b""
        has_ext = bool(b0 & 0x10)
        if has_ext:
            pos = 12 + 4 * cc
            profile = _U16.unpack_from(data, pos)[0]
            ext = bytes(data[pos + 4 : start])
        return cls(
            payload_type=b1 & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            marker=bool(b1 & 0x80),
            csrc=csrc,
            extension=has_ext,
            extension_profile=profile,
            extension_data=ext,
            payload=bytes(data[start:end]),
            padding_size=len(data) - end,
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise RtpUsageError(f"RTP payload type {self.payload_type} out of range")
        if len(self.csrc) > 15:
            raise RtpUsageError("RTP packet has more than 15 CSRCs")
        if len(self.extension_data) % 4:
            raise RtpUsageError("RTP header extension length is not a multiple of 4")
        if not 0 <= self.padding_size <= 255:
            raise RtpUsageError(f"RTP padding size {self.padding_size} out of range")
        has_ext = self.extension or bool(self.extension_data)
        b0 = 0x80 | (0x20 if self.padding_size else 0) | (0x10 if has_ext else 0) | len(self.csrc)
        b1 = (0x80 if self.marker else 0) | self.payload_type
        try:
            parts = [
                _HEADER.pack(b0, b1, self.sequence_number, self.timestamp, self.ssrc),
                struct.pack(f"!{len(self.csrc)}I", *self.csrc),
            ]
            if has_ext:
                parts.append(_EXT.pack(self.extension_profile, len(self.extension_data) // 4))
                parts.append(self.extension_data)
        except struct.error as exc:
            raise RtpUsageError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)

    def extensions(self) -> dict[int, bytes]:
        """The RFC 8285 elements of the header extension, by ID (empty if none)."""
        if not self.extension:
            return {}
        return dict(parse_extensions(self.extension_profile, self.extension_data))


def parse_extensions(profile: int, data: bytes) -> list[tuple[int, bytes]]:
    """Decode RFC 8285 header-extension elements into ``[(id, value), ...]``.

    One-byte form (profile 0xBEDE, §4.2): ID 1–14, L+1 value octets; ID 0 is padding and
    ID 15 stops parsing.  Two-byte form (profile 0x100x, §4.3): ID 1–255, L value octets
    (0 allowed); a zero octet is padding.  Other profiles yield no elements.
    """
    out: list[tuple[int, bytes]] = []
    n = len(data)
    i = 0
    if profile == EXTENSION_ONE_BYTE:
        while i < n:
            b = data[i]
            ident, length = b >> 4, (b & 0x0F) + 1
            if ident == 0:
                i += 1
                continue
            if ident == 15:
                break
            if i + 1 + length > n:
                raise RtpError(f"RTP one-byte extension element {ident} truncated")
            out.append((ident, bytes(data[i + 1 : i + 1 + length])))
            i += 1 + length
    elif profile & 0xFFF0 == EXTENSION_TWO_BYTE:
        while i < n:
            ident = data[i]
            if ident == 0:
                i += 1
                continue
            if i + 2 > n or i + 2 + data[i + 1] > n:
                raise RtpError(f"RTP two-byte extension element {ident} truncated")
            length = data[i + 1]
            out.append((ident, bytes(data[i + 2 : i + 2 + length])))
            i += 2 + length
    return out


def build_extensions(elements: list[tuple[int, bytes]], two_byte: bool = False) -> tuple[int, bytes]:
    """Encode RFC 8285 elements; returns ``(profile, data)`` padded to 32 bits with zeros.

    The one-byte form is used unless ``two_byte`` is set; it needs IDs 1–14 and
    values of 1–16 octets.
    """
    parts: list[bytes] = []
    for ident, value in elements:
        if two_byte:
            if not 1 <= ident <= 255 or len(value) > 255:
                raise RtpUsageError(f"two-byte extension element {ident} out of range")
            parts.append(bytes((ident, len(value))) + value)
        else:
            if not 1 <= ident <= 14 or not 1 <= len(value) <= 16:
                raise RtpUsageError(f"one-byte extension element {ident} out of range")
            parts.append(bytes(((ident << 4) | (len(value) - 1),)) + value)
    data = b"".join(parts)
    data += bytes(-len(data) % 4)
    return (EXTENSION_TWO_BYTE if two_byte else EXTENSION_ONE_BYTE), data
