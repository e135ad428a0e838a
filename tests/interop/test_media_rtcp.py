"""RTCP on both legs, judged by the real peers: Chromium + WebSDK ⇄ gateway ⇄ Kamailio ⇄ baresip.

* Browser leg: Chrome's getStats turns our SRTCP into ``remote-outbound-rtp`` (from our SR:
  packets/bytes we sent, our NTP clock) and ``remote-inbound-rtp`` (from our report block about
  its stream: loss, jitter, and the round-trip time Chrome computes from our LSR/DLSR echo).
* SIP leg: baresip echoes our SR in its receiver reports (LSR); the gateway's ``call/stats``
  (REST) shows the round-trip time computed from them, and what each leg sent and received.

Reports start 1.25-3.75 s into the call and follow every 2.5-7.5 s (RFC 3550 §6.2), so the test
polls for up to 20 s.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, register_browser
from .test_keepalive_and_rest import rest

pytestmark = pytest.mark.interop

REMOTE_STATS = """async () => {
  const pc = wcs.pcs[wcs.pcs.length - 1];
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if ((s.type === "remote-inbound-rtp" || s.type === "remote-outbound-rtp") && s.kind === "audio")
      out[s.type] = Object.assign({}, s);
  });
  return out;
}"""


def poll(fetch: Any, ready: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value):
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}; last: {value}")
        time.sleep(0.5)


def test_both_peers_read_our_reports(kamailio: Kamailio, baresip: Any, gateway: Gateway,
                                     phone: Phone) -> None:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()

    def ready(r: dict[str, Any]) -> bool:
        return "remote-outbound-rtp" in r and r.get("remote-inbound-rtp", {}).get("roundTripTime") is not None

    remote = poll(lambda: phone.js(REMOTE_STATS), ready, 20, "Chrome's remote-inbound/outbound-rtp")
    inbound, outbound = remote["remote-inbound-rtp"], remote["remote-outbound-rtp"]
    assert 0 <= inbound["roundTripTime"] < 0.2, inbound  # loopback: milliseconds
    assert inbound["fractionLost"] == 0 and inbound["packetsLost"] == 0, inbound
    assert outbound["packetsSent"] > 50 and outbound["bytesSent"] > 50 * 100, outbound
    assert abs(outbound["remoteTimestamp"] / 1000 - time.time()) < 10, outbound  # our SR's NTP clock

    # both peers echo our SRs in their RRs, each on its own RTCP schedule: wait for both
    stats = poll(lambda: rest(gateway, "stats", {"callId": call_id}),
                 lambda r: r[0] == 200 and r[1]["sip"]["rttMs"] is not None
                 and r[1]["browser"]["rttMs"] is not None, 25,
                 "round-trip times on both legs (baresip's and Chrome's RRs echoing our SRs)")[1]
    sip, browser = stats["sip"], stats["browser"]
    # (on loopback the true RTT is below the 1/65536 s unit and the peers' DLSR rounding: 0 is fine)
    assert 0 <= sip["rttMs"] < 200, sip
    assert browser["rttMs"] is not None and 0 <= browser["rttMs"] < 200, browser  # Chrome echoes ours too
    for leg in (sip, browser):
        assert leg["packetsReceived"] > 50 and leg["packetsSent"] > 50 and leg["lost"] == 0, stats
    assert stats["state"] == "connected" and not stats["held"]
