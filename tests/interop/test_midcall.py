"""Inside a call, with real peers: hold/unhold, DTMF both ways (RFC 4733 and SIP INFO), blind
transfer by the browser, transfer of the browser by the SIP peer (media continuity), REST commands.
Chromium + the official WebSDK ⇄ gateway ⇄ Kamailio ⇄ baresip.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, register_browser
from .test_keepalive_and_rest import rest

pytestmark = pytest.mark.interop


def call_baresip(phone: Phone, gateway: Gateway, kamailio: Kamailio, baresip: Any) -> tuple[Any, str]:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    return bs, call_id


def inbound_packets(phone: Phone) -> int:
    stats = phone.stats() or {}
    return int((stats.get("inbound") or {}).get("packetsReceived") or 0)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def test_hold_and_unhold(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone) -> None:
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    wait_for(lambda: inbound_packets(phone) > 20, 5, "media to the browser")
    phone.hold()
    phone.wait_event("call", "HOLD", 10, call_id=call_id, fail_on=CALL_TERMINAL)
    trace = bs.sip_trace()
    reinvites = [m for m in re.split(r"\n(?=INVITE sip:|SIP/2\.0 )", trace) if m.startswith("INVITE sip:")]
    assert len(reinvites) >= 2 and "a=sendonly" in reinvites[-1], "the hold re-INVITE offers sendonly"
    assert "a=recvonly" in trace.split(reinvites[-1], 1)[1], "baresip answers recvonly"
    time.sleep(0.5)
    held = inbound_packets(phone)
    time.sleep(1.0)
    assert inbound_packets(phone) - held <= 2, "media still forwarded to the browser while held"
    phone.unhold()
    phone.wait_event("call", "ESTABLISHED", 10, call_id=call_id, since_status="HOLD")
    resumed = inbound_packets(phone)
    wait_for(lambda: inbound_packets(phone) > resumed + 20, 5, "media to resume after unhold")


def test_dtmf_rfc4733_and_info_reach_baresip(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                             phone: Phone) -> None:
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    n = bs.event_count()
    phone.send_dtmf("123#")
    wait_for(lambda: len([e for e in bs.events[n:] if e.get("type") == "CALL_DTMF_START"]) >= 4, 10,
             "baresip to report 4 digits")
    digits = "".join(str(e.get("param")) for e in bs.events[n:] if e.get("type") == "CALL_DTMF_START")
    assert digits == "123#", digits
    phone.send_dtmf("5", "INFO")
    wait_for(lambda: "Signal=5" in bs.sip_trace(), 5, "the INFO at baresip")
    assert re.search(r"INFO sip:\S+ SIP/2\.0", bs.sip_trace())


def test_dtmf_from_baresip_is_reported(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                       phone: Phone) -> None:
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    time.sleep(0.5)
    bs.send_dtmf("56")
    def reported() -> bool:
        return (rest(gateway, "find", {"callId": call_id})[1] or [{}])[0].get("dtmfReceived") == "56"

    wait_for(reported, 10, "the gateway to report DTMF 56 from baresip")
    assert any("DTMF '5' received from the SIP side" in line for line in gateway.log_lines_with(call_id))


def test_blind_transfer_by_the_browser(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                       phone: Phone) -> None:
    target = baresip("1003", tone_hz=700, answermode="auto")
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    phone.transfer("1003")
    phone.wait_event("call", "FINISH", 15, call_id=call_id)
    assert target.wait_event("CALL_ESTABLISHED", 10), "1002 did not reach 1003"
    statuses = [f["data"][0]["status"] for f in phone.frames_named("notifyTransferEvent")]
    assert statuses[0] == "PENDING" and statuses[-1] == "COMPLETED", statuses
    finish = [f["data"][0] for f in phone.frames_named("finish")][-1]
    assert finish["info"] == "Transferred", finish


def test_sip_peer_transfers_the_browser_and_media_follows(kamailio: Kamailio, baresip: Any,
                                                         gateway: Gateway, phone: Phone) -> None:
    target = baresip("1003", tone_hz=700, answermode="auto")
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    peak = phone.remote_audio_peak(1500, BARESIP_HZ)
    assert abs(peak["peak_hz"] - BARESIP_HZ) <= 15, peak
    n = bs.event_count()
    bs.cmd("transfer", "sip:1003@127.0.0.1")
    assert target.wait_event("CALL_ESTABLISHED", 15), "the gateway did not call 1003"
    assert bs.wait_event("CALL_CLOSED", 10, since=n), "the transferor's call did not end"
    time.sleep(1.0)
    peak = phone.remote_audio_peak(1500, 700)
    assert abs(peak["peak_hz"] - 700) <= 15, f"the browser does not hear the transfer target: {peak}"
    assert "FINISH" not in phone.statuses("call", call_id), "the browser's call must go on"
    assert len(phone.frames_named("setRemoteSDP")) == 1


def test_rest_hold_unhold_and_stats(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone) -> None:
    bs, call_id = call_baresip(phone, gateway, kamailio, baresip)
    assert rest(gateway, "hold", {"callId": call_id}) == (200, {})
    phone.wait_event("call", "HOLD", 10, call_id=call_id)
    assert rest(gateway, "unhold", {"callId": call_id}) == (200, {})
    phone.wait_event("call", "ESTABLISHED", 10, call_id=call_id, since_status="HOLD")
    status, stats = rest(gateway, "stats", {"callId": call_id})
    assert status == 200 and stats, stats
    assert rest(gateway, "send_dtmf", {"callId": call_id, "dtmf": "x"})[0] == 409
    assert rest(gateway, "hold", {"callId": "nope"})[0] == 404
