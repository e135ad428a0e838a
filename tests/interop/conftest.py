"""Fixtures for interop tests against real peers on loopback: Kamailio, baresip, Chromium + the
official Flashphoner WebSDK, and our gateway (`python server.py`).

Every process is bound to 127.0.0.1, started and always stopped by a fixture, and logs to the test's
work directory. When a test fails, the logs of everything it used (Kamailio since the test began,
baresip with its SIP trace, the gateway, the page's events/WebSocket frames/console) are attached to
the failure report. The tests must run in a private network namespace that holds only `lo`
(./scripts/test.sh does that); elsewhere they FAIL with instructions, never skip.

Fixtures (see tests/interop/rig/*.py for the objects they return):
  kamailio            the session's Kamailio (udp/tcp 5060, tls 5061): .registrations(), .ul_dump(),
                      .wait_registered(user), .add_user(user, pw), .kamcmd(...)
  baresip             factory: baresip("1002", tone_hz=500, answermode="auto", codecs=("PCMU",),
                      reject_incoming=False) → started, registered Baresip
  browser_tone_wav    1 kHz, 48 kHz mono WAV: the browser's fake microphone
  page_server         HTTP server for tests/interop/web/ and /flashphoner.js
  make_browser        factory: make_browser(fake_audio=wav) → started Browser
  browser             a started Browser whose microphone is browser_tone_wav
  phone               browser.open_phone(<phone.html>) → Phone (window.wcs driver)
  make_gateway        factory: make_gateway(ws_port=8080, http_port=8081, sip_port=5070,
                      media_port_from=31000, media_port_to=31999, extra_args=()) → started Gateway
  gateway             make_gateway() with the default ports
                      (env WCS_TEST_GATEWAY_SCRIPT=path runs that script instead of server.py, e.g.
                      to check the rig against a stub; it gets the same arguments)
  rig_timings         dict of figures printed in the terminal summary ("interop timings")
  rig_log             per-test log collector: rig_log.add_file(name, path) / add_source(name, fn)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .rig import tones
from .rig.baresip import Baresip
from .rig.browser import Browser, PageServer, Phone
from .rig.common import RigError, file_size, netns_problem, read_tail
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio

RIG_LOG = pytest.StashKey["RigLog"]()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_SECTION_CHARS = 12000


class RigLog:
    """What to attach to the report when a test fails: log files (from an offset) and callables."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._files: list[tuple[str, Path, int]] = []
        self._sources: list[tuple[str, Callable[[], str]]] = []

    def add_file(self, name: str, path: Path, offset: int | None = None) -> None:
        """Attach `path` from `offset` (default: its current size, i.e. only what comes next)."""
        self._files.append((name, Path(path), file_size(Path(path)) if offset is None else offset))

    def add_source(self, name: str, fn: Callable[[], str], first: bool = False) -> None:
        if first:
            self._sources.insert(0, (name, fn))
        else:
            self._sources.append((name, fn))

    def sections(self) -> list[tuple[str, str]]:
        out = []
        for name, fn in self._sources:
            try:
                text = fn()
            except Exception as exc:  # the source may be half torn down
                text = f"<unavailable: {exc!r}>"
            if len(text) > MAX_SECTION_CHARS:
                text = f"<… {len(text) - MAX_SECTION_CHARS} characters cut>\n" + text[-MAX_SECTION_CHARS:]
            out.append((name, text))
        for name, path, offset in self._files:
            text = _ANSI.sub("", read_tail(path, offset, 4 * MAX_SECTION_CHARS))
            if len(text) > MAX_SECTION_CHARS:
                text = f"<… {len(text) - MAX_SECTION_CHARS} characters cut>\n" + text[-MAX_SECTION_CHARS:]
            out.append((f"{name} ({path})", text))
        out.append(("rig work directory", str(self.workdir)))
        return out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        rig_log = item.stash.get(RIG_LOG, None)
        if rig_log is not None:
            for name, text in rig_log.sections():
                report.sections.append((f"rig: {name}", text))
    return report


_TIMINGS: dict[str, str] = {}


@pytest.fixture(scope="session")
def rig_timings() -> dict[str, str]:
    """Figures a test wants shown at the end of the run (e.g. call set-up times)."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TIMINGS:
        terminalreporter.section("interop timings")
        for name, value in _TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value}")


# --- guard --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _netns_problem() -> str | None:
    return netns_problem()


@pytest.fixture(autouse=True)
def _require_private_netns(_netns_problem: str | None) -> None:
    if _netns_problem:
        pytest.fail(_netns_problem, pytrace=False)


@pytest.fixture(autouse=True)
def rig_log(request: pytest.FixtureRequest, tmp_path: Path) -> RigLog:
    log = RigLog(tmp_path)
    request.node.stash[RIG_LOG] = log
    return log


def _fail(exc: RigError) -> None:
    pytest.fail(str(exc), pytrace=False)


# --- Kamailio -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kamailio_server(tmp_path_factory: pytest.TempPathFactory,
                    _netns_problem: str | None) -> Iterator[Kamailio]:
    if _netns_problem:
        pytest.fail(_netns_problem, pytrace=False)
    kam = Kamailio(tmp_path_factory.mktemp("kamailio"))
    try:
        kam.start()
    except RigError as exc:
        _fail(exc)
    yield kam
    kam.stop()


@pytest.fixture
def kamailio(kamailio_server: Kamailio, rig_log: RigLog) -> Kamailio:
    """The session's Kamailio; its log from this test's start is attached on failure."""
    if kamailio_server.proc is None or not kamailio_server.proc.alive():
        pytest.fail("Kamailio (session fixture) is no longer running:\n"
                    + kamailio_server.log_text(max_chars=4000), pytrace=False)
    leftover = kamailio_server.clear_registrations()   # each test starts with no bindings
    rig_log.add_file("kamailio.log", kamailio_server.log_path)
    if leftover:
        rig_log.add_source("kamailio bindings an earlier test left (removed)", lambda: "\n".join(
            f"{user}: {' '.join(contacts)}" for user, contacts in leftover.items()))
    rig_log.add_source("kamailio registrations (ul.dump)", lambda: "\n".join(
        f"{user}: {' '.join(contacts)}" for user, contacts in kamailio_server.registrations().items()))
    return kamailio_server


# --- baresip ------------------------------------------------------------------------------------
@pytest.fixture
def baresip(kamailio: Kamailio, tmp_path: Path, rig_log: RigLog) -> Iterator[Callable[..., Baresip]]:
    started: list[Baresip] = []

    def make(user: str, password: str | None = None, **kwargs: Any) -> Baresip:
        ua = Baresip(tmp_path, user, password or kamailio.users.get(user, f"pass{user}"),
                     proxy_port=kamailio.udp_port, **kwargs)
        rig_log.add_file(f"baresip {ua.name} (SIP trace)", ua.log_path, 0)
        rig_log.add_source(f"baresip {ua.name} ctrl events", lambda: "\n".join(map(str, ua.events)))
        try:
            ua.start()
        except RigError as exc:
            _fail(exc)
        started.append(ua)
        return ua

    yield make
    for ua in started:
        ua.stop()


# --- tones and browser --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The browser's microphone: 1000 Hz, 48 kHz mono 16-bit, 30 s (Chromium loops it)."""
    return tones.make_tone_wav(tmp_path_factory.mktemp("tones") / "tone1000.wav", 1000, 30)


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    try:
        server = PageServer().start()
    except RigError as exc:
        _fail(exc)
    yield server
    server.stop()


@pytest.fixture
def playwright_driver() -> Iterator[Any]:
    # Per test, not per session: a live sync Playwright keeps its asyncio loop marked as running
    # in this thread, which breaks any other test that starts Playwright (or uses asyncio).
    from playwright.sync_api import sync_playwright
    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture
def make_browser(playwright_driver: Any, tmp_path: Path, rig_log: RigLog,
                 browser_tone_wav: Path) -> Iterator[Callable[..., Browser]]:
    started: list[Browser] = []

    def make(fake_audio: Path | None = None) -> Browser:
        n = len(started)
        b = Browser(playwright_driver, tmp_path / f"browser{n}", fake_audio or browser_tone_wav)
        try:
            b.start()
        except RigError as exc:
            _fail(exc)
        started.append(b)
        rig_log.add_source(f"browser{n} console", lambda: "\n".join(b.console[-400:]))
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def browser(make_browser: Callable[..., Browser]) -> Browser:
    return make_browser()


@pytest.fixture
def phone(browser: Browser, page_server: PageServer, rig_log: RigLog) -> Phone:
    p = browser.open_phone(page_server.url("/phone.html"))
    rig_log.add_source("page state (events, WebSocket frames, PCs)",
                       lambda: p.dump().split("\nconsole:\n")[0], first=True)
    return p


# --- gateway ------------------------------------------------------------------------------------
@pytest.fixture
def make_gateway(tmp_path: Path, rig_log: RigLog,
                 _netns_problem: str | None) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    override = os.environ.get("WCS_TEST_GATEWAY_SCRIPT")   # run another script (e.g. a stub)

    def make(**kwargs: Any) -> Gateway:
        if override:
            kwargs.setdefault("script", Path(override))
        n = len(started)
        gw = Gateway(tmp_path / (f"gateway{n}" if n else "gateway"), **kwargs)
        rig_log.add_file(f"gateway{n} log", gw.log_path, 0)
        started.append(gw)
        try:
            gw.start()
        except RigError as exc:
            _fail(exc)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()
