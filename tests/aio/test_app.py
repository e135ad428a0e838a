"""The running gateway on 127.0.0.1 (any free ports): REST errors, WebSocket refusals, CLI parsing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from wcs.aio.app import GatewayServer, parse_args
from wcs.gateway.settings import Settings

SETTINGS = Settings(address="127.0.0.1", ws_port=0, http_port=0, sip_port=0,
                    media_port_from=42000, media_port_to=42099)


def run(scenario: Callable[[GatewayServer, aiohttp.ClientSession], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        server = GatewayServer(SETTINGS)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                return await asyncio.wait_for(scenario(server, http), 10)
        finally:
            await server.stop()
    return asyncio.run(main())


def test_rest_errors_are_json() -> None:
    async def scenario(server: GatewayServer, http: aiohttp.ClientSession) -> list[tuple[int, Any]]:
        base = f"http://127.0.0.1:{server.http_port}/rest-api/call"
        out = []
        for method, path, body in [("GET", "find_all", None), ("POST", "find", {"callId": "x"}),
                                   ("POST", "terminate", {}), ("POST", "terminate", {"callId": "x"}),
                                   ("POST", "terminate", "not json"), ("POST", "find", [1, 2]),
                                   ("POST", "startup", {"callee": "1002"})]:
            data = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
            async with http.request(method, f"{base}/{path}", data=data) as response:
                out.append((response.status, await response.json()))
        return out

    results = run(scenario)
    assert results[0] == (404, {"error": "no calls", "status": 404})
    assert results[1] == (404, {"error": "no call matches", "status": 404})
    assert results[2] == (400, {"error": "callId is required", "status": 400})
    assert results[3] == (404, {"error": "call x not found", "status": 404})
    assert results[4][0] == 400 and results[4][1]["error"].startswith("body is not JSON")
    assert results[5] == (400, {"error": "body must be a JSON object", "status": 400})
    assert results[6][0] == 501


def test_health_and_websocket_refusal() -> None:
    async def scenario(server: GatewayServer, http: aiohttp.ClientSession) -> tuple[Any, list[Any], Any]:
        async with http.get(f"http://127.0.0.1:{server.http_port}/health") as response:
            health = await response.json()
        frames = []
        async with http.ws_connect(f"ws://127.0.0.1:{server.ws_port}/any/path?x=1") as ws:
            await ws.send_str(json.dumps({"message": "connection", "data": [
                {"sipLogin": "bad login", "sipDomain": "127.0.0.1", "sipRegisterRequired": True}]}))
            async for message in ws:
                frames.append(json.loads(message.data))
        return health, frames, ws.close_code

    health, frames, close_code = run(scenario)
    assert health == {"status": "ok", "sessions": 0, "calls": 0}
    assert [f["message"] for f in frames] == ["fail"]
    assert frames[0]["data"][0]["field"] == "sipLogin"
    assert close_code == 1000


def test_cli_flags_and_settings() -> None:
    settings = parse_args(["--address", "127.0.0.1", "--sip-port", "5080", "--set", "keep_alive.probes=3",
                           "--set", "codecs=ulaw,telephone-event"])
    assert (settings.address, settings.sip_port, settings.keep_alive_probes) == ("127.0.0.1", 5080, 3)
    assert settings.codecs == ("ulaw", "telephone-event")
    with pytest.raises(SystemExit):
        parse_args(["--set", "sip_port=99999"])
