"""The REST hook sender and the running gateway against a real aiohttp backend on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from wcs.aio.app import GatewayServer
from wcs.aio.hooks import HookSender
from wcs.gateway.hooks import BackendNotification
from wcs.gateway.settings import Settings

#: what the backend answers: hook name → (status, delay in seconds); default 200 at once
Behaviour = dict[str, tuple[int, float]]


class Backend:
    """Records every POST (hook name and JSON body) in arrival order."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        hook = request.match_info["hook"]
        body = await request.json()
        status, delay = self.behaviour.get(hook, (200, 0.0))
        if delay:
            await asyncio.sleep(delay)
        self.received.append((hook, body))
        self.changed.set()
        return web.json_response(body, status=status)

    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.received]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async def until() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), timeout)


@asynccontextmanager
async def backend(behaviour: Behaviour | None = None) -> AsyncIterator[Backend]:
    recorder = Backend(behaviour)
    app = web.Application()
    app.router.add_post("/hooks/{hook}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recorder.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    try:
        yield recorder
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def note(hook: str, session: str = "s1", token: str | None = None, **fields: Any) -> BackendNotification:
    return BackendNotification(hook, {"sessionId": session, "appKey": "defaultApp", **fields}, token)


def recording(answers: list[tuple[str, int | None]]) -> Callable[[str, int | None], None]:
    """An ``answer`` callback that appends to ``answers``."""
    return lambda token, status: answers.append((token, status))


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 20))


# -- the sender ------------------------------------------------------------------------------------

def test_posts_json_to_base_url_slash_hook_and_answers_connect() -> None:
    answers: list[tuple[str, int | None]] = []

    async def scenario() -> Backend:
        async with backend({"connect": (403, 0.0)}) as recorder:
            sender = HookSender(recorder.url + "/", 5.0, recording(answers))
            await sender.start()
            sender.submit(note("connect", token="connect-1", sipLogin="1001"))
            sender.submit(note("CallStatusEvent", callId="c1", status="TRYING"))
            await recorder.wait_for(lambda: len(recorder.received) == 2)
            await sender.close(drain=1.0)
            assert (sender.sent, sender.failed, sender.dropped) == (2, 0, 0)
            return recorder

    recorder = run(scenario)
    assert recorder.received == [
        ("connect", {"sessionId": "s1", "appKey": "defaultApp", "sipLogin": "1001"}),
        ("CallStatusEvent", {"sessionId": "s1", "appKey": "defaultApp", "callId": "c1", "status": "TRYING"})]
    assert answers == [("connect-1", 403)]


def test_unreachable_and_slow_backends_are_logged_and_connect_answered_none(
        caplog: pytest.LogCaptureFixture) -> None:
    answers: list[tuple[str, int | None]] = []
    port = closed_port()

    async def scenario() -> None:
        unreachable = HookSender(f"http://127.0.0.1:{port}/hooks", 5.0, recording(answers))
        await unreachable.start()
        unreachable.submit(note("connect", token="connect-1"))
        async with backend({"connect": (200, 2.0), "hangup": (500, 0.0)}) as recorder:
            slow = HookSender(recorder.url, 0.3, recording(answers))
            await slow.start()
            slow.submit(note("connect", session="s2", token="connect-2"))
            slow.submit(note("hangup", session="s3", callId="c1"))
            for _ in range(100):
                if len(answers) == 2 and slow.failed == 2:
                    break
                await asyncio.sleep(0.05)
            await slow.close()
        await unreachable.close()

    with caplog.at_level(logging.WARNING, logger="wcs.hooks"):
        run(scenario)
    assert sorted(answers) == [("connect-1", None), ("connect-2", None)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    assert any(w.startswith(f"REST hook connect to http://127.0.0.1:{port}/hooks/connect failed: ")
               for w in warnings)
    assert any(w.endswith("/hooks/connect failed: no answer within 0.3 s") for w in warnings)
    assert any(w.endswith("/hooks/hangup failed: HTTP 500") for w in warnings)


def test_a_slow_session_holds_up_only_itself_and_order_is_kept_per_session() -> None:
    async def scenario() -> Backend:
        async with backend({"call": (200, 2.0)}) as recorder:
            sender = HookSender(recorder.url, 5.0, lambda token, status: None, concurrency=2)
            await sender.start()
            sender.submit(note("call", session="slow"))
            sender.submit(note("CallStatusEvent", session="slow", status="TRYING"))
            for n in range(5):
                sender.submit(note("hangup", session=f"fast{n}"))
            await recorder.wait_for(lambda: len(recorder.received) == 5, 1.5)
            assert recorder.hooks() == ["hangup"] * 5, "other sessions went ahead of the slow one"
            await recorder.wait_for(lambda: len(recorder.received) == 7)
            await sender.close()
            return recorder

    recorder = run(scenario)
    assert recorder.hooks()[5:] == ["call", "CallStatusEvent"], "one session's hooks stay in order"


def test_a_full_queue_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    answers: list[tuple[str, int | None]] = []

    async def scenario() -> HookSender:
        sender = HookSender("http://127.0.0.1:9/hooks", 5.0, recording(answers),
                            max_pending=3)                    # not started: nothing is sent
        sender.submit(note("connect", token="connect-1"))
        for n in range(4):
            sender.submit(note("CallStatusEvent", status=str(n)))
        for n in range(2, 5):                                 # events go first, then the oldest connect
            sender.submit(note("connect", session=f"s{n}", token=f"connect-{n}"))
        return sender

    with caplog.at_level(logging.WARNING, logger="wcs.hooks"):
        sender = run(scenario)
    assert (sender.pending, sender.dropped) == (3, 5)
    assert answers == [("connect-1", None)], "a dropped connect does not leave its session waiting"
    assert [r.getMessage() for r in caplog.records] == [
        "REST hook queue full (3 waiting): dropped the oldest (CallStatusEvent); 1 dropped so far"]


# -- the running gateway ------------------------------------------------------------------------------

async def websocket_session(server: GatewayServer, http: aiohttp.ClientSession,
                            connection: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """Send `connection`, collect frames until the gateway closes or 2 s pass, then close."""
    frames: list[dict[str, Any]] = []
    async with http.ws_connect(f"ws://127.0.0.1:{server.ws_port}/") as ws:
        await ws.send_str(json.dumps({"message": "connection", "data": [connection]}))
        try:
            async with asyncio.timeout(2.0):
                async for message in ws:
                    frames.append(json.loads(message.data))
                    if frames[-1]["message"] == "getUserData":
                        break
        except TimeoutError:
            pass
    return frames, ws.close_code


def gateway_settings(url: str) -> Settings:
    return Settings(address="127.0.0.1", ws_port=0, http_port=0, sip_port=0, media_port_from=42100,
                    media_port_to=42199, rest_hook_url=url, rest_hook_timeout=2.0)


@pytest.mark.parametrize("status", [200, 403])
def test_gateway_parks_the_connection_until_the_backend_answers(status: int) -> None:
    async def scenario() -> tuple[Backend, list[dict[str, Any]], int | None, dict[str, Any]]:
        async with backend({"connect": (status, 0.0)}) as recorder:
            server = GatewayServer(gateway_settings(recorder.url))
            await server.start()
            try:
                async with aiohttp.ClientSession() as http:
                    frames, close_code = await websocket_session(
                        server, http, {"appKey": "app1", "custom": {"k": "v"}, "sipPassword": "secret"})
                    wanted = ["connect"] + ["ConnectionStatusEvent"] * (2 if status == 200 else 1)
                    await recorder.wait_for(lambda: recorder.hooks() == wanted)
                    for _ in range(40):           # the sender counts a POST once its answer is read
                        async with http.get(f"http://127.0.0.1:{server.http_port}/health") as response:
                            health = await response.json()
                        if health["restHooks"]["sent"] == len(wanted):
                            break
                        await asyncio.sleep(0.05)
            finally:
                await server.stop()
            return recorder, frames, close_code, health

    recorder, frames, close_code, health = run(scenario)
    hook, connect = recorder.received[0]
    assert hook == "connect" and connect["appKey"] == "app1" and connect["custom"] == {"k": "v"}
    assert connect["sessionId"].startswith("/127.0.0.1:") and "sipPassword" not in connect
    assert "secret" not in json.dumps(recorder.received)
    statuses = [body["status"] for hook, body in recorder.received[1:]]
    if status == 200:
        assert [f["message"] for f in frames] == ["getUserData"]
        assert statuses == ["ESTABLISHED", "DISCONNECTED"]
    else:
        assert [f["message"] for f in frames] == ["fail"] and close_code == 1000
        assert frames[0]["data"][0]["info"] == "Rejected by the backend: HTTP 403"
        assert statuses == ["FAILED"]
    assert health["restHooks"] == {"sent": 3 if status == 200 else 2, "failed": 0, "dropped": 0, "pending": 0}
