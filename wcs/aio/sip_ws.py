"""SIP over WebSocket (RFC 7118): a listener whose connections join the connection pool.

A client must offer the ``sip`` subprotocol (§4.1); we answer with it, or refuse the
upgrade with 400.  Each WebSocket message, text or binary (§4.2), is one SIP message
(§5): it goes to the user agent like a datagram, so Content-Length is not needed but
tolerated.  We send text frames when the message is valid UTF-8, else binary frames
(§4.2).  The connection is known by the client's address with transport "ws" (or
"wss" on the TLS listener); responses and requests to that address use it.  Sends are
queued per connection and written in order by one task.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import WSMsgType, web
from aiohttp.web_request import BaseRequest

from wcs.sip.transport import Address

from .sip_stream import ConnectionPool

__all__ = ["WsConnection", "WsListener"]

log = logging.getLogger(__name__)


class WsConnection:
    """One accepted SIP WebSocket connection (a pool member)."""

    def __init__(self, key: Address, ws: web.WebSocketResponse, pool: ConnectionPool) -> None:
        self.key = key
        self.inbound = True
        self.last_used = pool.now()
        self._ws = ws
        self._pool = pool
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    @property
    def closing(self) -> bool:
        return self._ws.closed

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
                log.info("SIP: WebSocket send to %s:%d failed: %s", self.key.host, self.key.port, exc)
                return
        await self._ws.close()


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
        owner = self._pool.owner
        try:
            async for message in ws:
                conn.last_used = self._pool.now()
                if message.type == WSMsgType.TEXT:
                    owner.message_bytes(message.data.encode("utf-8"), conn.key)
                elif message.type == WSMsgType.BINARY:
                    owner.message_bytes(message.data, conn.key)
        finally:
            self._pool.remove(conn)
            conn.close()
        return ws
