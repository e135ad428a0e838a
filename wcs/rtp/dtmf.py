"""RFC 4733 telephone events (DTMF): payload codec, sender and receiver.

Theory of operation
-------------------
*Payload* (§2.3): event (8 bits), E (end), R (reserved), volume (6 bits, −dBm0),
duration (16 bits, timestamp units).  Several contiguous events may be packed in one
payload (§2.5.1.5); the first starts at the RTP timestamp, each next one where the
previous ended.

*Sending* (:func:`generate_event`, §2.5.1.2–2.5.1.4): every packet of an event has
the event's start timestamp; the first has the M bit; each update reports the
cumulative duration; the final report has the E bit and is sent three times in
total.  An event longer than 0xFFFF timestamp units is cut into segments (§2.5.1.3):
the segment's last report carries 0xFFFF without E (three times as well), and the
next segment starts at the timestamp where that one ended, without M.  Packets come
with an ``offset`` (seconds after the first) at which the caller should send them,
and the caller numbers them in its audio stream (§2.5.1.2, §2.5.1.6).

*Receiving* (:class:`DtmfReceiver`, §2.5.2.2): an event is identified by its
timestamp.  A packet with a new timestamp starts an event even without M (its first
packets were lost); the event is reported exactly once, when it ends — on an E bit,
when the next event starts, or when no update arrived for ``end_timeout`` seconds (all
end packets lost; ``get_timer``/``handle_timer``).  Timestamps of reported events are
remembered, so retransmitted end packets and late updates are ignored.  A report
whose timestamp continues the current event's segment by exactly 0xFFFF extends that
event (long-duration segments).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from wcs.rtp.errors import DtmfError, RtpUsageError

__all__ = [
    "EVENT_FLASH",
    "DtmfDigit",
    "DtmfReceiver",
    "EventPacket",
    "TelephoneEvent",
    "build_event",
    "digit_to_event",
    "event_to_digit",
    "generate_event",
    "parse_events",
]

#: Table 3 of RFC 4733: "0"-"9" → 0-9, "*" → 10, "#" → 11, "A"-"D" → 12-15.
_DIGITS = "0123456789*#ABCD"
#: Hook flash (RFC 4734 §3.2.1, event 16); written "!" as a digit.
EVENT_FLASH = 16
_EVENT = struct.Struct("!BBH")
_MAX_DURATION = 0xFFFF


def digit_to_event(digit: str) -> int:
    """Event code of a DTMF digit (``0-9 * # A-D``, case-insensitive; ``!``/``flash`` = 16)."""
    if digit in ("!", "flash"):
        return EVENT_FLASH
    if len(digit) == 1:
        code = _DIGITS.find(digit.upper())
        if code >= 0:
            return code
    raise RtpUsageError(f"not a DTMF digit: {digit!r}")


def event_to_digit(event: int) -> str | None:
    """The digit for an event code, ``"!"`` for flash, ``None`` for other events."""
    if 0 <= event < 16:
        return _DIGITS[event]
    return "!" if event == EVENT_FLASH else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 §2.3 event report."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __bytes__(self) -> bytes:
        return build_event(self.event, self.end, self.volume, self.duration)


def build_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    """Encode one event report (4 octets; R bit zero)."""
    if not 0 <= event <= 255 or not 0 <= volume <= 63 or not 0 <= duration <= _MAX_DURATION:
        raise RtpUsageError(f"telephone-event field out of range: {event}/{volume}/{duration}")
    return _EVENT.pack(event, (0x80 if end else 0) | volume, duration)


def parse_events(payload: bytes | bytearray | memoryview) -> list[TelephoneEvent]:
    """Decode a telephone-event payload (one or more packed 4-octet reports)."""
    n = len(payload)
    if n < 4:
        raise DtmfError("telephone-event payload shorter than 4 octets")
    if n % 4:
        raise DtmfError("telephone-event payload length not a multiple of 4")
    out = []
    for pos in range(0, n, 4):
        event, flags, duration = _EVENT.unpack_from(payload, pos)
        out.append(TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration))
    return out


class EventPacket(NamedTuple):
    """One packet to send: due ``offset`` seconds after the first one."""

    offset: float
    marker: bool
    timestamp: int
    payload: bytes


def generate_event(
    digit: str | int,
    *,
    clock_rate: int,
    timestamp: int,
    duration: float = 0.1,
    interval: float = 0.02,
    volume: int = 10,
) -> Iterator[EventPacket]:
    """The packets of one event (see the module doc), starting at RTP ``timestamp``.

    ``duration`` is the tone length and ``interval`` the update spacing, in seconds.
    """
    code = digit_to_event(digit) if isinstance(digit, str) else digit
    total = round(duration * clock_rate)
    step = round(interval * clock_rate)
    if total <= 0 or not 0 < step <= _MAX_DURATION:
        raise RtpUsageError("DTMF duration and interval must be positive (interval ≤ 0xFFFF units)")
    build_event(code, False, volume, 0)  # validate code and volume once
    i = 0
    seg_start = 0
    marker = True
    while True:
        cumulative = min((i + 1) * step, total)
        if cumulative - seg_start > _MAX_DURATION:
            end_of_segment = build_event(code, False, volume, _MAX_DURATION)
            ts = (timestamp + seg_start) & 0xFFFFFFFF
            for _ in range(3):
                yield EventPacket(i * interval, marker, ts, end_of_segment)
                marker = False
                i += 1
            seg_start += _MAX_DURATION
            continue
        if cumulative >= total:
            break
        yield EventPacket(i * interval, marker, (timestamp + seg_start) & 0xFFFFFFFF,
                          build_event(code, False, volume, cumulative - seg_start))
        marker = False
        i += 1
    final = build_event(code, True, volume, total - seg_start)
    ts = (timestamp + seg_start) & 0xFFFFFFFF
    for _ in range(3):
        yield EventPacket(i * interval, marker, ts, final)
        marker = False
        i += 1


class DtmfDigit(NamedTuple):
    """A received event, reported once when it ended."""

    digit: str | None  # None for non-DTMF events
    event: int
    timestamp: int  # RTP timestamp of the event start
    duration: int  # total, timestamp units
    duration_ms: int
    volume: int


class _Current:
    __slots__ = ("event", "start", "seg_ts", "seg_dur", "base", "volume", "deadline")

    def __init__(self, event: int, ts: int, duration: int, volume: int, deadline: float) -> None:
        self.event = event
        self.start = ts
        self.seg_ts = ts
        self.seg_dur = duration
        self.base = 0  # duration of the completed segments before seg_ts
        self.volume = volume
        self.deadline = deadline


class DtmfReceiver:
    """Turns incoming telephone-event packets into digits, each reported once."""

    def __init__(self, clock_rate: int, *, end_timeout: float = 0.3, history: int = 32) -> None:
        self.clock_rate = clock_rate
        self.end_timeout = end_timeout
        self._current: _Current | None = None
        self._done: set[int] = set()
        self._order: deque[int] = deque()
        self._history = history
        self._digits: list[DtmfDigit] = []

    def receive(self, timestamp: int, payload: bytes | bytearray | memoryview, now: float,
                marker: bool = False) -> None:
        """Feed one telephone-event packet's timestamp and payload; raises DtmfError."""
        ts = timestamp
        for ev in parse_events(payload):
            self._event(ts, ev, now, marker)
            ts = (ts + ev.duration) & 0xFFFFFFFF
            marker = False

    def reset(self) -> None:
        """Forget all state (the sending source changed: its timestamps start afresh)."""
        self._current = None
        self._done.clear()
        self._order.clear()

    def pop_digits(self) -> list[DtmfDigit]:
        """The events that ended since the last call, oldest first."""
        out, self._digits = self._digits, []
        return out

    def get_timer(self) -> float | None:
        """When the current event is considered over if no more packets come."""
        return self._current.deadline if self._current is not None else None

    def handle_timer(self, now: float) -> None:
        """End the current event if its updates stopped (all end packets lost)."""
        cur = self._current
        if cur is not None and now >= cur.deadline:
            self._finish(cur)

    def _event(self, ts: int, ev: TelephoneEvent, now: float, marker: bool) -> None:
        if ts in self._done:
            return  # a retransmitted end packet or late update of a reported event
        cur = self._current
        if cur is not None:
            if ts == cur.seg_ts:
                if ev.duration > cur.seg_dur:
                    cur.seg_dur = ev.duration
                cur.deadline = now + self.end_timeout
                if ev.end:
                    self._finish(cur)
                return
            if ev.event == cur.event and not marker and (ts - cur.seg_ts) & 0xFFFFFFFF == _MAX_DURATION:
                self._remember(cur.seg_ts)  # §2.5.1.3: next segment of a long event
                cur.base += _MAX_DURATION
                cur.seg_ts, cur.seg_dur = ts, ev.duration
                cur.deadline = now + self.end_timeout
                if ev.end:
                    self._finish(cur)
                return
            if (ts - cur.seg_ts) & 0xFFFFFFFF >= 0x80000000:
                return  # older than the current event: a late straggler
            self._finish(cur)  # the next event started
        cur = _Current(ev.event, ts, ev.duration, ev.volume, now + self.end_timeout)
        self._current = cur
        if ev.end:
            self._finish(cur)

    def _finish(self, cur: _Current) -> None:
        total = cur.base + cur.seg_dur
        self._digits.append(DtmfDigit(event_to_digit(cur.event), cur.event, cur.start, total,
                                      round(total * 1000 / self.clock_rate), cur.volume))
        self._remember(cur.seg_ts)
        self._current = None

    def _remember(self, ts: int) -> None:
        if ts in self._done:
            return
        self._done.add(ts)
        self._order.append(ts)
        if len(self._order) > self._history:
            self._done.discard(self._order.popleft())
