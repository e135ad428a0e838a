"""SIP over TCP, TLS and WebSocket: one object per connection and a pool keyed by peer address.

Theory of operation
-------------------
Every connection, accepted or opened by us, is known by its peer's
:class:`~wcs.sip.transport.Address` (IP, port, "tcp"/"tls"/"ws"/"wss"); the
:class:`ConnectionPool` maps those to live connections, so a response to a request that
came in on a connection goes back on it (RFC 3261 §18.2.2: the UA core addresses it to
the request's source) and requests to a server reuse the connection opened before
(§18.1.1).  A send to an address without a connection opens one; what is sent meanwhile
waits in order.  If the connection cannot be opened (refused, unreachable, timed out,
TLS handshake or certificate check failed, WebSocket handshake refused or without the
``sip`` subprotocol), the owner's ``connection_failed(dest, reason)`` says so and the
queued data is dropped: the UA fails the transactions.

WebSocket connections (RFC 7118) are opened with aiohttp's client (one
``ClientSession`` per pool, made on first use and closed with the pool) to
``ws[s]://host:port<ws_path>``; WSS verifies the server with the same client TLS
context and server name as TLS.  See :mod:`wcs.aio.sip_ws` for the framing.  A send to
a ``ws`` address where we hold a ``wss`` connection to the same host and port uses it:
RFC 7118 §5.2 has one URI transport value for both, so a Record-Route of a WSS server
may well say ``transport=ws``.

Each :class:`StreamConnection` frames its byte stream with a
:class:`~wcs.sip.parser.StreamParser` (§18.3, Content-Length).  A message whose framing
is sound but whose content is bad goes to the owner as raw bytes (the UA answers it
400); a framing error closes that connection only.  Each CRLFCRLF keep-alive is
answered with CRLF (RFC 5626 §4.4.1).  Connections unused for ``idle_timeout`` seconds
are closed by a sweep (the pool re-opens them on demand), except WebSocket connections:
nobody can open a client's again from our side, and the server reaches us through ours
(our WebSocket Contact is not reachable, RFC 7118 Appendix B.1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, cast

import aiohttp

from wcs.sip.errors import SipParseError
from wcs.sip.message import Message
from wcs.sip.parser import StreamParser
from wcs.sip.transport import Address
from wcs.sip.transport_select import host_port

from .sip_tls import describe_tls_error
from .sip_ws import WsConnectError, open_ws_connection

__all__ = ["ConnectionPool", "PoolOwner", "PooledConnection", "StreamConnection"]

log = logging.getLogger(__name__)

_LABEL = {"tcp": "TCP", "tls": "TLS", "ws": "WebSocket", "wss": "WebSocket (TLS)"}


class PoolOwner(Protocol):
    """What the pool reports to the SIP endpoint."""

    def stream_message(self, message: Message, source: Address) -> None: ...

    def message_bytes(self, data: bytes, source: Address) -> None: ...

    def connection_failed(self, dest: Address, reason: str) -> None: ...


class PooledConnection(Protocol):
    """A live connection (TCP, TLS or WebSocket)."""

    key: Address
    inbound: bool
    last_used: float

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def closing(self) -> bool: ...


class StreamConnection(asyncio.Protocol):
    """One TCP/TLS connection carrying SIP (see the module docstring)."""

    def __init__(self, pool: ConnectionPool, transport_name: str, key: Address | None = None) -> None:
        self._pool = pool
        self._name = transport_name
        self._transport: asyncio.Transport | None = None
        self._parser = StreamParser()
        self._pongs = 0
        #: the peer; None until an accepted connection is made
        self.key = key if key is not None else Address("", 0, transport_name)
        self.inbound = key is None
        self.last_used = pool.now()

    @property
    def closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def send(self, data: bytes) -> None:
        if self._transport is not None:
            self.last_used = self._pool.now()
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self.inbound:
            peer = transport.get_extra_info("peername")
            self.key = Address(str(peer[0]), int(peer[1]), self._name)
            self._pool.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_used = self._pool.now()
        owner = self._pool.owner
        chunk = data
        while not self.closing:
            try:
                messages = self._parser.feed(chunk)
            except SipParseError as exc:
                if exc.fatal or exc.data is None:
                    log.info("SIP: closing the %s connection with %s: %s", _LABEL[self._name],
                             host_port(self.key), exc.reason)
                    self._pool.garbage += 1
                    self.close()
                    return
                owner.message_bytes(exc.data, self.key)
                chunk = b""
                continue
            if self._parser.pings > self._pongs:  # RFC 5626 §4.4.1: CRLFCRLF ping → CRLF pong
                self.send(b"\r\n" * (self._parser.pings - self._pongs))
                self._pongs = self._parser.pings
            if not messages:
                return
            for message in messages:
                owner.stream_message(message, self.key)
            chunk = b""  # a framing error after these messages is raised now

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool.remove(self)


class ConnectionPool:
    """Live SIP connections by peer address; opens, reuses and sweeps them."""

    def __init__(self, owner: PoolOwner, client_tls: ssl.SSLContext, *, connect_timeout: float = 10.0,
                 idle_timeout: float = 600.0, ws_path: str = "/") -> None:
        self.owner = owner
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        #: the HTTP path of the WebSocket connections we open (``ws://host:port/path``)
        self.ws_path = ws_path if ws_path.startswith("/") else "/" + ws_path
        self._session: aiohttp.ClientSession | None = None
        self._closing: list[asyncio.Task[None]] = []
        #: streams closed because of framing errors (garbage)
        self.garbage = 0
        self._client_tls = client_tls
        self._loop = asyncio.get_running_loop()
        self._connections: dict[Address, PooledConnection] = {}
        self._connecting: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    def now(self) -> float:
        return self._loop.time()

    @property
    def connections(self) -> Mapping[Address, PooledConnection]:
        """Live connections by peer address (read-only view, for tests and metrics)."""
        return self._connections

    def send(self, dest: Address, data: bytes, server_name: str | None = None) -> None:
        """Send on the connection to ``dest``, opening one (TCP/TLS/WS/WSS) when there is none."""
        if self._closed:
            return
        conn = self._connections.get(dest)
        if (conn is None or conn.closing) and dest.transport == "ws":
            conn = self._connections.get(dest._replace(transport="wss"))   # see the module docstring
        if conn is not None and not conn.closing:
            conn.send(data)
            return
        if dest in self._connecting:
            self._connecting[dest].append(data)
            return
        if dest.transport not in _LABEL:
            self.owner.connection_failed(dest, f"transport {dest.transport} not available")
            return
        self._connecting[dest] = [data]
        task = self._loop.create_task(self._connect(dest, server_name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, dest: Address, server_name: str | None) -> None:
        tls = dest.transport == "tls"
        conn: PooledConnection
        try:
            if dest.transport in ("ws", "wss"):
                conn = await asyncio.wait_for(open_ws_connection(
                    self, self._ws_session(), dest, path=self.ws_path, context=self._client_tls,
                    server_name=server_name), self.connect_timeout)
            else:
                _, conn = await asyncio.wait_for(self._loop.create_connection(
                    lambda: StreamConnection(self, dest.transport, dest), dest.host, dest.port,
                    ssl=self._client_tls if tls else None,
                    server_hostname=(server_name or dest.host) if tls else None), self.connect_timeout)
        except TimeoutError:
            reason = f"timed out after {self.connect_timeout:g} s"
        except WsConnectError as exc:
            reason = str(exc)
        except ssl.SSLError as exc:
            reason = describe_tls_error(exc)
        except OSError as exc:   # asyncio's message repeats the address; the errno says it all
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
        else:
            queued = self._connecting.pop(dest, [])
            if self._closed:
                conn.close()
                return
            self.add(conn)
            for data in queued:
                conn.send(data)
            return
        self._connecting.pop(dest, None)
        if not self._closed:
            self.owner.connection_failed(dest, f"{_LABEL[dest.transport]} connection to {host_port(dest)} "
                                               f"failed: {reason}")

    def _ws_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # no overall timeout: connect_timeout bounds the handshake, the connection lives on
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task the pool cancels when it closes (a WebSocket reader)."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def add(self, conn: PooledConnection) -> None:
        """A connection is up (accepted, or opened by us)."""
        old = self._connections.get(conn.key)
        if old is not None and old is not conn:
            old.close()
        self._connections[conn.key] = conn
        if self._sweep is None and self.idle_timeout > 0:
            self._sweep = self._loop.call_later(self.idle_timeout / 2, self._sweep_idle)

    def remove(self, conn: PooledConnection) -> None:
        """A connection is gone."""
        if self._connections.get(conn.key) is conn:
            del self._connections[conn.key]

    def _sweep_idle(self) -> None:
        self._sweep = None
        limit = self.now() - self.idle_timeout
        # WebSocket connections stay: nobody can open a client's again, and servers reach us
        # through ours (module docstring)
        for conn in [c for c in self._connections.values() if c.last_used <= limit
                     and c.key.transport not in ("ws", "wss")]:
            log.debug("SIP: closing idle connection with %s/%s", host_port(conn.key), conn.key.transport)
            conn.close()
            self.remove(conn)
        if self._connections and not self._closed:
            self._sweep = self._loop.call_later(self.idle_timeout / 2, self._sweep_idle)

    def close(self) -> None:
        """Close every connection and stop connecting."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._connections.values()):
            conn.close()
        writers = [w for c in self._connections.values() if (w := getattr(c, "writer", None)) is not None]
        for task in self._tasks:
            task.cancel()
        self._connections.clear()
        self._connecting.clear()
        if self._session is not None:
            self._closing.append(self._loop.create_task(self._close_session(self._session, writers)))
            self._session = None

    async def _close_session(self, session: aiohttp.ClientSession, writers: list[asyncio.Task[None]]) -> None:
        # let the WebSocket writers send their close frames first (bounded)
        if writers:
            await asyncio.wait(writers, timeout=1.0)
        await session.close()

    async def wait_closed(self) -> None:
        """After :meth:`close`: wait until the WebSocket client session is closed."""
        while self._closing:
            await self._closing.pop()
