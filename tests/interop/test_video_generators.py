"""Generated media toward the browser (`generate_av_for_ua`, `rtp_generator_start_timeout`): Chromium + the
official WebSDK calls baresip with audio+video; baresip has no video (its answer refuses the video m-line).

* with generation for every UA, the gateway accepts the browser's video m-line anyway (we only send,
  `a=sendonly`) and sends black VP8: the browser decodes it (framesDecoded rising on the video receiver)
  while the call's audio plays both ways;
* with generation for another UA (`generate_av_for_ua=Polycom`), the video m-line is refused as before.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.kamailio import Kamailio
from .test_call_scenarios import (
    BARESIP_HZ,
    BROWSER_HZ,
    CALL_TERMINAL,
    check_browser_audio,
    check_recorded_tone,
    register_browser,
)
from .test_sdes import call_stats, gateway_with
from .test_video import video_stats, wait_decoding

pytestmark = pytest.mark.interop


def answer_sdp(phone: Phone) -> str:
    [frame] = phone.frames_named("setRemoteSDP")
    return str(frame["data"][1])


def test_black_video_when_the_sip_side_answers_audio_only(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                                          phone: Phone) -> None:
    gateway = gateway_with(make_gateway, "generate_av_for_ua=all",
                                  "rtp_generator_start_timeout=0.5")
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")          # audio only
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002", video=True)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    assert re.search(r"^m=video 0 ", bs.sip_trace(), re.M), "baresip should refuse video"

    answer = answer_sdp(phone)
    video = answer[answer.index("m=video"):]
    assert not video.startswith("m=video 0 ") and "a=sendonly" in video, answer
    browser = wait_decoding(phone, "VP8")
    media = check_browser_audio(phone, BARESIP_HZ)
    stats = call_stats(gateway, call_id)
    print(f"browser video: {browser}; audio: {media}; gateway: {stats}")
    assert browser["inbound"]["frameWidth"] == 320 and browser["inbound"]["keyFramesDecoded"] >= 1, browser
    [video_stream] = [s for s in stats["streams"] if s["kind"] == "video"]
    assert video_stream["browser"]["packetsSent"] > 0 and video_stream["sip"]["packetsReceived"] == 0
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    check_recorded_tone(bs, BROWSER_HZ)


def test_no_generation_for_other_user_agents(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                            phone: Phone) -> None:
    gateway = gateway_with(make_gateway, "generate_av_for_ua=Polycom")
    baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002", video=True)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    answer = answer_sdp(phone)
    assert re.search(r"^m=video 0 ", answer, re.M), answer
    check_browser_audio(phone, BARESIP_HZ)
    assert (video_stats(phone).get("inbound") or {}).get("framesDecoded", 0) == 0
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
