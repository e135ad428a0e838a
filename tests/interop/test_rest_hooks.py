"""REST hooks against the real gateway: Chromium + the official WebSDK ⇄ our gateway ⇄ Kamailio ⇄
baresip, with a small HTTP recorder on 127.0.0.1 standing for the backend
(``--set rest_hook_url=http://127.0.0.1:<port>/hooks``).

A  the browser calls baresip (auto-answer), baresip sends DTMF 7, the browser hangs up: the backend
   saw connect, RegistrationStatusEvent REGISTERED, call, CallStatusEvent ESTABLISHED, OnDTMFEvent
   "7", hangup, CallStatusEvent FINISH, in that order, never a sipPassword.
B  the backend answers 403 to connect: the SDK gets a `fail` naming the 403 and the session ends
   DISCONNECTED; the gateway never REGISTERs at Kamailio.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .rig.browser import Phone
from .rig.common import LOOPBACK
from .rig.gateway import Gateway
from .rig.kamailio import Kamailio
from .test_call_scenarios import CALL_TERMINAL, assert_in_order, register_browser, wait_socket_closed
from .test_transcoding import wait_for

pytestmark = pytest.mark.interop


class HookRecorder:
    """The backend: records every POST (hook, JSON body); answers ``statuses.get(hook, 200)``."""

    def __init__(self, statuses: dict[str, int] | None = None) -> None:
        self.statuses = statuses or {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook = self.path.rsplit("/", 1)[-1]
                with recorder._lock:
                    recorder.received.append((hook, json.loads(body)))
                self.send_response(recorder.statuses.get(hook, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hooks(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.received)

    def labels(self) -> list[str]:
        """Hook names; status events with their status ("CallStatusEvent FINISH")."""
        return [f"{hook} {body.get('status')}" if hook.endswith("StatusEvent") else hook
                for hook, body in self.hooks()]

    def dump(self) -> str:
        return "\n".join(f"{hook} {json.dumps(body)[:300]}" for hook, body in self.hooks())


@pytest.fixture
def make_recorder(rig_log: Any) -> Iterator[Callable[..., HookRecorder]]:
    started: list[HookRecorder] = []

    def make(statuses: dict[str, int] | None = None) -> HookRecorder:
        recorder = HookRecorder(statuses)
        started.append(recorder)
        rig_log.add_source("REST hooks the backend received", recorder.dump)
        return recorder

    yield make
    for recorder in started:
        recorder.stop()


def hooked_gateway(make_gateway: Callable[..., Gateway], recorder: HookRecorder) -> Gateway:
    return make_gateway(extra_args=["--set", f"rest_hook_url={recorder.url}", "--set", "rest_hook_timeout=3"])


# --- A: a call, reported to the backend -----------------------------------------------------------
def test_a_call_is_reported_to_the_backend(kamailio: Kamailio, baresip: Any, make_gateway: Any,
                                           make_recorder: Any, phone: Phone) -> None:
    recorder = make_recorder()
    gateway = hooked_gateway(make_gateway, recorder)
    bs = baresip("1002", answermode="auto", codecs=("PCMU",))
    kamailio_log = kamailio.log_size()
    register_browser(phone, gateway, kamailio)
    # what test B relies on to tell that no REGISTER was sent
    assert "REGISTER sip:1001" in kamailio.log_text(kamailio_log)

    call_id = phone.call("1002")
    phone.wait_event("call", "ESTABLISHED", 20, call_id=call_id, fail_on=CALL_TERMINAL)
    assert bs.wait_event("CALL_ESTABLISHED", 5), bs.event_types()
    time.sleep(1.0)                      # media flowing both ways before the digit
    bs.send_dtmf("7")
    wait_for(lambda: any(hook == "OnDTMFEvent" for hook, _ in recorder.hooks()), 10,
             "the backend to hear of baresip's digit")
    phone.hangup()
    phone.wait_event("call", "FINISH", 10, call_id=call_id)
    wait_for(lambda: "CallStatusEvent FINISH" in recorder.labels(), 10, "CallStatusEvent FINISH")

    assert_in_order(recorder.labels(), [
        "connect", "RegistrationStatusEvent REGISTERED", "call", "CallStatusEvent ESTABLISHED",
        "OnDTMFEvent", "hangup", "CallStatusEvent FINISH"], "hooks the backend received")
    hooks = recorder.hooks()
    connect = hooks[0][1]
    assert connect["sipLogin"] == "1001" and connect["appKey"] and connect["sessionId"], connect
    session_id = connect["sessionId"]
    assert all(body["sessionId"] == session_id and body["appKey"] == connect["appKey"] for _, body in hooks)
    assert "sipPassword" not in json.dumps(hooks) and "pass1001" not in json.dumps(hooks)
    call = next(body for hook, body in hooks if hook == "call")
    assert call["callId"] == call_id and str(call["callee"]) == "1002", call
    established = next(body for hook, body in hooks
                       if hook == "CallStatusEvent" and body["status"] == "ESTABLISHED")
    assert established["callId"] == call_id and established["incoming"] is False
    assert established["caller"] == "1001" and established["callee"] == "1002"
    assert established["sipStatus"] == 200, established
    dtmf = [body for hook, body in hooks if hook == "OnDTMFEvent"]
    assert dtmf == [{"callId": call_id, "dtmf": "7", "type": "RFC2833", "sessionId": session_id,
                     "appKey": connect["appKey"]}], dtmf
    finish = next(body for hook, body in hooks if hook == "CallStatusEvent" and body["status"] == "FINISH")
    assert finish["callId"] == call_id and finish["info"] == "Normal call clearing", finish


# --- B: the backend refuses the connection ----------------------------------------------------------
def test_b_backend_refuses_the_connection(kamailio: Kamailio, make_gateway: Any, make_recorder: Any,
                                          phone: Phone) -> None:
    recorder = make_recorder({"connect": 403})
    gateway = hooked_gateway(make_gateway, recorder)
    kamailio_log = kamailio.log_size()
    phone.connect(url=gateway.ws_url, login="1001", auth_name="1001", password="pass1001",
                  domain=LOOPBACK, outbound_proxy=LOOPBACK, port="5060", register_required=True)
    phone.wait_event("session", "DISCONNECTED", 10, fail_on=("REGISTERED", "ESTABLISHED"))
    wait_socket_closed(phone, 5)
    fails = [f["data"][0] for f in phone.frames_named("fail") if f["data"]]
    assert fails and "403" in str(fails[0].get("info")), f"no `fail` naming the 403: {phone.summary()}"
    assert not phone.frames_named("getUserData"), "getUserData sent for a refused connection"
    assert recorder.labels() == ["connect", "ConnectionStatusEvent FAILED"], recorder.labels()
    time.sleep(1.0)                      # a REGISTER, had one been sent, would have reached Kamailio
    assert "1001" not in kamailio.registrations()
    assert "REGISTER sip:1001" not in kamailio.log_text(kamailio_log), "the gateway REGISTERed anyway"
