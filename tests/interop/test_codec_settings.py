"""Codec settings and sipSDP lines, checked on the wire: the SDP baresip receives in our INVITE and
200 OK, and the WebRTC offer the SDK receives. Chromium + the official WebSDK ⇄ gateway ⇄ Kamailio ⇄
baresip, as in test_call_scenarios.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .rig.baresip import Baresip
from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import CALL_TERMINAL, register_browser

pytestmark = pytest.mark.interop


def sdp_after(trace: str, start_line: str) -> str:
    """The SDP body of the last SIP message in a baresip trace whose first line starts with
    `start_line` (baresip -s prints every message it sends and receives)."""
    lines = trace.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(start_line)]
    assert starts, f"no {start_line!r} in the SIP trace"
    body: list[str] = []
    for line in lines[starts[-1]:]:
        if body and not re.match(r"^[a-z]=", line):
            break
        if body or line == "v=0":
            body.append(line)
    assert body, f"the {start_line!r} message carries no SDP"
    return "\n".join(body)


def m_formats(sdp: str, kind: str = "audio") -> list[str]:
    match = re.search(rf"^m={kind} \d+ \S+ (.*)$", sdp, re.M)
    assert match, f"no m={kind} line in\n{sdp}"
    return match.group(1).split()


def rtpmap(sdp: str) -> dict[str, str]:
    """PT → encoding/rate (channels left out)."""
    return {pt: "/".join(name.split("/")[:2]) for pt, name in re.findall(r"^a=rtpmap:(\d+) (\S+)", sdp, re.M)}


#: RFC 3551 static payload types that need no rtpmap
STATIC = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000", "18": "G729/8000"}


def place_call(phone: Phone, gateway: Gateway, kamailio: Kamailio, bs: Baresip, **call: Any) -> str:
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002", **call)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    return call_id


def test_default_codec_order_follows_the_codecs_setting(kamailio: Kamailio, baresip: Any,
                                                        gateway: Gateway, phone: Phone) -> None:
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    # default `codecs`: opus, alaw, ulaw, g729, speex16, g722, …, telephone-event: the browser's
    # codecs first (passthrough), then the SIP-only ones we can transcode (allow_transcoding=true)
    names = [rtpmap(invite).get(pt, STATIC.get(pt)) for pt in m_formats(invite)]
    assert names == ["opus/48000", "PCMA/8000", "PCMU/8000", "G722/8000", "G729/8000", "speex/16000",
                     "telephone-event/48000", "telephone-event/8000"], invite
    assert "RTP/AVP" in invite and not re.search(r"a=(ice-|fingerprint|candidate|mid|extmap|ssrc)", invite)
    assert re.search(r"^o=- \d+ 1 IN IP4 127\.0\.0\.1$", invite, re.M), invite


def test_codecs_setting_limits_and_orders_the_offer(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                                    phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "codecs=ulaw,alaw,telephone-event",
                                       "--set", "allow_transcoding=false"])
    bs = baresip("1002", answermode="auto", codecs=("PCMA", "PCMU"))
    place_call(phone, gateway, kamailio, bs)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    assert m_formats(invite) == ["0", "8", "126"], invite
    assert rtpmap(invite) == {"126": "telephone-event/8000"}


def test_codecs_exclude_sip(kamailio: Kamailio, baresip: Any, make_gateway: Any, phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "codecs_exclude_sip=opus,g722"])
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    assert "opus" not in invite and "G722" not in invite and "9" not in m_formats(invite)
    assert m_formats(invite)[:2] == ["8", "0"]


def test_strip_codecs_from_the_sdk_is_tolerated(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                                phone: Phone) -> None:
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs, stripCodecs="opus,G722,telephone-event")
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    # what the browser still offers comes first; the rest is transcoded (G.722, G.729, Speex …)
    assert m_formats(invite)[:2] == ["8", "0"], invite
    assert "opus/48000" not in rtpmap(invite).values(), "opus is never offered to SIP by transcoding"


def test_sip_sdp_lines_go_into_the_invite(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                          phone: Phone) -> None:
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs, sipSDP=["b=AS:3000", "b=TIAS:2500000", "b=RS:1000", "b=RR:3000"])
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    assert "\nc=IN IP4 127.0.0.1\nb=AS:3000\nb=TIAS:2500000\nb=RS:1000\nb=RR:3000\nt=0 0\n" in invite, invite


def test_sip_sdp_lines_go_into_the_200_ok(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                          phone: Phone) -> None:
    bs = baresip("1002", answermode="manual", codecs=("PCMU",))
    register_browser(phone, gateway, kamailio)
    bs.dial(f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15)
    phone.answer(incoming["callId"], sipSDP=["b=AS:64"])
    phone.wait_event("call", "ESTABLISHED", 15, call_id=incoming["callId"], fail_on=CALL_TERMINAL)
    ok = sdp_after(bs.sip_trace(), "SIP/2.0 200 OK")
    assert "\nc=IN IP4 127.0.0.1\nb=AS:64\nt=0 0\n" in ok, ok
    assert m_formats(ok)[0] == "0", ok


@pytest.mark.parametrize("allow", [True, False])
def test_allow_outside_codecs(kamailio: Kamailio, baresip: Any, make_gateway: Any, phone: Phone,
                              allow: bool) -> None:
    gateway = make_gateway(extra_args=["--set", "codecs=ulaw,telephone-event",
                                       "--set", f"allow_outside_codecs={str(allow).lower()}"])
    bs = baresip("1002", answermode="manual", codecs=("G722", "PCMU"))
    register_browser(phone, gateway, kamailio)
    bs.dial(f"sip:1001@{LOOPBACK}")
    phone.wait_event("session", "INCOMING_CALL", 15)
    [offer_frame] = phone.frames_named("setRemoteSDP")
    offer = offer_frame["data"][1]
    assert ("G722/8000" in offer) is allow, offer
    assert "PCMU/8000" in offer or re.search(r"m=audio \d+ \S+ .*\b0\b", offer)


def test_h264_packetization_mode_and_profiles(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                              phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "profiles=constrained-baseline"])
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs, video=True)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    fmtps = dict(re.findall(r"^a=fmtp:(\d+) (.*)$", invite, re.M))
    h264 = [pt for pt, name in rtpmap(invite).items() if name == "H264/90000"]
    assert h264, f"no H.264 offered to SIP:\n{invite}"
    for pt in h264:
        assert "packetization-mode=1" in fmtps[pt], fmtps[pt]
        assert re.search(r"profile-level-id=42e0", fmtps[pt]), fmtps[pt]   # constrained baseline
    assert "VP8/90000" in rtpmap(invite).values()


def test_h264_mode_0_allowed_when_configured(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                             phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "proxy_use_h264_packetization_mode_1_only=false"])
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    place_call(phone, gateway, kamailio, bs, video=True)
    invite = sdp_after(bs.sip_trace(), "INVITE sip:1002")
    fmtps = [v for pt, v in re.findall(r"^a=fmtp:(\d+) (.*)$", invite, re.M) if "profile-level-id" in v]
    assert any("packetization-mode=0" in v for v in fmtps), fmtps
    assert any("packetization-mode=1" in v for v in fmtps), fmtps


@pytest.mark.parametrize(("settings", "info"), [
    (["codecs=ilbc"], "No common codecs"),                                 # nothing we can carry
    (["codecs=g729", "allow_transcoding=false"], "Transcoding required, but disabled"),
])
def test_no_common_codec_outgoing_fails_with_wcs_wording(kamailio: Kamailio, make_gateway: Any, phone: Phone,
                                                         settings: list[str], info: str) -> None:
    gateway = make_gateway(extra_args=[arg for item in settings for arg in ("--set", item)])
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "FAILED", 15, call_id=call_id)
    finish = [f["data"][0] for f in phone.frames_named("finish")][-1]
    assert finish["info"] == info, finish


def test_no_common_codec_incoming_gets_488_with_warning(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                                        phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "codecs=opus,telephone-event",
                                       "--set", "allow_outside_codecs=false",
                                       "--set", "allow_transcoding=false"])
    bs = baresip("1002", answermode="manual", codecs=("PCMU",))
    register_browser(phone, gateway, kamailio)
    n = bs.event_count()
    bs.dial(f"sip:1001@{LOOPBACK}")
    assert bs.wait_event("CALL_CLOSED", 15, since=n), bs.event_types()
    trace = bs.sip_trace()
    assert re.search(r"^SIP/2\.0 488 Not Acceptable Here", trace, re.M), trace[-3000:]
    assert re.search(r'^Warning: 305 127\.0\.0\.1 "No common codecs"', trace, re.M), trace[-3000:]
    assert not phone.frames_named("notifyIncomingCall")
