"""Playing DTMF digits as RFC 4733 telephone events into an outgoing RTP stream (sans-I/O).

Theory of operation
-------------------
:class:`DtmfSender` turns queued digits into a schedule of event packets; the relay asks
it for the packets due (:meth:`DtmfSender.due`) when its timer (:meth:`get_timer`) fires
and numbers them into the outgoing audio stream (the processor's ``inject``).

For each digit (RFC 4733 §2.5.1), with ``interval`` the audio packet interval (ptime,
§2.5.1.2: "a natural interval is the spacing between non-event audio packets"):

* the event starts at ``start``; every packet carries the start timestamp (§2.2.1) — the
  relay places it on the audio stream's timeline at ``start``;
* the first packet has the M bit (§2.2.2) and is sent at ``start + interval`` reporting
  one interval of duration: like audio, a packet is sent once the time it describes has
  passed; each next packet, one interval later, reports the cumulative duration
  (§2.5.1.2);
* the final report has the E bit and is sent three times, one interval apart
  (§2.5.1.4); an event longer than 0xFFFF units is cut into segments (§2.5.1.3);
  :func:`wcs.rtp.dtmf.generate_event` builds the reports;
* the next digit starts ``gap`` seconds after the previous digit's last packet.

While a digit plays — from its start to its last packet — :meth:`DtmfSender.playing`
is true and the relay drops the audio it would forward on that stream, so the
receiver sees one stream whose sequence numbers the events continue (§2.5.1.6).

All times are the caller's ``now`` (seconds); no clock is read.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ...rtp.dtmf import digit_to_event, generate_event

__all__ = ["DtmfSender", "EventSend"]


class EventSend(NamedTuple):
    """One packet to number into the stream: due at ``at``, event started at ``start``."""

    at: float
    start: float
    offset: int  # clock units after ``start`` (a later segment of a long event)
    marker: bool
    payload: bytes


class DtmfSender:
    """Queues digits and schedules their event packets (see the module docstring)."""

    def __init__(self, payload_type: int, clock_rate: int, *, interval: float = 0.02,
                 volume: int = 10, gap: float = 0.05) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.interval = interval
        self.volume = volume
        self.gap = gap
        self._digits: deque[tuple[str, float]] = deque()
        self._packets: deque[EventSend] = deque()
        self._window = (0.0, 0.0)  # [start, end] of the digit being played
        self._free_at = 0.0  # when the next digit may start
        self.digits_sent = 0

    def queue(self, digits: str, now: float, duration: float) -> None:
        """Add ``digits`` (``0-9 * # A-D``, ``!`` for flash; validated) to be played in turn."""
        for digit in digits:
            digit_to_event(digit)
        self._digits.extend((digit, duration) for digit in digits)
        if not self._packets:
            self._free_at = max(self._free_at, now)
            self._next_digit()

    def playing(self, now: float) -> bool:
        """Whether an event occupies the stream at ``now`` (its audio must not be forwarded)."""
        start, end = self._window
        return start <= now <= end and bool(self._packets)

    @property
    def idle(self) -> bool:
        return not self._packets and not self._digits

    def get_timer(self) -> float | None:
        return self._packets[0].at if self._packets else None

    def due(self, now: float) -> list[EventSend]:
        """The packets due by ``now``, in order; schedules the next digit when one ends."""
        out: list[EventSend] = []
        while self._packets and self._packets[0].at <= now:
            out.append(self._packets.popleft())
            if not self._packets:
                self.digits_sent += 1
                self._free_at = out[-1].at + self.gap
                self._next_digit()
        return out

    def cancel(self) -> None:
        """Forget queued digits (the stream went away); a digit being played is cut short."""
        self._digits.clear()
        self._packets.clear()

    def _next_digit(self) -> None:
        if not self._digits:
            return
        digit, duration = self._digits.popleft()
        start = self._free_at
        step = self.interval
        for packet in generate_event(digit, clock_rate=self.clock_rate, timestamp=0, duration=duration,
                                     interval=step, volume=self.volume):
            self._packets.append(EventSend(start + packet.offset + step, start, packet.timestamp,
                                           packet.marker, packet.payload))
        self._window = (start, self._packets[-1].at)
