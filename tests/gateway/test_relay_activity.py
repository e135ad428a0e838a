"""RTP activity detection: a leg that stops sending ends the call; off, silent calls stay up."""

from __future__ import annotations

import pytest

from wcs.gateway.media import MediaTimeout
from wcs.gateway.relay import CallRelay, RelayConfig
from wcs.gateway.relay.activity import ActivityMonitor
from wcs.rtp.rtcp import ReceiverReport

from ..webrtc.browser import Browser
from .test_relay import BROWSER_SSRC, SIP_FROM, SipSource, drive, make_relay, plan, rtp

CONFIG = RelayConfig(activity_timeout=30.0, activity_grace=10.0)


def talk(relay: CallRelay, browser: Browser | None, phone: SipSource | None, start: float,
         end: float) -> float:
    """Both (or one) sides send 20 ms packets from ``start`` to ``end``, timers firing in between."""
    now, seq = start, int(start * 50)
    while now < end:
        drive(relay, now)
        if phone is not None:
            relay.from_sip(0, phone.next(), SIP_FROM, now)
        if browser is not None:
            packet = rtp(0, seq & 0xFFFF, seq * 160, BROWSER_SSRC)
            relay.from_browser(browser.srtp.protect(packet), browser.addr, now)
        now += 0.02
        seq += 1
    return now


def timeouts(relay: CallRelay) -> list[MediaTimeout]:
    return [e for e in relay.events() if isinstance(e, MediaTimeout)]


def test_a_phone_that_stops_sending_times_out() -> None:
    relay, browser = make_relay(config=CONFIG)
    stopped = talk(relay, browser, SipSource(), 0.0, 20.0)
    talk(relay, browser, None, stopped, stopped + 29.9)
    assert timeouts(relay) == []
    talk(relay, browser, None, stopped + 29.9, stopped + 30.1)
    [timeout] = timeouts(relay)
    assert (timeout.call_id, timeout.leg) == ("c1", "sip")
    assert timeout.seconds == pytest.approx(30.0, abs=0.03)
    drive(relay, 200.0)
    assert [t.leg for t in timeouts(relay)] == ["browser"]  # the phone's is reported once


def test_a_leg_that_never_sends_gets_the_start_grace() -> None:
    relay, _ = make_relay(config=CONFIG, now=5.0)
    drive(relay, 44.9)
    assert timeouts(relay) == []
    drive(relay, 45.0)
    assert sorted((t.leg, t.seconds) for t in timeouts(relay)) == [("browser", 40.0), ("sip", 40.0)]


def test_hold_pauses_detection_and_resume_rearms_it() -> None:
    relay, browser = make_relay(config=CONFIG)
    talk(relay, browser, SipSource(), 0.0, 1.0)
    relay.set_held(True, 1.0)
    drive(relay, 500.0)
    assert timeouts(relay) == []
    relay.set_held(False, 500.0)
    drive(relay, 539.9)
    assert timeouts(relay) == []
    drive(relay, 540.0)
    assert {t.leg for t in timeouts(relay)} == {"browser", "sip"}


def test_directions_decide_which_legs_must_send() -> None:
    relay, browser = make_relay(plan("sendonly"), config=CONFIG)  # the SIP side only receives
    talk(relay, browser, None, 0.0, 100.0)
    assert timeouts(relay) == []
    relay.configure([plan("sendrecv")], 100.0)  # now the phone must send too, with a fresh grace
    talk(relay, browser, None, 100.0, 139.9)
    assert timeouts(relay) == []
    talk(relay, browser, None, 139.9, 140.1)
    assert [t.leg for t in timeouts(relay)] == ["sip"]


def test_detection_off_keeps_calls_without_microphone_and_camera() -> None:
    relay, _ = make_relay(config=RelayConfig(activity_detecting=False))
    drive(relay, 3600.0)
    assert timeouts(relay) == []


def test_rtcp_is_not_activity() -> None:
    relay, browser = make_relay(config=CONFIG)
    now = talk(relay, browser, SipSource(), 0.0, 1.0)
    while now < 41.0:  # the phone's RTP stopped at 1 s, within the start grace: due at 10 + 30 s
        relay.from_sip_rtcp(0, bytes(ReceiverReport(0x11223344)), (SIP_FROM[0], SIP_FROM[1] + 1), now)
        now = talk(relay, browser, None, now, now + 1.0)
    assert [t.leg for t in timeouts(relay)] == ["sip"]


def test_monitor_timer_does_not_move_with_each_packet() -> None:
    monitor = ActivityMonitor(timeout=30.0, grace=10.0)
    monitor.expect({"sip"}, {"sip": None}, 0.0)
    assert monitor.get_timer() == 40.0
    assert monitor.check({"sip": 39.0}, 20.0) == []  # not due: nothing happens
    assert monitor.check({"sip": 39.0}, 40.0) == [] and monitor.get_timer() == 69.0
    assert monitor.check({"sip": 39.0}, 69.0) == [("sip", 30.0)]
    assert monitor.get_timer() is None
    monitor.pause()
    monitor.expect({"sip", "browser"}, {"sip": 39.0, "browser": None}, 100.0)
    assert monitor.get_timer() == 140.0
