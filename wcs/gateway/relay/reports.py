"""RTCP on each leg of the relay: reception accounting, SR/RR generation, incoming reports (sans-I/O).

Theory of operation
-------------------
The relay terminates RTCP: each leg is its own RTP session (RFC 3550 §2.3: a translator
that changes SSRCs must not forward the reports, they would describe streams the other
side never sees), and on each leg we report on what *we* send and receive:

* :class:`Reception` follows what arrives from one leg on one stream: packet and octet
  counters and the RFC 3550 A.1/A.3/A.8 statistics
  (:class:`~wcs.rtp.stats.ReceiverStats`) of the current source.  When the source
  changes, loss of the previous sources is kept.  On a leg whose sources are not
  authenticated (plain RTP from SIP) the source is *locked*: a new SSRC is adopted only
  once it sent two packets in sequence (A.1 probation) after the current source fell
  quiet for :data:`SWITCH_QUIET` seconds — a flood of packets with made-up SSRCs cannot
  hijack the stream — or right after a renegotiation (:meth:`Reception.unlock`).
* :class:`Transmission` wraps the :class:`~wcs.rtp.stats.SenderStats` of one outgoing
  stream; :meth:`Transmission.report` issues an SR if we sent data since the
  report before last, else an RR (§6.4), with the reception report block of the
  stream arriving on that leg.
* :class:`ReportTimer` spaces regular reports: the first after half the 5 s minimum,
  then every 5 s (§6.2: the minimum beats the 5 % bandwidth share of a two-party call),
  each randomised over [0.5, 1.5] × the interval with the injected entropy (§6.3.1).
  The division by e − 3/2 of §6.3.1 compensates for timer reconsideration, which a
  session with two fixed members never does, so it is not applied.
* :func:`apply_reports` takes an incoming compound packet: an SR from a source sets
  LSR/DLSR for our next block about it, a report block about our SSRC gives the
  round-trip time (§6.4.1, ``A − LSR − DLSR``); PLI/FIR come back to the caller to route.

A compound packet starts with an SR or RR and carries an SDES CNAME chunk for every
SSRC it reports for (§6.1); one call uses one CNAME on both legs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...entropy import Entropy, random_uint
from ...rtp.rtcp import (
    SDES_CNAME,
    Bye,
    Fir,
    Pli,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    Sdes,
    SdesChunk,
    SenderReport,
)
from ...rtp.stats import ReceiverStats, SenderStats

__all__ = ["MIN_INTERVAL", "SWITCH_QUIET", "Reception", "ReportTimer", "Transmission", "apply_reports",
           "compound", "goodbye"]

#: RFC 3550 §6.2 minimum interval between reports (seconds)
MIN_INTERVAL = 5.0
#: how long a locked source must have been quiet before another SSRC may take over
SWITCH_QUIET = 0.25


class Reception:
    """What arrives from one leg on one stream (see the module docstring)."""

    __slots__ = ("clock_rate", "locked", "ssrc", "stats", "packets", "octets", "last", "lost_before",
                 "_open", "_candidate", "_candidate_next")

    def __init__(self, clock_rate: int, *, locked: bool) -> None:
        self.clock_rate = clock_rate
        self.locked = locked
        self.ssrc = -1  # no source yet (never equal to a 32-bit SSRC)
        self.stats: ReceiverStats | None = None
        self.packets = 0
        self.octets = 0
        #: arrival time of the last accepted packet (RTP activity)
        self.last: float | None = None
        self.lost_before = 0
        self._open = False
        self._candidate = -1
        self._candidate_next = 0

    def adopt(self, ssrc: int, seq: int, now: float) -> bool:
        """A packet from an SSRC other than the current source: True if it becomes the source."""
        if self.locked and self.ssrc >= 0 and not self._open:
            if ssrc != self._candidate or seq != self._candidate_next:
                self._candidate, self._candidate_next = ssrc, (seq + 1) & 0xFFFF
                return False
            if self.last is not None and now - self.last < SWITCH_QUIET:
                self._candidate_next = (seq + 1) & 0xFFFF
                return False
        if self.stats is not None:
            self.lost_before += max(0, self.stats.lost)
        self.ssrc = ssrc
        self.stats = ReceiverStats(ssrc, self.clock_rate)
        self._open = False
        self._candidate = -1
        return True

    def unlock(self) -> None:
        """The next new SSRC is adopted at once (renegotiated: a new source is expected)."""
        self._open = True

    @property
    def lost(self) -> int:
        return self.lost_before + (max(0, self.stats.lost) if self.stats is not None else 0)

    @property
    def jitter(self) -> float:
        """Interarrival jitter of the current source in seconds (A.8)."""
        return self.stats.jitter / self.clock_rate if self.stats is not None else 0.0

    def report_block(self, now: float) -> ReportBlock | None:
        return self.stats.report_block(now) if self.stats is not None else None


class Transmission:
    """One outgoing stream: its SenderStats and whether its next report is an SR."""

    __slots__ = ("stats", "_counts")

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.stats = SenderStats(ssrc, clock_rate)
        self._counts = (0, 0)  # packet count at the report before last and at the last one

    @property
    def ssrc(self) -> int:
        return self.stats.ssrc

    def report(self, reception: Reception | None, now: float,
               wallclock_offset: float) -> SenderReport | ReceiverReport:
        """SR if we sent data since the report before last (RFC 3550 §6.4), else RR."""
        blocks = []
        block = reception.report_block(now) if reception is not None else None
        if block is not None:
            blocks.append(block)
        count = self.stats.packet_count
        sender = count > self._counts[0]
        self._counts = (self._counts[1], count)
        if sender and self.stats.last_sent is not None:
            return self.stats.sender_report(now, wallclock_offset, blocks)
        return ReceiverReport(self.stats.ssrc, blocks)


class ReportTimer:
    """When the next regular report of one leg is due (see the module docstring)."""

    __slots__ = ("_entropy", "interval", "next")

    def __init__(self, entropy: Entropy, now: float, interval: float = MIN_INTERVAL) -> None:
        self._entropy = entropy
        self.interval = interval
        self.next = now + self._spread(interval / 2)

    def sent(self, now: float) -> None:
        self.next = now + self._spread(self.interval)

    def _spread(self, seconds: float) -> float:
        return seconds * (0.5 + random_uint(self._entropy, 32) / 2**32)


def compound(reports: Sequence[SenderReport | ReceiverReport], cname: bytes,
             extra: Sequence[RtcpPacket] = ()) -> bytes:
    """SR/RR packets, SDES with a CNAME for each reporter (RFC 3550 §6.1), then ``extra``."""
    sdes = Sdes([SdesChunk(report.ssrc, [(SDES_CNAME, cname)]) for report in reports])
    return b"".join(bytes(p) for p in (*reports, sdes, *extra))


def goodbye(reports: Sequence[SenderReport | ReceiverReport], cname: bytes) -> bytes:
    """The last compound packet of a leg: reports, SDES and BYE for our SSRCs (§6.6)."""
    return compound(reports, cname, [Bye([report.ssrc for report in reports])])


def apply_reports(packets: Sequence[RtcpPacket], receptions: Mapping[int, Reception],
                  transmissions: Mapping[int, Transmission], now: float,
                  wallclock_offset: float) -> list[Pli | Fir]:
    """Take an incoming compound packet (see the module docstring); returns its PLI/FIR."""
    feedback: list[Pli | Fir] = []
    for packet in packets:
        if isinstance(packet, (SenderReport, ReceiverReport)):
            if isinstance(packet, SenderReport):
                reception = receptions.get(packet.ssrc)
                if reception is not None and reception.stats is not None:
                    reception.stats.handle_sender_report(packet.ntp_timestamp, now)
            for block in packet.reports:
                tx = transmissions.get(block.ssrc)
                if tx is not None:
                    tx.stats.handle_report_block(block, now, wallclock_offset)
        elif isinstance(packet, (Pli, Fir)):
            feedback.append(packet)
    return feedback
