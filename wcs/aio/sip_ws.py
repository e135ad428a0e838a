"""SIP over WebSocket (RFC 7118): connections we accept and connections we open, in the pool.

A client must offer the ``sip`` subprotocol (§4.1); our listener answers with it, or
refuses the upgrade with 400.  When we are the client (:func:`open_ws_connection`, used
by the pool for a ``ws``/``wss`` destination) we offer ``sip`` and give up when the
server's handshake does not select it (§4.1: the client "MUST" then not proceed), with a
reason the UA reports.  Each WebSocket message, text or binary (§4.2), is one SIP
message (§5): it goes to the user agent like a datagram, so Content-Length is not needed
but tolerated.  We send text frames when the message is valid UTF-8, else binary frames
(§4.2).  An accepted connection is known by the client's address with transport "ws"
(or "wss" on the TLS listener), an opened one by the server address we connected to;
responses and requests to that address use it.  Sends are queued per connection and
written in order by one task.  WebSocket pings are answered (``autoping``, §6).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import TYPE_CHECKING, Protocol

import aiohttp
from aiohttp import WSMsgType, web
from aiohttp.web_request import BaseRequest

from wcs.sip.transport import Address
from wcs.sip.transport_select import host_port

from .sip_tls import describe_tls_error

if TYPE_CHECKING:
    from .sip_stream import ConnectionPool

__all__ = ["WsConnection", "WsConnectError", "WsListener", "open_ws_connection"]

log = logging.getLogger(__name__)

#: RFC 7118 §4.1
SUBPROTOCOL = "sip"


class _WebSocket(Protocol):
    """What accepted (``web.WebSocketResponse``) and opened (``ClientWebSocketResponse``) share."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self) -> bool: ...


class WsConnectError(Exception):
    """A SIP WebSocket connection could not be opened; ``str()`` is the reason."""


class WsConnection:
    """One SIP WebSocket connection (a pool member), accepted (``inbound``) or opened by us."""

    def __init__(self, key: Address, ws: _WebSocket, pool: ConnectionPool, *, inbound: bool = True) -> None:
        self.key = key
        self.inbound = inbound
        self.last_used = pool.now()
        self._ws = ws
        self._pool = pool
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    @property
    def closing(self) -> bool:
        return self._ws.closed

    @property
    def writer(self) -> asyncio.Task[None]:
        """The task writing the queue; done once the connection is closed."""
        return self._writer

    def send(self, data: bytes) -> None:
        self.last_used = self._pool.now()
        self._queue.put_nowait(data)

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def _write(self) -> None:
        while (data := await self._queue.get()) is not None:
            try:
                try:
                    await self._ws.send_str(data.decode("utf-8"))
                except UnicodeDecodeError:
                    await self._ws.send_bytes(data)
            except (ConnectionError, RuntimeError) as exc:
                log.info("SIP: WebSocket send to %s failed: %s", host_port(self.key), exc)
                return
        await self._ws.close()

    async def read(self, ws: aiohttp.ClientWebSocketResponse | web.WebSocketResponse) -> None:
        """Feed every message to the pool's owner until the peer closes; then leave the pool."""
        owner = self._pool.owner
        try:
            async for message in ws:
                self.last_used = self._pool.now()
                if message.type == WSMsgType.TEXT:
                    owner.message_bytes(message.data.encode("utf-8"), self.key)
                elif message.type == WSMsgType.BINARY:
                    owner.message_bytes(message.data, self.key)
        finally:
            self._pool.remove(self)
            self.close()


async def open_ws_connection(pool: ConnectionPool, session: aiohttp.ClientSession, dest: Address, *,
                             path: str, context: ssl.SSLContext, server_name: str | None) -> WsConnection:
    """Open a SIP WebSocket connection to ``dest`` (ws or wss) and start reading it.

    WSS verifies the server with ``context`` under ``server_name`` (default: the host),
    like SIP over TLS.  Raises :class:`WsConnectError` with a reason a person can act on.
    """
    secure = dest.transport == "wss"
    url = f"{'wss' if secure else 'ws'}://{host_port(dest)}{path}"
    try:
        ws = await session.ws_connect(
            url, protocols=(SUBPROTOCOL,), autoping=True, max_msg_size=1 << 20,
            ssl=context if secure else False,
            server_hostname=(server_name or dest.host) if secure else None)
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status != 101:
            raise WsConnectError(f"WebSocket handshake refused: HTTP {exc.status} instead of 101 "
                                 "Switching Protocols (is the WebSocket path right?)") from None
        raise WsConnectError(f"WebSocket handshake failed: {exc.message}") from None
    except aiohttp.ClientConnectorCertificateError as exc:
        raise WsConnectError(describe_tls_error(exc.certificate_error)) from None
    except aiohttp.ClientConnectorSSLError as exc:
        raise WsConnectError(describe_tls_error(exc.os_error)) from None
    except aiohttp.ClientConnectorError as exc:
        errno = exc.os_error.errno
        raise WsConnectError(os.strerror(errno) if errno else str(exc.os_error)) from None
    except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
        raise WsConnectError(describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else str(exc)) from None
    if ws.protocol != SUBPROTOCOL:
        await ws.close()
        raise WsConnectError("the server did not accept the WebSocket subprotocol 'sip' "
                             f"(it answered {ws.protocol or 'none'}; RFC 7118 §4.1)")
    conn = WsConnection(dest, ws, pool, inbound=False)
    pool.spawn(conn.read(ws))
    return conn


class WsListener:
    """Accepts SIP WebSocket connections on one port (plain or TLS)."""

    def __init__(self, pool: ConnectionPool, transport_name: str) -> None:
        self._pool = pool
        self._name = transport_name
        self._web = web.Server(self._handle)
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, context: ssl.SSLContext | None = None) -> int:
        """Listen; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._web, host, port, ssl=context)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for handler in list(self._web.connections):
            handler.force_close()

    async def _handle(self, request: BaseRequest) -> web.StreamResponse:
        offered = [p.strip().lower() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "sip" not in offered:
            return web.Response(status=400, text="WebSocket subprotocol 'sip' required (RFC 7118 §4.1)\n")
        ws = web.WebSocketResponse(protocols=("sip",), autoping=True)
        await ws.prepare(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is None:
            await ws.close()
            return ws
        conn = WsConnection(Address(str(peer[0]), int(peer[1]), self._name), ws, self._pool)
        self._pool.add(conn)
        await conn.read(ws)
        return ws
