"""Offer/answer inside a dialog: re-INVITE and UPDATE in both directions (RFC 3261 §14, RFC 3311, RFC 6337).

Theory of operation
-------------------
Ours.  ``reinvite(session, sdp | None)`` and ``update(session, sdp | None)`` queue a
:class:`LocalRequest`; :meth:`Offers.flush` sends the first queued one as soon as
:class:`~wcs.sip.negotiation.OfferAnswer` says nothing is in the way (never two offers
in flight).  Session-timer refreshes join the same queue.

==============  ===========================  =============================================
state           input                        action
==============  ===========================  =============================================
in flight       1xx (reliable)               PRACK (RFC 3262); its SDP kept as the answer
in flight       2xx to a re-INVITE           target refresh (§12.2.1.2), session timer,
                                             ACK (re-sent for each 2xx retransmission);
                                             with our offer: ReinviteDone(ok, answer);
                                             offer-less: OfferReceived, the ACK waits
                                             for ``answer_offer`` (or ``reject_offer``:
                                             ACK, then BYE, §13.2.2.4)
in flight       2xx to an UPDATE             target refresh, timer, ReinviteDone
in flight       401/407, 422                 again with credentials / a larger interval
in flight       491                          again after 2.1-4 s (we own the Call-ID) or
                                             0-2 s (§14.1); 500 with Retry-After ≤ 10 s
                                             likewise after that delay (§14.2); five
                                             retries at most
in flight       408, 481, timeout            ReinviteDone(failed), BYE, CallEnded("failed")
                                             (§14.1, RFC 3311 §5.1, RFC 4028 §10)
in flight       other 3xx-6xx                ReinviteDone(failed); the session is unchanged
==============  ===========================  =============================================

The peer's.  A re-INVITE or UPDATE is first checked against RFC 6337 §4.3 (491 when our
request collides, 500 + Retry-After 0-10 s when an earlier one of the peer's is
unfinished), then by the session timer (422).  An UPDATE without a body is a session
refresh: 200 at once.  An offer identical to the peer's current description is
answered at once with ours (RFC 3264 §8: nothing changed); any other offer is reported
(OfferReceived) and waits for ``answer_offer`` (200 with the answer) or ``reject_offer``
(488).  An offer-less re-INVITE asks the owner (OfferNeeded): ``provide_offer`` sends
the 2xx with our offer, whose ACK brings the answer (AnswerReceived).  A 2xx to any of
them refreshes the remote target (§12.2.2) and restarts the session timer (RFC 4028 §9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wcs.entropy import random_uint
from wcs.errors import LocalProtocolError
from wcs.sip.dialog import CONFIRMED
from wcs.sip.events import AnswerReceived, OfferNeeded, OfferReceived, ReinviteDone
from wcs.sip.message import Request, Response, make_response
from wcs.sip.negotiation import LOCAL, REMOTE, glare_delay
from wcs.sip.transaction import ClientTransaction, ServerTransaction
from wcs.sip.transport import Address
from wcs.sip.uaconfig import UaConfig
from wcs.sip.uacore import ACCEPT, ALLOW

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession
    from wcs.sip.invite_uas import InviteManager

GLARE = "glare"
MAX_RETRIES = 5


def sdp_body(message: Request | Response) -> bytes | None:
    """The body if it is SDP (Content-Type application/sdp, parameters ignored)."""
    if not message.body:
        return None
    content_type = (message.content_type or "").split(";", 1)[0].strip().lower()
    return message.body if content_type == "application/sdp" else None


class LocalRequest:
    """A re-INVITE or UPDATE of ours: queued, in flight, or waiting to retry."""

    __slots__ = ("ack", "answer", "method", "offer_2xx", "refresh", "request", "retries", "sdp",
                 "tried_422", "txn", "waiting")

    def __init__(self, method: str, sdp: bytes | None, refresh: bool = False) -> None:
        self.method = method
        self.sdp = sdp
        self.refresh = refresh
        self.txn: ClientTransaction | None = None
        self.request: Request | None = None
        self.ack: tuple[Request, Address] | None = None
        self.answer: bytes | None = None        # SDP of a reliable 1xx
        self.offer_2xx: bytes | None = None     # the peer's offer in the 2xx to our offer-less re-INVITE
        self.tried_422 = False
        self.retries = 0
        self.waiting = False                    # a 491/500 retry timer runs


class PeerRequest:
    """The peer's re-INVITE or UPDATE waiting for the owner's answer (or offer)."""

    __slots__ = ("method", "request", "sdp", "txn")

    def __init__(self, method: str, request: Request, txn: ServerTransaction, sdp: bytes | None) -> None:
        self.method = method
        self.request = request
        self.txn = txn
        self.sdp = sdp


class OfferState:
    """Per session: our queue and current request, the peer's pending one."""

    __slots__ = ("current", "last_ack", "offer_in_2xx", "peer", "queue")

    def __init__(self) -> None:
        self.queue: list[LocalRequest] = []
        self.current: LocalRequest | None = None
        self.peer: PeerRequest | None = None
        self.offer_in_2xx: bytes | None = None   # our offer in a 2xx, answered by the ACK
        self.last_ack: tuple[int, Request, Address] | None = None


class _Handler:
    """Routes the responses of one LocalRequest's transactions."""

    def __init__(self, offers: Offers, session: InviteSession, op: LocalRequest) -> None:
        self.offers, self.session, self.op = offers, session, op

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        self.offers._response(self.session, self.op, txn, response, now)

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None:
        if txn is self.op.txn:
            self.offers._failed(self.session, self.op, status, reason, True, now)


class Offers:
    """re-INVITE and UPDATE for the INVITE sessions of one UA (see the module docstring)."""

    def __init__(self, manager: InviteManager, config: UaConfig) -> None:
        self._manager = manager
        self._core = manager.core
        self._config = config

    # ------------------------------------------------------------ the owner's requests

    def reinvite(self, session: InviteSession, sdp: bytes | None, now: float) -> None:
        if session.ended or session.state != CONFIRMED or session.dialog is None:
            raise LocalProtocolError("a re-INVITE needs a confirmed call")
        session._offers.queue.append(LocalRequest("INVITE", sdp))
        self.flush(session, now)

    def update(self, session: InviteSession, sdp: bytes | None, now: float) -> None:
        if session.ended or session.dialog is None:
            raise LocalProtocolError("an UPDATE needs a dialog")
        session._offers.queue.append(LocalRequest("UPDATE", sdp))
        self.flush(session, now)

    def refresh(self, session: InviteSession, now: float) -> None:
        """The session timer wants a refresh (RFC 4028 §7.4); a request already on its way does it."""
        state = session._offers
        if state.current is not None or state.queue:
            return
        if self._config.refresh_method == "UPDATE" and "UPDATE" in session._peer_allow:
            state.queue.append(LocalRequest("UPDATE", None, refresh=True))
        else:
            state.queue.append(LocalRequest("INVITE", session.local_sdp, refresh=True))
        self.flush(session, now)

    def flush(self, session: InviteSession, now: float) -> None:
        """Send the next queued request if nothing is in the way."""
        state = session._offers
        if session.ended or state.current is not None or not state.queue or session.dialog is None:
            return
        op = state.queue[0]
        if op.method == "INVITE" and session.state != CONFIRMED:
            return
        if not session._oa.may_send(op.method, op.sdp is not None):
            return
        state.queue.pop(0)
        state.current = op
        session._digest.new_chain()
        self._send(session, op, now)

    def _send(self, session: InviteSession, op: LocalRequest, now: float) -> None:
        core = self._core
        dialog = session.dialog
        assert dialog is not None
        headers = [("Contact", self._manager.contact(session)), ("Allow", ALLOW),
                   ("Supported", core.supported), ("User-Agent", core.user_agent)]
        if session.state == CONFIRMED:
            headers += self._manager.timers.request_headers(session)
        if op.sdp is not None:
            headers.append(("Content-Type", "application/sdp"))
        request, next_hop = dialog.build_request(op.method, core.via(core.branch()), extra_headers=headers,
                                                 body=op.sdp or b"")
        session._digest.authorize(request, core.cnonce())
        op.request = request
        op.waiting = False
        op.txn = core.send(request, core.destination(request, session.account, next_hop), now,
                           _Handler(self, session, op))
        oa = session._oa
        if op.method == "INVITE":
            oa.invite_out = True
        else:
            oa.update_out = True
        if op.sdp is not None:
            oa.offer = LOCAL

    # ------------------------------------------------------------ responses to ours

    def _response(self, session: InviteSession, op: LocalRequest, txn: ClientTransaction,
                  response: Response, now: float) -> None:
        status = response.status
        if txn is not op.txn or session.ended:
            return
        if status < 200:
            if op.method == "INVITE" and response.status > 100 and self._manager.prack.uac_provisional(
                    session, response, now) and op.sdp is not None:
                op.answer = sdp_body(response) or op.answer
            return
        if 200 <= status < 300:
            self._accepted(session, op, response, now)
            return
        if status in (401, 407) and session._digest.accept(response):
            self._clear(session, op)
            self._send(session, op, now)
            return
        if status == 422 and not op.tried_422 and self._manager.timers.retry_after_422(session, response):
            op.tried_422 = True
            self._clear(session, op)
            self._send(session, op, now)
            return
        delay = self._retry_delay(session, response)
        if delay is not None and op.retries < MAX_RETRIES:
            op.retries += 1
            op.waiting = True
            self._clear(session, op)
            self._core.arm(session._handler, GLARE, now + delay)
            return
        self._failed(session, op, status, response.reason, status in (408, 481), now)

    def _retry_delay(self, session: InviteSession, response: Response) -> float | None:
        if response.status == 491:
            return glare_delay(self._core.entropy, owns_call_id=not session.incoming)
        if response.status == 500:
            value = (response.headers.get("Retry-After") or "").split(";", 1)[0].split("(", 1)[0].strip()
            if value.isdigit() and int(value) <= 10:
                return float(value)
        return None

    def _accepted(self, session: InviteSession, op: LocalRequest, response: Response, now: float) -> None:
        if op.ack is not None:  # a retransmitted 2xx: the same ACK again (§13.2.2.4)
            self._core.layer.send_stateless(*op.ack)
            return
        if op.offer_2xx is not None:
            return  # the ACK waits for the owner's answer
        dialog = session.dialog
        assert dialog is not None
        dialog.refresh_target(response)
        self._manager.timers.on_2xx_received(session, response, now)
        body = sdp_body(response) or op.answer
        if op.method == "UPDATE" or op.sdp is not None:
            if op.method == "INVITE":
                self._ack(session, op, None)
            self._clear(session, op)
            if op.sdp is None:   # an UPDATE without an offer: a refresh, no answer to take
                self._finish(session, op, True, response.status, response.reason, None, now)
            elif body is None:
                self._finish(session, op, False, response.status, "No answer in 2xx", None, now)
            else:
                self._finish(session, op, True, response.status, response.reason, body, now)
            return
        if body is None:  # offer-less re-INVITE, and no offer in the 2xx
            self._ack(session, op, None)
            self._clear(session, op)
            self._finish(session, op, False, response.status, "No offer in 2xx", None, now)
            return
        op.offer_2xx = body
        session._oa.offer = REMOTE
        self._core.emit(OfferReceived(session, body, "INVITE"))

    def _ack(self, session: InviteSession, op: LocalRequest, sdp: bytes | None) -> None:
        core = self._core
        dialog = session.dialog
        assert dialog is not None and op.request is not None
        headers = [("Content-Type", "application/sdp")] if sdp else []
        ack, next_hop = dialog.build_request("ACK", core.via(core.branch()), cseq=op.request.cseq.seq,
                                             extra_headers=headers, body=sdp or b"")
        for name in ("Authorization", "Proxy-Authorization"):
            for value in op.request.headers.get_all(name):
                ack.headers.add(name, value)
        ack.headers.add("User-Agent", core.user_agent)
        dest = core.destination(ack, session.account, next_hop)
        core.layer.send_stateless(ack, dest)
        op.ack = (ack, dest)
        session._offers.last_ack = (op.request.cseq.seq, ack, dest)

    def _clear(self, session: InviteSession, op: LocalRequest) -> None:
        oa = session._oa
        if op.method == "INVITE":
            oa.invite_out = False
        else:
            oa.update_out = False
        if oa.offer is not None and (op.sdp is not None or op.offer_2xx is not None):
            oa.offer = None

    def _failed(self, session: InviteSession, op: LocalRequest, status: int, reason: str, fatal: bool,
                now: float) -> None:
        self._clear(session, op)
        self._finish(session, op, False, status, reason, None, now)
        if fatal:
            self._manager.bye_and_end(session, status, reason, now)

    def _finish(self, session: InviteSession, op: LocalRequest, ok: bool, status: int | None, reason: str,
                sdp: bytes | None, now: float) -> None:
        state = session._offers
        if state.current is op:
            state.current = None
        if ok:
            if op.sdp is not None:
                session.local_sdp = op.sdp
            if sdp is not None:
                session.remote_sdp = sdp
        self._core.emit(ReinviteDone(session, ok, status, reason, sdp, op.method, op.refresh))
        self.flush(session, now)

    def on_timer(self, session: InviteSession, now: float) -> None:
        """The 491/500 retry delay is over: send again, or wait until the way is clear."""
        state = session._offers
        op = state.current
        if op is None or not op.waiting or session.ended:
            return
        if session._oa.may_send(op.method, op.sdp is not None):
            session._digest.new_chain()
            self._send(session, op, now)
        else:
            op.waiting = False
            state.current = None
            state.queue.insert(0, op)

    # ------------------------------------------------------------ the peer's requests

    def on_invite(self, session: InviteSession, request: Request, txn: ServerTransaction, now: float) -> None:
        """A re-INVITE in a confirmed dialog (the caller checked dialog and CSeq)."""
        if self._refused(session, request, txn, "INVITE", now):
            return
        sdp = sdp_body(request)
        session._oa.invite_in = True
        session._offers.peer = PeerRequest("INVITE", request, txn, sdp)
        self._offer_arrived(session, sdp, "INVITE", now)

    def on_update(self, session: InviteSession, request: Request, txn: ServerTransaction, now: float) -> None:
        """An UPDATE in an early or confirmed dialog (RFC 3311 §5.2)."""
        if self._refused(session, request, txn, "UPDATE", now):
            return
        sdp = sdp_body(request)
        if sdp is None:  # a session refresh (RFC 4028 §7.4) or a target refresh: nothing to negotiate
            self._core.layer.respond(txn, self._ok(session, request, None, now), now)
            self.flush(session, now)
            return
        session._oa.update_in = True
        session._offers.peer = PeerRequest("UPDATE", request, txn, sdp)
        self._offer_arrived(session, sdp, "UPDATE", now)

    def _refused(self, session: InviteSession, request: Request, txn: ServerTransaction, method: str,
                 now: float) -> bool:
        manager = self._manager
        if request.body and sdp_body(request) is None:
            response = manager.error_response(request, 415)
            response.headers.add("Accept", ACCEPT)
            self._core.layer.respond(txn, response, now)
            return True
        status = session._oa.refusal(method, sdp_body(request) is not None)
        if status is not None:
            response = manager.error_response(request, status)
            if status == 500:  # §14.2 / RFC 3311 §5.2: retry within 0-10 s
                response.headers.add("Retry-After", str(random_uint(self._core.entropy, 16) % 11))
            self._core.layer.respond(txn, response, now)
            return True
        minimum = manager.timers.check_request(request) if session.state == CONFIRMED else None
        if minimum is not None:
            response = manager.error_response(request, 422)
            response.headers.add("Min-SE", str(minimum))
            self._core.layer.respond(txn, response, now)
            return True
        return False

    def _offer_arrived(self, session: InviteSession, sdp: bytes | None, method: str, now: float) -> None:
        if sdp is None:
            self._core.emit(OfferNeeded(session, method))
            return
        session._oa.offer = REMOTE
        if sdp == session.remote_sdp and session.local_sdp is not None:
            self.answer_offer(session, session.local_sdp, now)  # unchanged (RFC 3264 §8): same answer
            return
        self._core.emit(OfferReceived(session, sdp, method))

    def answer_offer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """Answer the peer's pending offer: 200 to its re-INVITE/UPDATE, or the ACK to its 2xx.
        Ignored once the session has ended (the owner may still be draining its events)."""
        if session.ended:
            return
        state = session._offers
        peer = state.peer
        oa = session._oa
        if peer is not None and peer.sdp is not None:
            state.peer = None
            oa.offer = None
            self._respond_2xx(session, peer, sdp, now)
            session.local_sdp, session.remote_sdp = sdp, peer.sdp
            self.flush(session, now)
            return
        op = state.current
        if op is not None and op.offer_2xx is not None:
            offer, op.offer_2xx = op.offer_2xx, None
            self._ack(session, op, sdp)
            oa.invite_out = False
            oa.offer = None
            session.local_sdp, session.remote_sdp = sdp, offer
            self._finish(session, op, True, 200, "OK", offer, now)
            return
        raise LocalProtocolError(f"{session.id} has no offer to answer")

    def provide_offer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """Our offer for the peer's offer-less re-INVITE (its ACK brings the answer); ignored once
        the session has ended."""
        if session.ended:
            return
        state = session._offers
        peer = state.peer
        if peer is None or peer.sdp is not None:
            raise LocalProtocolError(f"{session.id} was asked for no offer")
        state.peer = None
        state.offer_in_2xx = sdp
        session._oa.offer = LOCAL
        self._respond_2xx(session, peer, sdp, now)
        session._oa.invite_in = True   # until the ACK with the answer arrives

    def reject_offer(self, session: InviteSession, now: float, status: int = 488, reason: str | None = None,
                     headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Refuse the pending offer (or offer request); the session stays as it was (§14.2).
        Ignored once the session has ended."""
        if session.ended:
            return
        state = session._offers
        peer = state.peer
        oa = session._oa
        if peer is not None:
            if not 300 <= status <= 699:
                raise LocalProtocolError(f"reject_offer needs a 3xx-6xx status, not {status}")
            state.peer = None
            oa.offer = None
            if peer.method == "INVITE":
                oa.invite_in = False
            else:
                oa.update_in = False
            response = self._manager.error_response(peer.request, status, reason)
            for name, value in headers:
                response.headers.add(name, value)
            self._core.layer.respond(peer.txn, response, now)
            self.flush(session, now)
            return
        op = state.current
        if op is not None and op.offer_2xx is not None:
            # §13.2.2.4: an unacceptable offer in a 2xx is ACKed, then the session ends with BYE
            op.offer_2xx = None
            self._ack(session, op, None)
            self._clear(session, op)
            self._failed(session, op, status, reason or "Offer rejected", True, now)
            return
        raise LocalProtocolError(f"{session.id} has no offer to reject")

    def _respond_2xx(self, session: InviteSession, peer: PeerRequest, sdp: bytes, now: float) -> None:
        ok = self._ok(session, peer.request, sdp, now)
        self._core.layer.respond(peer.txn, ok, now)
        if peer.method == "INVITE":
            session._oa.invite_in = False
            self._manager.retransmit_until_ack(session, ok, peer.txn, now)
        else:
            session._oa.update_in = False

    def _ok(self, session: InviteSession, request: Request, sdp: bytes | None, now: float) -> Response:
        """A 2xx to the peer's re-INVITE/UPDATE: refreshes the remote target and the session timer."""
        manager = self._manager
        ok = make_response(request, 200)
        ok.headers.add("Contact", manager.contact(session))
        ok.headers.add("Allow", ALLOW)
        ok.headers.add("Supported", self._core.supported)
        ok.headers.add("Server", self._core.user_agent)
        if session.state == CONFIRMED:
            for name, value in manager.timers.response_headers(session, request, now):
                ok.headers.add(name, value)
        if sdp is not None:
            ok.headers.add("Content-Type", "application/sdp")
            ok.body = sdp
        if session.dialog is not None:
            session.dialog.refresh_target(request)
        return ok

    def on_ack(self, session: InviteSession, request: Request, now: float) -> None:
        """The ACK for our 2xx to a re-INVITE (after the 2xx stopped being re-sent)."""
        state = session._offers
        if state.offer_in_2xx is not None:
            offer, state.offer_in_2xx = state.offer_in_2xx, None
            session._oa.invite_in = False
            session._oa.offer = None
            answer = sdp_body(request)
            if answer is not None:
                session.local_sdp, session.remote_sdp = offer, answer
            self._core.emit(AnswerReceived(session, answer))
        self.flush(session, now)

    def drop(self, session: InviteSession) -> None:
        """The session ended: forget queued work and stop the retry timer."""
        state = session._offers
        state.queue.clear()
        state.current = None
        state.peer = None
        self._core.disarm(session._handler, GLARE)
