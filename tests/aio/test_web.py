"""The web phone on the HTTP port: the three static files with their content types, nothing else.

The page itself is exercised in headless Chromium by tests/interop/test_web_phone.py.
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import Awaitable, Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import aiohttp

from wcs.aio.app import GatewayServer
from wcs.gateway.settings import Settings

SETTINGS = Settings(address="127.0.0.1", ws_port=0, http_port=0, sip_port=0,
                    media_port_from=42100, media_port_to=42199)
REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "wcs" / "aio" / "web"


def run(scenario: Callable[[str, aiohttp.ClientSession], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        server = GatewayServer(SETTINGS)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                return await asyncio.wait_for(scenario(f"http://127.0.0.1:{server.http_port}", http), 10)
        finally:
            await server.stop()
    return asyncio.run(main())


def test_static_files_with_their_types() -> None:
    async def scenario(base: str, http: aiohttp.ClientSession) -> dict[str, tuple[int, str, str, Any]]:
        out = {}
        for path in ("/", "/phone.js", "/phone.css"):
            async with http.get(base + path) as response:
                out[path] = (response.status, response.headers["Content-Type"], await response.text(),
                             response.headers)
        return out

    results = run(scenario)
    for path, name, content_type in (("/", "index.html", "text/html"),
                                     ("/phone.js", "phone.js", "text/javascript"),
                                     ("/phone.css", "phone.css", "text/css")):
        status, served_type, text, headers = results[path]
        assert status == 200, path
        assert served_type == f"{content_type}; charset=utf-8", path
        assert text == (WEB / name).read_text(encoding="utf-8"), path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-cache"


def test_nothing_else_is_served_and_other_routes_still_work() -> None:
    async def scenario(base: str, http: aiohttp.ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path in ("/web/", "/web/phone.js", "/index.html", "/phone.js/", "/aio/web/", "/%2e%2e/app.py",
                     "/../app.py", "/phone.html", "/static/"):
            async with http.get(base + path) as response:
                out[path] = response.status
        async with http.head(base + "/") as response:
            out["HEAD /"] = (response.status, response.headers["Content-Type"])
        async with http.post(base + "/") as response:
            out["POST /"] = response.status
        async with http.get(base + "/health") as response:
            out["/health"] = await response.json()
        async with http.get(base + "/rest-api/call/find_all") as response:
            out["find_all"] = (response.status, await response.json())
        return out

    results = run(scenario)
    for path in ("/web/", "/web/phone.js", "/index.html", "/phone.js/", "/aio/web/", "/%2e%2e/app.py",
                 "/../app.py", "/phone.html", "/static/"):
        assert results[path] == 404, path
    assert results["HEAD /"] == (200, "text/html; charset=utf-8")
    assert results["POST /"] == 405
    assert results["/health"] == {"status": "ok", "sessions": 0, "calls": 0}
    assert results["find_all"] == (404, {"error": "no calls", "status": 404})


def test_page_is_self_contained() -> None:
    """Everything the page loads comes from the gateway: no CDN, no framework, no other fetch."""
    html = (WEB / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sorted(r for r in refs if not r.startswith("data:")) == ["phone.css", "phone.js"]
    js = (WEB / "phone.js").read_text()
    for forbidden in ("fetch(", "import(", "XMLHttpRequest", "http://", "https://", "eval("):
        assert forbidden not in js, forbidden
    assert "url(" not in (WEB / "phone.css").read_text() and "@import" not in (WEB / "phone.css").read_text()


def test_files_ship_as_package_data() -> None:
    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in WEB.iterdir():
        relative = path.relative_to(REPO / "wcs").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in table["wcs"]), relative
