"""asyncio adapter: SIP over UDP, TCP, TLS and WebSocket ⇄ one sans-I/O :class:`wcs.sip.ua.UserAgent`.

Shaped like aioquic's ``QuicConnectionProtocol``: every input (a datagram, a framed stream
message, a WebSocket message, a DNS answer, a timer, a call from the owner) is fed to the
UA with ``loop.time()`` as ``now``; afterwards ``_transmit()`` sends what the UA queued,
starts locating the host names it asked for, logs its transport notes, delivers its
events to the owner's callback and re-arms the single timer handle at ``ua.get_timer()``.

One endpoint owns a UDP socket, a TCP listener (same port by default), optionally a TLS
listener (with a certificate) and WS/WSS listeners (RFC 7118), and a
:class:`~wcs.aio.sip_stream.ConnectionPool` of connections by peer address, reused for
requests and responses.  The pool also opens WS/WSS connections to servers (RFC 7118
client side, ``ws_path``): with no WS listener of ours, Via and Contact then carry a
``.invalid`` host and the server reaches us over that connection (see
``wcs/sip/transport_select.py``).  The UA is told our address per transport (Via sent-by and
Contact follow the transport a request really takes) and the RFC 3261 §18.1.1 size
limit; the decisions are the core's (``wcs/sip/transport_select.py``).

Host names are located here with RFC 3263 (:class:`~wcs.aio.dns.SipResolver`, dnspython):
the UA parks a request for a name and lists the target in ``ua.router.queries()``; the
answer (the ordered addresses, the failover list) goes back with ``ua.located``.  TLS
connections verify the server (system store, plus ``TlsSettings.ca_file``) under the
name the target was located for.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from wcs.entropy import Entropy, SystemEntropy
from wcs.sip.locate import Target, is_ip
from wcs.sip.message import Message
from wcs.sip.transport import Address, Outgoing
from wcs.sip.transport_select import DEFAULT_MTU_THRESHOLD, TransportPolicy, host_port
from wcs.sip.ua import Account, InviteSession, Registration, UaEvent, UserAgent
from wcs.sip.uaconfig import UaConfig
from wcs.timers import TimerConfig

from .dns import LocateError, SipResolver
from .sip_stream import ConnectionPool, PooledConnection, StreamConnection
from .sip_tls import TlsSettings, client_context, server_context
from .sip_ws import WsListener

__all__ = ["SipEndpoint", "SipUdpEndpoint", "TlsSettings", "create_sip_endpoint"]

log = logging.getLogger(__name__)

EventCallback = Callable[[UaEvent], None]
#: ``trace(direction, data, address)`` with direction "recv" or "send" (for logs, tests);
#: ``address.transport`` tells which transport carried it
TraceCallback = Callable[[str, bytes, Address], None]


class SipEndpoint(asyncio.DatagramProtocol):
    """SIP sockets driving a :class:`UserAgent` (create it with :func:`create_sip_endpoint`)."""

    def __init__(self, on_event: EventCallback, trace: TraceCallback | None = None, *,
                 tls: TlsSettings | None = None, connect_timeout: float = 10.0,
                 idle_timeout: float = 600.0, ws_path: str = "/") -> None:
        self._on_event = on_event
        self._trace = trace
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._ua: UserAgent | None = None
        self._resolver: SipResolver | None = None
        self._family = socket.AF_INET
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tls = tls or TlsSettings()
        self._pool = ConnectionPool(self, client_context(self._tls), connect_timeout=connect_timeout,
                                    idle_timeout=idle_timeout, ws_path=ws_path)
        self._servers: list[asyncio.Server] = []
        self._ws: list[WsListener] = []
        self._server_names: dict[Address, str] = {}
        self._resolving: dict[Address, list[Outgoing]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._in_transmit = False
        #: our bound address per transport ("udp", "tcp", "tls", "ws", "wss")
        self.listeners: dict[str, Address] = {}

    # ------------------------------------------------------------ owner API

    @property
    def ua(self) -> UserAgent:
        """The user agent this endpoint drives."""
        if self._ua is None:
            raise RuntimeError("endpoint not attached to a user agent yet")
        return self._ua

    @property
    def local_address(self) -> Address:
        """The UDP address the UA advertises (Via, Contact)."""
        return self.ua.local

    @property
    def connections(self) -> dict[Address, PooledConnection]:
        """Live TCP/TLS/WebSocket connections by peer address (a copy)."""
        return dict(self._pool.connections)

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
        """Stop timers, close every socket and connection (nothing more is sent)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        for server in self._servers:
            server.close()
        for listener in self._ws:
            listener.close()
        self._pool.close()
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        """After :meth:`close`: wait until the WebSocket client session is closed too."""
        await self._pool.wait_closed()

    # ------------------------------------------------------------ UDP (asyncio callbacks)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport (3.11)
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._family = sock.family

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.message_bytes(data, Address(str(addr[0]), int(addr[1]), "udp"))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------ from the pool (PoolOwner)

    def message_bytes(self, data: bytes, source: Address) -> None:
        """A whole message as bytes: a datagram, a WebSocket message, a bad stream message."""
        if self._ua is None or self._closed:
            return
        if self._trace is not None:
            self._trace("recv", data, source)
        try:
            self._ua.receive_datagram(data, source, self._loop.time())
        except Exception:  # the core should never raise here; keep the endpoint alive if it does
            log.exception("SIP: a message from %s/%s crashed the user agent", host_port(source),
                          source.transport)
        self._transmit()

    def stream_message(self, message: Message, source: Address) -> None:
        """A message framed on a TCP/TLS connection."""
        if self._ua is None or self._closed:
            return
        if self._trace is not None:
            self._trace("recv", bytes(message), source)
        try:
            self._ua.receive_message(message, source, self._loop.time())
        except Exception:
            log.exception("SIP: a message from %s/%s crashed the user agent", host_port(source),
                          source.transport)
        self._transmit()

    def connection_failed(self, dest: Address, reason: str) -> None:
        """A connection could not be opened (or a WebSocket peer is gone)."""
        self._transport_error(dest, reason)
        self._transmit()

    # ------------------------------------------------------------ plumbing

    def _attach(self, ua: UserAgent, resolver: SipResolver) -> None:
        self._ua = ua
        self._resolver = resolver

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._ua is None or self._closed:
            return
        self._ua.handle_timer(self._loop.time())
        self._transmit()

    def _transmit(self) -> None:
        """Send what the UA queued, locate names, deliver events, re-arm the timer (aioquic style)."""
        ua = self._ua
        if ua is None or self._closed or self._in_transmit:
            return
        self._in_transmit = True
        try:
            while True:
                out = ua.outgoing()
                targets = ua.router.queries()
                for note in ua.router.notes():
                    log.info("SIP: %s", note)
                events = ua.events()
                if not out and not targets and not events:
                    break
                for item in out:
                    self._send(item)
                for target in targets:
                    self._locate(target)
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

    # -- locating names (RFC 3263)
    def _locate(self, target: Target) -> None:
        assert self._resolver is not None and self._ua is not None
        addresses = self._resolver.cached(target)
        if addresses is not None:
            self._located(target, addresses, None)
        else:
            self._spawn(self._locate_async(target))

    async def _locate_async(self, target: Target) -> None:
        assert self._resolver is not None
        try:
            addresses, error = await self._resolver.locate(target), None
        except LocateError as exc:
            addresses, error = [], str(exc)
        if not self._closed:
            self._located(target, addresses, error)
            self._transmit()

    def _located(self, target: Target, addresses: list[Address], error: str | None) -> None:
        assert self._ua is not None
        if not is_ip(target.host):
            name = self._tls.server_name or target.host
            for address in addresses:
                self._server_names[address] = name
        if error is not None:
            log.info("SIP: %s", error)
        self._ua.located(target, addresses, self._loop.time(), error)

    # -- sending
    def _send(self, item: Outgoing) -> None:
        dest = item.dest
        if not is_ip(dest.host):  # a name the UA passed through (e.g. a response to a maddr)
            self._send_to_name(item)
            return
        if self._trace is not None:
            self._trace("send", item.data, dest)
        if dest.transport == "udp":
            if self._transport is not None and not self._transport.is_closing():
                self._transport.sendto(item.data, (dest.host, dest.port))
        elif dest.transport in ("tcp", "tls", "ws", "wss"):
            self._pool.send(dest, item.data, self._tls.server_name or self._server_names.get(dest))
        else:
            self._transport_error(dest, f"transport {dest.transport} not available")

    def _send_to_name(self, item: Outgoing) -> None:
        dest = item.dest
        if dest in self._resolving:
            self._resolving[dest].append(item)
            return
        self._resolving[dest] = [item]
        self._spawn(self._resolve_and_send(dest))

    async def _resolve_and_send(self, dest: Address) -> None:
        assert self._resolver is not None
        try:
            first = (await self._resolver.locate(Target.from_address(dest)))[0]
        except LocateError as exc:
            self._resolving.pop(dest, None)
            self._transport_error(dest, str(exc))
            self._transmit()
            return
        self._server_names[first] = self._tls.server_name or dest.host
        for item in self._resolving.pop(dest, []):
            self._send(Outgoing(item.data, first))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _transport_error(self, dest: Address, reason: str) -> None:
        log.info("SIP: cannot send to %s/%s: %s", host_port(dest), dest.transport, reason)
        if self._ua is not None and not self._closed:
            self._ua.report_transport_error(dest, reason, self._loop.time())


#: the name this class had when it only spoke UDP
SipUdpEndpoint = SipEndpoint


async def create_sip_endpoint(local_host: str, local_port: int, on_event: EventCallback, *,
                              advertised_host: str | None = None,
                              advertised_port: int | None = None,
                              timers: TimerConfig | None = None,
                              entropy: Entropy | None = None,
                              user_agent: str = "wcs/0.1",
                              trace: TraceCallback | None = None,
                              tcp: bool = True,
                              tcp_port: int | None = None,
                              tls: TlsSettings | None = None,
                              tls_port: int | None = None,
                              ws_port: int | None = None,
                              wss_port: int | None = None,
                              mtu_threshold: int = DEFAULT_MTU_THRESHOLD,
                              dns_servers: Sequence[str] | None = None,
                              connect_timeout: float = 10.0,
                              idle_timeout: float = 600.0,
                              ws_path: str = "/",
                              config: UaConfig | None = None) -> SipEndpoint:
    """Bind the SIP sockets on ``local_host`` and attach a UserAgent.

    UDP on ``local_port`` (0 = any port); TCP (``tcp``) on ``tcp_port``, by default the
    UDP port; TLS on ``tls_port`` (default UDP port + 1, any port when ``local_port`` is
    0) when ``tls`` has a certificate; WS/WSS (RFC 7118) on ``ws_port``/``wss_port`` when
    given (WSS needs the certificate).  Outgoing TLS, WS and WSS work without a listener;
    ``ws_path`` is the HTTP path of the WebSocket connections we open (RFC 7118).

    ``config`` sets the UA's call features (100rel, session timers, keep-alive pings).
    The UA advertises ``advertised_host`` in Via and Contact (required when bound to a
    wildcard such as 0.0.0.0), else the bound address; ``advertised_port`` replaces the
    UDP (and shared TCP) port.  ``mtu_threshold``: requests above it go over TCP (RFC 3261
    §18.1.1).  ``dns_servers``: ``"host[:port]"`` nameservers for RFC 3263 (default: the
    system's).  ``trace`` sees every message received and sent, with the address and
    transport it came from or went to.
    """
    loop = asyncio.get_running_loop()
    settings = tls or TlsSettings()
    endpoint = SipEndpoint(on_event, trace, tls=settings, connect_timeout=connect_timeout,
                           idle_timeout=idle_timeout, ws_path=ws_path)
    udp_sock, tcp_sock = await _bind_pair(local_host, local_port, tcp and tcp_port is None)
    try:
        udp_transport, _ = await loop.create_datagram_endpoint(lambda: endpoint, sock=udp_sock)
    except BaseException:
        udp_sock.close()
        if tcp_sock is not None:
            tcp_sock.close()
        raise
    try:
        sockname = udp_transport.get_extra_info("sockname")
        host = advertised_host or str(sockname[0])
        if host in ("0.0.0.0", "::"):
            raise ValueError("bound to a wildcard address: give advertised_host")
        udp_port = int(sockname[1])
        bound = {"udp": udp_port}
        if tcp_sock is not None:
            bound["tcp"] = await _listen(endpoint, "tcp", tcp_sock)
        elif tcp and tcp_port is not None:
            bound["tcp"] = await _listen(endpoint, "tcp", (local_host, tcp_port))
        context = server_context(settings)
        if context is not None:
            port = tls_port if tls_port is not None else (udp_port + 1 if local_port else 0)
            bound["tls"] = await _listen(endpoint, "tls", (local_host, port), context)
        for name, port_wanted, ctx in (("ws", ws_port, None), ("wss", wss_port, context)):
            if port_wanted is None:
                continue
            if name == "wss" and ctx is None:
                raise ValueError("wss_port needs a certificate (TlsSettings.cert_file)")
            listener = WsListener(endpoint._pool, name)
            endpoint._ws.append(listener)
            bound[name] = await listener.start(local_host, port_wanted, ctx)
    except BaseException:
        endpoint.close()
        raise
    endpoint.listeners = {name: Address(str(sockname[0]), port, name) for name, port in bound.items()}
    advertised = {name: Address(host, port, name) for name, port in bound.items()}
    if advertised_port:
        for name in ("udp", "tcp"):
            if name in advertised and bound[name] == udp_port:
                advertised[name] = Address(host, advertised_port, name)
    entropy = entropy if entropy is not None else SystemEntropy()
    ua = UserAgent(advertised["udp"], timers=timers or TimerConfig(), entropy=entropy, user_agent=user_agent,
                   config=config)
    families = ("AAAA",) if endpoint._family == socket.AF_INET6 else ("A",)
    ua.set_transport_policy(TransportPolicy(advertised, mtu_threshold, locate=True, families=families))
    endpoint._attach(ua, SipResolver(dns_servers, entropy=entropy, families=families))
    return endpoint


async def _bind_pair(host: str, port: int, tcp: bool) -> tuple[socket.socket, socket.socket | None]:
    """A UDP socket on ``host:port`` and, with ``tcp``, a listening TCP socket on the same port.

    With port 0 the kernel picks the UDP port, which TCP may already use: then both are
    dropped and another pair is tried (a bounded number of times).
    """
    loop = asyncio.get_running_loop()
    info = (await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE))[0]
    family, address = info[0], info[4]
    for attempt in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.bind(address)
        except OSError:
            udp.close()
            raise
        if not tcp:
            return udp, None
        stream = socket.socket(family, socket.SOCK_STREAM)
        try:
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            stream.bind(udp.getsockname())
            stream.listen(128)
            return udp, stream
        except OSError as exc:
            stream.close()
            udp.close()
            if port or exc.errno != errno.EADDRINUSE or attempt == 19:
                raise
    raise AssertionError("unreachable")


async def _listen(endpoint: SipEndpoint, name: str, where: tuple[str, int] | socket.socket,
                  context: ssl.SSLContext | None = None) -> int:
    """A TCP or TLS listener on ``(host, port)`` or a bound socket, feeding the pool; the bound port."""
    loop = asyncio.get_running_loop()
    pool = endpoint._pool

    def factory() -> StreamConnection:
        return StreamConnection(pool, name)

    if isinstance(where, socket.socket):
        server = await loop.create_server(factory, sock=where, ssl=context)
    else:
        server = await loop.create_server(factory, where[0], where[1], ssl=context, reuse_address=True)
    endpoint._servers.append(server)
    return int(server.sockets[0].getsockname()[1])
