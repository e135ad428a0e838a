"""The gateway core: WebSDK sessions and calls bridged to a SIP user agent (sans-I/O).

Theory of operation
-------------------
:class:`Gateway` owns the WebSocket sockets, the :class:`~wcs.gateway.session.ClientSession`
of each SDK session, and — through :class:`~wcs.gateway.calls.CallControl` — every call.
It drives the sans-I/O :class:`~wcs.sip.ua.UserAgent` it is given.  The asyncio adapter
feeds it

* WebSocket life and frames: :meth:`socket_opened`, :meth:`frame_received`,
  :meth:`socket_closed`;
* what the user agent reports: :meth:`sip_event` (the adapter drains ``ua.events()``);
* media plane reports: :meth:`media_event`;
* REST commands: :meth:`find_calls`, :meth:`terminate`;
* the backend's answer to a ``connect`` REST hook: :meth:`backend_answered`;
* time: :meth:`handle_timer` at :meth:`get_timer` (the UA keeps its own timer);

and after each input sends :meth:`socket_actions` (frames, closes), POSTs
:meth:`backend_notifications` (REST hooks, :mod:`wcs.gateway.hooks`) and flushes the UA
(``ua.outgoing()``, ``ua.events()``).  Media is driven through the injected
:class:`~wcs.gateway.media.MediaController`.

Sessions follow websdk-protocol.md §7 (a) and (g): ``connection`` → ``getUserData`` →
REGISTER → ``registered``; a refused identity or registration gets a ``fail`` frame and
the socket is closed; with ``keepAlive`` a session outlives its socket for
``client_timeout`` and a new socket re-attaches with the ``authToken``; the server pings
every ``keep_alive_interval`` and closes a socket after ``keep_alive_probes`` missed
pongs.  Bad input never escapes: a frame that cannot be understood gets a ``fail`` frame.

With REST hooks on, a new session's ``connection`` is parked (after its identity passed the
local checks) until the backend answers the ``connect`` hook: a 2xx lets it proceed, any other
HTTP status refuses it with a ``fail`` frame naming that status and closes the socket; no
answer at all (unreachable, timed out: ``status`` None, or nothing within
``rest_hook_timeout`` + :data:`CONNECT_GRACE`) lets it proceed (WCS restOnError LOG).  A
keep-alive re-attach with its ``authToken`` is not a new session and is not parked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..entropy import Entropy, SystemEntropy, random_token
from ..sdp.policy import CodecPolicy
from ..sip.ua import UserAgent
from ..sip.uacore import Account, IncomingCall, RegistrationChanged, UaEvent
from ..timers import TimerHeap
from .call import Call
from .calls import CallControl
from .hooks import CLIENT_ACTIONS, BackendNotification, Hooks
from .identity import IdentityError, account_from_connection
from .media import MediaController, MediaEvent
from .outbox import CloseSocket, Outbox, SendFrame, SocketAction
from .protocol import CallRef, ConnectionRequest, DtmfRequest, SignalingError, TransferRequest, decode_frame
from .session import ClientSession
from .settings import Settings

__all__ = ["CloseSocket", "Gateway", "SendFrame", "SocketAction"]

log = logging.getLogger("wcs.gateway")

#: URI parameter of our Contact that routes an incoming INVITE to its session
CONTACT_PARAM = "wcs"
#: how much longer than ``rest_hook_timeout`` a parked connection waits for the adapter's answer
CONNECT_GRACE = 1.0


@dataclass(frozen=True)
class _ParkedConnection:
    """A ``connection`` waiting for the backend's answer to its ``connect`` hook."""

    token: str
    request: ConnectionRequest
    raw: Any
    account: Account | None


@dataclass(eq=False)
class _Socket:
    id: str
    peer: str
    local: str
    session: ClientSession | None = None
    missed_pings: int = 0
    parked: _ParkedConnection | None = None

    @property
    def session_id(self) -> str:
        """The WCS session id: ``/<peer>/<local>``."""
        return f"/{self.peer}/{self.local}"


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class Gateway:
    """WebSDK signalling ⇄ SIP; see the module docstring."""

    def __init__(self, settings: Settings, ua: UserAgent, media: MediaController, *,
                 policy: CodecPolicy | None = None, entropy: Entropy | None = None) -> None:
        self.settings = settings
        self.ua = ua
        self.media = media
        self._entropy = entropy or SystemEntropy()
        self._sockets: dict[str, _Socket] = {}
        self._sessions: dict[str, ClientSession] = {}      # by authToken
        self._timers: TimerHeap[tuple[str, str]] = TimerHeap()
        self._outbox = Outbox()
        self.hooks = Hooks(bool(settings.rest_hook_url))
        self._parked: dict[str, str] = {}                  # connect hook token → socket id
        self._hook_tokens = 0
        self.call_control = CallControl(settings, ua, media, policy or settings.codec_policy(),
                                        self._entropy, self._timers, self._outbox, self._session_for,
                                        CONTACT_PARAM, self.hooks)
        self._handlers: dict[str, Callable[[ClientSession, Any, float], None]] = {
            "call": self.call_control.place,
            "answer": self.call_control.answer,
            "hangup": self._on_hangup,
            "hold": lambda session, request, now: self._on_hold(session, request, True, now),
            "unhold": lambda session, request, now: self._on_hold(session, request, False, now),
            "sendDtmf": self._on_dtmf,
            "transfer": self._on_transfer,
        }

    # ------------------------------------------------------------------ outputs and queries

    def socket_actions(self) -> list[SocketAction]:
        """Drain the frames to send and sockets to close."""
        return self._outbox.drain()

    def backend_notifications(self) -> list[BackendNotification]:
        """Drain the REST hook notifications to POST (none while ``rest_hook_url`` is empty)."""
        return self.hooks.drain()

    @property
    def calls(self) -> list[Call]:
        return self.call_control.calls

    @property
    def sessions(self) -> list[ClientSession]:
        return list(self._sessions.values())

    def get_timer(self) -> float | None:
        """The earliest deadline of the gateway's own timers (pings, grace periods, ringing)."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        for kind, key in self._timers.pop_due(now):
            if kind == "ping":
                self._ping(key, now)
            elif kind == "expire":
                session = self._sessions.get(key)
                if session is not None and session.socket is None:
                    log.info("session %s: keep-alive grace period over", session.id)
                    self._destroy(session, now)
            elif kind == "ring":
                self.call_control.ring_timeout(key, now)
            elif kind == "connect-hook":
                sock = self._sockets.get(key)
                if sock is not None and sock.parked is not None:
                    log.info("socket %s: no answer to the connect hook in time; proceeding", key)
                    self.backend_answered(sock.parked.token, None, now)

    # ------------------------------------------------------------------ REST commands

    def find_calls(self, **criteria: str) -> list[dict[str, Any]]:
        """The calls (as the REST API shows them) whose fields equal every given criterion."""
        out = []
        for call in self.call_control.calls:
            described = call.describe()
            if all(str(described.get(key, "")) == str(value) for key, value in criteria.items()):
                out.append(described)
        return out

    def shutdown(self, now: float) -> None:
        """Close every session, detached ones too: hang up their calls and un-REGISTER."""
        for session in list(self._sessions.values()):
            if session.socket is not None:
                self._outbox.close(session.socket, 1001, "Server shutting down")
            self._destroy(session, now)

    def terminate(self, call_id: str, now: float) -> bool:
        """Hang up a call (REST ``/call/terminate``); False if there is no such call."""
        return self.call_control.hangup(call_id, now)

    def hold(self, call_id: str, held: bool, now: float) -> str | None:
        """Hold or resume a call (REST); returns what prevents it, or None."""
        call = self.call_control.get(call_id)
        return self.call_control.midcall.hold(call, held, now) if call else f"call {call_id} not found"

    def transfer(self, call_id: str, target: str, now: float) -> str | None:
        """Blind-transfer a call (REST); returns what prevents it, or None."""
        call = self.call_control.get(call_id)
        return self.call_control.midcall.transfer(call, target, now) if call else f"call {call_id} not found"

    def send_dtmf(self, call_id: str, digits: str, kind: str, now: float) -> str | None:
        """Send DTMF on a call (REST); ``kind`` RFC2833 or INFO; returns what prevents it, or None."""
        call = self.call_control.get(call_id)
        return (self.call_control.midcall.send_dtmf(call, digits, kind, now) if call
                else f"call {call_id} not found")

    # ------------------------------------------------------------------ WebSocket input

    def socket_opened(self, socket_id: str, peer: str, local: str, now: float) -> None:
        self._sockets[socket_id] = _Socket(socket_id, peer, local)
        self._timers.schedule(("ping", socket_id), now + self.settings.keep_alive_interval)

    def socket_closed(self, socket_id: str, now: float) -> None:
        sock = self._sockets.pop(socket_id, None)
        self._timers.cancel(("ping", socket_id))
        self._timers.cancel(("connect-hook", socket_id))
        if sock is not None and sock.parked is not None:
            self._parked.pop(sock.parked.token, None)
        if sock is None or sock.session is None or sock.session.socket != socket_id:
            return
        session = sock.session
        session.socket = None
        if session.keep_alive and not session.closed:
            log.info("session %s: socket closed, kept alive for %g s", session.id,
                     self.settings.client_timeout)
            self._timers.schedule(("expire", session.token), now + self.settings.client_timeout)
        else:
            self._destroy(session, now)

    def frame_received(self, socket_id: str, text: str | bytes, now: float) -> None:
        sock = self._sockets.get(socket_id)
        if sock is None:
            return
        try:
            frame = decode_frame(text)
        except SignalingError as exc:
            self._outbox.send(socket_id, "fail", {"status": "FAILED", "info": exc.reason})
            return
        name = frame.message
        if name == "connection":
            self._on_connection(sock, frame.payload, frame.raw, now)
        elif name == "pong":
            sock.missed_pings = 0
        elif name == "ping":
            self._outbox.send(socket_id, "pong")
        elif sock.session is None:
            self._outbox.send(socket_id, "fail", {"status": "FAILED", "apiMethod": name,
                                                  "info": "No session: the first frame must be 'connection'"})
        elif name in self._handlers:
            if name in CLIENT_ACTIONS:
                self.hooks.client_action(sock.session, name, frame.raw)
            self._handlers[name](sock.session, frame.payload, now)
        elif name == "sendData":
            self._outbox.send(socket_id, "DataStatusEvent",
                              {"operationId": (frame.raw or {}).get("operationId"), "status": "ACCEPTED"})
        elif name in ("publishStream", "playStream"):
            self._outbox.send(socket_id, "notifyStreamStatusEvent",
                              {**(frame.raw if isinstance(frame.raw, dict) else {}), "status": "FAILED",
                               "info": "Streaming is not supported by this server"})
        # everything else (pushLogs, sessionDebug, submitBugReport, streaming …) is accepted

    def _on_hangup(self, session: ClientSession, request: CallRef, now: float) -> None:
        if request.callId in session.calls:
            self.call_control.hangup(request.callId, now)
        # a finished or unknown call is ignored (websdk-protocol.md §2.5)

    def _on_hold(self, session: ClientSession, request: CallRef, held: bool, now: float) -> None:
        # `hold` (also with holdForTransfer) and `unhold` frames
        self._mid_call(session, request.callId, "hold" if held else "unhold",
                       lambda call: self.call_control.midcall.hold(call, held, now))

    def _on_dtmf(self, session: ClientSession, request: DtmfRequest, now: float) -> None:
        self._mid_call(session, request.callId, "sendDtmf", lambda call: self.call_control.midcall.send_dtmf(
            call, str(request.dtmf), request.type, now))

    def _on_transfer(self, session: ClientSession, request: TransferRequest, now: float) -> None:
        self._mid_call(session, request.callId, "transfer", lambda call: self.call_control.midcall.transfer(
            call, str(request.target), now))

    def _mid_call(self, session: ClientSession, call_id: str, api: str,
                  action: Callable[[Call], str | None]) -> None:
        call = session.calls.get(call_id)
        if call is None:
            return  # a finished or unknown call is ignored
        problem = action(call)
        if problem is not None:
            self._outbox.send_to(session, "fail", {"apiMethod": api, "callId": call_id, "status": "FAILED",
                                                   "info": problem})

    # ------------------------------------------------------------------ SIP and media input

    def sip_event(self, event: UaEvent, now: float) -> None:
        """Something the user agent reported (the adapter drains ``ua.events()``)."""
        try:
            if isinstance(event, RegistrationChanged):
                self._registration_changed(event)
            elif isinstance(event, IncomingCall):
                self.call_control.incoming(event, now)
            elif self.call_control.handles(event):
                self.call_control.sip_event(event, now)
        except Exception:  # never let one call's surprise stop the others
            log.exception("error handling %r", event)

    def media_event(self, event: MediaEvent, now: float) -> None:
        """Something the media plane reported about a call."""
        self.call_control.media_event(event, now)

    # ------------------------------------------------------------------ sessions

    def _on_connection(self, sock: _Socket, request: ConnectionRequest, raw: Any, now: float) -> None:
        if sock.session is not None or sock.parked is not None:
            info = "Session already established" if sock.session else "Connection in progress"
            self._outbox.send(sock.id, "fail", {"status": "FAILED", "info": info})
            return
        if request.authToken:
            self._reattach(sock, request.authToken)
            return
        has_sip = bool(request.sipLogin or request.sipDomain or _truthy(request.sipRegisterRequired))
        account = None
        if has_sip:
            try:
                account = account_from_connection(request, self.settings.sip_transport)
            except IdentityError as exc:
                log.info("socket %s: connection refused: %s", sock.id, exc.reason)
                self._outbox.send(sock.id, "fail", {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                                                    "field": exc.field, "info": exc.reason})
                self._outbox.close(sock.id, 1000, exc.reason)
                return
        if self.hooks.enabled:
            self._hook_tokens += 1
            parked = _ParkedConnection(f"connect-{self._hook_tokens}", request, raw, account)
            sock.parked = parked
            self._parked[parked.token] = sock.id
            self.hooks.connect(parked.token, raw if isinstance(raw, dict) else {}, sock.session_id,
                               request.appKey)
            self._timers.schedule(("connect-hook", sock.id),
                                  now + self.settings.rest_hook_timeout + CONNECT_GRACE)
            return
        self._open_session(sock, request, raw, account, now)

    def backend_answered(self, token: str, status: int | None, now: float) -> None:
        """The backend's HTTP status for the ``connect`` hook ``token`` (None: no answer: the
        backend was unreachable or timed out, which the adapter logged)."""
        sock = self._sockets.get(self._parked.pop(token, ""))
        if sock is None or sock.parked is None or sock.parked.token != token:
            return  # the socket closed meanwhile, or an answer after the deadline
        parked, sock.parked = sock.parked, None
        self._timers.cancel(("connect-hook", sock.id))
        if status is None or 200 <= status < 300:
            self._open_session(sock, parked.request, parked.raw, parked.account, now)
            return
        info = f"Rejected by the backend: HTTP {status}"
        log.info("socket %s: connection refused: %s", sock.id, info)
        self.hooks.connection_status(sock.session_id, parked.request.appKey, "FAILED", info)
        self._outbox.send(sock.id, "fail", {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                                            "info": info})
        self._outbox.close(sock.id, 1000, info)

    def _open_session(self, sock: _Socket, request: ConnectionRequest, raw: Any, account: Account | None,
                      now: float) -> None:
        token = random_token(self._entropy, 32)
        user_data = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items() if k != "sipPassword"}
        session = ClientSession(
            id=sock.session_id, token=token, user_data=user_data,
            app_key=request.appKey, keep_alive=request.keepAlive,
            register_required=_truthy(request.sipRegisterRequired), socket=sock.id,
            contact_id=random_token(self._entropy, 12).lower())
        if account is not None:
            session.account = replace(account, contact_params={CONTACT_PARAM: session.contact_id})
        user_data.update(authToken=token, sessionId=session.id)
        sock.session = session
        self._sessions[token] = session
        log.info("session %s: connected (login %s, register %s, keepAlive %s)", session.id,
                 account.user if account else "-", session.register_required, session.keep_alive)
        self._outbox.send(sock.id, "getUserData", user_data)
        self.hooks.connection_status(session.id, session.app_key, "ESTABLISHED")
        if session.register_required and session.account is not None:
            session.registration = self.ua.register(session.account, now, self.settings.register_expires)

    def _reattach(self, sock: _Socket, token: str) -> None:
        session = self._sessions.get(token)
        if session is None or session.closed:
            self._outbox.send(sock.id, "fail", {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                                                "info": "Unknown or expired authToken"})
            self._outbox.close(sock.id, 1000, "Unknown or expired authToken")
            return
        if session.socket is not None and session.socket in self._sockets:
            old = self._sockets[session.socket]
            old.session = None
            self._outbox.close(old.id, 1000, "Session taken over by a new connection")
        session.socket = sock.id
        sock.session = session
        self._timers.cancel(("expire", token))
        log.info("session %s: re-attached with its authToken", session.id)
        self._outbox.send(sock.id, "getUserData", session.user_data)
        if session.registered:
            self._outbox.send(sock.id, "registered", {"status": "REGISTERED", "info": "200 OK"})

    def _destroy(self, session: ClientSession, now: float) -> None:
        if session.closed:
            return
        session.closed = True
        self._timers.cancel(("expire", session.token))
        self._sessions.pop(session.token, None)
        for call_id in list(session.calls):
            self.call_control.hangup(call_id, now, "Session closed")
        if session.registration is not None and session.registered:
            self.ua.unregister(session.registration, now)
            self.hooks.registration_status(session, "UNREGISTERED", "Session closed")
        session.registered = False
        log.info("session %s: closed", session.id)
        self.hooks.connection_status(session.id, session.app_key, "DISCONNECTED")

    def _session_for(self, contact_id: str | None, user: str | None) -> ClientSession | None:
        """The session an incoming INVITE is for: by our Contact's parameter, else by user."""
        sessions = [s for s in self._sessions.values() if not s.closed and s.account is not None]
        if contact_id:
            for session in sessions:
                if session.contact_id == contact_id:
                    return session
        matches = [s for s in sessions if s.registered and s.account and s.account.user == user]
        return matches[-1] if matches else None

    def _ping(self, socket_id: str, now: float) -> None:
        sock = self._sockets.get(socket_id)
        if sock is None:
            return
        if sock.missed_pings >= self.settings.keep_alive_probes:
            log.info("socket %s: %d pings unanswered, closing", socket_id, sock.missed_pings)
            self._outbox.close(socket_id, 1000, "Keep-alive timeout")
            return
        sock.missed_pings += 1
        self._outbox.send(socket_id, "ping")
        self._timers.schedule(("ping", socket_id), now + self.settings.keep_alive_interval)

    def _registration_changed(self, event: RegistrationChanged) -> None:
        session = next((s for s in self._sessions.values() if s.registration is event.registration), None)
        if session is None:
            return
        if event.state == "registered":
            if not session.registered:
                session.registered = True
                log.info("session %s: registered as %s", session.id,
                         session.account.user if session.account else "?")
                self._outbox.send_to(session, "registered", {"status": "REGISTERED", "info": event.reason})
                self.hooks.registration_status(session, "REGISTERED", event.reason)
        elif event.state == "failed":
            was_registered, session.registered = session.registered, False
            info = f"{event.status} {event.reason}" if event.status else event.reason
            log.info("session %s: registration failed: %s", session.id, info)
            self.hooks.registration_status(session, "FAILED", info)
            self._outbox.send_to(session, "fail", {"apiMethod": "RegistrationStatusEvent", "status": "FAILED",
                                                   "info": info})
            if not was_registered and session.socket is not None:
                self._outbox.close(session.socket, 1000, f"Registration failed: {info}")

