"""Demultiplexing of one UDP port shared by STUN, DTLS, RTP and RTCP.

RFC 7983 §7 (updating RFC 5764 §5.1.2) classifies a datagram by its first byte:

======== ==============
0–3      STUN
16–19    ZRTP
20–63    DTLS
64–79    TURN channel
128–191  RTP / RTCP
other    drop
======== ==============

RTP and RTCP multiplexed on one port (``a=rtcp-mux``) are told apart by the second
byte, the RTCP packet type, per RFC 5761 §4: values 192–223 are RTCP (they collide
with RTP payload types 64–95 with the marker bit set, which RFC 5761 forbids for RTP).

:func:`classify` runs for every packet, so it is one table lookup plus, for RTP-range
packets, one comparison on the second byte.
"""

from __future__ import annotations

from typing import Final, Literal

PacketKind = Literal["stun", "dtls", "rtp", "rtcp", "zrtp", "turn", "unknown"]

STUN: Final = "stun"
DTLS: Final = "dtls"
RTP: Final = "rtp"
RTCP: Final = "rtcp"
ZRTP: Final = "zrtp"
TURN: Final = "turn"
UNKNOWN: Final = "unknown"


def _first_byte_table() -> tuple[PacketKind, ...]:
    table: list[PacketKind] = ["unknown"] * 256
    for b in range(256):
        if b <= 3:
            table[b] = "stun"
        elif 16 <= b <= 19:
            table[b] = "zrtp"
        elif 20 <= b <= 63:
            table[b] = "dtls"
        elif 64 <= b <= 79:
            table[b] = "turn"
        elif 128 <= b <= 191:
            table[b] = "rtp"
    return tuple(table)


_BY_FIRST_BYTE: Final = _first_byte_table()


def classify(data: bytes) -> PacketKind:
    """Return what ``data`` is by RFC 7983 §7, splitting RTP/RTCP by RFC 5761 §4.

    An empty datagram is ``"unknown"``.  Length and content are not validated here:
    the protocol that receives the packet does that.
    """
    if not data:
        return "unknown"
    kind = _BY_FIRST_BYTE[data[0]]
    if kind == "rtp" and len(data) > 1 and 192 <= data[1] <= 223:
        return "rtcp"
    return kind
