"""An in-memory world around the gateway core, driven with a fake clock.

* the gateway's :class:`UserAgent` at 127.0.0.1:5070;
* a fake registrar (digest, 401 then 200) that answers every REGISTER;
* a peer SIP phone, a second :class:`UserAgent` at 127.0.0.1:5060 that plays "the SIP side":
  every non-REGISTER request the gateway sends arrives there (it stands for the proxy and
  the callee), and the phone calls the gateway's registered Contact directly;
* a fake media plane that records what the core asked of it;
* WebSocket frames in, frames and closes out, as decoded JSON;
* REST hook notifications out (``hooks``), in the order the core queued them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wcs.entropy import SeededEntropy
from wcs.gateway.core import CloseSocket, Gateway, SendFrame
from wcs.gateway.hooks import BackendNotification
from wcs.gateway.media import MediaAllocation
from wcs.gateway.settings import Settings
from wcs.sdp.webrtc import SipTransport, StreamPlan, WebRtcTransport
from wcs.sip.auth import verify_authorization
from wcs.sip.headers import Headers
from wcs.sip.message import Request, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.ua import Account, UserAgent
from wcs.sip.uacore import IncomingCall, UaEvent

DATA = Path(__file__).resolve().parent.parent / "data" / "sdp"
GATEWAY = Address("127.0.0.1", 5070)
PHONE = Address("127.0.0.1", 5060)
PASSWORDS = {"1001": "pass1001", "1002": "pass1002"}
REALM = "127.0.0.1"
NONCE = "5f3c0ffee"


def sdp_file(name: str) -> str:
    return (DATA / name).read_text()


@dataclass
class FakeMedia:
    """Records the MediaController calls; ports are deterministic."""

    allocated: dict[str, int] = field(default_factory=dict)
    connected: dict[str, list[StreamPlan]] = field(default_factory=dict)
    fingerprints: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    held: dict[str, bool] = field(default_factory=dict)
    fail_allocation: bool = False
    #: what send_dtmf answers (True: telephone-event negotiated) and what it was asked
    dtmf_ok: bool = True
    dtmf: list[tuple[str, str]] = field(default_factory=list)

    def allocate(self, call_id: str, sip_streams: int, now: float) -> MediaAllocation:
        from wcs.gateway.media import MediaError
        if self.fail_allocation:
            raise MediaError("No free media ports")
        self.allocated[call_id] = sip_streams
        webrtc = WebRtcTransport(ice_ufrag="gwUf", ice_pwd="gatewayIcePassword123456",
                                 fingerprint="sha-256 " + ":".join(["AB"] * 32),
                                 candidates=["1 1 udp 2130706431 127.0.0.1 40000 typ host"])
        ports = {i: 41000 + 2 * i for i in range(sip_streams)}
        return MediaAllocation(webrtc, SipTransport("127.0.0.1", ports))

    def connect(self, call_id: str, plans: Any, *, fingerprints: Any, ice: Any, now: float) -> None:
        self.connected[call_id] = list(plans)
        self.fingerprints[call_id] = list(fingerprints)

    def set_held(self, call_id: str, held: bool) -> None:
        self.held[call_id] = held

    def release(self, call_id: str) -> None:
        self.released.append(call_id)

    def send_dtmf(self, call_id: str, digits: str, now: float, *, duration: float = 0.1) -> bool:
        if self.dtmf_ok:
            self.dtmf.append((call_id, digits))
        return self.dtmf_ok

    def stats(self, call_id: str) -> dict[str, object] | None:
        return {"call": call_id} if call_id in self.allocated else None


class World:
    """Gateway + registrar + phone, pumped to quiescence after every step."""

    def __init__(self, settings: Settings | None = None, *, passwords: dict[str, str] | None = None) -> None:
        self.now = 100.0
        self.settings = settings or Settings(address="127.0.0.1", public_address="127.0.0.1")
        self.ua = UserAgent(GATEWAY, entropy=SeededEntropy(1), user_agent="wcs-test")
        self.media = FakeMedia()
        self.gateway = Gateway(self.settings, self.ua, self.media, entropy=SeededEntropy(2))
        self.phone = UserAgent(PHONE, entropy=SeededEntropy(3), user_agent="phone")
        self.phone_events: list[UaEvent] = []
        self.passwords = passwords or dict(PASSWORDS)
        self.bindings: dict[str, str] = {}      # user → Contact URI registered
        self.registers: list[Request] = []
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.closed: dict[str, tuple[int, str]] = {}
        self.hooks: list[BackendNotification] = []
        self.sip_log: list[tuple[str, str]] = []  # (direction, first line)
        self.gateway_messages: list[bytes] = []   # every datagram the gateway sent
        #: drop every datagram the gateway sends to the phone (an unreachable SIP peer)
        self.blackhole = False
        #: drop datagrams the phone sends when this says so (e.g. to hand-craft one instead)
        self.drop_from_phone: Callable[[bytes], bool] = lambda data: False

    # -- sockets ---------------------------------------------------------------------------

    def open(self, socket_id: str = "ws1") -> str:
        self.frames.setdefault(socket_id, [])
        self.gateway.socket_opened(socket_id, "127.0.0.1:50000", "127.0.0.1:8080", self.now)
        self.pump()
        return socket_id

    def send(self, socket_id: str, message: str, payload: Any = None) -> None:
        self.gateway.frame_received(socket_id, json.dumps({"message": message, "data": [payload]}), self.now)
        self.pump()

    def send_raw(self, socket_id: str, text: str) -> None:
        self.gateway.frame_received(socket_id, text, self.now)
        self.pump()

    def close(self, socket_id: str) -> None:
        self.gateway.socket_closed(socket_id, self.now)
        self.pump()

    def received(self, socket_id: str, message: str | None = None) -> list[dict[str, Any]]:
        frames = self.frames.get(socket_id, [])
        return [f for f in frames if message is None or f["message"] == message]

    def names(self, socket_id: str) -> list[str]:
        return [f["message"] for f in self.frames.get(socket_id, []) if f["message"] != "ping"]

    def statuses(self, socket_id: str, call_id: str) -> list[str]:
        return [f["data"][0]["status"] for f in self.frames.get(socket_id, [])
                if f["message"] in ("notifyTryingResponse", "ring", "talk", "hold", "finish")
                and f["data"][0].get("callId") == call_id]

    def connect(self, socket_id: str = "ws1", *, register: bool = True, login: str = "1001",
                password: str | None = None, **extra: Any) -> str:
        self.open(socket_id)
        payload = {"appKey": "defaultApp", "mediaProviders": ["WebRTC"], "clientVersion": "2.0",
                   "sipLogin": login, "sipAuthenticationName": login,
                   "sipPassword": password if password is not None else self.passwords.get(login, "x"),
                   "sipDomain": "127.0.0.1", "sipOutboundProxy": "127.0.0.1", "sipPort": "5060",
                   "sipRegisterRequired": register}
        payload.update(extra)
        self.send(socket_id, "connection", payload)
        return socket_id

    # -- time ------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer on the way."""
        end = self.now + seconds
        while True:
            deadlines = [d for d in (self.gateway.get_timer(), self.ua.get_timer(), self.phone.get_timer())
                         if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self.gateway.handle_timer(self.now)
            self.ua.handle_timer(self.now)
            self.phone.handle_timer(self.now)
            self.pump()
        self.now = end

    # -- the network -------------------------------------------------------------------------

    def pump(self) -> None:
        for _ in range(1000):
            moved = False
            for event in self.ua.events():
                moved = True
                self.gateway.sip_event(event, self.now)
            for out in self.ua.outgoing():
                moved = True
                self._from_gateway(out.data)
            for out in self.phone.outgoing():
                moved = True
                if self.drop_from_phone(out.data):
                    continue
                self.sip_log.append(("phone", out.data.split(b"\r\n", 1)[0].decode()))
                self.ua.receive_datagram(out.data, PHONE, self.now)
            for event in self.phone.events():
                moved = True
                self.phone_events.append(event)
            for action in self.gateway.socket_actions():
                moved = True
                if isinstance(action, SendFrame):
                    self.frames.setdefault(action.socket, []).append(json.loads(action.text))
                elif isinstance(action, CloseSocket):
                    self.closed[action.socket] = (action.code, action.reason)
            self.hooks.extend(self.gateway.backend_notifications())
            if not moved:
                return
        raise AssertionError("the world did not settle")

    def _from_gateway(self, data: bytes) -> None:
        message = parse_message(data)
        self.gateway_messages.append(data)
        self.sip_log.append(("gateway", data.split(b"\r\n", 1)[0].decode()))
        if isinstance(message, Request) and message.method == "REGISTER":
            self._registrar(message)
        elif not self.blackhole:
            self.phone.receive_datagram(data, GATEWAY, self.now)

    def _registrar(self, request: Request) -> None:
        self.registers.append(request)
        user = request.to.uri.user or ""
        auth = request.headers.get("Authorization")
        if auth is None or not verify_authorization(auth, "REGISTER", self.passwords.get(user, "\0"),
                                                    realm=REALM, nonce=NONCE):
            response = make_response(request, 401, to_tag="reg1")
            response.headers.add("WWW-Authenticate", f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth"')
        else:
            response = make_response(request, 200, to_tag="reg1")
            contact = request.headers.get("Contact") or ""
            expires = request.headers.get("Expires")
            if expires == "0" or ";expires=0" in contact:
                self.bindings.pop(user, None)
            else:
                self.bindings[user] = contact.split("<", 1)[-1].split(">", 1)[0]
                response.headers.add("Contact", f"{contact.split(';expires')[0]};expires=600")
        self.ua.receive_datagram(bytes(response), PHONE, self.now)

    def last_response_headers(self, name: str) -> list[str]:
        """Values of header ``name`` in the last response the gateway sent."""
        for data in reversed(self.gateway_messages):
            message = parse_message(data)
            if not isinstance(message, Request):
                return message.headers.get_all(name)
        return []

    # -- the phone ----------------------------------------------------------------------------

    def phone_account(self, user: str = "1002") -> Account:
        return Account(user=user, domain="127.0.0.1", password=self.passwords.get(user, ""),
                       display_name=f"Phone {user}", proxy=GATEWAY)

    def phone_incoming(self) -> IncomingCall:
        calls = [e for e in self.phone_events if isinstance(e, IncomingCall)]
        assert calls, f"the phone got no INVITE: {self.sip_log}"
        return calls[-1]

    def phone_events_of(self, kind: type) -> list[Any]:
        return [e for e in self.phone_events if isinstance(e, kind)]


def headers_of(request: Request) -> Headers:
    return request.headers
