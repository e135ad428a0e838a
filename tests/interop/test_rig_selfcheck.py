"""The rig checks itself, without the gateway: Kamailio + baresip calls (tones, 486, 404), the tone
analysis, and the test page (SDK loads, frames and peer connections are recorded, stats and the
WebAudio FFT work on an in-page loopback call)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .rig.browser import Phone
from .rig.common import LOOPBACK, free_port
from .rig.kamailio import Kamailio
from .rig.tones import analyze, analyze_wav, make_tone_wav

pytestmark = pytest.mark.interop


def test_tone_analysis(tmp_path: Path) -> None:
    wav = make_tone_wav(tmp_path / "t.wav", 700, seconds=2, rate=16000)
    good = analyze_wav(wav, 700)
    assert good.ok and good.peak_hz is not None and abs(good.peak_hz - 700) < 2, good
    assert good.energy_in_band > 0.95 and good.non_silent_seconds >= 1.9, good
    wrong = analyze_wav(wav, 1000)
    assert not wrong.ok and "peak" in wrong.reason, wrong
    silence = analyze(np.zeros(16000), 16000, 700)
    assert not silence.ok and silence.reason == "all silence"


def test_baresip_call_through_kamailio(kamailio: Kamailio, baresip: Any) -> None:
    callee = baresip("1002", tone_hz=500, answermode="manual")
    caller = baresip("1003", tone_hz=1000, answermode="manual")
    regs = kamailio.registrations()
    assert regs.get("1002") and regs.get("1003"), regs
    caller.dial(f"sip:1002@{LOOPBACK}")
    assert callee.wait_event("CALL_INCOMING", 10), callee.event_types()
    callee.accept()
    assert caller.wait_event("CALL_ESTABLISHED", 10), caller.event_types()
    assert callee.wait_event("CALL_ESTABLISHED", 5), callee.event_types()
    time.sleep(2.5)
    caller.hangup()
    assert callee.wait_event("CALL_CLOSED", 5), callee.event_types()
    assert caller.wait_event("CALL_CLOSED", 5), caller.event_types()
    heard_by_callee = analyze_wav(callee.last_recording(), 1000)
    heard_by_caller = analyze_wav(caller.last_recording(), 500)
    assert heard_by_callee.ok, heard_by_callee
    assert heard_by_caller.ok, heard_by_caller
    assert "BYE sip:" in callee.sip_trace()


def test_baresip_busy_and_not_found(kamailio: Kamailio, baresip: Any) -> None:
    busy = baresip("1003", reject_incoming=True)
    caller = baresip("1002", answermode="manual")
    caller.dial(f"sip:1003@{LOOPBACK}")
    closed = caller.wait_event("CALL_CLOSED", 10)
    assert closed and str(closed.get("param", "")).startswith("486"), caller.events
    assert busy.rejected, "the busy UA never saw CALL_INCOMING"
    # on the wire: baresip 1.0 answers a ringing call it hangs up with "486 Rejected"
    assert re.search(r"SIP/2.0 486 \w", busy.sip_trace())
    assert "1004" not in kamailio.registrations()
    n = caller.event_count()
    caller.dial(f"sip:1004@{LOOPBACK}")
    closed = caller.wait_event("CALL_CLOSED", 10, since=n)
    assert closed and str(closed.get("param", "")).startswith("404"), caller.events[n:]


def test_page_records_session_and_frames(phone: Phone) -> None:
    port = free_port(udp=False)           # nothing listens there
    phone.connect(url=f"ws://{LOOPBACK}:{port}/", login="1001")
    phone.wait_event("session", "FAILED", 10)
    sockets = phone.sockets()
    assert sockets and sockets[0]["url"] == f"ws://{LOOPBACK}:{port}/" and sockets[0]["opened"] is None
    assert phone.frames() == []
    assert phone.errors() == []


def test_page_media_helpers_on_loopback_call(phone: Phone) -> None:
    # Two peer connections inside the page (as the rig's webrtc_loopback.html does); the wrapper
    # records both and the helpers read the receiving one (the last live PC).
    phone.js("""async () => {
      const s = await navigator.mediaDevices.getUserMedia({audio: true});
      const a = new RTCPeerConnection(), b = new RTCPeerConnection();
      s.getTracks().forEach(t => a.addTrack(t, s));
      a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription);
    }""")
    assert len(phone.pc_states()) == 2
    end = time.monotonic() + 10
    while not ((st := phone.stats()) and st["inbound"] and st["inbound"]["packetsReceived"] > 0):
        assert time.monotonic() < end, f"no inbound RTP on the loopback call: {st}"
        time.sleep(0.2)
    time.sleep(1)
    later = phone.stats()
    assert later and later["inbound"]["packetsReceived"] > st["inbound"]["packetsReceived"]
    peak = phone.remote_audio_peak(1500, 1000)
    assert abs(peak["peak_hz"] - 1000) <= 15 and peak["band_ratio"] > 0.5, peak
