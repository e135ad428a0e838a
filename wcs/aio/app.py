"""The running gateway: aiohttp WebSocket + HTTP servers, the SIP socket and the media plane.

:class:`GatewayServer` is the only place that joins the sans-I/O
:class:`~wcs.gateway.core.Gateway` to the outside world:

* every WebSocket (any path on ``ws_port``, no subprotocol) becomes a socket id; its text
  frames go to ``gateway.frame_received`` and the gateway's frames come back through a
  per-socket queue so they are sent in order;
* the SIP UDP socket is a :class:`~wcs.aio.sip.SipUdpEndpoint` whose user agent the
  gateway drives; its events are handed to ``gateway.sip_event``;
* media goes through :class:`~wcs.aio.media.MediaManager`;
* one timer handle fires ``gateway.handle_timer``;
* with ``rest_hook_url`` set, a :class:`~wcs.aio.hooks.HookSender` POSTs the gateway's REST
  hook notifications and hands the backend's answers to a ``connect`` back
  (``gateway.backend_answered``).

After every input :meth:`GatewayServer._flush` sends what the gateway queued.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import itertools
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ..gateway.core import CloseSocket, Gateway, SendFrame
from ..gateway.media import MediaEvent
from ..gateway.settings import Settings, SettingsError, apply, load_properties
from ..sip.uacore import UaEvent
from ..webrtc.certificate import Certificate
from .hooks import HookSender
from .media import MediaManager
from .rest import add_rest_routes
from .sip import SipEndpoint, TlsSettings, create_sip_endpoint

__all__ = ["GatewayServer", "freeze_start_up_heap", "main", "parse_args"]

log = logging.getLogger("wcs")

_CLOSE = object()  # queue sentinel: close the socket after what is queued


def detect_address(settings: Settings) -> str:
    """The address to advertise in SDP, Via and Contact."""
    if settings.public_address:
        return settings.public_address
    if settings.address not in ("0.0.0.0", "::", ""):
        return settings.address
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by connect()
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class GatewayServer:
    """Owns the listeners and the gateway core; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = detect_address(settings)
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count(1)
        self._queues: dict[str, asyncio.Queue[object]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._runners: list[web.AppRunner] = []
        self.gateway: Gateway | None = None
        self.sip: SipEndpoint | None = None
        self.media: MediaManager | None = None
        self.hooks: HookSender | None = None
        #: the ports actually bound (settings may say 0: any free port)
        self.ws_port = settings.ws_port
        self.http_port = settings.http_port

    async def start(self) -> None:
        settings = self.settings
        not_before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        certificate = Certificate.generate(not_before)
        tls = TlsSettings(settings.tls_ca_file, settings.tls_server_name, settings.tls_verify,
                          settings.sip_tls_cert_file, settings.sip_tls_key_file)
        self.sip = await create_sip_endpoint(
            settings.address, settings.sip_port, self._on_sip_event, advertised_host=self.address,
            user_agent=settings.user_agent, tcp_port=settings.sip_tcp_port, tls=tls,
            tls_port=settings.sip_tls_port, mtu_threshold=settings.sip_mtu_threshold,
            dns_servers=list(settings.dns_servers) or None, ws_path=settings.sip_ws_path,
            config=settings.ua_config())
        self.media = MediaManager(settings, certificate, self.address, self._on_media_event)
        self.gateway = Gateway(settings, self.sip.ua, self.media)
        if settings.rest_hook_url:
            self.hooks = HookSender(settings.rest_hook_url, settings.rest_hook_timeout,
                                    self._on_backend_answer)
            await self.hooks.start()
        ws_app = web.Application()
        ws_app.router.add_get("/{tail:.*}", self._websocket)
        http_app = web.Application()
        for path in _WEB_FILES:
            http_app.router.add_get(path, _web_file)
        http_app.router.add_get("/health", self._health)
        add_rest_routes(http_app, lambda: self.gateway, self._feed)
        for app, port in ((ws_app, settings.ws_port), (http_app, settings.http_port)):
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.address, port, reuse_address=True).start()
            self._runners.append(runner)
        self.ws_port, self.http_port = (int(r.addresses[0][1]) for r in self._runners)
        log.info("wcs gateway ready: ws %s:%d, http %s:%d, sip udp %s:%d (advertised %s), media %d-%d",
                 settings.address, settings.ws_port, settings.address, settings.http_port,
                 settings.address, settings.sip_port, self.address, settings.media_port_from,
                 settings.media_port_to)

    async def stop(self) -> None:
        """Hang up, unregister, and close everything (bounded)."""
        gateway = self.gateway
        if gateway is not None:
            self._feed(gateway.shutdown)
            # let BYEs and un-REGISTERs be answered (their transactions end), within 2 s
            deadline = self._loop.time() + 2.0
            while self.sip is not None and self.sip.ua.busy and self._loop.time() < deadline:
                await asyncio.sleep(0.05)
        if self.hooks is not None:   # the last events (DISCONNECTED …) get a second to go out
            hooks, self.hooks = self.hooks, None
            await hooks.close(drain=1.0)
        for runner in self._runners:
            await runner.cleanup()
        if self._timer is not None:
            self._timer.cancel()
        if self.media is not None:
            self.media.close()
        if self.sip is not None:
            self.sip.close()
            await self.sip.wait_closed()

    # ------------------------------------------------------------------ inputs

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        assert self.gateway is not None
        socket_id = f"ws{next(self._ids)}"
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues[socket_id] = queue
        writer = asyncio.create_task(self._writer(ws, queue))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        local = request.transport.get_extra_info("sockname") if request.transport else None
        gateway = self.gateway
        self._feed(gateway.socket_opened, socket_id, _hostport(peer), _hostport(local))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._feed(gateway.frame_received, socket_id, message.data)
        finally:
            self._queues.pop(socket_id, None)
            self._feed(gateway.socket_closed, socket_id)
            writer.cancel()
        return ws

    async def _writer(self, ws: web.WebSocketResponse, queue: asyncio.Queue[object]) -> None:
        while True:
            item = await queue.get()
            try:
                if item is _CLOSE:
                    await ws.close(code=1000)
                    return
                assert isinstance(item, str)
                await ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    def _on_sip_event(self, event: UaEvent) -> None:
        if self.gateway is not None:
            self.gateway.sip_event(event, self._loop.time())
            self._flush(sip=False)

    def _on_media_event(self, event: MediaEvent) -> None:
        if self.gateway is not None:
            self._feed(self.gateway.media_event, event)

    def _on_backend_answer(self, token: str, status: int | None) -> None:
        # deferred: the sender may answer from inside submit(), i.e. from inside _flush
        if self.gateway is not None:
            self._loop.call_soon(self._feed, self.gateway.backend_answered, token, status)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        if self.gateway is not None:
            self._feed(self.gateway.handle_timer)

    def _feed(self, method: Callable[..., Any], *args: object) -> Any:
        """Call a gateway input method with ``now`` appended, send what it produced, and return
        its result (None if it failed)."""
        result = None
        try:
            result = method(*args, self._loop.time())
        except Exception:  # a bug must not take the server down; log it and carry on
            log.exception("gateway input %s failed", getattr(method, "__name__", method))
        self._flush()
        return result

    # ------------------------------------------------------------------ outputs

    def _flush(self, *, sip: bool = True) -> None:
        gateway = self.gateway
        if gateway is None:
            return
        if sip and self.sip is not None:
            self.sip.flush()
        for action in gateway.socket_actions():
            queue = self._queues.get(action.socket)
            if queue is None:
                continue
            if isinstance(action, SendFrame):
                queue.put_nowait(action.text)
            elif isinstance(action, CloseSocket):
                queue.put_nowait(_CLOSE)
        for notification in gateway.backend_notifications():
            if self.hooks is not None:
                self.hooks.submit(notification)
        deadline = gateway.get_timer()
        if deadline != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer) if deadline is not None else None

    # ------------------------------------------------------------------ HTTP

    async def _health(self, request: web.Request) -> web.Response:
        gateway, hooks = self.gateway, self.hooks
        health: dict[str, object] = {"status": "ok", "sessions": len(gateway.sessions) if gateway else 0,
                                     "calls": len(gateway.calls) if gateway else 0}
        if hooks is not None:
            health["restHooks"] = {"sent": hooks.sent, "failed": hooks.failed, "dropped": hooks.dropped,
                                   "pending": hooks.pending}
        return web.json_response(health)


#: the web phone (wcs/aio/web/, package data): URL path → (file, content type); nothing else is served
_WEB_FILES = {"/": ("index.html", "text/html"), "/phone.js": ("phone.js", "text/javascript"),
              "/phone.css": ("phone.css", "text/css")}
_WEB_HEADERS = {
    "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                               "media-src 'self' blob: mediastream:; base-uri 'none'; frame-ancestors 'none'",
}


async def _web_file(request: web.Request) -> web.Response:
    name, content_type = _WEB_FILES[request.path]
    text = (resources.files(__package__) / "web" / name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=content_type, charset="utf-8", headers=_WEB_HEADERS)


def _hostport(value: object) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{value[0]}:{value[1]}"
    return "unknown"


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """Settings from defaults, ``--config FILE`` and command-line flags (in that order)."""
    parser = argparse.ArgumentParser(prog="server.py", description="wcs WebRTC-to-SIP gateway")
    parser.add_argument("--config", type=Path, help="properties file (key=value, WCS names accepted)")
    parser.add_argument("--address", help="listen address (default 0.0.0.0)")
    parser.add_argument("--public-address", help="address advertised in SDP, Via and Contact")
    parser.add_argument("--ws-port", type=int, help="WebSocket port (default 8080)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 8081)")
    parser.add_argument("--sip-port", type=int, help="SIP UDP port (default 5070)")
    parser.add_argument("--media-port-from", type=int, help="first media port (default 31000)")
    parser.add_argument("--media-port-to", type=int, help="last media port (default 32000)")
    parser.add_argument("--log-level", help="DEBUG, INFO (default), WARNING …")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any setting, e.g. --set keep_alive.probes=5 (repeatable)")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        if args.config is not None:
            settings = apply(settings, load_properties(args.config.read_text()))
        flags = {"address": args.address, "public_address": args.public_address,
                 "ws_port": args.ws_port, "http_port": args.http_port, "sip_port": args.sip_port,
                 "media_port_from": args.media_port_from, "media_port_to": args.media_port_to,
                 "log_level": args.log_level}
        items = [(key, str(value)) for key, value in flags.items() if value is not None]
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"--set expects KEY=VALUE, got {item!r}")
            items.append((key, value))
        settings = apply(settings, items)
    except (OSError, SettingsError) as exc:
        parser.error(str(exc))
    for key in settings.extra:
        logging.getLogger("wcs").warning("unknown setting ignored: %s", key)
    return settings


def freeze_start_up_heap() -> None:
    """Exempt what start-up built from the cyclic garbage collector's full passes.

    Modules, classes, codec tables and the servers live as long as the process, yet a full
    collection (which runs as calls are set up: each time the long-lived heap grew by a
    quarter) would traverse all of them while the media waits.  Collected once and frozen
    (``gc.freeze``), start-up objects are never scanned again, and a full pass visits only
    what calls allocated (a third of the objects it visited at 300 calls).  The young
    generations are left at their defaults: the media path allocates almost nothing that
    survives (a few young passes a second at hundreds of calls).
    """
    gc.collect()
    gc.freeze()


async def _serve(settings: Settings) -> None:
    server = GatewayServer(settings)
    await server.start()
    freeze_start_up_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0
