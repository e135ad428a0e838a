"""Call control: browser calls bridged to SIP INVITE sessions (sans-I/O).

Theory of operation
-------------------
:class:`CallControl` owns every live :class:`~wcs.gateway.call.Call`.  It is driven by the
:class:`~wcs.gateway.core.Gateway` with the browser's call frames (``call``, ``answer``,
``hangup``), the user agent's call events and the media plane's reports, and answers with
status frames (through the shared :class:`~wcs.gateway.outbox.Outbox`), UA calls and
media-controller calls.  The flows are websdk-protocol.md §7 (b) and (c):

* outgoing: ``call`` → TRYING at once → INVITE (SIP offer translated from the browser's)
  → 18x: RING / RING_MEDIA / SESSION_PROGRESS → the first SIP SDP (183 or 200) becomes the
  browser's answer, sent once with ``setRemoteSDP`` → 2xx: ESTABLISHED;
* incoming: INVITE → 180 and ``setRemoteSDP`` (our WebRTC offer) *before*
  ``notifyIncomingCall`` and ``ring`` → ``answer`` → 200 OK → ACK: ESTABLISHED;
* the end: ``finish`` with FINISH / BUSY (486, 600) / FAILED and the SIP status.

Anything that stops a call (a bad callee, bad SDP, no common codec, no media ports, an
ICE/DTLS failure, no RTP) ends it FAILED with the cause in ``info``; other calls and the
session carry on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeGuard

from ..entropy import Entropy, random_uint
from ..sdp.delayed import webrtc_offer_from_policy
from ..sdp.errors import NoCommonCodec, SdpError
from ..sdp.negotiate import VersionedOrigin
from ..sdp.parse import parse_sdp
from ..sdp.plan import StreamPlan
from ..sdp.policy import CodecPolicy
from ..sdp.webrtc import (
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)
from ..sip.events import (
    AnswerReceived,
    InfoReceived,
    OfferNeeded,
    OfferReceived,
    ReferReceived,
    ReinviteDone,
    TransferProgress,
)
from ..sip.ua import UserAgent
from ..sip.uacore import CallAnswered, CallEnded, CallProgress, IncomingCall
from ..timers import TimerHeap
from .call import (
    ICE_ERROR,
    NORMAL_CLEARING,
    REQUEST_TIMEOUT,
    RTP_ACTIVITY,
    STATUS_FRAME,
    Call,
    finish_status,
)
from .hooks import Hooks
from .identity import IdentityError, target_uri
from .media import (
    DtmfDetected,
    KeyframeNeeded,
    MediaAllocation,
    MediaController,
    MediaError,
    MediaEvent,
    MediaStateChanged,
    MediaTimeout,
    remote_fingerprints,
    remote_ice_credentials,
)
from .midcall import MidCall
from .outbox import Outbox
from .protocol import CallRequest
from .session import ClientSession
from .settings import Settings

__all__ = ["CallControl", "CallEvent"]

log = logging.getLogger("wcs.gateway")
call_log = logging.getLogger("wcs.call")

#: finds the session an incoming INVITE is for: (contact id from our Contact, user) → session
SessionFinder = Callable[[str | None, str | None], ClientSession | None]
#: the user-agent events about an INVITE session that call control handles
CallEvent = (CallProgress | CallAnswered | CallEnded | ReinviteDone | OfferReceived | OfferNeeded
             | AnswerReceived | TransferProgress | ReferReceived | InfoReceived)


class CallControl:
    """Every live call; see the module docstring."""

    def __init__(self, settings: Settings, ua: UserAgent, media: MediaController, policy: CodecPolicy,
                 entropy: Entropy, timers: TimerHeap[tuple[str, str]], outbox: Outbox,
                 find_session: SessionFinder, contact_param: str, hooks: Hooks | None = None) -> None:
        self.settings = settings
        self.ua = ua
        self.media = media
        self.policy = policy
        self._entropy = entropy
        self._timers = timers
        self.outbox = outbox
        #: REST hooks: CallStatusEvent, OnCallEvent, OnDTMFEvent
        self.hooks = hooks or Hooks(False)
        self._find_session = find_session
        self._contact_param = contact_param
        self._calls: dict[str, Call] = {}
        self.midcall = MidCall(self)
        mid = self.midcall
        #: who handles each kind of call event (call setup here, the rest mid-call)
        self._handlers: dict[type, Callable[[Call, Any, float], None]] = {
            CallProgress: self._progress, CallAnswered: self._answered_event, CallEnded: self._ended_event,
            ReinviteDone: mid.reinvite_done, OfferReceived: mid.offer_received,
            OfferNeeded: mid.offer_needed, AnswerReceived: mid.answer_received,
            TransferProgress: mid.transfer_progress, ReferReceived: mid.refer_received,
            InfoReceived: mid.info_received,
        }

    @property
    def calls(self) -> list[Call]:
        return list(self._calls.values())

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    # ------------------------------------------------------------------ outgoing

    def place(self, session: ClientSession, request: CallRequest, now: float) -> None:
        """A ``call`` frame: TRYING at once, then the INVITE (or FAILED with the cause)."""
        if request.callId in self._calls:
            self.outbox.send_to(session, "fail", {"apiMethod": "CallStatusEvent", "callId": request.callId,
                                                   "status": "FAILED", "info": "Duplicate callId"})
            return
        account = session.account
        call = Call(id=request.callId, session=session, incoming=False,
                    caller=account.user if account else (request.caller or ""),
                    callee=str(request.callee if request.callee is not None else ""),
                    visible_name=request.visibleName, has_audio=request.hasAudio,
                    has_video=request.hasVideo, created=now, extra_lines=list(request.sipSDP or []),
                    custom=request.custom, socket=session.socket)
        self._add(call)
        self.set_status(call, "TRYING")
        if account is None:
            self.finish(call, "FAILED", "No SIP account in this session")
            return
        if session.register_required and not session.registered:
            self.finish(call, "FAILED", "Not registered")
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
            self.finish(call, "FAILED", _failure_info(exc))
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

    def _generates(self, call: Call) -> bool:
        """Whether black video / silence is made toward the browser for this SIP peer
        (``generate_av_for_ua`` matched against its User-Agent or Server header)."""
        return self.settings.generates_for(call.sip.remote_user_agent if call.sip else None)

    def _answer_browser(self, call: Call, sdp: bytes, now: float) -> bool:
        """Send the browser its answer (once) and start the media; False if that failed."""
        assert call.webrtc_offer is not None and call.media is not None
        try:
            sip_answer = parse_sdp(sdp)
            answer, plans = webrtc_answer_from_sip(
                sip_answer, call.webrtc_offer, call.media.webrtc, sip_offer=call.sip_offer,
                policy=self.policy, generate=self._generates(call))
        except SdpError as exc:
            self.hang_up_sip(call, now)
            self.finish(call, "FAILED", _failure_info(exc))
            return False
        if call.origin is None and call.sip_offer is not None:
            call.origin, call.sip_local = VersionedOrigin.adopt(call.sip_offer), call.sip_offer
        call.fingerprints = remote_fingerprints(call.webrtc_offer)
        call.ice = remote_ice_credentials(call.webrtc_offer)
        self.connect_media(call, plans, now)
        if not call.answer_sent:
            call.answer_sent = True
            self.outbox.send_to(call.session, "setRemoteSDP", call.id, str(answer), False)
        return True

    # ------------------------------------------------------------------ incoming

    def incoming(self, event: IncomingCall, now: float) -> None:
        """An INVITE for one of our registered Contacts."""
        sip, request = event.session, event.request
        session = self._find_session(request.request_uri.params.get(self._contact_param),
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
                    visible_name=request.from_.display_name or caller_uri.user, created=now,
                    socket=session.socket)
        call.sip = sip
        sip.user_data = call
        try:
            if sip.remote_sdp:
                call.sip_offer = parse_sdp(sip.remote_sdp)
                call.media = self._allocate(call.id, len(call.sip_offer.media), now)
                call.webrtc_offer = webrtc_offer_from_sip(call.sip_offer, call.media.webrtc, self.policy,
                                                          sip=call.media.sip)
            else:  # delayed offer (RFC 3261 §13.2.1): the browser's offer comes from our policy
                call.delayed_offer = True
                call.media = self._allocate(call.id, 1, now)
                call.webrtc_offer = webrtc_offer_from_policy(call.media.webrtc, self.policy, ("audio",))
        except (SdpError, MediaError) as exc:
            self._refuse(call, exc, now)
            return
        kinds = [m.kind for m in call.webrtc_offer.media if m.port != 0]
        call.has_audio, call.has_video = "audio" in kinds, "video" in kinds
        self._add(call)
        self.ua.ring(sip, now)
        call_log.info("call %s incoming %s -> %s", call.id, call.caller, call.callee)
        # the SDP must reach the SDK before notifyIncomingCall (websdk-protocol.md §2.4)
        self.outbox.send_to(session, "setRemoteSDP", call.id, str(call.webrtc_offer), False)
        call.answer_sent = True
        call.status = "RING"
        payload = {key: value for key, value in call.describe().items()
                   if key in ("callId", "incoming", "caller", "callee", "visibleName", "status",
                              "hasAudio", "hasVideo", "mediaProvider")}
        self.outbox.send_to(session, "notifyIncomingCall", payload)
        self.hooks.incoming_call(call)
        self.set_status(call, "RING", force=True)
        self._timers.schedule(("ring", call.id), now + self.settings.ring_timeout)

    def _refuse(self, call: Call, exc: SdpError | MediaError, now: float) -> None:
        assert call.sip is not None
        status = exc.status_code if isinstance(exc, SdpError) else 500
        reason = {488: "Not Acceptable Here", 400: "Bad Request"}.get(status, "Server Internal Error")
        info = _failure_info(exc)
        log.info("incoming call from %s refused: %s", call.caller, info)
        # RFC 3261 §20.43: 305 "Incompatible media format" names why the offer was refused
        warning = [("Warning", f'305 {self.ua.local.host} "{info}"')] if status == 488 else []
        self.ua.reject(call.sip, status, reason, now, headers=warning)
        if call.media is not None:
            self.media.release(call.id)

    def answer(self, session: ClientSession, request: CallRequest, now: float) -> None:
        """The browser's ``answer`` to an incoming call: 200 OK with the SIP-side answer."""
        call = session.calls.get(request.callId)
        if call is None or not call.incoming or call.terminal or call.sip is None:
            return
        self._timers.cancel(("ring", call.id))
        assert call.media is not None
        extra_lines = list(request.sipSDP or [])
        try:
            if not request.sdp:
                raise SdpError("No SDP in the answer")
            answer = parse_sdp(request.sdp)
            if call.delayed_offer:  # our SIP offer, from the codecs the browser accepted
                sip_sdp = sip_offer_from_webrtc(answer, call.media.sip, self.policy, extra_lines)
            else:
                assert call.sip_offer is not None
                sip_sdp, plans = sip_answer_from_webrtc(answer, call.sip_offer, call.media.sip,
                                                        extra_lines=extra_lines, policy=self.policy,
                                                        generate=self._generates(call))
        except SdpError as exc:
            self.ua.reject(call.sip, 488, "Not Acceptable Here", now)
            self.finish(call, "FAILED", _failure_info(exc))
            return
        call.fingerprints, call.ice = remote_fingerprints(answer), remote_ice_credentials(answer)
        call.origin, call.sip_local = VersionedOrigin.adopt(sip_sdp), sip_sdp
        if call.delayed_offer:
            call.sip_offer, call.browser_answer = sip_sdp, answer   # the media starts with the ACK
        else:
            self.connect_media(call, plans, now)
        self.ua.answer(call.sip, bytes(sip_sdp), now)
        self.set_status(call, "PENDING", notify=False)

    def ring_timeout(self, call_id: str, now: float) -> None:
        """Nobody answered within ``ring_timeout``: give up on the call."""
        call = self._calls.get(call_id)
        if call is None or call.sip is None or call.terminal or call.status == "ESTABLISHED":
            return
        if call.incoming:
            if call.status != "RING":
                return  # the browser answered; the 200 OK is on its way
            self.ua.reject(call.sip, 480, "Temporarily Unavailable", now)
            self.finish(call, "FINISH", "No answer")
        else:
            self.ua.cancel_or_bye(call.sip, now)
            self.finish(call, "FAILED", "No answer")

    # ------------------------------------------------------------------ hang-up

    def hangup(self, call_id: str, now: float, info: str = NORMAL_CLEARING) -> bool:
        """End a call from our side (the browser's ``hangup``, REST terminate); False if unknown."""
        call = self._calls.get(call_id)
        if call is None or call.terminal:
            return False
        self.hang_up_sip(call, now)
        self.finish(call, "FINISH", info)
        return True

    def hang_up_sip(self, call: Call, now: float) -> None:
        sip = call.sip
        if sip is None or sip.ended:
            return
        if call.incoming and sip.state in ("calling", "early") and call.status == "RING":
            self.ua.reject(sip, 486, "Busy Here", now)
        else:
            self.ua.cancel_or_bye(sip, now)

    # ------------------------------------------------------------------ SIP events

    def handles(self, event: object) -> TypeGuard[CallEvent]:
        """Whether ``event`` is a user-agent event about a call (see :meth:`sip_event`)."""
        return type(event) in self._handlers

    def sip_event(self, event: CallEvent, now: float) -> None:
        """A user-agent event about one of our INVITE sessions."""
        call = event.session.user_data
        if not isinstance(call, Call) or call.terminal:
            return
        if call.replacing is event.session and isinstance(event, CallProgress | CallAnswered | CallEnded):
            self.midcall.replacement_event(call, event, now)
            return
        handler = self._handlers[type(event)]
        handler(call, event, now)

    def _answered_event(self, call: Call, event: CallAnswered, now: float) -> None:
        self._answered(call, event.sdp, now)

    def _ended_event(self, call: Call, event: CallEnded, now: float) -> None:
        self._ended(call, event)

    def _progress(self, call: Call, event: CallProgress, now: float) -> None:
        call.sip_status, call.sip_message = event.status, event.reason
        if event.sdp and not call.answer_sent and not self._answer_browser(call, event.sdp, now):
            return
        if event.status == 183:
            status = "RING_MEDIA" if event.sdp else "SESSION_PROGRESS"
        else:
            status = "RING_MEDIA" if event.sdp else "RING"
        if event.status > 100:
            self.set_status(call, status)

    def _answered(self, call: Call, sdp: bytes | None, now: float) -> None:
        call.sip_status, call.sip_message = 200, "OK"
        if call.delayed_offer and not self._delayed_answer(call, sdp, now):
            return
        if not call.incoming:
            if sdp is not None:
                if not self._answer_browser(call, sdp, now):
                    return
            elif not call.answer_sent:
                self.hang_up_sip(call, now)
                self.finish(call, "FAILED", "No SDP in the answer")
                return
        call.established_at = now
        self._timers.cancel(("ring", call.id))
        self.set_status(call, "ESTABLISHED")

    def _delayed_answer(self, call: Call, sdp: bytes | None, now: float) -> bool:
        """The ACK's answer to the offer we put in our 200 OK: start the media (False: failed)."""
        assert call.media is not None and call.browser_answer is not None
        try:
            if sdp is None:
                raise SdpError("No SDP answer in the ACK")
            # the browser's answer lists what it accepted, with our PT numbers: it stands in for
            # the browser's offer here (wcs.sdp.delayed); the browser SDP built is not used
            _, plans = webrtc_answer_from_sip(parse_sdp(sdp), call.browser_answer, call.media.webrtc,
                                              sip_offer=call.sip_offer, policy=self.policy)
        except SdpError as exc:
            self.hang_up_sip(call, now)
            self.finish(call, "FAILED", _failure_info(exc))
            return False
        self.connect_media(call, plans, now)
        return True

    def _ended(self, call: Call, event: CallEnded) -> None:
        call.sip_status, call.sip_message = event.status, event.reason
        if event.cause in ("remote-bye", "local-bye", "cancelled"):
            self.finish(call, "FINISH", NORMAL_CLEARING)
        elif event.cause == "timeout":
            self.finish(call, "FAILED", REQUEST_TIMEOUT)
        else:
            info = f"{event.status} {event.reason}" if event.status else event.reason
            self.finish(call, finish_status(event.status), info)

    # ------------------------------------------------------------------ media events

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
                self.hang_up_sip(call, now)
                self.finish(call, "FAILED", info)
        elif isinstance(event, DtmfDetected):
            if event.leg == "sip":
                self.midcall.dtmf_received(call, event.digit, "RFC2833",
                                           f"RFC 4733, {event.duration * 1000:.0f} ms")
            else:
                call_log.info("call %s DTMF %r from the browser (%.0f ms)", call.id, event.digit,
                              event.duration * 1000)
        elif isinstance(event, KeyframeNeeded):
            self.midcall.keyframe_needed(call, now)
        elif isinstance(event, MediaTimeout):
            call_log.info("call %s no RTP from the %s side for %g s", call.id, event.leg, event.seconds)
            self.hang_up_sip(call, now)
            self.finish(call, "FAILED", RTP_ACTIVITY)

    # ------------------------------------------------------------------ status

    def connect_media(self, call: Call, plans: list[StreamPlan], now: float) -> None:
        """(Re)start the call's relay with ``plans`` (continuity is the relay's job)."""
        call.plans = list(plans)
        self.media.connect(call.id, call.plans, fingerprints=call.fingerprints, ice=call.ice, now=now)

    def _add(self, call: Call) -> None:
        self._calls[call.id] = call
        call.session.calls[call.id] = call

    def set_status(self, call: Call, status: str, *, force: bool = False, notify: bool = True) -> None:
        if call.status == status and not force:
            return
        call.status = status
        sip = f" sip={call.sip_status} {call.sip_message}" if call.sip_status else ""
        info = f" info={call.info!r}" if call.info else ""
        call_log.info("call %s %s (%s %s -> %s)%s%s", call.id, status,
                      "in" if call.incoming else "out", call.caller, call.callee, sip, info)
        if notify:
            self.outbox.send_to(call.session, STATUS_FRAME.get(status, "ring"), call.describe())
            self.hooks.call_status(call)

    def finish(self, call: Call, status: str, info: str) -> None:
        call.info = info
        self.set_status(call, status)
        self._timers.cancel(("ring", call.id))
        self.media.release(call.id)
        self._calls.pop(call.id, None)
        call.session.calls.pop(call.id, None)


def _failure_info(exc: Exception) -> str:
    if isinstance(exc, NoCommonCodec):
        return exc.reason  # "No common codecs", or "Transcoding required, but disabled" (WCS wording)
    if isinstance(exc, SdpError):
        return f"Invalid SDP: {exc.reason}"
    if isinstance(exc, IdentityError):
        return exc.reason
    return str(exc) or type(exc).__name__


def _uuid(entropy: Entropy) -> str:
    raw = entropy.token_bytes(16).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

