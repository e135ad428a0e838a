"""The load generator's engine: many simulated peers on one epoll loop, paced 20 ms audio, measured.

Each :class:`Leg` is one client socket: it sends one packet every 20 ms toward the relay and
reads what the relay forwards to it.  Sends are spread over the 20 ms period in 1 ms slots
(real calls are not synchronised; bursts of thousands of packets would measure queueing, not
the relay).  Every received packet carries the sender's id, counter and send time
(:func:`~benchmarks.relay.peers.media_payload`); the arrival time is the kernel's receive
timestamp (``SO_TIMESTAMPNS``), so the time this process takes to get round to reading a
packet does not count as relay latency.
"""

from __future__ import annotations

import resource
import select
import socket
import struct
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .peers import STAMP, SimBrowser, read_stamp

Address = tuple[str, int]
SO_TIMESTAMPNS = 35  # Linux; SCM_TIMESTAMPNS has the same value
_TIMESPEC = struct.Struct("qq")
_CMSG = socket.CMSG_SPACE(_TIMESPEC.size)
SLOTS = 20  # 1 ms slots in a 20 ms period


@dataclass(eq=False)
class Leg:
    """One client socket of a call."""

    sock: socket.socket
    dest: Address
    sender: int  # stamped into what this leg sends
    make: Callable[[int, int], bytes]  # (sender id, send time ns) → next packet
    read: Callable[[bytes], bytes | None] = lambda data: data  # decrypt (browser) or not
    direction: int = 0  # 0: this leg sends "toward SIP" (browser, or side A), 1: the other way


@dataclass
class Traffic:
    """What one measured run saw."""

    seconds: float
    sent: list[int] = field(default_factory=lambda: [0, 0])
    received: list[int] = field(default_factory=lambda: [0, 0])
    latency_ns: list[array] = field(default_factory=lambda: [array("q"), array("q")])
    late_slots: int = 0
    client_cpu: float = 0.0

    @property
    def loss(self) -> float:
        sent = sum(self.sent)
        return 1 - sum(self.received) / sent if sent else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile over both directions, in milliseconds."""
        values = sorted(v for d in self.latency_ns for v in d)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] / 1e6


def bind_leg_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def handshake(browsers: Sequence[tuple[SimBrowser, socket.socket]], timeout: float = 60.0) -> None:
    """ICE check + DTLS for every browser at once, on one epoll loop."""
    poller = select.epoll()
    by_fd = {sock.fileno(): (browser, sock) for browser, sock in browsers}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    pending = {fd for fd, (browser, _) in by_fd.items() if not browser.connected}
    for fd in pending:
        browser, sock = by_fd[fd]
        sock.sendto(browser.check(), browser.server)
    end = time.monotonic() + timeout
    last_check = time.monotonic()
    while pending:
        if time.monotonic() > end:
            raise TimeoutError(f"{len(pending)} browsers did not connect")
        for fd, _ in poller.poll(0.2):
            browser, sock = by_fd[fd]
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                continue
            browser.receive(data, time.monotonic())
            for datagram in browser.outgoing():
                sock.sendto(datagram, browser.server)
            if browser.connected:
                pending.discard(fd)
        if time.monotonic() - last_check > 1.0:  # retry what may have been lost
            last_check = time.monotonic()
            for fd in pending:
                browser, sock = by_fd[fd]
                if browser.dtls.state == "new":
                    sock.sendto(browser.check(), browser.server)
    poller.close()


def run(legs: Sequence[Leg], seconds: float, warmup: float = 1.0, drain: float = 0.3,
        on_window: Callable[[bool], None] = lambda started: None) -> Traffic:
    """Send 50 packets/s on every leg for ``warmup + seconds``; count and time what arrives.

    Only packets sent inside the measured window count, on both ends; ``on_window(True)`` /
    ``on_window(False)`` are called when it opens and closes (to read the relay's CPU).
    """
    poller = select.epoll()
    by_fd = {leg.sock.fileno(): leg for leg in legs}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    slots = [list(legs[i::SLOTS]) for i in range(SLOTS)]
    result = Traffic(seconds)
    start = time.monotonic()
    window = (time.time_ns() + int(warmup * 1e9), time.time_ns() + int((warmup + seconds) * 1e9))
    stop_sending = start + warmup + seconds
    stop = stop_sending + drain
    slot, next_slot = 0, start
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    sent, received, latency = result.sent, result.received, result.latency_ns
    opened = closed = False
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        if not opened and now >= start + warmup:
            opened = True
            on_window(True)
        if not closed and now >= stop_sending:
            closed = True
            on_window(False)
        if now >= next_slot and now < stop_sending:
            if now - next_slot > 0.005:
                result.late_slots += 1
            for leg in slots[slot]:
                stamp = time.time_ns()  # the receiver counts by this stamp too
                try:
                    leg.sock.sendto(leg.make(leg.sender, stamp), leg.dest)
                except OSError:
                    continue
                if window[0] <= stamp < window[1]:
                    sent[leg.direction] += 1
            slot = (slot + 1) % SLOTS
            next_slot += 0.02 / SLOTS
            continue
        wait = (next_slot if now < stop_sending else stop) - now
        for fd, _ in poller.poll(max(0.0, wait)):
            leg = by_fd[fd]
            try:
                data, ancillary, _, _ = leg.sock.recvmsg(2048, _CMSG)
            except BlockingIOError:
                continue
            packet = leg.read(data)
            if packet is None or 191 < packet[1] < 224:  # handshake leftovers, RTCP
                continue
            try:
                _, _, sent_ns = read_stamp(packet)
            except struct.error:
                continue
            if not window[0] <= sent_ns < window[1]:
                continue
            direction = 1 - leg.direction
            received[direction] += 1
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(value)
                    latency[direction].append(sec * 1_000_000_000 + nsec - sent_ns)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    used = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    result.client_cpu = used / (time.monotonic() - start)
    poller.close()
    return result


__all__ = ["STAMP", "Leg", "Traffic", "bind_leg_socket", "handshake", "run"]
