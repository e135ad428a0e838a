"""INVITE sessions: the callee's side (UAS, RFC 3261 §13.3, §9.2, §15).

Theory of operation
-------------------
A new INVITE is checked first: 421 when we require 100rel and the caller lacks it
(RFC 3262 §3), 422 when its Session-Expires is below our Min-SE (RFC 4028 §9), 400/481/
603/486 for a Replaces we cannot honour (RFC 3891 §3).  It is then answered at once
with 100 Trying and reported as IncomingCall; the owner decides with ``ring`` /
``answer`` / ``reject``.  18x go reliably when the caller supports 100rel (prack.py),
and the 2xx waits for the PRACK of a reliable 1xx with SDP; the 2xx carries the session
timer the caller asked for (session_timer.py); answering a call that replaces another
ends that one with cause "replaced".  re-INVITEs in a confirmed dialog go to
reinvite.py.

==========  ============================  ==================================================
state       input                         action → next state
==========  ============================  ==================================================
calling     ring (sdp?)                   180 (183 with SDP) with our To tag → early
calling/    answer(sdp)                   200 + Contact + SDP → confirmed; the 2xx is
early                                     re-sent every T1, 2T1 … capped at T2 until the ACK
                                          (§13.3.1.4; on every transport)
confirmed   ACK                           retransmissions stop, CallAnswered (first ACK)
confirmed   no ACK within 64*T1           BYE, CallEnded("failed")
calling/    reject(status)                final error, CallEnded("rejected")
early
calling/    CANCEL                        200 to the CANCEL, 487 to the INVITE (§9.2),
early                                     CallEnded("cancelled")
any         BYE                           200 (487 to a pending INVITE), CallEnded("remote-bye")
confirmed   re-INVITE                     offer/answer (reinvite.py); its 2xx is re-sent
                                          until its ACK like any 2xx
calling/    re-INVITE                     500 + Retry-After 0-10 s (§14.2)
early
hang-up     before the answer             480 Temporarily Unavailable, CallEnded("rejected")
calling/    no answer within Timer C      480 No Answer, CallEnded("timeout")
early       (3 min)
hang-up     200 sent, no ACK yet          BYE as soon as the ACK arrives (§15)
hang-up     confirmed                     BYE; its outcome → CallEnded("local-bye")
==========  ============================  ==================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wcs.entropy import random_uint
from wcs.errors import LocalProtocolError
from wcs.sip.dialog import CONFIRMED, EARLY, Dialog
from wcs.sip.invite import InviteManagerBase, InviteSession, allowed
from wcs.sip.message import Request, Response, make_response
from wcs.sip.negotiation import LOCAL, REMOTE
from wcs.sip.prack import Prack
from wcs.sip.refer import Transfers, match_replaces
from wcs.sip.reinvite import Offers, sdp_body
from wcs.sip.session_timer import SessionTimers
from wcs.sip.transaction import ServerTransaction
from wcs.sip.transport import Address
from wcs.sip.uaconfig import UaConfig
from wcs.sip.uacore import ACCEPT, ALLOW, Account, CallAnswered, IncomingCall, RequestUnhandled, UaCore


class InviteManager(InviteManagerBase):
    """Both sides of INVITE sessions (the caller's side is inherited) and the call features."""

    def __init__(self, core: UaCore, account_for: Callable[[Request], Account | None],
                 config: UaConfig) -> None:
        super().__init__(core, account_for)
        self.config = config
        self.prack = Prack(self, config)
        self.timers = SessionTimers(self, config)
        self.offers = Offers(self, config)
        self.transfers = Transfers(self)

    # ------------------------------------------------------------ requests from the network

    def on_invite(self, request: Request, source: Address, txn: ServerTransaction, now: float) -> None:
        """A dialog-creating INVITE (no To tag)."""
        key = (request.call_id, request.from_tag, request.cseq.seq)
        if key in self.by_invite:  # §8.2.2.2: the same request again over another path
            self.reply(request, txn, 482, now)
            return
        if not request.request_uri.is_sip:  # §8.2.2.1
            self.reply(request, txn, 416, now)
            return
        if request.body and sdp_body(request) is None:
            response = self.error_response(request, 415)
            response.headers.add("Accept", ACCEPT)
            self.core.layer.respond(txn, response, now)
            return
        if request.contact is None:
            self.reply(request, txn, 400, now, "Missing Contact header")
            return
        if self.prack.uas_invite(request) is not None:
            response = self.error_response(request, 421)
            response.headers.add("Require", "100rel")
            self.core.layer.respond(txn, response, now)
            return
        minimum = self.timers.check_request(request)
        if minimum is not None:
            response = self.error_response(request, 422)
            response.headers.add("Min-SE", str(minimum))
            self.core.layer.respond(txn, response, now)
            return
        replaced = None
        values = request.headers.get_all("Replaces")
        if values:
            if len(values) > 1:  # RFC 3891 §3
                self.reply(request, txn, 400, now, "Multiple Replaces headers")
                return
            replaced, refusal = match_replaces(values[0], self.by_dialog)
            if refusal is not None:
                self.reply(request, txn, refusal, now)
                return
        caller = request.from_
        session = self._new_session(True, self.account_for(request), str(caller.uri),
                                    caller.display_name or None)
        session._invite = request
        session._server_txn = txn
        session._call_id = request.call_id
        session._local_tag = self.core.tag()
        session.remote_sdp = sdp_body(request)
        session.remote_user_agent = request.headers.get("User-Agent")
        session.replaces = replaced
        session._peer_allow = allowed(request)
        session._oa.invite_in = True
        if session.remote_sdp is not None:
            session._oa.offer = REMOTE
        self.by_server_txn[txn] = session
        self.by_invite[key] = session
        self.core.layer.respond(txn, make_response(request, 100), now)
        # nobody answers within Timer C: give up (480) rather than keep the INVITE forever
        self.core.arm(session._handler, "no-answer", now + self.core.timers.timer_c)
        self.core.emit(IncomingCall(session, request, replaced))

    def on_reinvite(self, session: InviteSession, request: Request, txn: ServerTransaction,
                    now: float) -> None:
        """An INVITE inside the session's dialog."""
        if session.state != CONFIRMED:
            # §14.2: the initial INVITE is still pending → 500 with Retry-After 0-10 s
            response = self.error_response(request, 500)
            response.headers.add("Retry-After", str(random_uint(self.core.entropy, 16) % 11))
            self.core.layer.respond(txn, response, now)
            return
        self.offers.on_invite(session, request, txn, now)

    def on_ack(self, request: Request, now: float) -> None:
        """An ACK for a 2xx (no transaction matched it)."""
        session = self.by_dialog.get((request.call_id, request.to_tag or "", request.from_tag))
        if session is None or session._ok is None or request.cseq.seq != session._ok_cseq:
            return  # a retransmitted or unknown ACK: nothing to do (§13.3.1.4)
        self._stop_retransmitting(session)
        if session._answered:
            self.offers.on_ack(session, request, now)   # the ACK to a re-INVITE's 2xx
        else:
            session._answered = True
            sdp = sdp_body(request)
            oa = session._oa
            if oa.offer == LOCAL and sdp is not None:   # our offer in the 2xx (delayed offer)
                session.remote_sdp = sdp
            oa.invite_in = False
            oa.offer = None
            if not session.ended:
                self.core.emit(CallAnswered(session, sdp))
                self.offers.flush(session, now)
        if session._bye_after_ack:
            session._bye_after_ack = False
            self.send_bye(session, now)

    def on_cancel(self, request: Request, txn: ServerTransaction, cancels: ServerTransaction | None,
                  now: float) -> None:
        session = self.by_server_txn.get(cancels) if cancels is not None else None
        if session is None or cancels is None:
            self.reply(request, txn, 481, now)
            self.core.emit(RequestUnhandled(request, 481))
            return
        self.core.layer.respond(txn, make_response(request, 200, to_tag=session._local_tag), now)
        if not cancels.final_sent:
            self._final_error(session, 487, None, now)
            self.end(session, "cancelled", 487, "Request Terminated", now)

    def on_bye(self, session: InviteSession, request: Request, txn: ServerTransaction,
               now: float) -> None:
        self.core.layer.respond(txn, make_response(request, 200), now)
        if session.incoming and session._server_txn is not None and not session._server_txn.final_sent:
            self._final_error(session, 487, None, now)
        self._stop_retransmitting(session)
        self.end(session, "remote-bye", None, "BYE", now)

    # ------------------------------------------------------------ the owner's decisions

    def ring(self, session: InviteSession, now: float, sdp: bytes | None) -> None:
        txn = self._pending(session, "ring")
        assert session._invite is not None
        response = make_response(session._invite, 183 if sdp else 180, to_tag=session._local_tag)
        response.headers.add("Contact", self.contact(session))
        if sdp:
            response.headers.add("Content-Type", "application/sdp")
            response.body = sdp
            session.local_sdp = sdp
        self._uas_dialog(session, EARLY)
        session.state = EARLY
        if self.prack.reliable(session):
            self.prack.send_provisional(session, txn, response, now)
        else:
            self.core.layer.respond(txn, response, now)

    def answer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        self._pending(session, "answer")
        sdp = self.prack.answer_sdp(session, sdp)
        session.local_sdp = sdp
        self.core.disarm(session._handler, "no-answer")
        if not self.prack.hold_2xx(session, sdp):
            self.send_answer(session, sdp, now)

    def send_answer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """The 2xx (now, or once the PRACK it waited for arrived); a replaced call ends."""
        txn = session._server_txn
        assert session._invite is not None and txn is not None
        self._uas_dialog(session, CONFIRMED)
        session.state = CONFIRMED
        ok = self._ok_response(session, session._invite, sdp)
        for name, value in self.timers.response_headers(session, session._invite, now):
            ok.headers.add(name, value)
        oa = session._oa
        if oa.offer is None and session.remote_sdp is None:
            oa.offer = LOCAL        # offer-less INVITE: the ACK brings the answer
        else:
            oa.offer = None
            oa.invite_in = False
        self.core.layer.respond(txn, ok, now)
        self.retransmit_until_ack(session, ok, txn, now)
        if session.replaces is not None:
            self.hang_up(session.replaces, now, "replaced")   # RFC 3891 §3

    def reject(self, session: InviteSession, status: int, reason: str, now: float,
               headers: Sequence[tuple[str, str]] = ()) -> None:
        if not 300 <= status <= 699:
            raise LocalProtocolError(f"reject needs a 3xx-6xx status, not {status}")
        self._pending(session, "reject")
        self._final_error(session, status, reason, now, headers)
        self.end(session, "rejected", status, reason, now)

    def uas_hang_up(self, session: InviteSession, now: float, cause: str | None = None) -> None:
        txn = session._server_txn
        if txn is not None and not txn.final_sent:
            self._final_error(session, 480, None, now)
            self.end(session, "rejected", 480, "Temporarily Unavailable", now)
            return
        session._end_cause = cause or "local-bye"
        if session._ok is not None and not session._answered:
            session._bye_after_ack = True  # §15: no BYE before the ACK (or its timeout)
        else:
            self.send_bye(session, now)

    # ------------------------------------------------------------ timers

    def uas_timer(self, session: InviteSession, name: str, now: float) -> None:
        ok = session._ok
        if name == "no-answer":
            txn = session._server_txn
            if txn is not None and not txn.final_sent and not session.ended:
                self._final_error(session, 480, "No Answer", now)
                self.end(session, "timeout", 480, "No Answer", now)
            return
        if name == "2xx" and ok is not None:
            txn = session._ok_txn
            if txn is not None and not txn.terminated:  # Accepted: the transaction passes it on
                self.core.layer.respond(txn, ok, now)
            elif txn is not None:
                self.core.layer.send_stateless(ok, txn.reply_to)
            session._ok_interval = min(2 * session._ok_interval, self.core.timers.t2)
            self.core.arm(session._handler, "2xx", now + session._ok_interval)
        elif name == "2xx-giveup" and ok is not None:
            # §13.3.1.4: no ACK within 64*T1: the dialog is confirmed but the session ends
            self._stop_retransmitting(session)
            session._end_cause = session._end_cause or "failed"
            session._bye_after_ack = False
            self.send_bye(session, now)
            self.end(session, "failed", 408, "No ACK for 200 OK", now)

    # ------------------------------------------------------------ helpers

    def reply(self, request: Request, txn: ServerTransaction, status: int, now: float,
              reason: str | None = None) -> None:
        """A final response built from the request alone (a fresh To tag when it had none)."""
        self.core.layer.respond(txn, self.error_response(request, status, reason), now)

    def error_response(self, request: Request, status: int, reason: str | None = None) -> Response:
        return make_response(request, status, reason,
                             to_tag=None if request.to_tag else self.core.tag())

    def _pending(self, session: InviteSession, what: str) -> ServerTransaction:
        txn = session._server_txn
        if not session.incoming or txn is None:
            raise LocalProtocolError(f"{what} is for incoming calls")
        held = session._rel is not None and session._rel.held_2xx is not None
        if session.ended or txn.final_sent or held:
            raise LocalProtocolError(f"cannot {what}: the INVITE was answered already")
        return txn

    def give_up_prack(self, session: InviteSession, now: float) -> None:
        """RFC 3262 §3: a reliable 1xx unacknowledged for 64*T1: 5xx to the INVITE."""
        self._final_error(session, 500, "No PRACK", now)
        self.end(session, "failed", 500, "No PRACK", now)

    def _final_error(self, session: InviteSession, status: int, reason: str | None, now: float,
                     headers: Sequence[tuple[str, str]] = ()) -> None:
        assert session._invite is not None and session._server_txn is not None
        response = make_response(session._invite, status, reason, to_tag=session._local_tag)
        for name, value in headers:
            response.headers.add(name, value)
        self.core.disarm(session._handler, "no-answer")
        self.core.layer.respond(session._server_txn, response, now)

    def _ok_response(self, session: InviteSession, request: Request, sdp: bytes) -> Response:
        ok = make_response(request, 200, to_tag=session._local_tag)
        core = self.core
        ok.headers.add("Contact", self.contact(session))
        ok.headers.add("Allow", ALLOW)
        ok.headers.add("Supported", core.supported)
        ok.headers.add("Server", core.user_agent)
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = sdp
        return ok

    def _uas_dialog(self, session: InviteSession, state: str) -> None:
        if session.dialog is None:
            assert session._invite is not None
            session.dialog = Dialog.from_uas(session._invite, session._local_tag)
            self.by_dialog[session.dialog.id] = session
        session.dialog.state = state

    def retransmit_until_ack(self, session: InviteSession, ok: Response, txn: ServerTransaction,
                              now: float) -> None:
        session._ok = ok
        session._ok_txn = txn
        session._ok_cseq = txn.request.cseq.seq
        session._ok_interval = self.core.timers.t1
        self.core.arm(session._handler, "2xx", now + session._ok_interval)
        self.core.arm(session._handler, "2xx-giveup", now + self.core.timers.timer_h)

    def _stop_retransmitting(self, session: InviteSession) -> None:
        session._ok = None
        self.core.disarm(session._handler, "2xx")
        self.core.disarm(session._handler, "2xx-giveup")
