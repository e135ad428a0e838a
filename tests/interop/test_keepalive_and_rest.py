"""Sessions that survive a dropped WebSocket (keepAlive + authToken) and calls driven through the
REST API. Chromium + the official WebSDK ⇄ gateway ⇄ Kamailio ⇄ baresip.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import BARESIP_HZ, CALL_TERMINAL, register_browser

pytestmark = pytest.mark.interop


def rest(gateway: Gateway, method: str, body: Any = None, http_method: str = "POST") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{gateway.http_url}/rest-api/call/{method}", data=data,
                                     method=http_method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def established_call(phone: Phone, gateway: Gateway, kamailio: Kamailio, baresip: Any,
                     keep_alive: bool) -> tuple[Any, str, str]:
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True,
                  keep_alive=keep_alive)
    phone.wait_event("session", "REGISTERED", 15, fail_on=("FAILED", "DISCONNECTED"))
    token = next(e["data"]["authToken"] for e in phone.events("session") if e["status"] == "ESTABLISHED")
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    return bs, call_id, token


def test_keep_alive_session_survives_the_socket_and_reattaches(kamailio: Kamailio, baresip: Any,
                                                               gateway: Gateway, phone: Phone) -> None:
    bs, call_id, token = established_call(phone, gateway, kamailio, baresip, keep_alive=True)
    n = bs.event_count()
    phone.disconnect()
    phone.wait_event("session", "DISCONNECTED", 10)
    time.sleep(3)  # the gateway must keep the call and the registration without the socket
    assert not bs.wait_event("CALL_CLOSED", 0.1, since=n), "the call ended when the socket dropped"
    assert "1001" in kamailio.registrations()
    status, calls = rest(gateway, "find", {"callId": call_id})
    assert status == 200 and calls[0]["status"] == "ESTABLISHED", calls

    phone.connect(url=gateway.ws_url, auth_token=token, keep_alive=True, sip=False, login=None)
    registered = phone.wait_event("session", "REGISTERED", 10, fail_on=("FAILED",))
    established = [e for e in phone.events("session") if e["status"] == "ESTABLISHED"][-1]
    assert established["data"]["authToken"] == token and established["data"]["sipLogin"] == "1001"
    assert registered

    status, body = rest(gateway, "terminate", {"callId": call_id})
    assert (status, body) == (200, {})
    assert bs.wait_event("CALL_CLOSED", 10, since=n), "REST terminate did not hang up the SIP side"
    assert rest(gateway, "find_all", http_method="GET")[0] == 404


def test_without_keep_alive_a_dropped_socket_ends_everything(kamailio: Kamailio, baresip: Any,
                                                             gateway: Gateway, phone: Phone) -> None:
    bs, call_id, token = established_call(phone, gateway, kamailio, baresip, keep_alive=False)
    n = bs.event_count()
    phone.disconnect()
    assert bs.wait_event("CALL_CLOSED", 10, since=n), "no BYE after the socket closed"
    kamailio.wait_unregistered("1001", 10)
    phone.connect(url=gateway.ws_url, auth_token=token, sip=False, login=None)
    phone.wait_event("session", "DISCONNECTED", 10)
    fails = [str(f["data"][0].get("info")) for f in phone.frames_named("fail")]
    assert "Unknown or expired authToken" in fails, fails


def test_rest_find_and_terminate(kamailio: Kamailio, baresip: Any, gateway: Gateway, phone: Phone) -> None:
    register_browser(phone, gateway, kamailio)
    bs = baresip("1002", tone_hz=BARESIP_HZ, answermode="auto")
    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    status, calls = rest(gateway, "find_all", http_method="GET")
    assert status == 200 and [c["callId"] for c in calls] == [call_id]
    call = calls[0]
    assert (call["caller"], call["callee"], call["status"], call["incoming"]) == ("1001", "1002",
                                                                                  "ESTABLISHED", False)
    assert rest(gateway, "find", {"callee": "1002", "status": "ESTABLISHED"})[0] == 200
    assert rest(gateway, "find", {"callee": "9999"})[0] == 404
    n = bs.event_count()
    assert rest(gateway, "terminate", {"callId": call_id}) == (200, {})
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    assert bs.wait_event("CALL_CLOSED", 10, since=n)
    assert rest(gateway, "terminate", {"callId": call_id})[0] == 404
