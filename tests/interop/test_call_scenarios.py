"""End-to-end call scenarios: Chromium + the official WebSDK ⇄ our gateway ⇄ Kamailio ⇄ baresip.

Users: the browser is 1001/pass1001 (SIP registration done by the gateway for it), baresip is
1002/pass1002, and 1003 (busy) / 1004 (never registered) for failures. The browser's microphone is a
1000 Hz tone (fake capture WAV); baresip sends 500 Hz (ausine). All on 127.0.0.1 inside the test's
private network namespace (./scripts/test.sh).

A  browser → 1002 (auto-answer): statuses, two-way audio (baresip records 1000 Hz, the browser hears
   500 Hz and its inbound RTP counters rise), browser hangs up → FINISH and baresip sees the BYE.
B  1002 → sip:1001@127.0.0.1: INCOMING_CALL in the page, answer(), two-way audio, baresip hangs up.
C  busy callee → BUSY with sipStatus 486 in the `finish` frame; unregistered callee → FAILED/404.
   Bad input: a sipLogin with a space or angle brackets is refused at once with a `fail` frame that
   names the field, then the socket closes; a REGISTER rejected by the registrar (wrong password)
   ends in a `fail` frame with "401" and the socket closed.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from .rig.baresip import Baresip
from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .rig.tones import analyze_wav

pytestmark = pytest.mark.interop

BROWSER_HZ = 1000          # the browser's fake microphone (browser_tone_wav)
BARESIP_HZ = 500           # baresip's ausine source
AUDIO_SECONDS = 4.0        # audio exchanged before hanging up
CALL_TERMINAL = ("FAILED", "BUSY", "FINISH")
STATUS_RANK = {"TRYING": 1, "RING": 2, "RING_MEDIA": 2, "SESSION_PROGRESS": 2, "ESTABLISHED": 3}


# --- helpers ------------------------------------------------------------------------------------
def register_browser(phone: Phone, gateway: Gateway, kamailio: Kamailio | None = None,
                     user: str = "1001") -> None:
    """Connect the SDK with sipOptions for `user` and wait for REGISTERED."""
    phone.connect(url=gateway.ws_url, login=user, auth_name=user, password=f"pass{user}",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True)
    phone.wait_event("session", "REGISTERED", 15, fail_on=("FAILED", "DISCONNECTED"))
    statuses = phone.statuses("session")
    assert_in_order(statuses, ["CONNECTED", "ESTABLISHED", "REGISTERED"], "session statuses")
    if kamailio is not None:
        # the gateway registered 1001 at Kamailio with a contact on its own SIP port
        kamailio.wait_registered(user, 5, contains=f":{gateway.sip_port}")


def assert_in_order(actual: list[str], expected: list[str], what: str) -> None:
    """`expected` occurs in `actual` as a subsequence."""
    it = iter(actual)
    missing = [e for e in expected if not any(a == e for a in it)]
    assert not missing, f"{what}: expected {expected} in this order, got {actual}"


def assert_call_progress(phone: Phone, call_id: str) -> None:
    """Statuses of an established call: TRYING first, never backwards, ESTABLISHED reached."""
    statuses = phone.statuses("call", call_id)
    assert statuses and statuses[0] == "TRYING", f"first call status should be TRYING: {statuses}"
    upto = statuses[: statuses.index("ESTABLISHED") + 1]
    ranks = [STATUS_RANK.get(s, -1) for s in upto]
    assert -1 not in ranks and ranks == sorted(ranks), f"call statuses out of order: {statuses}"


def finish_frames(phone: Phone, call_id: str) -> list[dict[str, Any]]:
    return [f["data"][0] for f in phone.frames_named("finish")
            if f["data"] and isinstance(f["data"][0], dict) and f["data"][0].get("callId") == call_id]


def wait_inbound_rtp(phone: Phone, timeout: float = 10.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        st = phone.stats()
        if st and st.get("inbound") and (st["inbound"].get("packetsReceived") or 0) > 0:
            return st
        if time.monotonic() > end:
            states = [{k: v for k, v in s.items() if "Description" not in k} for s in phone.pc_states()]
            raise AssertionError(f"no inbound RTP in the browser within {timeout} s: stats={st} "
                                 f"peer connections={states}")
        time.sleep(0.2)


def check_browser_audio(phone: Phone, expect_hz: float) -> dict[str, Any]:
    """Inbound RTP flows (packetsReceived rises over a second) and the remote track carries
    `expect_hz`; the browser also sends. Returns the figures for the report."""
    first = wait_inbound_rtp(phone)
    time.sleep(1.0)
    second = phone.stats()
    assert second and second["inbound"], f"stats vanished: {second}"
    rx1, rx2 = first["inbound"]["packetsReceived"], second["inbound"]["packetsReceived"]
    assert rx2 > rx1, f"inbound packetsReceived did not rise in 1 s: {rx1} → {rx2}"
    assert second["outbound"] and second["outbound"]["packetsSent"] > 0, f"browser sends no RTP: {second}"
    peak = phone.remote_audio_peak(1500, expect_hz)
    assert "error" not in peak, f"remote audio analysis failed: {peak}"
    assert abs(peak["peak_hz"] - expect_hz) <= 15, \
        f"the browser hears {peak['peak_hz']:.1f} Hz, expected {expect_hz} Hz: {peak}"
    assert peak["band_ratio"] > 0.5, f"remote audio is not a clean {expect_hz} Hz tone: {peak}"
    return {"rx_packets": (rx1, rx2), "codec_in": second["inbound"].get("codec"),
            "codec_out": second["outbound"].get("codec"), "pair": second.get("pair"), "peak": peak}


def check_recorded_tone(ua: Baresip, expect_hz: float) -> dict[str, Any]:
    rec = ua.last_recording()
    assert rec is not None, f"baresip {ua.name} recorded nothing (no *-dec.wav in {ua.rec_dir})"
    report = analyze_wav(rec, expect_hz, tol=15, min_seconds=1.0)
    assert report.ok, f"baresip {ua.name} did not hear {expect_hz} Hz: {report.reason} {report.as_dict()}"
    return report.as_dict()


def sip_answer_codecs(trace: str) -> list[str]:
    return sorted(set(re.findall(r"a=rtpmap:\d+ ([\w-]+/\d+)", trace)))


def assert_gateway_logged(gateway: Gateway, call_id: str) -> None:
    """The agreed log contract: one line per call state change, with the call id."""
    lines = gateway.log_lines_with(call_id)
    assert len(lines) >= 2, (f"the gateway log should have a line per call state change with the "
                             f"call id {call_id}; found {lines}")


def wait_audio_time(since: float, seconds: float) -> None:
    left = since + seconds - time.monotonic()
    if left > 0:
        time.sleep(left)


# --- A: browser calls baresip -------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["PCMU", "G722", "opus"])
def test_a_browser_calls_baresip(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone,
                                 codec: str, rig_timings: dict[str, Any]) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto", codecs=(codec,))
    register_browser(phone, gateway, kamailio)

    call_id = phone.call("1002")
    est = phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    started = phone.events("local")
    t_call = next(e["t"] for e in started if e["status"] == "CALL" and e.get("callId") == call_id)
    setup_ms = est["t"] - t_call
    rig_timings[f"A[{codec}] call() → ESTABLISHED"] = f"{setup_ms:.0f} ms"
    print(f"call set-up time (call() → ESTABLISHED): {setup_ms:.0f} ms")
    t_media = time.monotonic()
    assert bs.wait_event("CALL_ESTABLISHED", 5), f"baresip never saw the call established: {bs.event_types()}"
    assert_call_progress(phone, call_id)
    assert phone.frames_named("call", "out"), "the SDK sent no `call` frame"
    assert len(phone.frames_named("setRemoteSDP")) == 1, "expected exactly one setRemoteSDP"

    media = check_browser_audio(phone, BARESIP_HZ)
    print(f"browser media: {media}")
    wait_audio_time(t_media, AUDIO_SECONDS)

    n = bs.event_count()
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    closed = bs.wait_event("CALL_CLOSED", 10, since=n)
    assert closed, f"baresip did not see the call end: {bs.event_types()}"
    assert re.search(r"BYE sip:", bs.sip_trace()), "no BYE in baresip's SIP trace"
    tone = check_recorded_tone(bs, BROWSER_HZ)
    print(f"baresip heard: {tone}; SIP-side codecs: {sip_answer_codecs(bs.sip_trace())}")
    assert_gateway_logged(gateway, call_id)


# --- B: baresip calls the browser ---------------------------------------------------------------
def test_b_baresip_calls_browser(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone,
                                 rig_timings: dict[str, Any]) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="manual")
    register_browser(phone, gateway, kamailio)

    t0 = time.monotonic()
    bs.dial(f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    call_id = incoming["callId"]
    assert "1002" in str(incoming.get("caller")), f"caller should be 1002: {incoming}"
    names = [f["message"] for f in phone.frames("in")]
    assert "setRemoteSDP" in names and names.index("setRemoteSDP") < names.index("notifyIncomingCall"), \
        f"setRemoteSDP must come before notifyIncomingCall: {names}"

    phone.answer(call_id)
    phone.wait_event("call", "ESTABLISHED", 15, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 10), f"baresip: no CALL_ESTABLISHED: {bs.event_types()}"
    rig_timings["B dial → ESTABLISHED (incl. answer)"] = f"{(time.monotonic() - t0) * 1000:.0f} ms"
    t_media = time.monotonic()
    assert phone.frames_named("answer", "out"), "the SDK sent no `answer` frame"

    media = check_browser_audio(phone, BARESIP_HZ)
    print(f"browser media: {media}")
    wait_audio_time(t_media, AUDIO_SECONDS)

    n = bs.event_count()
    bs.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    assert bs.wait_event("CALL_CLOSED", 10, since=n), f"baresip: no CALL_CLOSED: {bs.event_types()}"
    tone = check_recorded_tone(bs, BROWSER_HZ)
    print(f"baresip heard: {tone}")
    assert_gateway_logged(gateway, call_id)


# --- C: failures ----------------------------------------------------------------------------------
def test_c_busy_callee(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone) -> None:
    bs = baresip("1003", tone_hz=BARESIP_HZ, reject_incoming=True)   # rings, then 486
    register_browser(phone, gateway, kamailio)

    call_id = phone.call("1003")
    phone.wait_event("call", "BUSY", 15, call_id=call_id, fail_on=("ESTABLISHED", "FAILED", "FINISH"))
    assert bs.rejected, "baresip 1003 never saw the INVITE"
    assert re.search(r"SIP/2.0 486 ", bs.sip_trace()), "baresip did not send 486"
    finishes = finish_frames(phone, call_id)
    assert finishes, f"no `finish` frame for {call_id}: {phone.summary()}"
    assert finishes[-1].get("status") == "BUSY", finishes
    assert int(finishes[-1].get("sipStatus", 0)) == 486, f"finish frame lacks sipStatus 486: {finishes}"


def test_c_callee_not_registered(kamailio: Kamailio, gateway: Gateway, phone: Phone) -> None:
    assert "1004" not in kamailio.registrations(), "1004 must not be registered for this test"
    register_browser(phone, gateway, kamailio)

    call_id = phone.call("1004")
    phone.wait_event("call", "FAILED", 15, call_id=call_id, fail_on=("ESTABLISHED", "BUSY", "FINISH"))
    finishes = finish_frames(phone, call_id)
    assert finishes, f"no `finish` frame for {call_id}: {phone.summary()}"
    assert finishes[-1].get("status") == "FAILED", finishes
    assert int(finishes[-1].get("sipStatus", 0)) == 404, f"finish frame lacks sipStatus 404: {finishes}"


# --- bad input from the browser ---------------------------------------------------------------------
def wait_socket_closed(phone: Phone, timeout: float = 10.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        socks = phone.sockets()
        if socks and socks[-1].get("closed"):
            return dict(socks[-1]["closed"])
        if time.monotonic() > end:
            raise AssertionError(f"the gateway did not close the WebSocket within {timeout} s: "
                                 f"{phone.summary()}")
        time.sleep(0.05)


@pytest.mark.parametrize("login", ["10 01", "<1001>"], ids=["space", "angle-brackets"])
def test_bad_sip_login_is_refused(gateway: Gateway, phone: Phone, login: str) -> None:
    phone.connect(url=gateway.ws_url, login=login, auth_name="1001", password="pass1001",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True)
    phone.wait_event("session", "DISCONNECTED", 5, fail_on=("REGISTERED", "FAILED"))
    wait_socket_closed(phone, 5)
    fails = phone.frames_named("fail")
    assert fails, f"no `fail` frame: {phone.summary()}"
    info = str(fails[0]["data"][0].get("info", "")) if fails[0]["data"] else ""
    assert "sipLogin" in info, f"the `fail` frame should name the field sipLogin: {fails[0]['text']}"
    assert_in_order(phone.statuses("session"), ["WARN", "DISCONNECTED"], "session statuses")
    assert "ESTABLISHED" not in phone.statuses("session"), "a bad sipLogin must be refused at once"
    assert not phone.frames_named("getUserData"), "getUserData sent for a refused connection"


def test_register_rejected_wrong_password(kamailio: Kamailio, gateway: Gateway, phone: Phone) -> None:
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="wrong-password",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True)
    phone.wait_event("session", "DISCONNECTED", 15, fail_on=("REGISTERED", "FAILED"))
    wait_socket_closed(phone, 5)
    fails = phone.frames_named("fail")
    assert fails, f"no `fail` frame: {phone.summary()}"
    infos = [str(f["data"][0].get("info", "")) for f in fails if f["data"] and isinstance(f["data"][0], dict)]
    assert any("401" in i for i in infos), f"no `fail` frame with 401 in its info: {infos}"
    assert_in_order(phone.statuses("session"), ["WARN", "DISCONNECTED"], "session statuses")
    assert "REGISTERED" not in phone.statuses("session")
