"""The gateway's own web phone (wcs/aio/web/, served on the HTTP port) in headless Chromium.

Playwright opens http://127.0.0.1:<http_port>/ — the page as the gateway serves it, not the rig's page
server and not the Flashphoner SDK — fills the form and clicks its buttons like a user, and reads
what the page shows. Users as in test_call_scenarios.py: the page is 1001/pass1001, baresip 1002
(500 Hz tone), 1003 busy; the browser's microphone is the rig's 1 kHz WAV. Playwright also records
the WebSocket frames, to check the page speaks the protocol as the SDK does (websdk-protocol.md §7).

1  outgoing call to 1002: REGISTERED → ESTABLISHED, audio both ways (baresip records 1 kHz; the
   page's <audio> element plays 500 Hz), the statistics panel counts packets, mute, the hold and
   keypad frames, hang up → FINISH with the `finish` frame's info shown, and baresip sees the BYE.
2  incoming call from 1002 answered on the page; socket dropped and re-attached with the auth token
   (Disconnect, Reconnect) while the call goes on; hung up from the page.
3  busy callee: BUSY and SIP 486 with its reason phrase on the page.
4  bad logins: the `fail` reason is shown (401 from the registrar; a malformed sipLogin).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import RigLog
from .rig.baresip import Baresip
from .rig.browser import Browser
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .rig.tones import analyze_wav

pytestmark = pytest.mark.interop

BROWSER_HZ = 1000
BARESIP_HZ = 500
CALL_TERMINAL = ("FAILED", "BUSY", "FINISH")

# FFT of what the page's <audio id="remoteAudio"> element plays (the remote track of the call)
REMOTE_AUDIO_PEAK = """async ([ms, expectHz]) => {
  const el = document.getElementById("remoteAudio");
  const stream = el.srcObject;
  if (!stream || !stream.getAudioTracks().length) return {error: "#remoteAudio has no audio track"};
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 8192; an.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(stream).connect(an);
    const buf = new Float32Array(an.frequencyBinCount), acc = new Float64Array(an.frequencyBinCount);
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatFrequencyData(buf);
      for (let i = 0; i < buf.length; i++) acc[i] += Math.pow(10, buf[i] / 10);
      n++;
    }
    const binHz = ctx.sampleRate / an.fftSize;
    let best = 1, total = 0, band = 0;
    for (let i = 1; i < acc.length; i++) {
      if (acc[i] > acc[best]) best = i;
      total += acc[i];
      if (Math.abs(i * binHz - expectHz) <= 50) band += acc[i];
    }
    return {peak_hz: best * binHz, band_ratio: total > 0 ? band / total : 0, frames: n,
            playing: !el.paused, track: stream.getAudioTracks()[0].readyState};
  } finally {
    ctx.close();
  }
}"""


class WebPhone:
    """Our page in one tab: fill, click, read — and the WebSocket frames Playwright saw."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.page = browser.context.new_page()
        self.console = browser.console
        self.frames: list[dict[str, Any]] = []
        self.errors: list[str] = []
        start = time.monotonic()
        self.page.on("console", lambda msg: self.console.append(
            f"{time.monotonic() - start:8.3f} web {msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("websocket", self._watch)
        self.page.goto(url, timeout=15000)
        self.page.wait_for_function("() => window.wcsPhone", timeout=15000)

    def _watch(self, ws: Any) -> None:
        def add(direction: str, payload: str | bytes) -> None:
            try:
                frame = json.loads(payload)
            except ValueError:
                frame = {"message": None, "data": payload}
            self.frames.append({"dir": direction, **frame})
        ws.on("framesent", lambda payload: add("out", payload))
        ws.on("framereceived", lambda payload: add("in", payload))

    # --- driving ---------------------------------------------------------------------------------
    def connect(self, gateway: Gateway, login: str = "1001", password: str | None = None,
                keep_alive: bool = True) -> None:
        page = self.page
        assert page.input_value("#url") == f"ws://{LOOPBACK}:8080/", "default server URL"
        page.fill("#url", gateway.ws_url)
        page.fill("#login", login)
        page.fill("#authName", login)
        page.fill("#password", password if password is not None else f"pass{login}")
        page.fill("#domain", LOOPBACK)
        page.fill("#proxy", LOOPBACK)
        page.fill("#port", "5060")
        page.set_checked("#register", True)
        page.set_checked("#keepAlive", keep_alive)
        page.click("#connect")

    def dial(self, callee: str) -> None:
        self.page.fill("#callee", callee)
        self.page.click("#call")

    def click(self, selector: str) -> None:
        self.page.click(selector, timeout=5000)

    # --- observing -------------------------------------------------------------------------------
    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector)).strip()

    def wait_text(self, selector: str, want: str, timeout: float = 10.0, fail_on: tuple[str, ...] = (),
                  contains: bool = False) -> str:
        end = time.monotonic() + timeout
        while True:
            text = self.text(selector)
            if (want in text) if contains else (text == want):
                return text
            if text in fail_on:
                raise AssertionError(f"{selector} shows {text!r} while waiting for {want!r}: "
                                     f"{self.summary()}")
            if time.monotonic() > end:
                raise AssertionError(f"{selector} never showed {want!r} within {timeout} s (shows {text!r}): "
                                     f"{self.summary()}")
            time.sleep(0.05)

    def stat(self, key: str) -> int:
        text = self.text(f'[data-stat="{key}"]').replace(",", "")
        return int(text) if text.isdigit() else 0

    def call_id(self) -> str:
        return str(self.page.evaluate("() => window.wcsPhone.ui.call.id"))

    def named(self, message: str, direction: str = "in") -> list[dict[str, Any]]:
        return [f for f in self.frames if f["dir"] == direction and f.get("message") == message]

    def wait_frames(self, message: str, direction: str, count: int,
                    timeout: float = 5.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while len(self.named(message, direction)) < count:
            assert time.monotonic() < end, f"< {count} {direction} {message} frames: {self.summary()}"
            self.page.wait_for_timeout(50)     # lets Playwright deliver the frame events
        return self.named(message, direction)

    def remote_audio_peak(self, ms: int, expect_hz: float) -> dict[str, Any]:
        return dict(self.page.evaluate(REMOTE_AUDIO_PEAK, [ms, expect_hz]))

    def summary(self) -> str:
        try:
            frames = [f"{f['dir']}:{f.get('message')}" for f in self.frames]
            return (f"session={self.text('#sessionStatus')!r} info={self.text('#sessionInfo')!r} "
                    f"call={self.text('#callStatus')!r} sip={self.text('#callSip')!r} "
                    f"callInfo={self.text('#callInfo')!r} frames={frames}")
        except Exception as exc:   # the page may be gone
            return f"<no page state: {exc}>"

    def dump(self) -> str:
        parts = [self.summary()]
        try:
            parts.append("page event log (newest first):\n" + self.text("#log"))
        except Exception as exc:
            parts.append(f"<no event log: {exc}>")
        parts.append("frames:\n" + "\n".join(json.dumps(f)[:1500] for f in self.frames))
        parts.append("page errors: " + json.dumps(self.errors))
        return "\n".join(parts)


@pytest.fixture
def web_phone(browser: Browser, gateway: Gateway, rig_log: RigLog) -> WebPhone:
    phone = WebPhone(browser, f"http://{LOOPBACK}:{gateway.http_port}/")
    rig_log.add_source("web phone (status, event log, WebSocket frames)", phone.dump, first=True)
    return phone


# --- helpers ------------------------------------------------------------------------------------
def register(phone: WebPhone, gateway: Gateway, kamailio: Kamailio) -> None:
    phone.connect(gateway)
    phone.wait_text("#sessionStatus", "REGISTERED", 15, fail_on=("DISCONNECTED", "FAILED"))
    kamailio.wait_registered("1001", 5, contains=f":{gateway.sip_port}")
    assert phone.text("#authToken"), "the auth token from getUserData is not shown"
    sent = phone.named("connection", "out")
    assert len(sent) == 1, sent
    connection = sent[0]["data"][0]
    assert connection["sipLogin"] == "1001" and connection["sipPort"] == "5060", connection
    assert connection["sipRegisterRequired"] is True and connection["keepAlive"] is True, connection


def check_audio(phone: WebPhone, expect_hz: float) -> dict[str, Any]:
    """The statistics panel counts packets both ways (and they rise), and the page plays expect_hz."""
    end = time.monotonic() + 10
    while phone.stat("in-packets") == 0:
        assert time.monotonic() < end, f"the statistics panel shows no received packets: {phone.summary()}"
        time.sleep(0.2)
    rx1, tx1 = phone.stat("in-packets"), phone.stat("out-packets")
    time.sleep(2.1)
    rx2, tx2 = phone.stat("in-packets"), phone.stat("out-packets")
    assert rx2 > rx1 and tx2 > tx1, f"packet counters do not rise: received {rx1}→{rx2}, sent {tx1}→{tx2}"
    assert phone.stat("in-bytes") > 0 and phone.stat("out-bytes") > 0
    codec = phone.text('[data-stat="in-codec"]')
    assert re.fullmatch(r"\w+/\d+", codec), f"codec not shown: {codec!r}"
    assert phone.text('[data-stat="in-jitter"]').endswith(" ms")
    assert phone.text('[data-stat="rtt"]').endswith(" ms"), phone.text('[data-stat="rtt"]')
    assert "DTLS connected" in phone.text('[data-stat="transport"]')
    peak = phone.remote_audio_peak(1500, expect_hz)
    assert "error" not in peak, peak
    assert peak["playing"], f"the <audio> element is not playing: {peak}"
    assert abs(peak["peak_hz"] - expect_hz) <= 15 and peak["band_ratio"] > 0.5, \
        f"the page plays {peak['peak_hz']:.1f} Hz, expected {expect_hz} Hz: {peak}"
    return {"rx": (rx1, rx2), "tx": (tx1, tx2), "codec": codec, "peak": peak}


def check_hold_and_dtmf(phone: WebPhone, call_id: str) -> None:
    """Hold and the keypad send the SDK's frames. The gateway does not act on them yet: HOLD (and
    Resume → ESTABLISHED) is followed only when it answers."""
    phone.click("#hold")
    hold = phone.wait_frames("hold", "out", 1)
    assert hold[0]["data"] == [{"callId": call_id}], hold
    try:
        phone.wait_text("#callStatus", "HOLD", 3, fail_on=CALL_TERMINAL)
    except AssertionError:
        assert phone.text("#callStatus") == "ESTABLISHED", phone.summary()
    else:
        assert phone.text("#hold") == "Resume"
        phone.click("#hold")
        assert phone.wait_frames("unhold", "out", 1)[0]["data"] == [{"callId": call_id}]
        phone.wait_text("#callStatus", "ESTABLISHED", 5, fail_on=CALL_TERMINAL)
    phone.click('#keypad [data-key="5"]')
    phone.page.select_option("#dtmfType", "INFO")
    phone.click('#keypad [data-key="#"]')
    dtmf = [f["data"][0] for f in phone.wait_frames("sendDtmf", "out", 2)]
    assert dtmf == [{"callId": call_id, "type": "RFC2833", "dtmf": "5"},
                    {"callId": call_id, "type": "INFO", "dtmf": "#"}], dtmf


def check_recorded_tone(ua: Baresip, expect_hz: float) -> None:
    rec = ua.last_recording()
    assert rec is not None, f"baresip {ua.name} recorded nothing"
    report = analyze_wav(rec, expect_hz, tol=15, min_seconds=1.0)
    assert report.ok, f"baresip {ua.name} did not hear {expect_hz} Hz: {report.reason} {report.as_dict()}"


# --- 1: outgoing ------------------------------------------------------------------------------------
def test_outgoing_call_two_way_audio_and_stats(kamailio: Kamailio, baresip: Callable[..., Baresip],
                                               gateway: Gateway, web_phone: WebPhone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    phone = web_phone
    register(phone, gateway, kamailio)

    phone.dial("1002")
    phone.wait_text("#callStatus", "ESTABLISHED", 20, fail_on=CALL_TERMINAL)
    call_id = phone.call_id()
    assert bs.wait_event("CALL_ESTABLISHED", 5), f"baresip: {bs.event_types()}"
    assert phone.text("#callSip") == "200 OK"
    # the protocol as the SDK speaks it: one `call` with the offer and no candidates, one answer
    calls = phone.named("call", "out")
    assert len(calls) == 1, calls
    call = calls[0]["data"][0]
    assert call["callId"] == call_id and call["callee"] == "1002" and call["caller"] == "1001", call
    assert call["mediaProvider"] == "WebRTC" and call["status"] == "PENDING" and call["incoming"] is False
    assert "a=candidate" not in call["sdp"] and "m=audio" in call["sdp"], call["sdp"]
    sdps = phone.named("setRemoteSDP")
    assert [f["data"][0] for f in sdps] == [call_id], sdps
    statuses = [f["data"][0]["status"] for f in phone.frames if f["dir"] == "in" and
                f.get("message") in ("notifyTryingResponse", "ring", "talk")]
    assert statuses[0] == "TRYING" and statuses[-1] == "ESTABLISHED", statuses
    assert phone.named("pong", "out") or not phone.named("ping"), "pings must be answered"

    media = check_audio(phone, BARESIP_HZ)
    print(f"web phone media: {media}")
    mute = phone.page.locator("#mute")
    mute.click()
    assert mute.get_attribute("aria-pressed") == "true"
    mute.click()
    assert mute.get_attribute("aria-pressed") == "false"
    check_hold_and_dtmf(phone, call_id)
    time.sleep(2.5)     # audio after a possible re-INVITE (baresip opens a new recording)

    n = bs.event_count()
    phone.click("#hangup")
    phone.wait_text("#callStatus", "FINISH", 10)
    assert phone.text("#callInfo") == "Normal call clearing", phone.summary()
    assert phone.named("hangup", "out")[0]["data"] == [{"callId": call_id}]
    assert bs.wait_event("CALL_CLOSED", 10, since=n), f"baresip did not see the call end: {bs.event_types()}"
    assert re.search(r"BYE sip:", bs.sip_trace()), "no BYE in baresip's SIP trace"
    check_recorded_tone(bs, BROWSER_HZ)
    assert len(gateway.log_lines_with(call_id)) >= 2
    assert phone.page.locator("#hangup").is_disabled()
    assert phone.page.evaluate("() => document.getElementById('remoteAudio').srcObject") is None
    assert not phone.errors, phone.errors


# --- 2: incoming, and a token reconnect during the call -----------------------------------------------
def test_incoming_call_answered_and_token_reconnect(kamailio: Kamailio, baresip: Callable[..., Baresip],
                                                    gateway: Gateway, web_phone: WebPhone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="manual")
    phone = web_phone
    register(phone, gateway, kamailio)
    token = phone.text("#authToken")

    bs.dial(f"sip:1001@{LOOPBACK}")
    phone.wait_text("#incomingText", "Incoming call from 1002", 15, contains=True)
    assert phone.page.locator("#incoming").is_visible()
    names = [f.get("message") for f in phone.frames if f["dir"] == "in"]
    assert names.index("setRemoteSDP") < names.index("notifyIncomingCall"), names
    phone.click("#answer")
    phone.wait_text("#callStatus", "ESTABLISHED", 15, fail_on=CALL_TERMINAL)
    assert not phone.page.locator("#incoming").is_visible()
    call_id = phone.call_id()
    answer = phone.named("answer", "out")[0]["data"][0]
    assert answer["callId"] == call_id and answer["incoming"] is True, answer
    assert "a=candidate" not in answer["sdp"] and "a=setup:active" in answer["sdp"], answer["sdp"]
    assert bs.wait_event("CALL_ESTABLISHED", 10), f"baresip: {bs.event_types()}"
    media = check_audio(phone, BARESIP_HZ)
    print(f"web phone media: {media}")

    # drop the socket and re-attach with the token: the session and the call survive
    phone.click("#disconnect")
    phone.wait_text("#sessionStatus", "DISCONNECTED", 5)
    assert phone.text("#callStatus") == "ESTABLISHED"
    phone.click("#reconnect")
    phone.wait_text("#sessionStatus", "REGISTERED", 10, fail_on=("DISCONNECTED", "FAILED"))
    connections = phone.named("connection", "out")
    assert len(connections) == 2 and connections[1]["data"][0]["authToken"] == token, connections
    assert "sipLogin" not in connections[1]["data"][0]
    assert phone.text("#authToken") == token
    time.sleep(1.0)

    n = bs.event_count()
    phone.click("#hangup")
    phone.wait_text("#callStatus", "FINISH", 10)
    assert bs.wait_event("CALL_CLOSED", 10, since=n), f"baresip: {bs.event_types()}"
    check_recorded_tone(bs, BROWSER_HZ)
    assert not phone.errors, phone.errors


# --- 3: busy ------------------------------------------------------------------------------------------
def test_busy_callee_shows_busy_and_486(kamailio: Kamailio, baresip: Callable[..., Baresip],
                                        gateway: Gateway, web_phone: WebPhone) -> None:
    bs = baresip("1003", tone_hz=BARESIP_HZ, reject_incoming=True)
    phone = web_phone
    register(phone, gateway, kamailio)

    phone.dial("1003")
    phone.wait_text("#callStatus", "BUSY", 15, fail_on=("ESTABLISHED", "FAILED", "FINISH"))
    assert bs.rejected, "baresip 1003 never saw the INVITE"
    assert phone.text("#callSip").startswith("486 "), phone.summary()     # baresip: "486 Rejected"
    assert "486" in phone.text("#callInfo"), phone.summary()
    assert phone.page.locator("#hangup").is_disabled() and phone.page.locator("#call").is_enabled()
    assert "BUSY" in phone.text("#log")
    assert not phone.errors, phone.errors


# --- 4: bad logins --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("login", "password", "reason"), [
    ("1001", "wrong-password", "401"),
    ("10 01", "pass1001", "sipLogin"),
], ids=["wrong-password", "malformed-login"])
def test_bad_login_shows_the_fail_reason(kamailio: Kamailio, gateway: Gateway, web_phone: WebPhone,
                                         login: str, password: str, reason: str) -> None:
    phone = web_phone
    phone.connect(gateway, login=login, password=password)
    phone.wait_text("#sessionStatus", "DISCONNECTED", 15, fail_on=("REGISTERED", "FAILED"))
    fails = phone.named("fail")
    assert fails, phone.summary()
    info = fails[0]["data"][0]["info"]
    assert reason in info, info
    phone.wait_text("#sessionInfo", info, 5, contains=True)
    assert phone.page.locator("#call").is_disabled()
    assert phone.page.locator("#connect").is_enabled()
    assert not phone.errors, phone.errors
