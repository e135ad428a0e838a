"""RTP activity detection: noticing that a leg of a call stopped sending media (sans-I/O).

Theory of operation
-------------------
A call whose media died (a phone lost power, a browser tab froze, a NAT binding
expired) sends no BYE.  The relay records the arrival time of every RTP packet per leg
(``"browser"``, ``"sip"``) — one store per packet, the deadline is not moved — and
:meth:`ActivityMonitor.check` runs only when its timer fires, with those arrival times:
a leg that is *expected* to send and has been silent for ``timeout`` seconds is reported
once, as ``(leg, seconds of silence)``.

A leg is expected to send while its direction says so (RFC 3264 §5.1: not while it is
``recvonly``/``inactive``) and the call is not on hold.  When a leg starts being
expected (media set up, resumed, renegotiated) it gets ``grace`` more seconds for its
first packet: browsers finish DTLS and phones open their audio path a little after the
answer.  Silence is measured from ``max(last packet, armed + grace)``.

RTCP does not count: a peer that sends reports but no media is not carrying the call.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ActivityMonitor"]


class ActivityMonitor:
    """Per-leg silence timeouts; ``enabled=False`` never reports (calls without mic/camera)."""

    __slots__ = ("enabled", "timeout", "grace", "_armed", "_reported", "_next")

    def __init__(self, *, enabled: bool = True, timeout: float = 30.0, grace: float = 10.0) -> None:
        self.enabled = enabled
        self.timeout = timeout
        self.grace = grace
        self._armed: dict[str, float] = {}  # expected legs → when they became expected
        self._reported: set[str] = set()
        self._next: float | None = None

    def expect(self, legs: set[str], last: Mapping[str, float | None], now: float) -> None:
        """From ``now`` on, exactly ``legs`` are expected to send (newly expected ones get the grace);
        ``last``: leg → arrival time of its last RTP packet, if any."""
        self._armed = {leg: self._armed.get(leg, now) for leg in legs}
        self._schedule(last)

    def pause(self) -> None:
        """Nothing is expected (hold); :meth:`expect` re-arms with a fresh grace."""
        self._armed = {}
        self._next = None

    def get_timer(self) -> float | None:
        return self._next if self.enabled else None

    def check(self, last: Mapping[str, float | None], now: float) -> list[tuple[str, float]]:
        """Legs silent for ``timeout`` at ``now`` (each reported once, with the seconds of
        silence since its last packet or since it became expected), and re-schedule."""
        if not self.enabled or self._next is None or now < self._next:
            return []
        out = []
        for leg, armed in self._armed.items():
            if leg in self._reported or now < self._since(leg, last) + self.timeout:  # as scheduled
                continue
            self._reported.add(leg)
            heard = last.get(leg)
            out.append((leg, now - (heard if heard is not None and heard > armed else armed)))
        self._schedule(last)
        return out

    def _since(self, leg: str, last: Mapping[str, float | None]) -> float:
        armed = self._armed[leg] + self.grace
        heard = last.get(leg)
        return armed if heard is None or heard < armed else heard

    def _schedule(self, last: Mapping[str, float | None]) -> None:
        deadlines = [self._since(leg, last) + self.timeout for leg in self._armed
                     if leg not in self._reported]
        self._next = min(deadlines) if deadlines else None
