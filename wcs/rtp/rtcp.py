"""RTCP packets (RFC 3550 §6) and feedback messages (RFC 4585, RFC 5104, REMB).

:func:`parse_compound` splits a datagram into packets following each common header's
length field (§6.4.1) and decodes SR, RR, SDES, BYE, APP, generic NACK (RFC 4585
§6.2.1), PLI (§6.3.1), FIR (RFC 5104 §4.3.1) and REMB
(draft-alvestrand-rmcat-remb-03 §2.2).  Anything else — other feedback formats such as
transport-cc, XR, future types — comes back as :class:`UnknownRtcp` holding the raw
body, so the caller can forward or drop it knowingly.  Reduced-size RTCP (RFC 5506) is
accepted: a compound packet may start with any type and hold a single packet.

Padding (P bit) is removed when parsing and never produced when serialising; the
packet's ``bytes()`` is otherwise the exact wire form.  Every defect raises
:class:`RtcpError` with a reason naming it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from wcs.rtp.errors import RtcpError, RtpUsageError

__all__ = [
    "App",
    "Bye",
    "Fir",
    "Nack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpPacket",
    "Sdes",
    "SdesChunk",
    "SenderReport",
    "UnknownRtcp",
    "parse_compound",
    "serialize_compound",
]

SR, RR, SDES, BYE, APP, RTPFB, PSFB = 200, 201, 202, 203, 204, 205, 206
SDES_CNAME = 1

_HDR = struct.Struct("!BBH")
_U32 = struct.Struct("!I")
_II = struct.Struct("!II")
_SR_INFO = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")


def _header(count: int, ptype: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtpUsageError("RTCP body length is not a multiple of 4")
    if not 0 <= count <= 31:
        raise RtpUsageError(f"RTCP count {count} out of range")
    return _HDR.pack(0x80 | count, ptype, len(body) // 4) + body


class RtcpPacket:
    """Base class of decoded RTCP packets; ``bytes(packet)`` gives the wire form."""

    __slots__ = ()
    packet_type: ClassVar[int] = 0

    def __bytes__(self) -> bytes:
        raise NotImplementedError


@dataclass(slots=True)
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1); ``packets_lost`` is signed 24-bit."""

    ssrc: int
    fraction_lost: int = 0
    packets_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    lsr: int = 0
    dlsr: int = 0

    def __bytes__(self) -> bytes:
        if not -0x800000 <= self.packets_lost <= 0x7FFFFF:
            raise RtpUsageError(f"cumulative loss {self.packets_lost} out of 24-bit range")
        lost = self.packets_lost & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, (self.fraction_lost << 24) | lost, self.highest_sequence,
                           self.jitter, self.lsr, self.dlsr)

    @classmethod
    def _parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


def _blocks(data: bytes, pos: int, end: int, count: int, what: str) -> list[ReportBlock]:
    if pos + 24 * count > end:
        raise RtcpError(f"RTCP {what} report blocks truncated")
    return [ReportBlock._parse(data, pos + 24 * i) for i in range(count)]


@dataclass(slots=True)
class SenderReport(RtcpPacket):
    """SR (RFC 3550 §6.4.1): sender info plus reception report blocks."""

    packet_type: ClassVar[int] = SR
    ssrc: int
    ntp_timestamp: int = 0
    rtp_timestamp: int = 0
    packet_count: int = 0
    octet_count: int = 0
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""  # profile-specific extension (§6.4.1)

    def __bytes__(self) -> bytes:
        body = _SR_INFO.pack(self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
                             self.octet_count)
        body += b"".join(bytes(r) for r in self.reports) + self.extension
        return _header(len(self.reports), SR, body)


@dataclass(slots=True)
class ReceiverReport(RtcpPacket):
    """RR (RFC 3550 §6.4.2)."""

    packet_type: ClassVar[int] = RR
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    def __bytes__(self) -> bytes:
        body = _U32.pack(self.ssrc) + b"".join(bytes(r) for r in self.reports) + self.extension
        return _header(len(self.reports), RR, body)


@dataclass(slots=True)
class SdesChunk:
    """One SDES chunk: an SSRC/CSRC and its ``(item type, value)`` list (§6.5)."""

    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        out = bytearray(_U32.pack(self.ssrc))
        for kind, value in self.items:
            if not 1 <= kind <= 255 or len(value) > 255:
                raise RtpUsageError(f"SDES item {kind} out of range")
            out += bytes((kind, len(value))) + value
        out += bytes(4 - len(out) % 4)  # END item and padding to 32 bits: 1 to 4 nulls
        return bytes(out)


@dataclass(slots=True)
class Sdes(RtcpPacket):
    """SDES (RFC 3550 §6.5)."""

    packet_type: ClassVar[int] = SDES
    chunks: list[SdesChunk] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        return _header(len(self.chunks), SDES, b"".join(bytes(c) for c in self.chunks))

    def cname(self, ssrc: int | None = None) -> bytes | None:
        """The CNAME of ``ssrc`` (or of the first chunk carrying one)."""
        for chunk in self.chunks:
            if ssrc is None or chunk.ssrc == ssrc:
                for kind, value in chunk.items:
                    if kind == SDES_CNAME:
                        return value
        return None


@dataclass(slots=True)
class Bye(RtcpPacket):
    """BYE (RFC 3550 §6.6) with an optional reason."""

    packet_type: ClassVar[int] = BYE
    ssrcs: list[int] = field(default_factory=list)
    reason: bytes | None = None

    def __bytes__(self) -> bytes:
        body = b"".join(_U32.pack(s) for s in self.ssrcs)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtpUsageError("BYE reason longer than 255 octets")
            text = bytes((len(self.reason),)) + self.reason
            body += text + bytes(-len(text) % 4)
        return _header(len(self.ssrcs), BYE, body)


@dataclass(slots=True)
class App(RtcpPacket):
    """APP (RFC 3550 §6.7): ``name`` is 4 ASCII octets, ``data`` a multiple of 4."""

    packet_type: ClassVar[int] = APP
    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""

    def __bytes__(self) -> bytes:
        if len(self.name) != 4:
            raise RtpUsageError("APP name must be 4 octets")
        return _header(self.subtype, APP, _U32.pack(self.ssrc) + self.name + self.data)


@dataclass(slots=True)
class Nack(RtcpPacket):
    """Generic NACK (RFC 4585 §6.2.1): the sequence numbers reported lost."""

    packet_type: ClassVar[int] = RTPFB
    fmt: ClassVar[int] = 1
    sender_ssrc: int
    media_ssrc: int
    lost: list[int] = field(default_factory=list)

    def __bytes__(self) -> bytes:
        fci = bytearray()
        pid = -1
        blp = 0
        for seq in self.lost:
            delta = (seq - pid) & 0xFFFF
            if pid >= 0 and 1 <= delta <= 16:
                blp |= 1 << (delta - 1)
                continue
            if pid >= 0:
                fci += struct.pack("!HH", pid, blp)
            pid, blp = seq & 0xFFFF, 0
        if pid >= 0:
            fci += struct.pack("!HH", pid, blp)
        return _header(self.fmt, RTPFB, _II.pack(self.sender_ssrc, self.media_ssrc) + bytes(fci))


@dataclass(slots=True)
class Pli(RtcpPacket):
    """Picture Loss Indication (RFC 4585 §6.3.1)."""

    packet_type: ClassVar[int] = PSFB
    fmt: ClassVar[int] = 1
    sender_ssrc: int
    media_ssrc: int

    def __bytes__(self) -> bytes:
        return _header(self.fmt, PSFB, _II.pack(self.sender_ssrc, self.media_ssrc))


@dataclass(slots=True)
class Fir(RtcpPacket):
    """Full Intra Request (RFC 5104 §4.3.1): ``entries`` of (SSRC, command seq nr)."""

    packet_type: ClassVar[int] = PSFB
    fmt: ClassVar[int] = 4
    sender_ssrc: int
    entries: list[tuple[int, int]] = field(default_factory=list)
    media_ssrc: int = 0  # "SHALL be set to 0" (§4.3.1.2)

    def __bytes__(self) -> bytes:
        fci = b"".join(_II.pack(ssrc, (seq & 0xFF) << 24) for ssrc, seq in self.entries)
        return _header(self.fmt, PSFB, _II.pack(self.sender_ssrc, self.media_ssrc) + fci)


@dataclass(slots=True)
class Remb(RtcpPacket):
    """Receiver Estimated Max Bitrate (draft-alvestrand-rmcat-remb §2.2), bits/s.

    Serialising rounds ``bitrate`` down to the 18-bit mantissa × 2^exp form.
    """

    packet_type: ClassVar[int] = PSFB
    fmt: ClassVar[int] = 15
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int] = field(default_factory=list)
    media_ssrc: int = 0

    def __bytes__(self) -> bytes:
        if len(self.ssrcs) > 255:
            raise RtpUsageError("REMB lists more than 255 SSRCs")
        mantissa, exp = self.bitrate, 0
        while mantissa >= 1 << 18:
            mantissa >>= 1
            exp += 1
        if exp > 63 or mantissa < 0:
            raise RtpUsageError(f"REMB bitrate {self.bitrate} out of range")
        body = _II.pack(self.sender_ssrc, self.media_ssrc) + b"REMB"
        body += _U32.pack((len(self.ssrcs) << 24) | (exp << 18) | mantissa)
        body += b"".join(_U32.pack(s) for s in self.ssrcs)
        return _header(self.fmt, PSFB, body)


@dataclass(slots=True)
class UnknownRtcp(RtcpPacket):
    """Any packet this module does not decode: type, count/FMT field and raw body."""

    type: int
    count: int
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return _header(self.count, self.type, self.body)


# --- parsing ----------------------------------------------------------------------------


def _parse_sdes(data: bytes, pos: int, end: int, count: int) -> Sdes:
    chunks: list[SdesChunk] = []
    start = pos
    for _ in range(count):
        if pos + 4 > end:
            raise RtcpError("RTCP SDES chunk truncated")
        chunk = SdesChunk(_U32.unpack_from(data, pos)[0])
        pos += 4
        while True:
            if pos >= end:
                raise RtcpError("RTCP SDES chunk not terminated")
            kind = data[pos]
            if kind == 0:
                pos += 4 - (pos - start) % 4  # END item plus padding to 32 bits
                break
            if pos + 2 > end or pos + 2 + data[pos + 1] > end:
                raise RtcpError("RTCP SDES item truncated")
            length = data[pos + 1]
            chunk.items.append((kind, data[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        chunks.append(chunk)
    return Sdes(chunks)


def _parse_bye(data: bytes, pos: int, end: int, count: int) -> Bye:
    if pos + 4 * count > end:
        raise RtcpError("RTCP BYE SSRC list truncated")
    ssrcs = list(struct.unpack_from(f"!{count}I", data, pos))
    pos += 4 * count
    reason = None
    if pos < end:
        length = data[pos]
        if pos + 1 + length > end:
            raise RtcpError("RTCP BYE reason truncated")
        reason = data[pos + 1 : pos + 1 + length]
    return Bye(ssrcs, reason)


def _parse_feedback(data: bytes, pos: int, end: int, ptype: int, fmt: int) -> RtcpPacket:
    if end - pos < 8:
        raise RtcpError("RTCP feedback packet shorter than 12 octets")
    sender, media = _II.unpack_from(data, pos)
    pos += 8
    if ptype == RTPFB and fmt == 1:
        lost: list[int] = []
        for i in range(pos, end - 3, 4):
            pid, blp = struct.unpack_from("!HH", data, i)
            lost.append(pid)
            lost.extend((pid + b + 1) & 0xFFFF for b in range(16) if blp >> b & 1)
        return Nack(sender, media, lost)
    if ptype == PSFB and fmt == 1:
        return Pli(sender, media)
    if ptype == PSFB and fmt == 4:
        if (end - pos) % 8:
            raise RtcpError("RTCP FIR entry truncated")
        entries = [(s, n >> 24) for s, n in (_II.unpack_from(data, i) for i in range(pos, end, 8))]
        return Fir(sender, entries, media)
    if ptype == PSFB and fmt == 15 and data[pos : pos + 4] == b"REMB":
        if end - pos < 8:
            raise RtcpError("RTCP REMB truncated")
        word = _U32.unpack_from(data, pos + 4)[0]
        num = word >> 24
        if pos + 8 + 4 * num > end:
            raise RtcpError("RTCP REMB SSRC list truncated")
        ssrcs = list(struct.unpack_from(f"!{num}I", data, pos + 8))
        return Remb(sender, (word & 0x3FFFF) << ((word >> 18) & 0x3F), ssrcs, media)
    return UnknownRtcp(ptype, fmt, data[pos - 8 : end])


def _parse_one(data: bytes, pos: int, end: int, ptype: int, count: int) -> RtcpPacket:
    if ptype == SR:
        if end - pos < 24:
            raise RtcpError("RTCP SR shorter than sender info")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(data, pos)
        reports = _blocks(data, pos + 24, end, count, "SR")
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, data[pos + 24 + 24 * count : end])
    if ptype == RR:
        if end - pos < 4:
            raise RtcpError("RTCP RR shorter than 8 octets")
        reports = _blocks(data, pos + 4, end, count, "RR")
        return ReceiverReport(_U32.unpack_from(data, pos)[0], reports, data[pos + 4 + 24 * count : end])
    if ptype == SDES:
        return _parse_sdes(data, pos, end, count)
    if ptype == BYE:
        return _parse_bye(data, pos, end, count)
    if ptype == APP:
        if end - pos < 8:
            raise RtcpError("RTCP APP shorter than 12 octets")
        return App(count, _U32.unpack_from(data, pos)[0], data[pos + 4 : pos + 8], data[pos + 8 : end])
    if ptype in (RTPFB, PSFB):
        return _parse_feedback(data, pos, end, ptype, count)
    return UnknownRtcp(ptype, count, data[pos:end])


def parse_compound(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Decode a (compound or reduced-size) RTCP datagram into its packets."""
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise RtcpError("RTCP compound packet is empty")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < n:
        if n - pos < 4:
            raise RtcpError("RTCP packet shorter than 4-octet header")
        b0, ptype, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpError("RTCP version is not 2")
        end = pos + 4 + 4 * words
        if end > n:
            raise RtcpError("RTCP length field exceeds datagram")
        body_end = end
        if b0 & 0x20:
            pad = data[end - 1] if words else 0
            if pad == 0 or pad > 4 * words:
                raise RtcpError("RTCP padding count invalid")
            body_end = end - pad
        packets.append(_parse_one(data, pos + 4, body_end, ptype, b0 & 0x1F))
        pos = end
    return packets


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    """Concatenate packets into one compound datagram (RFC 3550 §6.1)."""
    return b"".join(bytes(p) for p in packets)
