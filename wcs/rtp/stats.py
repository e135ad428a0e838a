"""RTP reception and transmission statistics for RTCP reports (RFC 3550 §6.4, App. A).

Theory of operation
-------------------
:class:`ReceiverStats` follows one remote source.  Each packet's sequence number goes
through the RFC 3550 A.1 validator: a new source is on probation until
``min_sequential`` packets arrive in sequence; a jump of ``max_dropout`` or more, or a
step back of more than ``max_misorder``, is ignored unless the next packet confirms
it, in which case the source is assumed to have restarted and the counters reset.
Wraps of the 16-bit number are counted in ``cycles``.  Accepted packets update the
interarrival jitter estimate of A.8 (in timestamp units, ``J += (|D| - J) / 16``).
:meth:`ReceiverStats.report_block` computes expected / lost / fraction lost as in A.3
(fraction over the interval since the previous report) and fills LSR/DLSR from the
last SR received (§6.4.1).

:class:`SenderStats` counts what we send and builds the SR sender info; it turns a
report block about our stream into a round-trip time (§6.4.1: ``A - LSR - DLSR``).

No clock is read: ``now`` is the caller's monotonic time in seconds and NTP
timestamps are formed from ``now + wallclock_offset`` (the caller's offset from its
monotonic clock to Unix time).  RTT only needs the offset to stay constant.
"""

from __future__ import annotations

from wcs.rtp.rtcp import ReportBlock, SenderReport

__all__ = ["ReceiverStats", "SenderStats", "ntp_from_unix", "ntp_middle32", "round_trip_time"]

RTP_SEQ_MOD = 1 << 16
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01 (RFC 868)


def ntp_from_unix(seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point, era wrap ignored) for Unix time ``seconds``."""
    whole = int(seconds // 1)
    frac = int((seconds - whole) * (1 << 32))
    return (((whole + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32) | (frac & 0xFFFFFFFF)


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR / arrival time unit (1/65536 s)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(lsr: int, dlsr: int, arrival_ntp: int) -> float | None:
    """RFC 3550 §6.4.1 RTT in seconds from a report block received at ``arrival_ntp``.

    ``None`` if the block carries no LSR (no SR seen by the reporter yet); a negative
    result (clock steps, bogus DLSR) is reported as 0.0.
    """
    if lsr == 0:
        return None
    units = (ntp_middle32(arrival_ntp) - lsr - dlsr) & 0xFFFFFFFF
    if units >= 0x80000000:
        return 0.0
    return units / 65536.0


class ReceiverStats:
    """Reception statistics for one remote SSRC (RFC 3550 A.1, A.3, A.8)."""

    __slots__ = (
        "ssrc", "clock_rate", "min_sequential", "max_dropout", "max_misorder",
        "max_seq", "cycles", "base_seq", "bad_seq", "probation", "received",
        "expected_prior", "received_prior", "jitter", "last_sr", "last_sr_time",
        "_last_ts", "_last_arrival", "_seen",
    )

    def __init__(self, ssrc: int, clock_rate: int, *, min_sequential: int = 2,
                 max_dropout: int = 3000, max_misorder: int = 100) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.min_sequential = min_sequential
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = min_sequential
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        #: interarrival jitter estimate, timestamp units (A.8)
        self.jitter = 0.0
        #: middle 32 bits of the last SR's NTP timestamp, and when it arrived (``now``)
        self.last_sr = 0
        self.last_sr_time: float | None = None
        self._last_ts = 0
        self._last_arrival: float | None = None
        self._seen = False

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0
        self._last_arrival = None

    def receive(self, sequence: int, timestamp: int, now: float) -> bool:
        """Account one packet; ``False`` if A.1 does not (yet) accept it as valid."""
        seq = sequence
        if not self.probation and self._seen:
            # the relay's per-packet path: a validated source, a packet ahead of the highest so
            # far (A.1's first branch, no wrap); the same updates as below with _jitter() inlined
            udelta = (seq - self.max_seq) & 0xFFFF
            if 0 < udelta < self.max_dropout and seq > self.max_seq:
                self.max_seq = seq
                self.received += 1
                last = self._last_arrival
                if last is not None:
                    ts_delta = (timestamp - self._last_ts) & 0xFFFFFFFF
                    if ts_delta >= 0x80000000:
                        ts_delta -= 0x100000000
                    d = (now - last) * self.clock_rate - ts_delta
                    self.jitter += ((d if d >= 0 else -d) - self.jitter) / 16.0
                self._last_ts = timestamp
                self._last_arrival = now
                return True
        if not self._seen:
            # first packet ever (A.1: init_seq, then max_seq = seq - 1, on probation)
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self._seen = True
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self._jitter(timestamp, now)
                    return True
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return False
        if udelta < self.max_dropout:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD  # wrapped
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - self.max_misorder:
            if seq == self.bad_seq:
                self._init_seq(seq)  # two sequential packets: the source restarted
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet
        self.received += 1
        self._jitter(timestamp, now)
        return True

    def _jitter(self, timestamp: int, now: float) -> None:
        last = self._last_arrival
        if last is not None:
            ts_delta = (timestamp - self._last_ts) & 0xFFFFFFFF
            if ts_delta >= 0x80000000:
                ts_delta -= 0x100000000
            d = (now - last) * self.clock_rate - ts_delta
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._last_ts = timestamp
        self._last_arrival = now

    @property
    def extended_max(self) -> int:
        """Extended highest sequence number received (cycles + max_seq)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the source was validated (A.3)."""
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3): may be negative with duplicates."""
        return self.expected - self.received

    def handle_sender_report(self, ntp_timestamp: int, now: float) -> None:
        """Remember an SR from this source for LSR/DLSR (§6.4.1)."""
        self.last_sr = ntp_middle32(ntp_timestamp)
        self.last_sr_time = now

    def report_block(self, now: float) -> ReportBlock | None:
        """The reception report for this source, or ``None`` before it is validated.

        Advances the "since the last report" interval used for the fraction lost.
        """
        if self.probation or not self._seen:
            return None
        expected = self.expected
        lost = max(-0x800000, min(0x7FFFFF, expected - self.received))
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self.last_sr_time is not None:
            dlsr = min(0xFFFFFFFF, max(0, int((now - self.last_sr_time) * 65536)))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=min(0xFFFFFFFF, int(self.jitter)),
            lsr=self.last_sr,
            dlsr=dlsr,
        )


class SenderStats:
    """What we sent on one SSRC: SR sender info and RTT from the reports we get back."""

    __slots__ = ("ssrc", "clock_rate", "packet_count", "octet_count", "last_timestamp",
                 "last_sent", "rtt", "remote_fraction_lost", "remote_jitter")

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.packet_count = 0
        #: payload octets sent (header and padding excluded, §6.4.1)
        self.octet_count = 0
        self.last_timestamp = 0
        self.last_sent: float | None = None
        self.rtt: float | None = None
        self.remote_fraction_lost = 0
        self.remote_jitter = 0

    def sent(self, timestamp: int, payload_size: int, now: float) -> None:
        """Account one RTP packet sent at ``now`` with RTP ``timestamp``."""
        self.packet_count += 1
        self.octet_count += payload_size
        self.last_timestamp = timestamp
        self.last_sent = now

    def sender_report(self, now: float, wallclock_offset: float,
                      reports: list[ReportBlock] | None = None) -> SenderReport:
        """An SR for ``now``: the RTP timestamp is extrapolated from the last packet
        sent by the elapsed time, so it corresponds to the NTP timestamp (§6.4.1)."""
        rtp_ts = self.last_timestamp
        if self.last_sent is not None:
            rtp_ts += round((now - self.last_sent) * self.clock_rate)
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_from_unix(now + wallclock_offset),
            rtp_timestamp=rtp_ts & 0xFFFFFFFF,
            packet_count=self.packet_count & 0xFFFFFFFF,
            octet_count=self.octet_count & 0xFFFFFFFF,
            reports=list(reports or []),
        )

    def handle_report_block(self, block: ReportBlock, now: float, wallclock_offset: float) -> float | None:
        """Take a report block about our SSRC; returns (and keeps) the RTT, if computable."""
        self.remote_fraction_lost = block.fraction_lost
        self.remote_jitter = block.jitter
        rtt = round_trip_time(block.lsr, block.dlsr, ntp_from_unix(now + wallclock_offset))
        if rtt is not None:
            self.rtt = rtt
        return rtt
