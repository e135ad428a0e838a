"""REST hooks from the gateway core: what the backend is told, and the parked ``connection``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wcs.gateway.core import CONNECT_GRACE
from wcs.gateway.hooks import BackendNotification
from wcs.gateway.media import DtmfDetected
from wcs.gateway.settings import Settings, SettingsError, apply

from .harness import World
from .test_core import BROWSER_ANSWER, PHONE_OFFER, SIP_ANSWER, call_frame

HOOKED = Settings(address="127.0.0.1", public_address="127.0.0.1", rest_hook_url="http://127.0.0.1:9/hooks",
                  rest_hook_timeout=5.0)


@pytest.fixture
def world() -> World:
    return World(HOOKED)


def names(world: World) -> list[str]:
    return [n.hook for n in world.hooks]


def events(world: World) -> list[str]:
    """Hook names, with the status of status events ("CallStatusEvent ESTABLISHED")."""
    return [f"{n.hook} {n.payload['status']}" if n.hook.endswith("StatusEvent") else n.hook
            for n in world.hooks]


def last(world: World, hook: str) -> BackendNotification:
    return [n for n in world.hooks if n.hook == hook][-1]


def connected(world: World, socket_id: str = "ws1", **extra: Any) -> str:
    """Connect with hooks on and let the backend answer 200."""
    ws = world.connect(socket_id, **extra)
    world.gateway.backend_answered(last(world, "connect").token or "", 200, world.now)
    world.pump()
    assert world.names(ws) == ["getUserData", "registered"]
    return ws


# -- connect: parked until the backend answers ----------------------------------------------------

def test_hooks_are_off_by_default() -> None:
    world = World()
    ws = world.connect()
    world.send(ws, "call", call_frame())
    assert world.names(ws)[:2] == ["getUserData", "registered"] and world.hooks == []


def test_connection_waits_for_the_backend_then_proceeds_on_2xx(world: World) -> None:
    ws = world.connect(custom={"token": "t0k3n"})
    assert world.names(ws) == [] and not world.registers, "parked: no getUserData, no REGISTER"
    connect = last(world, "connect")
    assert connect.token
    assert connect.payload["sipLogin"] == "1001" and connect.payload["custom"] == {"token": "t0k3n"}
    assert connect.payload["sessionId"] == "/127.0.0.1:50000/127.0.0.1:8080"
    assert connect.payload["appKey"] == "defaultApp" and "sipPassword" not in connect.payload
    world.send(ws, "ping")
    assert world.names(ws) == ["pong"], "a parked socket still answers pings"
    world.gateway.backend_answered(connect.token, 204, world.now)
    world.pump()
    assert world.names(ws) == ["pong", "getUserData", "registered"] and world.registers
    assert events(world) == ["connect", "ConnectionStatusEvent ESTABLISHED",
                             "RegistrationStatusEvent REGISTERED"]
    status = last(world, "RegistrationStatusEvent").payload
    assert status == {"status": "REGISTERED", "info": "OK", "sessionId": connect.payload["sessionId"],
                      "appKey": "defaultApp"}


def test_connection_refused_by_the_backend(world: World) -> None:
    ws = world.connect(appKey="myApp")
    world.gateway.backend_answered(last(world, "connect").token or "", 403, world.now)
    world.pump()
    assert world.names(ws) == ["fail"] and not world.registers
    fail = world.received(ws, "fail")[0]["data"][0]
    assert fail == {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                    "info": "Rejected by the backend: HTTP 403"}
    assert world.closed[ws] == (1000, "Rejected by the backend: HTTP 403")
    world.close(ws)
    assert events(world) == ["connect", "ConnectionStatusEvent FAILED"]
    assert last(world, "ConnectionStatusEvent").payload["appKey"] == "myApp"
    assert world.gateway.sessions == []


def test_unreachable_backend_lets_the_session_proceed(world: World) -> None:
    ws = world.connect()
    world.gateway.backend_answered(last(world, "connect").token or "", None, world.now)
    world.pump()
    assert world.names(ws) == ["getUserData", "registered"]


def test_no_answer_at_all_proceeds_after_the_timeout_and_a_late_answer_is_ignored(world: World) -> None:
    ws = world.connect()
    token = last(world, "connect").token or ""
    world.advance(HOOKED.rest_hook_timeout + CONNECT_GRACE - 0.1)
    assert world.names(ws) == []
    world.advance(0.2)
    assert world.names(ws) == ["getUserData", "registered"]
    world.gateway.backend_answered(token, 403, world.now)
    world.pump()
    assert world.names(ws) == ["getUserData", "registered"] and ws not in world.closed


def test_socket_closed_while_parked(world: World) -> None:
    ws = world.connect()
    world.send(ws, "connection", {"sipLogin": "1001"})
    assert world.received(ws, "fail")[0]["data"][0]["info"] == "Connection in progress"
    token = last(world, "connect").token or ""
    world.close(ws)
    world.gateway.backend_answered(token, 200, world.now)
    world.advance(10)
    world.pump()
    assert world.gateway.sessions == [] and not world.registers and names(world) == ["connect"]


def test_a_bad_identity_is_refused_before_asking_the_backend(world: World) -> None:
    ws = world.connect(login="10 01")
    assert world.names(ws) == ["fail"] and world.hooks == []


# -- events -------------------------------------------------------------------------------------

def test_outgoing_call_events_in_order(world: World) -> None:
    ws = connected(world)
    world.send(ws, "call", call_frame(custom={"order": 7}))
    incoming = world.phone_incoming()
    world.phone.ring(incoming.session, world.now)
    world.pump()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    world.send(ws, "hangup", {"callId": "c1"})
    world.close(ws)
    assert events(world) == [
        "connect", "ConnectionStatusEvent ESTABLISHED", "RegistrationStatusEvent REGISTERED",
        "call", "CallStatusEvent TRYING", "CallStatusEvent RING", "CallStatusEvent ESTABLISHED",
        "hangup", "CallStatusEvent FINISH",
        "RegistrationStatusEvent UNREGISTERED", "ConnectionStatusEvent DISCONNECTED"]
    call = last(world, "call").payload
    assert call["callId"] == "c1" and call["callee"] == "1002" and call["sdp"].startswith("v=0")
    assert call["custom"] == {"order": 7} and call["appKey"] == "defaultApp" and call["sessionId"]
    established = [n.payload for n in world.hooks if n.hook == "CallStatusEvent"][2]
    assert {k: established[k] for k in ("callId", "status", "incoming", "caller", "callee", "sipStatus",
                                        "sipMessage", "sessionId", "appKey", "custom")} == {
        "callId": "c1", "status": "ESTABLISHED", "incoming": False, "caller": "1001", "callee": "1002",
        "sipStatus": 200, "sipMessage": "OK", "sessionId": call["sessionId"], "appKey": "defaultApp",
        "custom": {"order": 7}}
    finish = last(world, "CallStatusEvent").payload
    assert finish["status"] == "FINISH" and finish["info"] == "Normal call clearing"
    assert last(world, "hangup").payload == {"callId": "c1", "sessionId": call["sessionId"],
                                             "appKey": "defaultApp"}


def test_incoming_call_events(world: World) -> None:
    ws = connected(world)
    del world.hooks[:]
    session = world.phone.invite(world.phone_account("1002"), world.bindings["1001"], PHONE_OFFER, world.now)
    world.pump()
    call_id = world.received(ws, "notifyIncomingCall")[0]["data"][0]["callId"]
    world.send(ws, "answer", {"callId": call_id, "sdp": BROWSER_ANSWER, "hasVideo": False})
    world.phone.cancel_or_bye(session, world.now)
    world.pump()
    assert events(world) == ["OnCallEvent", "CallStatusEvent RING", "answer", "CallStatusEvent ESTABLISHED",
                             "CallStatusEvent FINISH"]
    on_call = world.hooks[0].payload
    assert on_call["callId"] == call_id and on_call["incoming"] is True and on_call["caller"] == "1002"
    assert on_call["callee"] == "1001" and on_call["status"] == "RING"


def test_sip_side_dtmf_is_reported(world: World) -> None:
    ws = connected(world)
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    world.gateway.media_event(DtmfDetected("c1", "5", "sip", 0.1), world.now)
    world.gateway.media_event(DtmfDetected("c1", "9", "browser", 0.1), world.now)   # ours, not reported
    world.phone.info(incoming.session, "application/dtmf-relay", b"Signal=#\r\nDuration=100\r\n", world.now)
    world.pump()
    dtmf = [n.payload for n in world.hooks if n.hook == "OnDTMFEvent"]
    session_id = last(world, "call").payload["sessionId"]
    common = {"callId": "c1", "sessionId": session_id, "appKey": "defaultApp"}
    assert dtmf == [{**common, "dtmf": "5", "type": "RFC2833"}, {**common, "dtmf": "#", "type": "INFO"}]


def test_mid_call_actions_and_no_password_anywhere(world: World) -> None:
    ws = connected(world)
    world.send(ws, "call", call_frame())
    incoming = world.phone_incoming()
    world.phone.answer(incoming.session, SIP_ANSWER, world.now)
    world.pump()
    world.send(ws, "hold", {"callId": "c1"})
    world.send(ws, "unhold", {"callId": "c1"})
    world.send(ws, "sendDtmf", {"callId": "c1", "dtmf": "1", "type": "RFC2833"})
    world.send(ws, "transfer", {"callId": "c1", "target": "1003"})
    world.send(ws, "pushLogs", {"logs": "x"})            # not a hooked action
    actions = [n for n in world.hooks if not n.hook[0].isupper()]
    assert [n.hook for n in actions] == ["connect", "call", "hold", "unhold", "sendDtmf", "transfer"]
    assert last(world, "sendDtmf").payload["dtmf"] == "1"
    assert last(world, "transfer").payload["target"] == "1003"
    for notification in world.hooks:
        text = json.dumps(notification.payload)
        assert "sipPassword" not in text and "pass1001" not in text, notification
        assert notification.payload["appKey"] == "defaultApp" and notification.payload["sessionId"]
        assert (notification.token is not None) == (notification.hook == "connect")


def test_failed_registration_is_reported(world: World) -> None:
    ws = world.connect(password="wrong")
    world.gateway.backend_answered(last(world, "connect").token or "", 200, world.now)
    world.pump()
    world.close(ws)
    assert events(world) == ["connect", "ConnectionStatusEvent ESTABLISHED", "RegistrationStatusEvent FAILED",
                             "ConnectionStatusEvent DISCONNECTED"]
    assert last(world, "RegistrationStatusEvent").payload["info"] == "401 Unauthorized"


# -- settings -------------------------------------------------------------------------------------

def test_hook_settings() -> None:
    settings = apply(Settings(), [("rest_hook_url", " http://127.0.0.1:9000/hooks/ "),
                                  ("rest_hook_timeout", "2.5")])
    assert (settings.rest_hook_url, settings.rest_hook_timeout) == ("http://127.0.0.1:9000/hooks", 2.5)
    assert Settings().rest_hook_url == "" and Settings().rest_hook_timeout == 5.0
    with pytest.raises(SettingsError, match="rest_hook_url"):
        apply(Settings(), [("rest_hook_url", "127.0.0.1:9000")])
    with pytest.raises(SettingsError, match="rest_hook_timeout"):
        apply(Settings(), [("rest_hook_timeout", "0")])
