"""The gateway's SIP side over TCP and TLS (verified with one setting: the PBX's CA file), the
outbound proxy's ;transport= parameter, and a large INVITE moved from UDP to TCP (RFC 3261 §18.1.1).
Chromium + the official WebSDK ⇄ gateway ⇄ Kamailio ⇄ baresip.
"""

from __future__ import annotations

from typing import Any

import pytest

from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.kamailio import Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, check_browser_audio

pytestmark = pytest.mark.interop


def call_over(phone: Phone, gateway: Any, kamailio: Kamailio, baresip: Any, proxy: str, port: str,
              video: bool = False) -> str:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                  domain=LOOPBACK, outbound_proxy=proxy, port=port, register_required=True)
    phone.wait_event("session", "REGISTERED", 15, fail_on=("FAILED", "DISCONNECTED"))
    call_id = phone.call("1002", video=video)
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    check_browser_audio(phone, BARESIP_HZ)
    return call_id


def test_sip_over_tcp_by_setting(kamailio: Kamailio, baresip: Any, make_gateway: Any, phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "sip_transport=tcp"])
    call_over(phone, gateway, kamailio, baresip, LOOPBACK, "5060")
    contacts = kamailio.registrations()["1001"]
    assert any("transport=tcp" in c for c in contacts), contacts


def test_sip_over_tls_with_the_pbx_ca_file(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                           phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "sip_transport=tls", "--set", f"tls_ca_file={kamailio.cert}"])
    call_over(phone, gateway, kamailio, baresip, LOOPBACK, str(kamailio.tls_port))
    contacts = kamailio.registrations()["1001"]
    assert any("transport=tls" in c for c in contacts), contacts


def test_tls_without_the_ca_file_fails_clearly(kamailio: Kamailio, make_gateway: Any, phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "sip_transport=tls"])
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port=str(kamailio.tls_port),
                  register_required=True)
    phone.wait_event("session", "DISCONNECTED", 30, fail_on=("REGISTERED",))
    infos = [str(f["data"][0].get("info")) for f in phone.frames_named("fail")]
    assert any("certificate verify failed" in i for i in infos), infos


def test_transport_parameter_on_the_outbound_proxy(kamailio: Kamailio, baresip: Any, gateway: Any,
                                                   phone: Phone) -> None:
    call_over(phone, gateway, kamailio, baresip, f"{LOOPBACK};transport=tcp", "5060")
    assert any("transport=tcp" in c for c in kamailio.registrations()["1001"])


def test_large_video_invite_goes_over_tcp(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                          phone: Phone) -> None:
    gateway = make_gateway(extra_args=["--set", "sip_mtu_threshold=600"])
    call_over(phone, gateway, kamailio, baresip, LOOPBACK, "5060", video=True)
    switched = [line for line in gateway.log_lines_with("sent over TCP") if "INVITE of" in line]
    assert switched and "instead of UDP (RFC 3261 §18.1.1)" in switched[0], gateway.log_text()[-3000:]
