"""Video through the gateway, judged by independent peers: Chromium + the official WebSDK ⇄ gateway ⇄
Kamailio ⇄ baresip with its vp8 and fakevideo modules (a synthetic 320x240 camera at 15 fps).

* the browser calls baresip with video: the browser decodes baresip's VP8 (getStats
  ``framesDecoded`` rising, codec VP8) and baresip decodes the browser's (``video_debug``: its
  display counts frames), audio flows both ways;
* baresip calls the browser with video, the browser answers with video: the same checks;
* keyframe requests are bridged both ways: while the call is held both encoders keep running, so
  after the resume each decoder misses pictures and asks for a keyframe — Chrome with RTCP PLI, which
  reaches baresip as RTCP PLI (baresip declared ``a=rtcp-fb:* nack pli``), baresip with RTCP PLI
  (our answer declared it), which reaches Chrome as PLI; each side then decodes a second keyframe.
  The gateway's ``call/stats`` counts the requests it bridged.
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
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, check_browser_audio, register_browser
from .test_keepalive_and_rest import rest

pytestmark = pytest.mark.interop

#: getStats of the live peer connection, video only: inbound (what the browser decodes) and outbound
VIDEO_STATS = """async () => {
  const pc = wcs.livePC();
  if (!pc) return null;
  const report = await pc.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
  const out = {inbound: null, outbound: null};
  report.forEach((s) => {
    if (s.kind !== "video") return;
    if (s.type === "inbound-rtp") out.inbound = {framesDecoded: s.framesDecoded || 0,
        keyFramesDecoded: s.keyFramesDecoded || 0, framesReceived: s.framesReceived || 0,
        packetsReceived: s.packetsReceived || 0, pliCount: s.pliCount || 0, firCount: s.firCount || 0,
        frameWidth: s.frameWidth, frameHeight: s.frameHeight, codec: codecs[s.codecId] || null};
    if (s.type === "outbound-rtp") out.outbound = {framesEncoded: s.framesEncoded || 0,
        packetsSent: s.packetsSent || 0, pliCount: s.pliCount || 0, firCount: s.firCount || 0,
        keyFramesEncoded: s.keyFramesEncoded || 0, codec: codecs[s.codecId] || null};
  });
  return out;
}"""


def video_stats(phone: Phone) -> dict[str, Any]:
    return phone.js(VIDEO_STATS) or {}


def wait_decoding(phone: Phone, codec: str, timeout: float = 15.0, frames: int = 10) -> dict[str, Any]:
    """The browser decodes at least `frames` video frames of `codec`, and more a second later."""
    end = time.monotonic() + timeout
    while True:
        stats = video_stats(phone)
        inbound = stats.get("inbound") or {}
        if inbound.get("framesDecoded", 0) >= frames:
            break
        if time.monotonic() > end:
            raise AssertionError(f"the browser decoded no {codec} video within {timeout} s: {stats}")
        time.sleep(0.3)
    time.sleep(1.0)
    later = video_stats(phone)
    assert later["inbound"]["framesDecoded"] > inbound["framesDecoded"], \
        f"framesDecoded stopped rising: {inbound} → {later['inbound']}"
    assert later["inbound"]["codec"] == f"video/{codec}", later
    return later


def baresip_video(bs: Baresip) -> dict[str, int]:
    """baresip's `video_debug`: frames its encoder took from the camera and frames its display got."""
    text = bs.cmd("video_debug").get("data", "")
    tx = re.search(r"source: \S+ \d+ x \d+, fps=[\d.]+ frames=(\d+)", text)
    rx = re.search(r"vidisp: \S+ \d+ x \d+ frames=(\d+)", text)
    keys = re.search(r"n_keyframes=(\d+), n_picup=(\d+)", text)
    return {"sent": int(tx.group(1)) if tx else 0, "displayed": int(rx.group(1)) if rx else 0,
            "keyframes": int(keys.group(1)) if keys else 0,
            "picture_updates": int(keys.group(2)) if keys else 0}


def wait_baresip_displays(bs: Baresip, timeout: float = 15.0, frames: int = 10) -> dict[str, int]:
    end = time.monotonic() + timeout
    while True:
        seen = baresip_video(bs)
        if seen["displayed"] >= frames:
            return seen
        if time.monotonic() > end:
            raise AssertionError(f"baresip displayed no video within {timeout} s: {seen}\n"
                                 f"{bs.cmd('video_debug').get('data', '')}")
        time.sleep(0.3)


def call_stats(gateway: Gateway, call_id: str) -> dict[str, Any]:
    status, body = rest(gateway, "stats", {"callId": call_id})
    assert status == 200, (status, body)
    return body  # type: ignore[no-any-return]


def test_browser_calls_baresip_with_vp8_video(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                              phone: Phone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto", video=True)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002", video=True)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()

    browser = wait_decoding(phone, "VP8")
    shown = wait_baresip_displays(bs)
    check_browser_audio(phone, BARESIP_HZ)
    before = call_stats(gateway, call_id)["keyframeRequests"]
    print(f"browser video: {browser}; baresip video: {shown}; keyframe requests: {before}")

    # hold and resume: both decoders miss pictures, both ask for keyframes through the gateway
    phone.hold()
    phone.wait_event("call", "HOLD", 10, call_id=call_id, fail_on=CALL_TERMINAL)
    time.sleep(1.5)
    phone.unhold()
    phone.wait_event("call", "ESTABLISHED", 10, call_id=call_id, since_status="HOLD", fail_on=CALL_TERMINAL)
    end = time.monotonic() + 15
    while True:
        after, seen = video_stats(phone), baresip_video(bs)
        requests = call_stats(gateway, call_id)["keyframeRequests"]
        recovered = (after["inbound"]["keyFramesDecoded"] > browser["inbound"]["keyFramesDecoded"]
                     and seen["keyframes"] > shown["keyframes"])
        if recovered or time.monotonic() > end:
            break
        time.sleep(0.3)
    print(f"after the resume: browser {after}; baresip {seen}; keyframe requests {requests}")
    assert recovered, (browser, after, shown, seen, requests)
    assert after["inbound"]["pliCount"] > browser["inbound"]["pliCount"], after
    assert requests.get("toSipPli", 0) > before.get("toSipPli", 0), requests
    assert seen["picture_updates"] > shown["picture_updates"], seen
    assert requests.get("toBrowserPli", 0) >= 1, requests
    assert after["outbound"]["pliCount"] >= 1, after
    wait_decoding(phone, "VP8", frames=after["inbound"]["framesDecoded"] + 5)
    wait_baresip_displays(bs, frames=seen["displayed"] + 5)
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)


def test_baresip_calls_browser_with_vp8_video(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                              phone: Phone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="manual", video=True)
    register_browser(phone, gateway, kamailio)
    bs.dial(f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    call_id = incoming["callId"]
    phone.answer(call_id, video=True)
    phone.wait_event("call", "ESTABLISHED", 15, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 10), bs.event_types()

    browser = wait_decoding(phone, "VP8")
    shown = wait_baresip_displays(bs)
    check_browser_audio(phone, BARESIP_HZ)
    stats = call_stats(gateway, call_id)
    print(f"browser video: {browser}; baresip video: {shown}; gateway: {stats}")
    bs.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
