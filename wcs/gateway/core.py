"""The gateway core: WebSDK sessions and calls bridged to a SIP user agent (sans-I/O).

Theory of operation
-------------------
:class:`Gateway` owns the sans-I/O :class:`~wcs.sip.ua.UserAgent` and every
:class:`~wcs.gateway.session.ClientSession`.  The asyncio adapter feeds it

* WebSocket life and frames: :meth:`socket_opened`, :meth:`frame_received`,
  :meth:`socket_closed`;
* what the user agent reports: :meth:`sip_event` (the adapter drains ``ua.events()``);
* media plane reports: :meth:`media_event`;
* time: :meth:`handle_timer` at :meth:`get_timer` (the UA keeps its own timer);

and after each input sends :meth:`socket_actions` (frames, closes) and flushes the UA
(``ua.outgoing()``, ``ua.events()``).  The core calls the UA's sans-I/O methods itself
(register, invite, answer …); media is driven through the injected
:class:`~wcs.gateway.media.MediaController`.

The frame sequences are those of websdk-protocol.md §7: ``connection`` → ``getUserData``
→ REGISTER → ``registered``; ``call`` → TRYING at once → RING → ``setRemoteSDP`` (once)
→ ESTABLISHED; an incoming INVITE → ``setRemoteSDP`` before ``notifyIncomingCall`` →
``ring``; ``answer`` → 200 OK → ACK → ESTABLISHED; ``finish`` with FINISH/BUSY/FAILED.
Bad input never escapes: a frame that cannot be understood gets a ``fail`` frame, a call
that cannot proceed ends FAILED with the cause, and the session stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ..entropy import Entropy, SystemEntropy, random_token, random_uint
from ..sdp.errors import NoCommonCodec, SdpError
from ..sdp.parse import parse_sdp
from ..sdp.policy import CodecPolicy
from ..sdp.webrtc import (
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from ..sip.ua import UserAgent
from ..sip.uacore import CallAnswered, CallEnded, CallProgress, IncomingCall, RegistrationChanged, UaEvent
from ..timers import TimerHeap
from .call import (
    ICE_ERROR,
    NO_COMMON_CODECS,
    NORMAL_CLEARING,
    REQUEST_TIMEOUT,
    RTP_ACTIVITY,
    STATUS_FRAME,
    Call,
    finish_status,
)
from .identity import IdentityError, account_from_connection, target_uri
from .media import (
    DtmfDetected,
    MediaAllocation,
    MediaController,
    MediaError,
    MediaEvent,
    MediaStateChanged,
    MediaTimeout,
    remote_fingerprints,
    remote_ice_credentials,
)
from .protocol import CallRef, CallRequest, ConnectionRequest, SignalingError, decode_frame, encode_frame
from .session import ClientSession
from .settings import Settings

__all__ = ["CloseSocket", "Gateway", "SendFrame", "SocketAction"]

log = logging.getLogger("wcs.gateway")
call_log = logging.getLogger("wcs.call")

#: URI parameter of our Contact that routes an incoming INVITE to its session
CONTACT_PARAM = "wcs"


class SendFrame(NamedTuple):
    socket: str
    text: str


class CloseSocket(NamedTuple):
    socket: str
    code: int
    reason: str


SocketAction = SendFrame | CloseSocket


@dataclass(eq=False)
class _Socket:
    id: str
    peer: str
    local: str
    session: ClientSession | None = None
    missed_pings: int = 0


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
        self.policy = policy or settings.codec_policy()
        self._entropy = entropy or SystemEntropy()
        self._sockets: dict[str, _Socket] = {}
        self._sessions: dict[str, ClientSession] = {}      # by authToken
        self._calls: dict[str, Call] = {}
        self._timers: TimerHeap[tuple[str, str]] = TimerHeap()
        self._actions: list[SocketAction] = []
        self._handlers: dict[str, Callable[[ClientSession, Any, float], None]] = {
            "call": self._on_call,
            "answer": self._on_answer,
            "hangup": self._on_hangup,
        }

    # ------------------------------------------------------------------ outputs and queries

    def socket_actions(self) -> list[SocketAction]:
        """Drain the frames to send and sockets to close."""
        actions, self._actions = self._actions, []
        return actions

    @property
    def calls(self) -> list[Call]:
        return list(self._calls.values())

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
                self._ring_timeout(key, now)

    # ------------------------------------------------------------------ WebSocket input

    def socket_opened(self, socket_id: str, peer: str, local: str, now: float) -> None:
        self._sockets[socket_id] = _Socket(socket_id, peer, local)
        self._timers.schedule(("ping", socket_id), now + self.settings.keep_alive_interval)

    def socket_closed(self, socket_id: str, now: float) -> None:
        sock = self._sockets.pop(socket_id, None)
        self._timers.cancel(("ping", socket_id))
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
            self._send(socket_id, "fail", {"status": "FAILED", "info": exc.reason})
            return
        name = frame.message
        if name == "connection":
            self._on_connection(sock, frame.payload, frame.raw, now)
        elif name == "pong":
            sock.missed_pings = 0
        elif name == "ping":
            self._send(socket_id, "pong")
        elif sock.session is None:
            self._send(socket_id, "fail", {"status": "FAILED", "apiMethod": name,
                                           "info": "No session: the first frame must be 'connection'"})
        elif name in self._handlers:
            self._handlers[name](sock.session, frame.payload, now)
        elif name == "sendData":
            self._send(socket_id, "DataStatusEvent",
                       {"operationId": (frame.raw or {}).get("operationId"), "status": "ACCEPTED"})
        elif name in ("publishStream", "playStream"):
            self._send(socket_id, "notifyStreamStatusEvent",
                       {**(frame.raw if isinstance(frame.raw, dict) else {}), "status": "FAILED",
                        "info": "Streaming is not supported by this server"})
        # everything else (pushLogs, sessionDebug, submitBugReport, streaming …) is accepted

    # ------------------------------------------------------------------ SIP and media input

    def sip_event(self, event: UaEvent, now: float) -> None:
        """Something the user agent reported (the adapter drains ``ua.events()``)."""
        try:
            self._on_ua_event(event, now)
        except Exception:  # never let one call's surprise stop the others
            log.exception("error handling %r", event)

    def media_event(self, event: MediaEvent, now: float) -> None:
        """Something the media plane reported about a call."""
        call = self._calls.get(event.call_id)
        if call is None or call.terminal:
            return
        if isinstance(event, MediaStateChanged):
            call_log.info("call %s media %s%s", call.id, event.state,
                          f": {event.error}" if event.error else "")
            if event.state == "failed":
                info = ICE_ERROR if event.error and "ICE" in event.error else f"Media failed: {event.error}"
                self._hang_up_sip(call, now)
                self._finish(call, "FAILED", info, now)
        elif isinstance(event, DtmfDetected):
            call_log.info("call %s DTMF %r from the %s side (%.0f ms)", call.id, event.digit, event.leg,
                          event.duration * 1000)
        elif isinstance(event, MediaTimeout):
            call_log.info("call %s no RTP from the %s side for %g s", call.id, event.leg, event.seconds)
            self._hang_up_sip(call, now)
            self._finish(call, "FAILED", RTP_ACTIVITY, now)

    # ------------------------------------------------------------------ sessions

    def _on_connection(self, sock: _Socket, request: ConnectionRequest, raw: Any, now: float) -> None:
        if sock.session is not None:
            self._send(sock.id, "fail", {"status": "FAILED", "info": "Session already established"})
            return
        if request.authToken:
            self._reattach(sock, request.authToken, now)
            return
        has_sip = bool(request.sipLogin or request.sipDomain or _truthy(request.sipRegisterRequired))
        account = None
        if has_sip:
            try:
                account = account_from_connection(request)
            except IdentityError as exc:
                log.info("socket %s: connection refused: %s", sock.id, exc.reason)
                self._send(sock.id, "fail", {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                                             "field": exc.field, "info": exc.reason})
                self._actions.append(CloseSocket(sock.id, 1000, exc.reason[:120]))
                return
        token = random_token(self._entropy, 32)
        user_data = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items() if k != "sipPassword"}
        session = ClientSession(
            id=f"/{sock.peer}/{sock.local}", token=token, user_data=user_data,
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
        self._send(sock.id, "getUserData", user_data)
        if session.register_required and session.account is not None:
            session.registration = self.ua.register(session.account, now, self.settings.register_expires)

    def _reattach(self, sock: _Socket, token: str, now: float) -> None:
        session = self._sessions.get(token)
        if session is None or session.closed:
            self._send(sock.id, "fail", {"apiMethod": "ConnectionStatusEvent", "status": "FAILED",
                                         "info": "Unknown or expired authToken"})
            self._actions.append(CloseSocket(sock.id, 1000, "Unknown or expired authToken"))
            return
        if session.socket is not None and session.socket in self._sockets:
            old = self._sockets[session.socket]
            old.session = None
            self._actions.append(CloseSocket(old.id, 1000, "Session taken over by a new connection"))
        session.socket = sock.id
        sock.session = session
        self._timers.cancel(("expire", token))
        log.info("session %s: re-attached with its authToken", session.id)
        self._send(sock.id, "getUserData", session.user_data)
        if session.registered:
            self._send(sock.id, "registered", {"status": "REGISTERED", "info": "200 OK"})

    def _destroy(self, session: ClientSession, now: float) -> None:
        if session.closed:
            return
        session.closed = True
        self._timers.cancel(("expire", session.token))
        self._sessions.pop(session.token, None)
        for call in list(session.calls.values()):
            self._hang_up_sip(call, now)
            self._finish(call, "FINISH", "Session closed", now)
        if session.registration is not None and session.registered:
            self.ua.unregister(session.registration, now)
        session.registered = False
        log.info("session %s: closed", session.id)

    def _ping(self, socket_id: str, now: float) -> None:
        sock = self._sockets.get(socket_id)
        if sock is None:
            return
        if sock.missed_pings >= self.settings.keep_alive_probes:
            log.info("socket %s: %d pings unanswered, closing", socket_id, sock.missed_pings)
            self._actions.append(CloseSocket(socket_id, 1000, "Keep-alive timeout"))
            return
        sock.missed_pings += 1
        self._send(socket_id, "ping")
        self._timers.schedule(("ping", socket_id), now + self.settings.keep_alive_interval)

    # ------------------------------------------------------------------ outgoing calls

    def _on_call(self, session: ClientSession, request: CallRequest, now: float) -> None:
        if request.callId in self._calls:
            self._send_to(session, "fail", {"apiMethod": "CallStatusEvent", "callId": request.callId,
                                            "status": "FAILED", "info": "Duplicate callId"})
            return
        account = session.account
        call = Call(id=request.callId, session=session, incoming=False,
                    caller=account.user if account else (request.caller or ""),
                    callee=str(request.callee if request.callee is not None else ""),
                    visible_name=request.visibleName, has_audio=request.hasAudio,
                    has_video=request.hasVideo, created=now, extra_lines=list(request.sipSDP or []),
                    custom=request.custom)
        self._calls[call.id] = call
        session.calls[call.id] = call
        self._set_status(call, "TRYING", now)
        if account is None:
            self._finish(call, "FAILED", "No SIP account in this session", now)
            return
        if session.register_required and not session.registered:
            self._finish(call, "FAILED", "Not registered", now)
            return
        try:
            target = target_uri(request.callee, account)
            if not request.sdp:
                raise SdpError("No SDP offer in the call")
            offer = parse_sdp(request.sdp)
            call.webrtc_offer = offer
            call.media = self._allocate(call.id, len(offer.media), now)
            call.sip_offer = sip_offer_from_webrtc(offer, call.media.sip, self.policy, call.extra_lines)
        except (IdentityError, SdpError, MediaError) as exc:
            self._finish(call, "FAILED", _failure_info(exc), now)
            return
        caller = replace(account, display_name=request.visibleName or account.display_name)
        call.sip = self.ua.invite(caller, target, bytes(call.sip_offer), now)
        call.sip.user_data = call
        self._timers.schedule(("ring", call.id), now + self.settings.ring_timeout)
        call_log.info("call %s INVITE %s -> %s", call.id, account.user, target)

    def _allocate(self, call_id: str, streams: int, now: float) -> MediaAllocation:
        """Media for a call, with a fresh SDP session id on each side (RFC 8866 §5.2)."""
        allocation = self.media.allocate(call_id, streams, now)
        session_id = str(random_uint(self._entropy, 62))
        return MediaAllocation(replace(allocation.webrtc, session_id=session_id),
                               replace(allocation.sip, session_id=session_id))

    def _answer_browser(self, call: Call, sdp: bytes, now: float) -> bool:
        """Send the browser its answer (once) and start the media; False if that failed."""
        assert call.webrtc_offer is not None and call.media is not None
        try:
            sip_answer = parse_sdp(sdp)
            answer, plans = webrtc_answer_from_sip(sip_answer, call.webrtc_offer, call.media.webrtc,
                                                   sip_offer=call.sip_offer)
        except SdpError as exc:
            self._hang_up_sip(call, now)
            self._finish(call, "FAILED", _failure_info(exc), now)
            return False
        self.media.connect(call.id, plans, fingerprints=remote_fingerprints(call.webrtc_offer),
                           ice=remote_ice_credentials(call.webrtc_offer), now=now)
        if not call.answer_sent:
            call.answer_sent = True
            self._send_to(call.session, "setRemoteSDP", call.id, str(answer), False)
        return True

    # ------------------------------------------------------------------ incoming calls

    def _incoming_call(self, event: IncomingCall, now: float) -> None:
        sip = event.session
        request = event.request
        session = self._session_for(request.request_uri.params.get(CONTACT_PARAM),
                                    request.request_uri.user)
        if session is None:
            self.ua.reject(sip, 404, "Not Found", now)
            return
        if session.socket is None:
            self.ua.reject(sip, 480, "Temporarily Unavailable", now)
            return
        caller_uri = request.from_.uri
        call = Call(id=_uuid(self._entropy), session=session, incoming=True,
                    caller=caller_uri.user or str(caller_uri),
                    callee=session.account.user if session.account else "",
                    visible_name=request.from_.display_name or caller_uri.user, created=now)
        call.sip = sip
        sip.user_data = call
        try:
            if not sip.remote_sdp:
                raise SdpError("INVITE without an SDP offer is not supported", 488)
            call.sip_offer = parse_sdp(sip.remote_sdp)
            call.media = self._allocate(call.id, len(call.sip_offer.media), now)
            call.webrtc_offer = webrtc_offer_from_sip(call.sip_offer, call.media.webrtc, self.policy)
        except (SdpError, MediaError) as exc:
            status = exc.status_code if isinstance(exc, SdpError) else 500
            reason = "Not Acceptable Here" if status == 488 else ("Bad Request" if status == 400
                                                                  else "Server Internal Error")
            info = _failure_info(exc)
            log.info("incoming call from %s refused: %s", call.caller, info)
            # RFC 3261 §20.43: 305 "Incompatible media format" names why the offer was refused
            warning = [("Warning", f'305 {self.ua.local.host} "{info}"')] if status == 488 else []
            self.ua.reject(sip, status, reason, now, headers=warning)
            if call.media is not None:
                self.media.release(call.id)
            return
        kinds = [m.kind for m in call.webrtc_offer.media if m.port != 0]
        call.has_audio, call.has_video = "audio" in kinds, "video" in kinds
        self._calls[call.id] = call
        session.calls[call.id] = call
        self.ua.ring(sip, now)
        call_log.info("call %s incoming %s -> %s", call.id, call.caller, call.callee)
        # the SDP must reach the SDK before notifyIncomingCall (websdk-protocol.md §2.4)
        self._send_to(session, "setRemoteSDP", call.id, str(call.webrtc_offer), False)
        call.answer_sent = True
        call.status = "RING"
        payload = {key: value for key, value in call.describe().items()
                   if key in ("callId", "incoming", "caller", "callee", "visibleName", "status",
                              "hasAudio", "hasVideo", "mediaProvider")}
        self._send_to(session, "notifyIncomingCall", payload)
        self._set_status(call, "RING", now, force=True)
        self._timers.schedule(("ring", call.id), now + self.settings.ring_timeout)

    def _session_for(self, contact_id: str | None, user: str | None) -> ClientSession | None:
        sessions = [s for s in self._sessions.values() if not s.closed and s.account is not None]
        if contact_id:
            for session in sessions:
                if session.contact_id == contact_id:
                    return session
        matches = [s for s in sessions if s.registered and s.account and s.account.user == user]
        return matches[-1] if matches else None

    def _on_answer(self, session: ClientSession, request: CallRequest, now: float) -> None:
        call = session.calls.get(request.callId)
        if call is None or not call.incoming or call.terminal or call.sip is None:
            return
        self._timers.cancel(("ring", call.id))
        assert call.sip_offer is not None and call.media is not None
        try:
            if not request.sdp:
                raise SdpError("No SDP in the answer")
            answer = parse_sdp(request.sdp)
            sip_answer, plans = sip_answer_from_webrtc(answer, call.sip_offer, call.media.sip,
                                                       extra_lines=list(request.sipSDP or []))
        except SdpError as exc:
            self.ua.reject(call.sip, 488, "Not Acceptable Here", now)
            self._finish(call, "FAILED", _failure_info(exc), now)
            return
        self.media.connect(call.id, plans, fingerprints=remote_fingerprints(answer),
                           ice=remote_ice_credentials(answer), now=now)
        self.ua.answer(call.sip, bytes(sip_answer), now)
        self._set_status(call, "PENDING", now, notify=False)

    def _ring_timeout(self, call_id: str, now: float) -> None:
        """Nobody answered within ``ring_timeout``: give up on the call."""
        call = self._calls.get(call_id)
        if call is None or call.sip is None or call.terminal or call.status == "ESTABLISHED":
            return
        if call.incoming:
            if call.status != "RING":
                return  # the browser answered; the 200 OK is on its way
            self.ua.reject(call.sip, 480, "Temporarily Unavailable", now)
            self._finish(call, "FINISH", "No answer", now)
        else:
            self.ua.cancel_or_bye(call.sip, now)
            self._finish(call, "FAILED", "No answer", now)

    # ------------------------------------------------------------------ hang-up

    def _on_hangup(self, session: ClientSession, request: CallRef, now: float) -> None:
        call = session.calls.get(request.callId)
        if call is None or call.terminal:
            return  # already over or unknown: ignored (websdk-protocol.md §2.5)
        self._hang_up_sip(call, now)
        self._finish(call, "FINISH", NORMAL_CLEARING, now)

    def _hang_up_sip(self, call: Call, now: float) -> None:
        sip = call.sip
        if sip is None or sip.ended:
            return
        if call.incoming and sip.state in ("calling", "early") and call.status == "RING":
            self.ua.reject(sip, 486, "Busy Here", now)
        else:
            self.ua.cancel_or_bye(sip, now)

    # ------------------------------------------------------------------ SIP events

    def _on_ua_event(self, event: UaEvent, now: float) -> None:
        if isinstance(event, RegistrationChanged):
            self._registration_changed(event)
        elif isinstance(event, IncomingCall):
            self._incoming_call(event, now)
        elif isinstance(event, CallProgress):
            call = event.session.user_data
            if isinstance(call, Call) and not call.terminal:
                self._progress(call, event, now)
        elif isinstance(event, CallAnswered):
            call = event.session.user_data
            if isinstance(call, Call) and not call.terminal:
                self._answered(call, event.sdp, now)
        elif isinstance(event, CallEnded):
            call = event.session.user_data
            if isinstance(call, Call) and not call.terminal:
                self._ended(call, event, now)

    def _registration_changed(self, event: RegistrationChanged) -> None:
        session = next((s for s in self._sessions.values() if s.registration is event.registration), None)
        if session is None:
            return
        if event.state == "registered":
            if not session.registered:
                session.registered = True
                log.info("session %s: registered as %s", session.id,
                         session.account.user if session.account else "?")
                self._send_to(session, "registered", {"status": "REGISTERED", "info": event.reason})
        elif event.state == "failed":
            was_registered, session.registered = session.registered, False
            info = f"{event.status} {event.reason}" if event.status else event.reason
            log.info("session %s: registration failed: %s", session.id, info)
            self._send_to(session, "fail", {"apiMethod": "RegistrationStatusEvent", "status": "FAILED",
                                            "info": info})
            if not was_registered and session.socket is not None:
                self._actions.append(CloseSocket(session.socket, 1000, f"Registration failed: {info}"[:120]))

    def _progress(self, call: Call, event: CallProgress, now: float) -> None:
        call.sip_status, call.sip_message = event.status, event.reason
        if event.sdp and not call.answer_sent and not self._answer_browser(call, event.sdp, now):
            return
        if event.status == 183:
            status = "RING_MEDIA" if event.sdp else "SESSION_PROGRESS"
        else:
            status = "RING_MEDIA" if event.sdp else "RING"
        if event.status > 100:
            self._set_status(call, status, now)

    def _answered(self, call: Call, sdp: bytes | None, now: float) -> None:
        if call.incoming:
            call.sip_status, call.sip_message = 200, "OK"
        else:
            call.sip_status, call.sip_message = 200, "OK"
            if sdp is not None:
                if not self._answer_browser(call, sdp, now):
                    return
            elif not call.answer_sent:
                self._hang_up_sip(call, now)
                self._finish(call, "FAILED", "No SDP in the answer", now)
                return
        call.established_at = now
        self._timers.cancel(("ring", call.id))
        self._set_status(call, "ESTABLISHED", now)

    def _ended(self, call: Call, event: CallEnded, now: float) -> None:
        call.sip_status, call.sip_message = event.status, event.reason
        if event.cause in ("remote-bye", "local-bye", "cancelled"):
            self._finish(call, "FINISH", NORMAL_CLEARING, now)
        elif event.cause == "timeout":
            self._finish(call, "FAILED", REQUEST_TIMEOUT, now)
        else:
            info = f"{event.status} {event.reason}" if event.status else event.reason
            self._finish(call, finish_status(event.status), info, now)

    # ------------------------------------------------------------------ status frames

    def _set_status(self, call: Call, status: str, now: float, *, force: bool = False,
                    notify: bool = True) -> None:
        if call.status == status and not force:
            return
        call.status = status
        sip = f" sip={call.sip_status} {call.sip_message}" if call.sip_status else ""
        info = f" info={call.info!r}" if call.info else ""
        call_log.info("call %s %s (%s %s -> %s)%s%s", call.id, status,
                      "in" if call.incoming else "out", call.caller, call.callee, sip, info)
        if notify:
            self._send_to(call.session, STATUS_FRAME.get(status, "ring"), call.describe())

    def _finish(self, call: Call, status: str, info: str, now: float) -> None:
        call.info = info
        self._set_status(call, status, now)
        self._timers.cancel(("ring", call.id))
        self.media.release(call.id)
        self._calls.pop(call.id, None)
        call.session.calls.pop(call.id, None)

    def _send(self, socket_id: str, message: str, *data: Any) -> None:
        self._actions.append(SendFrame(socket_id, encode_frame(message, *data)))

    def _send_to(self, session: ClientSession, message: str, *data: Any) -> None:
        if session.socket is not None:
            self._send(session.socket, message, *data)


def _failure_info(exc: Exception) -> str:
    if isinstance(exc, NoCommonCodec):
        return NO_COMMON_CODECS
    if isinstance(exc, SdpError):
        return f"Invalid SDP: {exc.reason}"
    if isinstance(exc, IdentityError):
        return exc.reason
    return str(exc) or type(exc).__name__


def _uuid(entropy: Entropy) -> str:
    raw = entropy.token_bytes(16).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
