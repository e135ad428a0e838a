"""asyncio adapter: one UDP socket ⇄ one sans-I/O :class:`wcs.sip.ua.UserAgent`.

Shaped like aioquic's ``QuicConnectionProtocol``: every input (a datagram, a timer, a
call from the owner) is fed to the UA with ``loop.time()`` as ``now``; afterwards
``_transmit()`` sends what the UA queued, delivers its events to the owner's callback,
and re-arms the single timer handle at ``ua.get_timer()``.

Host names in destinations (an outbound proxy given by name, a Contact with a name)
are resolved here with ``loop.getaddrinfo``; the core never does DNS.  Datagrams for
a name wait, in order, until it resolves; a name that does not resolve is reported to
the UA as a transport error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from typing import cast

from wcs.entropy import Entropy, SystemEntropy
from wcs.sip.transport import Address, Outgoing
from wcs.sip.ua import Account, InviteSession, Registration, UaEvent, UserAgent
from wcs.timers import TimerConfig

__all__ = ["SipUdpEndpoint", "create_sip_endpoint"]

log = logging.getLogger(__name__)

EventCallback = Callable[[UaEvent], None]
#: ``trace(direction, data, address)`` with direction "recv" or "send" (for logs, tests)
TraceCallback = Callable[[str, bytes, Address], None]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SipUdpEndpoint(asyncio.DatagramProtocol):
    """A bound UDP socket driving a :class:`UserAgent` (create it with :func:`create_sip_endpoint`)."""

    def __init__(self, on_event: EventCallback, trace: TraceCallback | None = None) -> None:
        self._on_event = on_event
        self._trace = trace
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._ua: UserAgent | None = None
        self._family = socket.AF_INET
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._resolved: dict[tuple[str, int], tuple[str, int]] = {}
        self._resolving: dict[tuple[str, int], list[Outgoing]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._in_transmit = False

    # ------------------------------------------------------------ owner API

    @property
    def ua(self) -> UserAgent:
        """The user agent this endpoint drives."""
        if self._ua is None:
            raise RuntimeError("endpoint not attached to a user agent yet")
        return self._ua

    @property
    def local_address(self) -> Address:
        """The address the UA advertises (Via, Contact)."""
        return self.ua.local

    def register(self, account: Account, expires: int = 600) -> Registration:
        """REGISTER ``account`` (see :meth:`UserAgent.register`)."""
        reg = self.ua.register(account, self._loop.time(), expires)
        self._transmit()
        return reg

    def unregister(self, registration: Registration) -> None:
        """Remove the binding (REGISTER with expires 0)."""
        self.ua.unregister(registration, self._loop.time())
        self._transmit()

    def invite(self, account: Account, target: str, sdp: bytes, *,
               extra_headers: Sequence[tuple[str, str]] = ()) -> InviteSession:
        """Place a call (see :meth:`UserAgent.invite`)."""
        session = self.ua.invite(account, target, sdp, self._loop.time(), extra_headers=extra_headers)
        self._transmit()
        return session

    def cancel_or_bye(self, session: InviteSession) -> None:
        """Hang up: CANCEL before the answer, BYE after."""
        self.ua.cancel_or_bye(session, self._loop.time())
        self._transmit()

    def ring(self, session: InviteSession, sdp: bytes | None = None) -> None:
        """Send 180 Ringing (183 Session Progress with ``sdp``)."""
        self.ua.ring(session, self._loop.time(), sdp)
        self._transmit()

    def answer(self, session: InviteSession, sdp: bytes) -> None:
        """Send 200 OK with ``sdp``."""
        self.ua.answer(session, sdp, self._loop.time())
        self._transmit()

    def reject(self, session: InviteSession, status: int, reason: str) -> None:
        """Send a final error response to an incoming INVITE."""
        self.ua.reject(session, status, reason, self._loop.time())
        self._transmit()

    def flush(self) -> None:
        """Send and deliver what the UA queued after its owner drove it directly."""
        self._transmit()

    def close(self) -> None:
        """Stop timers and close the socket (nothing more is sent)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport (3.11)
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._family = sock.family

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self._ua is None or self._closed:
            return
        source = Address(str(addr[0]), int(addr[1]), "udp")
        if self._trace is not None:
            self._trace("recv", data, source)
        try:
            self._ua.receive_datagram(data, source, self._loop.time())
        except Exception:  # the core should never raise here; keep the socket alive if it does
            log.exception("SIP: datagram from %s:%s crashed the user agent", source.host, source.port)
        self._transmit()

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------ plumbing

    def _attach(self, ua: UserAgent) -> None:
        self._ua = ua

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._ua is None or self._closed:
            return
        self._ua.handle_timer(self._loop.time())
        self._transmit()

    def _transmit(self) -> None:
        """Send what the UA queued, deliver its events, re-arm the timer (aioquic style)."""
        if self._ua is None or self._closed or self._in_transmit:
            return
        self._in_transmit = True
        try:
            while True:
                out = self._ua.outgoing()
                events = self._ua.events()
                if not out and not events:
                    break
                for item in out:
                    self._send(item)
                for event in events:
                    try:
                        self._on_event(event)
                    except Exception:
                        log.exception("SIP: event callback failed on %r", event)
        finally:
            self._in_transmit = False
        self._rearm()

    def _rearm(self) -> None:
        if self._ua is None or self._closed:
            return
        deadline = self._ua.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _send(self, item: Outgoing) -> None:
        dest = item.dest
        if dest.transport != "udp":
            self._ua_transport_error(dest, f"transport {dest.transport} not available")
            return
        if _is_ip_literal(dest.host):
            self._sendto(item.data, (dest.host, dest.port))
            return
        key = (dest.host, dest.port)
        if key in self._resolved:
            self._sendto(item.data, self._resolved[key])
        elif key in self._resolving:
            self._resolving[key].append(item)
        else:
            self._resolving[key] = [item]
            task = self._loop.create_task(self._resolve(dest))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            if self._trace is not None:
                self._trace("send", data, Address(addr[0], addr[1], "udp"))
            self._transport.sendto(data, addr)

    async def _resolve(self, dest: Address) -> None:
        key = (dest.host, dest.port)
        try:
            infos = await self._loop.getaddrinfo(dest.host, dest.port, family=self._family,
                                                 type=socket.SOCK_DGRAM)
        except OSError as exc:
            self._resolving.pop(key, None)
            self._ua_transport_error(dest, f"cannot resolve {dest.host}: {exc}")
            self._transmit()
            return
        addr = infos[0][4]
        resolved = (str(addr[0]), int(addr[1]))
        self._resolved[key] = resolved
        for item in self._resolving.pop(key, []):
            self._sendto(item.data, resolved)

    def _ua_transport_error(self, dest: Address, reason: str) -> None:
        log.info("SIP: cannot send to %s:%s/%s: %s", dest.host, dest.port, dest.transport, reason)
        if self._ua is not None:
            self._ua.report_transport_error(dest, reason, self._loop.time())


async def create_sip_endpoint(local_host: str, local_port: int, on_event: EventCallback, *,
                              advertised_host: str | None = None,
                              advertised_port: int | None = None,
                              timers: TimerConfig | None = None,
                              entropy: Entropy | None = None,
                              user_agent: str = "wcs/0.1",
                              trace: TraceCallback | None = None) -> SipUdpEndpoint:
    """Bind a UDP socket on ``local_host:local_port`` (0 = any port) and attach a UserAgent.

    The UA advertises ``advertised_host``/``advertised_port`` in Via and Contact when
    given (required when bound to a wildcard such as 0.0.0.0), else the bound address.
    ``trace`` sees every datagram received and sent (after name resolution).
    """
    loop = asyncio.get_running_loop()
    transport, endpoint = await loop.create_datagram_endpoint(
        lambda: SipUdpEndpoint(on_event, trace), local_addr=(local_host, local_port))
    sockname = transport.get_extra_info("sockname")
    host = advertised_host or str(sockname[0])
    if host in ("0.0.0.0", "::"):
        transport.close()
        raise ValueError("bound to a wildcard address: give advertised_host")
    port = advertised_port or int(sockname[1])
    ua = UserAgent(Address(host, port, "udp"), timers=timers or TimerConfig(),
                   entropy=entropy if entropy is not None else SystemEntropy(), user_agent=user_agent)
    endpoint._attach(ua)
    return endpoint
