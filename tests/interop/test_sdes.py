"""SDES-SRTP toward SIP devices (RFC 4568), judged by an independent peer: Chromium + the official WebSDK
⇄ gateway (`sip_srtp`) ⇄ Kamailio ⇄ baresip with its srtp module (`mediaenc=srtp-mand`: RTP/SAVP;
`mediaenc=srtp`: RTP/AVP with a=crypto, best effort).

Each test checks the SIP signalling on the wire (baresip's trace: the INVITE's and the answer's m-line
transport and a=crypto lines) and the media both ways through the keys: baresip records the browser's
1000 Hz, the browser hears baresip's 500 Hz — which needs our SRTP to decrypt at baresip and baresip's
SRTP to authenticate and decrypt at the gateway.  The gateway's call stats show no SRTP failure.
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
from .test_call_scenarios import (
    BARESIP_HZ,
    BROWSER_HZ,
    CALL_TERMINAL,
    check_browser_audio,
    check_recorded_tone,
    register_browser,
)
from .test_codec_settings import sdp_after
from .test_keepalive_and_rest import rest

pytestmark = pytest.mark.interop

def gateway_with(make_gateway: Any, *settings: str) -> Gateway:
    """The gateway (plain `server.py`) with `--set` settings."""
    return make_gateway(extra_args=[a for setting in settings for a in ("--set", setting)])  # type: ignore[no-any-return]


CRYPTO = re.compile(r"^a=crypto:(\d+) (\w+) inline:([A-Za-z0-9+/=]+)", re.M)


def m_audio(sdp: str) -> str:
    match = re.search(r"^m=audio \d+ (\S+) ", sdp, re.M)
    assert match, sdp
    return match.group(1)


def call_stats(gateway: Gateway, call_id: str) -> dict[str, Any]:
    status, body = rest(gateway, "stats", {"callId": call_id})
    assert status == 200, (status, body)
    return body  # type: ignore[no-any-return]


def talk_and_hang_up(phone: Phone, bs: Baresip, gateway: Gateway, call_id: str) -> None:
    """Audio both ways; SRTCP both ways: baresip decrypts our SR and echoes it in an SRTCP receiver
    report we decrypt (the SIP leg's round-trip time); no SRTP packet refused."""
    check_browser_audio(phone, BARESIP_HZ)
    end = time.monotonic() + 20
    while (stats := call_stats(gateway, call_id))["sip"]["rttMs"] is None:
        assert time.monotonic() < end, f"no round-trip time on the SIP leg (SRTCP): {stats}"
        time.sleep(0.5)
    # libre sends its RTCP APP "PING" keep-alive in the clear: refused, as any unauthenticated packet
    refused = {k: v for k, v in stats["dropped"].items() if "SRTP" in k or "SRTCP" in k}
    assert set(refused) <= {"SRTCP from the SIP side: SRTP malformed packet"}, stats
    print(f"gateway stats: {stats}")
    n = bs.event_count()
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    assert bs.wait_event("CALL_CLOSED", 10, since=n), bs.event_types()
    check_recorded_tone(bs, BROWSER_HZ)


@pytest.mark.parametrize(("mode", "mediaenc", "proto"), [("mandatory", "srtp-mand", "RTP/SAVP"),
                                                          ("optional", "srtp", "RTP/AVP")])
def test_browser_calls_baresip_over_sdes(kamailio: Kamailio, baresip: Any, make_gateway: Any, phone: Phone,
                                         mode: str, mediaenc: str, proto: str) -> None:
    gateway = make_gateway(extra_args=["--set", f"sip_srtp={mode}"])
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto", mediaenc=mediaenc)
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()

    trace = bs.sip_trace()
    invite, answer = sdp_after(trace, "INVITE sip:1002"), sdp_after(trace, "SIP/2.0 200")
    assert m_audio(invite) == proto, invite
    offered = CRYPTO.findall(invite)
    assert [(tag, suite) for tag, suite, _ in offered] == [("1", "AES_CM_128_HMAC_SHA1_80"),
                                                          ("2", "AES_CM_128_HMAC_SHA1_32")], invite
    assert len({key for _, _, key in offered}) == 2, "each offered suite needs its own key (RFC 4568 §6.1)"
    [(tag, suite, key)] = CRYPTO.findall(answer)
    assert (tag, suite) in [(t, s) for t, s, _ in offered] and key not in {k for _, _, k in offered}, answer
    talk_and_hang_up(phone, bs, gateway, call_id)


def test_baresip_calls_the_browser_over_savp(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                             phone: Phone) -> None:
    gateway = gateway_with(make_gateway, "sip_srtp=mandatory")
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="manual", mediaenc="srtp-mand")
    register_browser(phone, gateway, kamailio)
    bs.dial(f"sip:1001@{LOOPBACK}")
    incoming = phone.wait_event("session", "INCOMING_CALL", 15, fail_on=("DISCONNECTED", "FAILED"))
    call_id = incoming["callId"]
    phone.answer(call_id)
    phone.wait_event("call", "ESTABLISHED", 15, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 10), bs.event_types()

    trace = bs.sip_trace()
    offer, answer = sdp_after(trace, "INVITE sip:1001"), sdp_after(trace, "SIP/2.0 200")
    assert m_audio(offer) == "RTP/SAVP" and m_audio(answer) == "RTP/SAVP", answer
    offered = {(tag, suite): key for tag, suite, key in CRYPTO.findall(offer)}
    [(tag, suite, key)] = CRYPTO.findall(answer)
    assert (tag, suite) == next(iter(offered)) and key != offered[(tag, suite)], (offer, answer)
    talk_and_hang_up(phone, bs, gateway, call_id)


def test_savp_offer_refused_when_srtp_is_off(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                             phone: Phone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="manual", mediaenc="srtp-mand")
    register_browser(phone, gateway, kamailio)
    n = bs.event_count()
    bs.dial(f"sip:1001@{LOOPBACK}")
    assert bs.wait_event("CALL_CLOSED", 15, since=n), bs.event_types()
    assert re.search(r"^SIP/2\.0 488 ", bs.sip_trace(), re.M), bs.sip_trace()[-3000:]
    assert not phone.frames_named("notifyIncomingCall")
