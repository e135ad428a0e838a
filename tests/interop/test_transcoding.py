"""Transcoding in the gateway against real peers: Chromium + the official WebSDK ⇄ our gateway ⇄
Kamailio ⇄ a SIP phone that shares no codec with the browser.  Every call carries real audio both
ways, checked by FFT at both ends (as in test_call_scenarios.py): the browser's microphone is 1 kHz,
the phones send 500 Hz.

A  Opus browser ⇄ PCMU baresip, transcoding forced: the browser offers only opus
   (stripCodecs="PCMU,PCMA,G722"), baresip has only PCMU; DTMF both ways across the stream.
B  Opus browser ⇄ Speex/16000 pjsua2, both call directions (pjsua2 has no Opus; Speex is forced).
   The rig README warns that Speex smears a pure sine.  Measured here: what pjsua2 decodes from
   our Speex has 16-99.9 % of its energy within ±50 Hz of 1 kHz, varying from run to run (pjsua2's
   jitter buffer and concealment under the box's load), so at pjsua2 the check is the peak
   frequency (±15 Hz) and ≥ 1 s of non-silence, the in-band share is only reported — still
   meaningful: a wrong clock rate or resampling error moves the peak, silence removes it.  What
   the browser hears (pjsua2's Speex transcoded by us to Opus) measured 99.9 % in band, so the
   browser side keeps the full check_browser_audio.
C  G.729 through rtpengine's transcoder, an independent implementation (libbcg729 in rtpengine,
   our own ctypes binding in the gateway): the gateway offers only G.729 (codecs=g729,
   telephone-event: the browser's opus is transcoded by us), a Kamailio of our own
   (tests/data/transcoding/kamailio-rtpengine.cfg) asks rtpengine to transcode G.729 ⇄ PCMU
   for a PCMU-only baresip.  The G.729 we encode is decoded by rtpengine and vice versa.
D  Transcoding disabled (allow_transcoding=false): the browser's call fails, an incoming Speex
   call gets 488 with a Warning; the WCS wording "Transcoding required, but disabled".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .rig.baresip import Baresip
from .rig.browser import Phone
from .rig.common import LOOPBACK, RigError, free_port
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .rig.tones import analyze_wav, make_tone_wav
from .test_call_scenarios import (
    CALL_TERMINAL,
    check_browser_audio,
    check_recorded_tone,
    finish_frames,
    register_browser,
    wait_audio_time,
)
from .test_codec_settings import m_formats, rtpmap, sdp_after
from .transcoding_rig import MediaPhone, Rtpengine, RtpengineKamailio

pytestmark = pytest.mark.interop

BROWSER_HZ = 1000
PHONE_HZ = 500
AUDIO_SECONDS = 4.0
PJSUA2_USER, PJSUA2_PASSWORD = "1005", "pass1005"
DISABLED = "Transcoding required, but disabled"


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def dtmf_digits(bs: Baresip, since: int) -> str:
    return "".join(str(e.get("param")) for e in bs.events[since:] if e.get("type") == "CALL_DTMF_START")


def baresip_sdp(trace: str) -> str:
    """The last SDP baresip itself wrote (its answer): the body carrying ``a=tool:baresip``."""
    bodies: list[list[str]] = []
    for line in trace.splitlines():
        if line == "v=0":
            bodies.append([line])
        elif bodies and bodies[-1] and re.match(r"^[a-z]=", line) and bodies[-1][-1] != "":
            bodies[-1].append(line)
        elif bodies and bodies[-1][-1] != "":
            bodies[-1].append("")
    own = ["\n".join(b).strip() for b in bodies if any(x.startswith("a=tool:baresip") for x in b)]
    assert own, "baresip sent no SDP"
    return own[-1]


def codec_report_line(gateway: Gateway) -> str:
    lines = [ln for ln in gateway.log_text(max_chars=10**6).splitlines() if "audio codecs:" in ln]
    assert lines, "the gateway logged no codec report at start-up"
    return lines[0]


# --- A: opus browser ⇄ PCMU baresip -------------------------------------------------------------
def test_a_opus_browser_and_pcmu_baresip(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone,
                                         rig_timings: dict[str, Any]) -> None:
    report = codec_report_line(gateway)
    assert "G729/8000" in report and "speex/16000" in report and "opus/48000" in report, report
    bs = baresip("1002", tone_hz=PHONE_HZ, answermode="auto", codecs=("PCMU",))
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002", stripCodecs="PCMU,PCMA,G722")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    t_media = time.monotonic()
    trace = bs.sip_trace()
    invite = sdp_after(trace, "INVITE sip:1002")
    # the browser's opus first, then what the gateway can transcode to (PCMU among them)
    assert m_formats(invite)[0] == "111" and "0" in m_formats(invite), invite
    ok = baresip_sdp(trace)
    assert m_formats(ok)[0] == "0", ok
    browser_sdp = phone.frames_named("setRemoteSDP")[0]["data"][1]
    assert re.search(r"m=audio \d+ \S+ 111 110\r?\n", browser_sdp), browser_sdp

    media = check_browser_audio(phone, PHONE_HZ)
    assert "opus" in str(media["codec_in"]).lower() and "opus" in str(media["codec_out"]).lower(), media
    print(f"browser media: {media}")

    n = bs.event_count()
    phone.send_dtmf("12#")                      # sendDtmf RFC 4733 → events in the transcoded PCMU stream
    wait_for(lambda: len(dtmf_digits(bs, n)) >= 3, 10, "baresip to report 3 digits")
    assert dtmf_digits(bs, n) == "12#"
    bs.send_dtmf("7")                            # baresip's telephone-event/8000 → the browser's /48000
    detected = "DTMF '7' received from the SIP side"
    wait_for(lambda: any(detected in line for line in gateway.log_lines_with(call_id)), 10,
             "the gateway to detect baresip's digit")
    wait_audio_time(t_media, AUDIO_SECONDS)

    n = bs.event_count()
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    assert bs.wait_event("CALL_CLOSED", 10, since=n), bs.event_types()
    tone = check_recorded_tone(bs, BROWSER_HZ)
    rig_timings["transcoding A: baresip hears (PCMU from opus)"] = \
        f"{tone['peak_hz']} Hz, {tone['energy_in_band']:.0%} in band"
    print(f"baresip heard: {tone}")


# --- B: opus browser ⇄ Speex pjsua2 ---------------------------------------------------------------
@pytest.fixture
def speex_phone(kamailio: Kamailio, tmp_path: Path, rig_log: Any) -> Iterator[MediaPhone]:
    kamailio.add_user(PJSUA2_USER, PJSUA2_PASSWORD)
    play = make_tone_wav(tmp_path / "tone500-16k.wav", PHONE_HZ, 30, rate=16000)
    phone = MediaPhone(tmp_path / "pjsua2", PJSUA2_USER, PJSUA2_PASSWORD, kamailio.udp_port,
                       codec="speex/16000", play=play, record=tmp_path / "pjsua2-heard.wav")
    rig_log.add_source("pjsua2 events", lambda: "\n".join(map(str, phone.events)))
    rig_log.add_source("pjsua2 SIP log", lambda: phone.trace()[-12000:])
    try:
        phone.start()
    except (RuntimeError, TimeoutError) as exc:
        phone.stop()
        pytest.fail(f"pjsua2 did not start: {exc}\n{phone.stderr()[-2000:]}", pytrace=False)
    yield phone
    phone.stop()


def check_speex_recording(phone: MediaPhone) -> dict[str, Any]:
    """pjsua2 heard the browser's 1 kHz: the peak (see the module docstring, B)."""
    report = analyze_wav(phone.record, BROWSER_HZ, tol=15, min_seconds=1.0, min_band_ratio=0.0)
    assert report.peak_hz is not None and abs(report.peak_hz - BROWSER_HZ) <= 15, \
        f"pjsua2 did not hear {BROWSER_HZ} Hz: {report.as_dict()}"
    assert report.non_silent_seconds >= 1.0, f"pjsua2 heard mostly silence: {report.as_dict()}"
    return report.as_dict()


def ended(event: dict[str, Any]) -> bool:
    return event["event"] == "state" and event["state"] == "DISCONNECTED"


def end_pjsua2_call(phone: MediaPhone) -> None:
    phone.command("hangup")
    phone.wait_event(ended, 10, "the call to end")
    phone.stop()    # finalises the recording


def test_b_opus_browser_calls_speex_pjsua2(kamailio: Kamailio, gateway: Gateway, phone: Phone,
                                           speex_phone: MediaPhone, rig_timings: dict[str, Any]) -> None:
    register_browser(phone, gateway, kamailio)
    call_id = phone.call(PJSUA2_USER)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    t_media = time.monotonic()
    speex_phone.wait_event(lambda e: e["event"] == "media" and e.get("codec"), 5, "pjsua2 media")
    assert speex_phone.codecs()[-1].lower() == "speex/16000", speex_phone.codecs()
    heard = check_browser_audio(phone, PHONE_HZ)
    assert "opus" in str(heard["codec_in"]).lower(), heard
    print(f"browser hears: {heard}")
    wait_audio_time(t_media, AUDIO_SECONDS)
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    speex_phone.wait_event(ended, 10, "the BYE")
    speex_phone.stop()
    report = check_speex_recording(speex_phone)
    rig_timings["transcoding B: pjsua2 hears (speex/16000 from opus)"] = \
        f"{report['peak_hz']} Hz, {report['energy_in_band']:.0%} in band"
    print(f"pjsua2 heard: {report}")


def test_b_speex_pjsua2_calls_the_opus_browser(kamailio: Kamailio, gateway: Gateway, phone: Phone,
                                               speex_phone: MediaPhone) -> None:
    register_browser(phone, gateway, kamailio)
    speex_phone.command("call", uri=f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    offer = phone.frames_named("setRemoteSDP")[0]["data"][1]
    assert "opus/48000" in offer and "speex" not in offer, offer     # browser codecs, transcoded by us
    phone.answer(incoming["callId"])
    phone.wait_event("call", "ESTABLISHED", 15, call_id=incoming["callId"], fail_on=CALL_TERMINAL)
    t_media = time.monotonic()
    speex_phone.wait_event(lambda e: e["event"] == "media" and e.get("codec"), 5, "pjsua2 media")
    assert speex_phone.codecs()[-1].lower() == "speex/16000", speex_phone.codecs()
    print(f"browser hears: {check_browser_audio(phone, PHONE_HZ)}")
    wait_audio_time(t_media, AUDIO_SECONDS)
    end_pjsua2_call(speex_phone)
    phone.wait_event("call", "FINISH", 10, call_id=incoming["callId"])
    print(f"pjsua2 heard: {check_speex_recording(speex_phone)}")


def test_delayed_offer_from_pjsua2(kamailio: Kamailio, gateway: Gateway, phone: Phone,
                                   speex_phone: MediaPhone) -> None:
    """An INVITE without SDP (RFC 3261 §13.2.1): the gateway offers in its 200 OK (the browser's
    codecs, here transcoded to pjsua2's Speex) and takes pjsua2's answer from the ACK."""
    register_browser(phone, gateway, kamailio)
    speex_phone.command("call", uri=f"sip:1001@{LOOPBACK}", no_sdp=True)
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    phone.answer(incoming["callId"])
    phone.wait_event("call", "ESTABLISHED", 15, call_id=incoming["callId"], fail_on=CALL_TERMINAL)
    speex_phone.wait_event(lambda e: e["event"] == "media" and e.get("codec"), 5, "pjsua2 media")
    trace = speex_phone.trace()
    invite = trace[trace.index("INVITE sip:1001"):]
    assert "Content-Length:  0" in invite[:2000] or "Content-Length: 0" in invite[:2000], invite[:2000]
    print(f"browser hears: {check_browser_audio(phone, PHONE_HZ)}")
    end_pjsua2_call(speex_phone)
    phone.wait_event("call", "FINISH", 10, call_id=incoming["callId"])


# --- C: G.729 through rtpengine ----------------------------------------------------------------------
@pytest.fixture
def rtpengine_kamailio(tmp_path: Path, rig_log: Any) -> Iterator[tuple[RtpengineKamailio, Rtpengine]]:
    ng_port = free_port(tcp=False)
    engine = Rtpengine(tmp_path / "rtpengine", ng_port)
    kam = RtpengineKamailio(tmp_path / "kamailio-rtpengine", udp_port=free_port(), ng_port=ng_port)
    rig_log.add_file("rtpengine.log", engine.log_path, 0)
    rig_log.add_file("kamailio-rtpengine.log", kam.log_path, 0)
    try:
        engine.start()
        kam.start()
    except RigError as exc:
        kam.stop()
        engine.stop()
        pytest.fail(str(exc), pytrace=False)
    yield kam, engine
    kam.stop()
    engine.stop()


def test_c_g729_through_rtpengine(rtpengine_kamailio: tuple[RtpengineKamailio, Rtpengine],
                                  make_gateway: Any, phone: Phone, tmp_path: Path, rig_log: Any,
                                  rig_timings: dict[str, Any]) -> None:
    kam, engine = rtpengine_kamailio
    gateway = make_gateway(extra_args=["--set", "codecs=g729,telephone-event"])
    bs = Baresip(tmp_path, "1002", "pass1002", tone_hz=PHONE_HZ, answermode="auto", codecs=("PCMU",),
                 proxy_port=kam.udp_port)
    rig_log.add_file("baresip 1002 (SIP trace)", bs.log_path, 0)
    try:
        bs.start()
    except RigError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                      domain=LOOPBACK, outbound_proxy=LOOPBACK, port=str(kam.udp_port))
        phone.wait_event("session", "REGISTERED", 15, fail_on=("FAILED", "DISCONNECTED"))
        call_id = phone.call("1002")
        phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
        assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
        t_media = time.monotonic()
        # baresip was offered PCMU by rtpengine and answered it; the gateway only ever spoke G.729
        invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
        assert "0" in m_formats(invite) and "18" not in m_formats(invite), invite
        assert engine.formats("Received command 'offer'") == ["18", "126"]   # the gateway's INVITE
        assert engine.formats("Replying to 'offer'") == ["0", "126"]         # what baresip got
        assert engine.formats("Replying to 'answer'") == ["18", "126"]       # the gateway's 200 OK
        media = check_browser_audio(phone, PHONE_HZ)
        print(f"browser media: {media}")
        n = bs.event_count()
        phone.send_dtmf("4")
        wait_for(lambda: dtmf_digits(bs, n), 10, "baresip to report the digit through rtpengine")
        assert dtmf_digits(bs, n) == "4"
        wait_audio_time(t_media, AUDIO_SECONDS)
        n = bs.event_count()
        phone.hangup()
        phone.wait_event("call", "FINISH", 10, call_id=call_id)
        assert bs.wait_event("CALL_CLOSED", 10, since=n), bs.event_types()
        tone = check_recorded_tone(bs, BROWSER_HZ)
        rig_timings["transcoding C: baresip hears (G.729 by us → rtpengine → PCMU)"] = \
            f"{tone['peak_hz']} Hz, {tone['energy_in_band']:.0%} in band"
        print(f"baresip heard: {tone}")
    finally:
        bs.stop()


# --- D: transcoding disabled -------------------------------------------------------------------------
def test_d_outgoing_call_fails_when_transcoding_is_disabled(kamailio: Kamailio, make_gateway: Any,
                                                            phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "codecs=g729,telephone-event",
                                       "--set", "allow_transcoding=false"])
    assert "transcoding disabled" in codec_report_line(gateway)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "FAILED", 15, call_id=call_id)
    info = finish_frames(phone, call_id)[-1]["info"]
    assert info == DISABLED, info


def test_d_incoming_speex_gets_488_when_transcoding_is_disabled(
        kamailio: Kamailio, make_gateway: Any, phone: Phone, speex_phone: MediaPhone) -> None:
    gateway = make_gateway(extra_args=["--set", "allow_transcoding=false"])
    register_browser(phone, gateway, kamailio)
    speex_phone.command("call", uri=f"sip:1001@{LOOPBACK}")
    refusal = speex_phone.wait_event(ended, 15, "the refusal")
    assert refusal["code"] == 488, refusal
    speex_phone.stop()                 # flushes its SIP log
    trace = speex_phone.trace()
    assert re.search(r"SIP/2\.0 488 Not Acceptable Here", trace), trace[-4000:]
    warning = re.search(r'Warning: 305 127\.0\.0\.1 "([^"]*)"', trace)
    assert warning, trace[-4000:]
    assert not phone.frames_named("notifyIncomingCall")
    assert warning.group(1) == DISABLED, warning.group(0)


def test_sip_only_codecs_in_the_default_invite(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                               phone: Phone) -> None:
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    # passthrough codecs first (the `codecs` order), then G.729 and Speex/16000, slim: no other lines
    assert m_formats(invite) == ["111", "8", "0", "9", "18", "98", "110", "126"], invite
    assert rtpmap(invite)["98"] == "speex/16000" and "a=fmtp:18 annexb=no" in invite
    ok = baresip_sdp(bs.sip_trace())
    assert m_formats(ok)[0] == "0"     # passthrough: PCMU is common, nothing transcoded
    browser_sdp = phone.frames_named("setRemoteSDP")[0]["data"][1]
    assert re.search(r"m=audio \d+ \S+ 0[ \r\n]", browser_sdp), browser_sdp
    phone.hangup()
