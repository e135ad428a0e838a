"""RTP activity detection with real peers: Chromium + WebSDK ⇄ gateway ⇄ Kamailio ⇄ baresip.

baresip is frozen mid-call (SIGSTOP: no RTP, no BYE — a phone that lost power or a path that
died).  With ``rtp_activity_detecting`` on (timeout shrunk to 3 s) the gateway ends the call
FAILED "Failed by RTP activity" and hangs up the SIP side; with it off, the silent call stays up.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, finish_frames, register_browser

pytestmark = pytest.mark.interop

TIMEOUT = 3.0
GRACE = 2.0


def activity_gateway(make_gateway: Callable[..., Gateway], detecting: bool) -> Gateway:
    return make_gateway(extra_args=["--set", f"rtp_activity_detecting={str(detecting).lower()}",
                                    "--set", f"rtp_activity_timeout={TIMEOUT}",
                                    "--set", f"rtp_activity_start_grace={GRACE}"])


@contextmanager
def frozen(bs: Any) -> Iterator[None]:
    """baresip stopped (no RTP, no SIP) for the duration; always resumed."""
    pid = bs.proc.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def establish(phone: Phone, gateway: Gateway, kamailio: Kamailio, baresip: Any) -> tuple[Any, str]:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    register_browser(phone, gateway, kamailio)
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    time.sleep(GRACE + 1.0)  # media flows both ways past the start grace
    return bs, call_id


def test_a_phone_that_stops_sending_ends_the_call(kamailio: Kamailio, baresip: Any,
                                                  make_gateway: Callable[..., Gateway], phone: Phone) -> None:
    gateway = activity_gateway(make_gateway, True)
    bs, call_id = establish(phone, gateway, kamailio, baresip)
    assert "ESTABLISHED" in phone.statuses("call", call_id)
    with frozen(bs):
        started = time.monotonic()
        phone.wait_event("call", "FAILED", TIMEOUT + 10, call_id=call_id)
        waited = time.monotonic() - started
    assert waited >= TIMEOUT - 0.5, f"ended after {waited:.1f} s, before the {TIMEOUT} s timeout"
    [finish] = [f for f in finish_frames(phone, call_id) if f.get("status") == "FAILED"][:1]
    assert finish.get("info") == "Failed by RTP activity", finish
    assert gateway.log_lines_with("no RTP from the sip side"), gateway.log_text(max_chars=4000)
    assert bs.wait_event("CALL_CLOSED", 10), "the gateway hangs up the SIP side (BYE)"


def test_with_detection_off_a_silent_call_stays_up(kamailio: Kamailio, baresip: Any,
                                                  make_gateway: Callable[..., Gateway], phone: Phone) -> None:
    gateway = activity_gateway(make_gateway, False)
    bs, call_id = establish(phone, gateway, kamailio, baresip)
    with frozen(bs):
        time.sleep(TIMEOUT + GRACE + 2.0)
        statuses = phone.statuses("call", call_id)
    assert not set(statuses) & set(CALL_TERMINAL), statuses
    assert not gateway.log_lines_with("no RTP from")
