"""Timer configuration and a small deadline heap for sans-I/O state machines.

No clock is read here.  State machines receive ``now`` (seconds, any monotonic
origin) with every input, keep their deadlines in a :class:`TimerHeap`, expose the
earliest one through ``get_timer()`` and fire due ones in ``handle_timer(now)``.

SIP timer values follow RFC 3261 §17 and Table 4 (Appendix A), with Timer L and M
from RFC 6026 §8.  They are injected as a :class:`TimerConfig`, never read from
module globals, so tests can shrink or stretch them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class TimerConfig:
    """RFC 3261 timer base values, in seconds.

    ``t1`` RTT estimate (default 500 ms), ``t2`` maximum retransmit interval for
    non-INVITE requests and INVITE responses (4 s), ``t4`` maximum duration a message
    remains in the network (5 s).  The derived timers follow Table 4 of RFC 3261.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer C (proxy INVITE transaction timeout, > 3 min) — also used by UAs that
    #: want to give up on a ringing callee.
    timer_c: float = 180.0
    #: Timer D, wait time for response retransmits (> 32 s for unreliable transports).
    timer_d: float = 32.0

    @property
    def timer_a(self) -> float:
        """INVITE request retransmit interval, initially T1 (unreliable transports)."""
        return self.t1

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout, 64*T1."""
        return 64 * self.t1

    @property
    def timer_e(self) -> float:
        """Non-INVITE request retransmit interval, initially T1."""
        return self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE transaction timeout, 64*T1."""
        return 64 * self.t1

    @property
    def timer_g(self) -> float:
        """INVITE response retransmit interval, initially T1."""
        return self.t1

    @property
    def timer_h(self) -> float:
        """Wait time for ACK receipt, 64*T1."""
        return 64 * self.t1

    @property
    def timer_i(self) -> float:
        """Wait time for ACK retransmits, T4 (unreliable transports)."""
        return self.t4

    @property
    def timer_j(self) -> float:
        """Wait time for non-INVITE request retransmits, 64*T1 (unreliable transports)."""
        return 64 * self.t1

    @property
    def timer_k(self) -> float:
        """Wait time for response retransmits, T4 (unreliable transports)."""
        return self.t4

    @property
    def timer_l(self) -> float:
        """RFC 6026: wait time for accepted INVITE request retransmits, 64*T1."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """RFC 6026: wait time for retransmission of 2xx to INVITE, 64*T1."""
        return 64 * self.t1


class TimerHeap(Generic[K]):
    """Deadlines keyed by a hashable key; re-scheduling a key replaces its deadline.

    Cancelled or replaced entries are removed lazily, so every operation is
    O(log n) amortised.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def schedule(self, key: K, deadline: float) -> None:
        """Arm (or re-arm) ``key`` to fire at ``deadline``."""
        seq = next(self._counter)
        self._live[key] = (deadline, seq)
        heapq.heappush(self._heap, (deadline, seq, key))

    def cancel(self, key: K) -> None:
        """Disarm ``key``; unknown keys are ignored."""
        self._live.pop(key, None)

    def deadline(self, key: K) -> float | None:
        """The deadline armed for ``key``, if any."""
        entry = self._live.get(key)
        return entry[0] if entry else None

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or ``None`` when nothing is armed."""
        self._prune()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[K]:
        """Remove and return every key whose deadline is ``<= now``, earliest first."""
        due: list[K] = []
        while True:
            self._prune()
            if not self._heap or self._heap[0][0] > now:
                return due
            _, _, key = heapq.heappop(self._heap)
            del self._live[key]
            due.append(key)

    def _prune(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            deadline, seq, key = heap[0]
            if live.get(key) == (deadline, seq):
                return
            heapq.heappop(heap)
