"""Headless Debian Chromium driven by Playwright (sync API), and the test page's HTTP server.

Adapted from the loopback rig's chromium/chromium_webrtc_test.py (see tests/data/interop/SOURCES.md).
Never runs `playwright install`: it drives /usr/bin/chromium with launch_persistent_context (a fresh
profile per browser) and fake media: the microphone is a WAV file (`fake_audio`).

    server = PageServer().start()            # serves tests/interop/web/ and /flashphoner.js
    browser = Browser(playwright, workdir, fake_audio=tone_wav).start()
    phone = browser.open_phone(server.url("/phone.html"))
    phone.connect(url="ws://127.0.0.1:8080/", login="1001", …)
    phone.wait_event("session", "REGISTERED", timeout=10)
    call_id = phone.call("1002"); phone.wait_event("call", "ESTABLISHED", 15)
    phone.stats(); phone.remote_audio_peak(1500, expect_hz=500); phone.frames()
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from .common import LOOPBACK, REPO_ROOT, RigError

WEB_DIR = REPO_ROOT / "tests" / "interop" / "web"
WEBSDK_DIR = REPO_ROOT / ".cache" / "websdk" / "node_modules" / "@flashphoner" / "websdk"
WEBSDK_JS = WEBSDK_DIR / "flashphoner.js"
CHROMIUM = "/usr/bin/chromium"


def chromium_flags(fake_audio: Path | None) -> list[str]:
    flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
             "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]
    if fake_audio is not None:
        flags.append(f"--use-file-for-fake-audio-capture={fake_audio}")
    return flags


class _Handler(http.server.SimpleHTTPRequestHandler):
    websdk_js: Path = WEBSDK_JS

    def translate_path(self, path: str) -> str:
        if path.split("?", 1)[0] == "/flashphoner.js":
            return str(self.websdk_js)
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 (stdlib signature)
        pass


class PageServer:
    """HTTP server on 127.0.0.1:<free port> for tests/interop/web/ and /flashphoner.js."""

    def __init__(self, web_dir: Path = WEB_DIR, websdk_js: Path = WEBSDK_JS) -> None:
        if not websdk_js.is_file():
            raise RigError(f"the Flashphoner WebSDK is not installed ({websdk_js} is missing): run "
                           "./scripts/test.sh, which does `npm install @flashphoner/websdk@2.0.276` "
                           "into .cache/websdk")
        handler = type("Handler", (_Handler,), {"websdk_js": websdk_js})
        self.httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0),
                                                     functools.partial(handler, directory=str(web_dir)))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="page-server", daemon=True)

    def start(self) -> PageServer:
        self._thread.start()
        return self

    def url(self, path: str = "/phone.html") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


class Phone:
    """The test page (window.wcs) in one browser tab."""

    def __init__(self, page: Any, console: list[str]) -> None:
        self.page = page
        self.console = console

    # --- driving ---------------------------------------------------------------------------------
    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def connect(self, url: str, login: str | None = "1001", auth_name: str | None = None,
                password: str | None = None, domain: str | None = LOOPBACK,
                outbound_proxy: str | None = LOOPBACK, port: str | int | None = "5060",
                register_required: bool = True, keep_alive: bool | None = None,
                auth_token: str | None = None, sip: bool = True) -> None:
        """Flashphoner.init + createSession with sipOptions (fields left None are not sent);
        ``auth_token`` re-attaches to a kept-alive session (then ``sip=False``: no sipOptions,
        as the SDK's phone example does)."""
        opts = {"url": url, "login": login, "authName": auth_name if auth_name is not None else login,
                "password": password if password is not None else f"pass{login}", "domain": domain,
                "outboundProxy": outbound_proxy, "port": str(port) if port is not None else None,
                "registerRequired": register_required, "keepAlive": keep_alive, "authToken": auth_token,
                "sip": None if sip else False}
        opts = {k: v for k, v in opts.items() if v is not None}
        self.js("o => wcs.connect(o)", opts)

    def call(self, callee: str, video: bool = False, **extra: Any) -> str:
        return str(self.js("([c, o]) => wcs.call(c, o)", [callee, {"video": video, **extra}]))

    def answer(self, call_id: str | None = None, video: bool = False, **extra: Any) -> str:
        """Answer the current (or named) incoming call; ``extra``: sipSDP, stripCodecs."""
        return str(self.js("([id, o]) => wcs.answer(id, o)", [call_id, {"video": video, **extra}]))

    def hangup(self, call_id: str | None = None) -> str:
        return str(self.js("id => wcs.hangup(id)", call_id))

    def send_dtmf(self, digits: str, dtmf_type: str = "RFC2833") -> None:
        self.js("([d, t]) => wcs.sendDTMF(d, t)", [digits, dtmf_type])

    def hold(self) -> None:
        self.js("() => wcs.hold()")

    def unhold(self) -> None:
        self.js("() => wcs.unhold()")

    def transfer(self, target: str) -> None:
        self.js("t => wcs.transfer(t)", target)

    def disconnect(self) -> None:
        self.js("() => wcs.disconnect()")

    # --- observing -------------------------------------------------------------------------------
    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        evs: list[dict[str, Any]] = self.js("() => wcs.events")
        return [e for e in evs if kind is None or e.get("kind") == kind]

    def statuses(self, kind: str, call_id: str | None = None) -> list[str]:
        return [e["status"] for e in self.events(kind)
                if call_id is None or e.get("callId") == call_id]

    def wait_event(self, kind: str, status: str, timeout: float = 10.0, call_id: str | None = None,
                   fail_on: tuple[str, ...] = (), since_status: str | None = None) -> dict[str, Any]:
        """First event {kind, status} (optionally for `call_id`); AssertionError on timeout or when
        an event with a status in `fail_on` arrives first (e.g. FAILED while waiting for ESTABLISHED).
        `since_status`: only events after the last one with that status (e.g. ESTABLISHED after HOLD)."""
        end = time.monotonic() + timeout
        while True:
            events = self.events(kind)
            if since_status is not None:
                marks = [i for i, e in enumerate(events) if e.get("status") == since_status
                         and (call_id is None or e.get("callId") in (None, call_id))]
                events = events[marks[-1] + 1:] if marks else []
            for e in events:
                if call_id is not None and e.get("callId") not in (None, call_id):
                    continue
                if e.get("status") == status:
                    return e
                if e.get("status") in fail_on:
                    raise AssertionError(f"{kind} status {e['status']} while waiting for {status}: "
                                         f"{self.summary()}")
            if time.monotonic() > end:
                raise AssertionError(f"no {kind} status {status} within {timeout} s: {self.summary()}")
            time.sleep(0.05)

    def frames(self, direction: str | None = None) -> list[dict[str, Any]]:
        """Recorded WebSocket frames, JSON decoded into 'message'/'data' where possible."""
        out = []
        for f in self.js("() => wcs.frames"):
            if direction is not None and f["dir"] != direction:
                continue
            try:
                obj = json.loads(f["text"])
                f["message"], f["data"] = obj.get("message"), obj.get("data")
            except (ValueError, AttributeError):
                f["message"], f["data"] = None, None
            out.append(f)
        return out

    def frames_named(self, message: str, direction: str = "in") -> list[dict[str, Any]]:
        return [f for f in self.frames(direction) if f["message"] == message]

    def sockets(self) -> list[dict[str, Any]]:
        return list(self.js("() => wcs.sockets"))

    def pc_states(self) -> list[dict[str, Any]]:
        return list(self.js("() => wcs.pcStates()"))

    def stats(self) -> dict[str, Any] | None:
        return self.js("() => wcs.stats()")  # type: ignore[no-any-return]

    def remote_audio_peak(self, ms: int = 1500, expect_hz: float | None = None) -> dict[str, Any]:
        return self.js("([ms, hz]) => wcs.remoteAudioPeak(ms, hz)", [ms, expect_hz])  # type: ignore[no-any-return]

    def errors(self) -> list[dict[str, Any]]:
        return list(self.js("() => wcs.errors"))

    def summary(self) -> str:
        try:
            evs = [f"{e.get('kind')}:{e.get('status')}" for e in self.events()]
            names = [f"{f['dir']}:{f['message']}" for f in self.frames()]
            return f"events={evs} frames={names}"
        except Exception as exc:   # the page may be gone
            return f"<no page state: {exc}>"

    def dump(self) -> str:
        """Everything the page knows, for failure output."""
        parts = []
        try:
            parts.append("events:\n" + "\n".join(json.dumps(e) for e in self.events()))
            parts.append("frames:\n" + "\n".join(
                f"{f['t']:10.1f} {f['dir']:>3} {f['text'][:1500]}" for f in self.js("() => wcs.frames")))
            parts.append("sockets: " + json.dumps(self.sockets()))
            parts.append("peer connections: " + json.dumps(
                [{k: v for k, v in s.items() if "Description" not in k} for s in self.pc_states()]))
            parts.append("page errors: " + json.dumps(self.errors()))
        except Exception as exc:
            parts.append(f"<page state unavailable: {exc}>")
        parts.append("console:\n" + "\n".join(self.console[-300:]))
        return "\n".join(parts)


class Browser:
    """One headless Chromium (persistent context with a fresh profile under `workdir`)."""

    def __init__(self, playwright: Any, workdir: Path, fake_audio: Path | None = None,
                 executable: str = CHROMIUM) -> None:
        self.playwright = playwright
        self.workdir = Path(workdir)
        self.fake_audio = fake_audio
        self.executable = executable
        self.context: Any = None
        self.console: list[str] = []
        self.phones: list[Phone] = []

    def start(self) -> Browser:
        if not Path(self.executable).exists() and shutil.which(self.executable) is None:
            raise RigError(f"{self.executable} not found: run ./scripts/test.sh (it installs chromium)")
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        self.context = self.playwright.chromium.launch_persistent_context(
            str(profile), executable_path=self.executable, headless=True,
            args=chromium_flags(self.fake_audio), timeout=30000)
        return self

    def open_phone(self, url: str, timeout: float = 15.0) -> Phone:
        page = self.context.new_page()
        tag = f"tab{len(self.phones)}"
        start = time.monotonic()

        def on_console(msg: Any) -> None:
            if len(self.console) < 5000:
                self.console.append(f"{time.monotonic() - start:8.3f} {tag} {msg.type}: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.console.append(f"{time.monotonic() - start:8.3f} {tag} "
                                                           f"pageerror: {e}"))
        page.goto(url, timeout=timeout * 1000)
        page.wait_for_function("() => window.wcs && typeof window.Flashphoner === 'object'",
                               timeout=timeout * 1000)
        phone = Phone(page, self.console)
        self.phones.append(phone)
        return phone

    def stop(self) -> None:
        if self.context is not None:
            try:
                self.context.close()
            except Exception:
                pass
            self.context = None
