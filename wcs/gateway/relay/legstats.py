"""Per-leg statistics of a relayed call (what ``CallRelay.stats`` and the REST API report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .reports import Reception, Transmission

__all__ = ["LegStats"]


@dataclass(frozen=True)
class LegStats:
    """One leg of one stream (or of all streams): what we received from it and sent to it."""

    packets_received: int = 0
    bytes_received: int = 0
    lost: int = 0
    jitter: float = 0.0  # seconds (RFC 3550 A.8)
    packets_sent: int = 0
    bytes_sent: int = 0
    rtt: float | None = None  # seconds (RFC 3550 §6.4.1)

    @classmethod
    def of(cls, rx: Reception, tx: Transmission) -> LegStats:
        return cls(rx.packets, rx.octets, rx.lost, rx.jitter, tx.stats.packet_count, tx.stats.octet_count,
                   tx.stats.rtt)

    @classmethod
    def total(cls, legs: Sequence[LegStats]) -> LegStats:
        """Sums, the worst jitter, the first round-trip time known."""
        return cls(sum(x.packets_received for x in legs), sum(x.bytes_received for x in legs),
                   sum(x.lost for x in legs), max((x.jitter for x in legs), default=0.0),
                   sum(x.packets_sent for x in legs), sum(x.bytes_sent for x in legs),
                   next((x.rtt for x in legs if x.rtt is not None), None))

    def as_dict(self) -> dict[str, object]:
        return {"packetsReceived": self.packets_received, "bytesReceived": self.bytes_received,
                "lost": self.lost, "jitterMs": round(self.jitter * 1000, 3),
                "packetsSent": self.packets_sent, "bytesSent": self.bytes_sent,
                "rttMs": round(self.rtt * 1000, 3) if self.rtt is not None else None}
