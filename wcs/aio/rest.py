"""The REST API (WCS-compatible subset) on the HTTP port: ``POST /rest-api/call/<method>``.

Bodies and answers are JSON (websdk-protocol.md §4.1). Success is 200 with ``{}`` or an
array of Call objects; "no such call" is 404; a body that is not a JSON object, or lacks a
required field, is 400 — always with a JSON body ``{"error": "...", "status": N}``.

| method | body | answer |
|---|---|---|
| ``call/find`` | any of ``callId``, ``callee``, ``caller``, ``status``, ``incoming`` | calls, or 404 |
| ``call/find_all`` (GET or POST) | — | calls, or 404 |
| ``call/terminate`` | ``callId`` | ``{}``, or 404 |
| ``call/send_dtmf`` | ``callId``, ``dtmf``, ``type`` (``RFC2833`` default, or ``INFO``) | ``{}``/404/409 |
| ``call/hold``, ``call/unhold`` | ``callId`` (our extension, not in WCS) | ``{}``/404/409 |
| ``call/transfer`` | ``callId``, ``target`` (our extension: blind transfer by REFER) | ``{}``/404/409 |
| ``call/stats`` | ``callId`` (our extension) | per-leg RTP/RTCP statistics of the call's media, or 404 |
| ``call/startup`` | — | 501: calls are placed from the browser only |

409 means the call exists but cannot do that now (not established, a transfer already in
progress, invalid DTMF digits …); the ``error`` says which.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from ..gateway.core import Gateway

__all__ = ["add_rest_routes"]

log = logging.getLogger("wcs.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: runs a gateway command with ``now`` and flushes what it produced
Feed = Callable[..., Any]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    if not request.can_read_body:
        return {}
    try:
        data = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not JSON: {exc}")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object")
    return data


def add_rest_routes(app: web.Application, gateway: Callable[[], Gateway | None], feed: Feed) -> None:
    """Install the REST routes; ``gateway()`` returns the running core, ``feed(method, *args)``
    calls a core method with ``now`` appended and sends what it produced."""

    async def find(request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        core = gateway()
        criteria = {key: str(value).lower() if isinstance(value, bool) else str(value)
                    for key, value in body.items()
                    if key in ("callId", "callee", "caller", "status", "incoming", "sessionId")}
        calls = core.find_calls(**criteria) if core else []
        if not calls:
            return _error(404, "no call matches")
        return web.json_response(calls)

    async def find_all(request: web.Request) -> web.Response:
        core = gateway()
        calls = core.find_calls() if core else []
        if not calls:
            return _error(404, "no calls")
        return web.json_response(calls)

    async def terminate(request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        call_id = body.get("callId")
        if not isinstance(call_id, str) or not call_id:
            return _error(400, "callId is required")
        core = gateway()
        if core is None or not feed(core.terminate, call_id):
            return _error(404, f"call {call_id} not found")
        return web.json_response({})

    def command(name: str, fields: tuple[str, ...],
                action: Callable[[Gateway, dict[str, str]], Callable[[float], str | None]]) -> Handler:
        """A call command: ``action(core, body)`` is the gateway method to run with ``now``."""
        async def handler(request: web.Request) -> web.Response:
            body = await _body(request)
            if isinstance(body, web.Response):
                return body
            for key in fields:
                if body.get(key) in (None, ""):
                    return _error(400, f"{key} is required")
            core = gateway()
            call_id = str(body["callId"])
            if core is None or not core.find_calls(callId=call_id):
                return _error(404, f"call {call_id} not found")
            problem = feed(action(core, {key: str(value) for key, value in body.items()}))
            if problem is not None:
                return _error(409, str(problem))
            log.info("REST %s %s", name, call_id)
            return web.json_response({})
        return handler

    async def stats(request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        call_id = str(body.get("callId") or "")
        core = gateway()
        figures = core.media.stats(call_id) if core is not None and core.find_calls(callId=call_id) else None
        if figures is None:
            return _error(404, f"call {call_id} not found")
        return web.json_response(figures)

    async def startup(request: web.Request) -> web.Response:
        return _error(501, "call/startup is not supported: calls are placed from the browser (WebSDK)")

    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/rest-api/call/find", find),
        ("POST", "/rest-api/call/find_all", find_all),
        ("GET", "/rest-api/call/find_all", find_all),
        ("POST", "/rest-api/call/terminate", terminate),
        ("POST", "/rest-api/call/startup", startup),
        ("POST", "/rest-api/call/stats", stats),
        ("POST", "/rest-api/call/send_dtmf", command("send_dtmf", ("callId", "dtmf"), lambda core, b: partial(
            core.send_dtmf, b["callId"], b["dtmf"], b.get("type") or "RFC2833"))),
        ("POST", "/rest-api/call/hold", command(
            "hold", ("callId",), lambda core, b: partial(core.hold, b["callId"], True))),
        ("POST", "/rest-api/call/unhold", command(
            "unhold", ("callId",), lambda core, b: partial(core.hold, b["callId"], False))),
        ("POST", "/rest-api/call/transfer", command("transfer", ("callId", "target"), lambda core, b: partial(
            core.transfer, b["callId"], b["target"]))),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
