"""What happens inside an established call: hold, SIP re-offers, transfer, DTMF (sans-I/O).

Theory of operation
-------------------
The browser leg is never renegotiated (the WebSDK cannot take a second remote SDP,
websdk-protocol.md fact 5), so every change happens on the SIP side and is fitted to the
streams the browser already agreed (``call.plans``, wcs.sdp.reoffer):

* **hold / unhold** (``hold``/``unhold`` frames, REST): a re-INVITE offering
  ``sendonly`` / back to ``sendrecv`` (RFC 6337 §5); media forwarding stops at once on hold
  and resumes when the unhold is accepted; on success the SDK gets ``hold`` HOLD or
  ``talk`` ESTABLISHED; on failure its current status again (so its UI recovers).
* **the SIP peer's re-offers** (re-INVITE, UPDATE, offer-less re-INVITE, session refresh):
  answered from the plans; the relay is re-pointed (new address, PTs, directions) keeping
  each stream continuous; a peer hold shows as HOLD, its resume as ESTABLISHED; an
  offer without a common codec gets 488 with a Warning and the call goes on (§14.2).
* **blind transfer by the browser** (``transfer`` frame, REST): REFER (RFC 3515) with
  ``notifyTransferEvent`` PENDING → ACCEPTED → COMPLETED (then BYE, FINISH) or FAILED (the
  call stays).  Never for a call the current socket's SDK does not know (§2.8).
* **transfer by the SIP peer** (a REFER to us): accepted; the gateway calls the target
  (with Replaces for an attended transfer) and, once answered, moves the browser's media to
  the new dialog, reports it to the referrer (NOTIFY sipfrag) and ends the old dialog — the
  browser's call goes on with its RTP continuous.
* **DTMF**: ``sendDtmf`` RFC2833 → RFC 4733 events by the relay, INFO (or no
  telephone-event) → SIP INFO ``application/dtmf-relay``; digits from the SIP side (RFC 4733
  or INFO) are logged, kept on the call for the REST API and reported to the backend
  (``OnDTMFEvent`` REST hook).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..rtp.video.keyframe import MEDIA_CONTROL_CONTENT_TYPE, PICTURE_FAST_UPDATE
from ..sdp.errors import NoCommonCodec, SdpError
from ..sdp.parse import parse_sdp
from ..sdp.plan import StreamPlan
from ..sdp.reoffer import answer_sip_reoffer, apply_sip_answer, sip_offer_from_plans
from ..sip.errors import SipParseError
from ..sip.events import (
    AnswerReceived,
    InfoReceived,
    OfferNeeded,
    OfferReceived,
    ReferReceived,
    ReinviteDone,
    TransferProgress,
)
from ..sip.info import dtmf_relay_body, parse_dtmf
from ..sip.uacore import CallAnswered, CallEnded, CallProgress
from .call import Call
from .identity import IdentityError, target_uri

if TYPE_CHECKING:
    from .calls import CallControl

__all__ = ["MidCall", "DTMF_DIGITS"]

log = logging.getLogger("wcs.gateway")
call_log = logging.getLogger("wcs.call")

DTMF_DIGITS = frozenset("0123456789*#ABCD")
#: statuses in which a call can be held, transferred or sent DTMF
LIVE = ("ESTABLISHED", "HOLD")


class MidCall:
    """Mid-call features of :class:`~wcs.gateway.calls.CallControl` (see the module docstring)."""

    def __init__(self, control: CallControl) -> None:
        self.control = control
        self.ua = control.ua

    # ------------------------------------------------------------------ hold

    def hold(self, call: Call, held: bool, now: float) -> str | None:
        """Hold or resume; returns why it cannot be done, or None when the re-INVITE is sent."""
        if call.status not in LIVE or call.sip is None or call.media is None or call.origin is None:
            return f"call {call.id} is {call.status}, not established"
        if call.pending_hold is not None:
            return f"call {call.id}: a hold or resume is already in progress"
        if held == call.held:
            self._report_hold_state(call)
            return None
        offer = sip_offer_from_plans(call.plans, call.media.sip, call.origin, hold=held,
                                     extra_lines=call.extra_lines, previous=call.sip_local)
        call.sip_local, call.pending_hold = offer, held
        if held:
            self.control.media.set_held(call.id, True)
        self.ua.reinvite(call.sip, bytes(offer), now)
        call_log.info("call %s %s requested", call.id, "hold" if held else "unhold")
        return None

    def reinvite_done(self, call: Call, event: ReinviteDone, now: float) -> None:
        if event.ok and event.sdp is not None:
            try:
                self.control.connect_media(call, apply_sip_answer(parse_sdp(event.sdp), call.plans), now)
            except SdpError as exc:
                self.control.hang_up_sip(call, now)
                self.control.finish(call, "FAILED", f"Invalid SDP: {exc.reason}")
                return
        if event.refresh or call.pending_hold is None:
            return
        held, call.pending_hold = call.pending_hold, None
        if event.ok:
            call.held = held
        else:
            call_log.info("call %s %s refused: %s %s", call.id, "hold" if held else "unhold",
                          event.status, event.reason)
        self.control.media.set_held(call.id, call.held or call.remote_held)
        self._report_hold_state(call)

    def _report_hold_state(self, call: Call) -> None:
        self.control.set_status(call, "HOLD" if call.held or call.remote_held else "ESTABLISHED", force=True)

    # ------------------------------------------------------------------ the peer's offers

    def offer_received(self, call: Call, event: OfferReceived, now: float) -> None:
        assert call.media is not None and call.origin is not None
        try:
            reoffer = parse_sdp(event.sdp)
            answer, plans = answer_sip_reoffer(reoffer, call.plans, call.media.sip, call.origin,
                                               call.extra_lines, hold=call.held)
        except SdpError as exc:
            info = exc.reason if isinstance(exc, NoCommonCodec) else f"Invalid SDP: {exc.reason}"
            self.ua.reject_offer(event.session, now, 488 if exc.status_code == 488 else 400,
                                 headers=(("Warning", f'305 {self.ua.local.host} "{info}"'),))
            call_log.info("call %s re-offer refused: %s", call.id, info)
            return
        self.ua.answer_offer(event.session, bytes(answer), now)
        call.sip_local = answer
        self._adopt_plans(call, plans, now)

    def offer_needed(self, call: Call, event: OfferNeeded, now: float) -> None:
        assert call.media is not None and call.origin is not None
        offer = sip_offer_from_plans(call.plans, call.media.sip, call.origin, hold=call.held,
                                     extra_lines=call.extra_lines, previous=call.sip_local)
        call.sip_local = offer
        self.ua.provide_offer(event.session, bytes(offer), now)

    def answer_received(self, call: Call, event: AnswerReceived, now: float) -> None:
        if event.sdp is None:
            return
        try:
            plans = apply_sip_answer(parse_sdp(event.sdp), call.plans)
        except SdpError as exc:
            self.control.hang_up_sip(call, now)
            self.control.finish(call, "FAILED", f"Invalid SDP: {exc.reason}")
            return
        self._adopt_plans(call, plans, now)

    def _adopt_plans(self, call: Call, plans: list[StreamPlan], now: float) -> None:
        self.control.connect_media(call, plans, now)
        accepted = [p for p in plans if p.accepted]
        remote_held = bool(accepted) and all(p.direction in ("recvonly", "inactive") for p in accepted)
        if remote_held != call.remote_held:
            call.remote_held = remote_held
            call_log.info("call %s %s by the SIP peer", call.id, "held" if remote_held else "resumed")
            self.control.media.set_held(call.id, call.held or remote_held)
            self._report_hold_state(call)

    # ------------------------------------------------------------------ transfer by the browser

    def transfer(self, call: Call, target: str, now: float) -> str | None:
        """Blind transfer (REFER); returns why it cannot be done, or None."""
        if call.status not in LIVE or call.sip is None or call.session.account is None:
            return f"call {call.id} is {call.status}, not established"
        if call.transfer_target is not None:
            return f"call {call.id}: a transfer is already in progress"
        try:
            uri = target_uri(target, call.session.account)
        except IdentityError as exc:
            self._transfer_event(call, "FAILED", target, exc.reason)
            return exc.reason
        call.transfer_target = uri
        self.ua.refer(call.sip, uri, now)
        call_log.info("call %s transfer to %s requested", call.id, uri)
        self._transfer_event(call, "PENDING", uri)
        return None

    def transfer_progress(self, call: Call, event: TransferProgress, now: float) -> None:
        target = call.transfer_target or ""
        call_log.info("call %s transfer %s (%s %s)", call.id, event.state, event.status, event.reason)
        if event.state == "accepted":
            self._transfer_event(call, "ACCEPTED", target)
        elif event.state == "completed":
            self._transfer_event(call, "COMPLETED", target)
            call.transfer_target = None
            self.control.hang_up_sip(call, now)   # RFC 5589 §6.1: the transferor ends its dialog
            self.control.finish(call, "FINISH", "Transferred")
        elif event.state == "failed":
            self._transfer_event(call, "FAILED", target, f"{event.status or ''} {event.reason}".strip())
            call.transfer_target = None

    def _transfer_event(self, call: Call, status: str, target: str, info: str | None = None) -> None:
        # the SDK throws on a notifyTransferEvent for a call it does not know (§2.8)
        if call.session.socket is None or call.session.socket != call.socket:
            return
        payload = {"callId": call.id, "status": status, "target": target}
        if info:
            payload["info"] = info
        self.control.outbox.send_to(call.session, "notifyTransferEvent", payload)

    # ------------------------------------------------------------------ transfer by the SIP peer

    def refer_received(self, call: Call, event: ReferReceived, now: float) -> None:
        account, media = call.session.account, call.media
        if account is None or media is None or call.origin is None or call.replacing is not None:
            self.ua.reject_refer(event.session, 603, now, "Decline")
            return
        self.ua.accept_refer(event.session, now)
        offer = sip_offer_from_plans(call.plans, media.sip, call.origin, hold=call.held,
                                     extra_lines=call.extra_lines, previous=call.sip_local)
        headers = [("Replaces", event.replaces)] if event.replaces else []
        if event.referred_by is not None:
            headers.append(("Referred-By", str(event.referred_by)))
        call.replacing = self.ua.invite(account, event.target, bytes(offer), now, extra_headers=headers)
        call.replacing.user_data = call
        call_log.info("call %s transferred by the SIP peer to %s", call.id, event.target)

    def replacement_event(self, call: Call, event: CallProgress | CallAnswered | CallEnded,
                          now: float) -> None:
        """An event of the INVITE session placed for the SIP peer's REFER."""
        old, new = call.sip, call.replacing
        assert old is not None and new is not None
        if isinstance(event, CallProgress):
            if event.status > 100:
                self.ua.notify_refer(old, event.status, event.reason, now)
            return
        if isinstance(event, CallEnded):
            call.replacing = None
            self.ua.notify_refer(old, event.status or 500, event.reason or "Failed", now)
            call_log.info("call %s transfer failed: %s %s", call.id, event.status, event.reason)
            return
        # answered: the new dialog carries the browser's media from now on
        try:
            plans = apply_sip_answer(parse_sdp(event.sdp), call.plans) if event.sdp else call.plans
        except SdpError:
            plans = call.plans
        self.ua.notify_refer(old, 200, "OK", now)
        old.user_data = None
        self.ua.cancel_or_bye(old, now)
        call.sip, call.replacing = new, None
        call.sip_status, call.sip_message = 200, "OK"
        self._adopt_plans(call, plans, now)
        call_log.info("call %s now continues with %s", call.id, new.remote_uri)

    # ------------------------------------------------------------------ DTMF and keyframes

    def send_dtmf(self, call: Call, digits: str, kind: str, now: float) -> str | None:
        """Send DTMF to the SIP side; returns why it cannot be done, or None."""
        digits = digits.upper()
        if not digits or any(d not in DTMF_DIGITS for d in digits):
            return f"invalid DTMF {digits!r}: digits are 0-9 * # A-D"
        if call.status not in LIVE or call.sip is None:
            return f"call {call.id} is {call.status}, not established"
        if kind.upper() == "RFC2833" and self.control.media.send_dtmf(call.id, digits, now):
            call_log.info("call %s DTMF %r sent as RFC 4733 events", call.id, digits)
            return None
        for digit in digits:
            self.ua.info(call.sip, "application/dtmf-relay", dtmf_relay_body(digit), now)
        call_log.info("call %s DTMF %r sent as SIP INFO", call.id, digits)
        return None

    def info_received(self, call: Call, event: InfoReceived, now: float) -> None:
        kind = event.content_type.split(";", 1)[0].strip().lower()
        if kind not in ("application/dtmf-relay", "application/dtmf"):
            return  # e.g. media_control: answered 200 by the UA, nothing for us to do
        try:
            digit, _ = parse_dtmf(event.content_type, event.body)
        except SipParseError as exc:
            call_log.info("call %s unreadable DTMF INFO: %s", call.id, exc.reason)
            return
        self.dtmf_received(call, digit, "INFO", "INFO")

    def dtmf_received(self, call: Call, digit: str, kind: str, detail: str) -> None:
        """A digit from the SIP side (``kind`` "RFC2833" or "INFO"): kept, logged, hooked."""
        call.dtmf_received += digit
        call_log.info("call %s DTMF %r received from the SIP side (%s)", call.id, digit, detail)
        self.control.hooks.dtmf(call, digit, kind)

    def keyframe_needed(self, call: Call, now: float) -> None:
        """The browser wants a keyframe the SIP peer can only be asked for over SIP INFO."""
        if call.sip is not None and call.status in LIVE:
            self.ua.info(call.sip, MEDIA_CONTROL_CONTENT_TYPE, PICTURE_FAST_UPDATE, now)

