"""INVITE sessions: the caller's side (UAC, RFC 3261 §13.2, §9.1, §15) and what both sides share.

Theory of operation
-------------------
An :class:`InviteSession` is one INVITE dialog usage.  Its public state moves
``calling`` → ``early`` (a provisional with a To tag was sent/received) →
``confirmed`` (2xx) → ``terminated``; every session ends with exactly one
:class:`~wcs.sip.uacore.CallEnded` event.

Caller side (this module; the callee side is :mod:`wcs.sip.invite_uas`):

==========  ===========================  ==================================================
state       input                        action → next state
==========  ===========================  ==================================================
calling     100                          remember "a provisional arrived" (§9.1)
calling     101-199                      early dialog if To tag (§12.1.2), CallProgress,
                                         Timer C armed → early
any         401/407 (first, or stale)    INVITE again with credentials, CSeq+1 (§22.2)
any         2xx                          dialog confirmed, ACK (§13.2.2.4) → confirmed,
                                         CallAnswered (or ACK+BYE if we hung up meanwhile)
confirmed   2xx again                    the same ACK again; 2xx from another fork:
                                         ACK + BYE on that dialog
any         300-699 / Timer B            CallEnded ("rejected" for 486/600/603, "failed",
                                         "cancelled" after our CANCEL, "timeout")
hang-up     before any provisional       wait: CANCEL once one arrives (§9.1)
hang-up     after a provisional          CANCEL; 487 ends it ("cancelled"); no final
                                         within 64*T1 ends it anyway (§9.1)
hang-up     confirmed                    BYE; its final response or timeout → CallEnded
Timer C     early (no final in 3 min)    CANCEL, cause "timeout" (§16.6 step 11, used by UAs)
==========  ===========================  ==================================================

Sessions stay known for 64*T1 after they end so late 2xx retransmissions are re-ACKed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, TypeVar

from wcs.sip.auth import Credentials
from wcs.sip.dialog import CONFIRMED, TERMINATED, Dialog
from wcs.sip.errors import SipParseError
from wcs.sip.events import AnswerReceived
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response
from wcs.sip.negotiation import LOCAL, OfferAnswer
from wcs.sip.reinvite import OfferState, sdp_body
from wcs.sip.requester import target_uri
from wcs.sip.session_timer import SessionTimer
from wcs.sip.transaction import ClientTransaction, ServerTransaction
from wcs.sip.transport import Address
from wcs.sip.uacore import (
    Account,
    CallAnswered,
    CallEnded,
    CallProgress,
    DigestClient,
    UaCore,
)
from wcs.sip.uri import SipUri

if TYPE_CHECKING:
    from wcs.sip.prack import Prack, Reliable
    from wcs.sip.refer import ReferIn, ReferOut, Transfers
    from wcs.sip.reinvite import Offers
    from wcs.sip.session_timer import SessionTimers

K = TypeVar("K", bound=Hashable)

CALLING = "calling"
EARLY = "early"

_BUSY = (486, 600, 603)


class InviteSession:
    """One INVITE dialog usage, UAC (``incoming`` False) or UAS."""

    def __init__(self, session_id: str, incoming: bool, account: Account | None, remote_uri: str,
                 remote_display_name: str | None, core: UaCore) -> None:
        self.id = session_id
        self.incoming = incoming
        #: "calling" "early" "confirmed" "terminated"
        self.state = CALLING
        self.account = account
        self.remote_uri = remote_uri
        self.remote_display_name = remote_display_name
        self.local_sdp: bytes | None = None
        self.remote_sdp: bytes | None = None
        #: the peer's User-Agent (its INVITE) or Server (its first response) header, if any
        self.remote_user_agent: str | None = None
        self.dialog: Dialog | None = None
        #: free slot for the owner (the gateway keeps its Call here)
        self.user_data: object = None
        # -- internals shared by both roles
        self._handler = _SessionHandler(self)
        self._digest = DigestClient(account.credentials if account else Credentials("", ""))
        self._call_id = ""
        self._local_tag = ""
        self._invite: Request | None = None          # the INVITE sent (UAC) / received (UAS)
        self._bye_txn: ClientTransaction | None = None
        self._end_cause: str | None = None           # set when we decided to hang up
        self._ended = False
        # -- UAC
        self._target: SipUri | None = None
        self._cseq = 0
        self._sdp_offer = b""
        self._extra: tuple[tuple[str, str], ...] = ()
        self._txn: ClientTransaction | None = None
        self._provisional = False
        self._cancel_pending = False
        self._cancel_sent = False
        self._ack: tuple[Request, Address] | None = None
        # -- UAS
        self._server_txn: ServerTransaction | None = None
        self._ok: Response | None = None             # 2xx being retransmitted until ACK
        self._ok_txn: ServerTransaction | None = None  # … through (or after) this transaction
        self._ok_interval = 0.0
        self._ok_cseq = 0
        self._answered = False                       # ACK for the initial 2xx arrived
        self._bye_after_ack = False
        # -- call features (negotiation.py, reinvite.py, session_timer.py, prack.py, refer.py)
        #: the session of ours an incoming INVITE's Replaces names (RFC 3891)
        self.replaces: InviteSession | None = None
        self._oa = OfferAnswer()
        self._offers = OfferState()
        self._st = SessionTimer()
        self._peer_allow: frozenset[str] = frozenset()       # methods the peer's Allow listed
        self._early: dict[str, Dialog] = {}                  # UAC early dialogs by To tag
        self._rseq: dict[tuple[str, int], int] = {}          # UAC: last RSeq per (To tag, CSeq)
        self._rel: Reliable | None = None                    # UAS: reliable provisionals
        self._refers: list[ReferOut] = []                    # REFERs we sent
        self._refer_in: ReferIn | None = None                # a REFER we are handling

    def __repr__(self) -> str:
        role = "in" if self.incoming else "out"
        return f"<InviteSession {self.id} {role} {self.remote_uri} {self.state}>"

    @property
    def ended(self) -> bool:
        """True once CallEnded was emitted."""
        return self._ended


class _SessionHandler:
    """Routes transaction outcomes and timers of one session to the manager."""

    manager: InviteManagerBase

    def __init__(self, session: InviteSession) -> None:
        self.session = session

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        self.manager.on_response(self.session, txn, response, now)

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None:
        self.manager.on_failure(self.session, txn, status, reason, now)

    def on_timer(self, name: str, now: float) -> None:
        self.manager.on_timer(self.session, name, now)


class InviteManagerBase:
    """Creates and drives the INVITE sessions of one user agent: the caller's side.

    The callee's side is added by :class:`wcs.sip.invite_uas.InviteManager`, which also
    creates the call features below.
    """

    prack: Prack
    timers: SessionTimers
    offers: Offers
    transfers: Transfers

    def __init__(self, core: UaCore, account_for: Callable[[Request], Account | None]) -> None:
        self.core = core
        self.account_for = account_for
        self._counter = 0
        self.by_dialog: dict[tuple[str, str, str | None], InviteSession] = {}
        self.by_call: dict[tuple[str, str], InviteSession] = {}   # (Call-ID, local tag)
        self.by_server_txn: dict[ServerTransaction, InviteSession] = {}
        self.by_invite: dict[tuple[str, str | None, int], InviteSession] = {}  # UAS merge check

    def _new_session(self, incoming: bool, account: Account | None, remote_uri: str,
                     display: str | None) -> InviteSession:
        self._counter += 1
        session = InviteSession(f"{'in' if incoming else 'out'}-{self._counter}", incoming, account,
                                remote_uri, display, self.core)
        session._handler.manager = self
        return session

    # ------------------------------------------------------------ UAC: placing a call

    def invite(self, account: Account, target: str, sdp: bytes, now: float,
               extra_headers: Sequence[tuple[str, str]] = ()) -> InviteSession:
        uri = target_uri(self.core, account, target)
        session = self._new_session(False, account, str(uri), None)
        session._target = uri
        session._call_id = self.core.call_id()
        session._local_tag = self.core.tag()
        session._sdp_offer = sdp
        session.local_sdp = sdp
        session._extra = tuple(extra_headers)
        self.by_call[(session._call_id, session._local_tag)] = session
        self._send_invite(session, now)
        return session

    def _send_invite(self, session: InviteSession, now: float) -> None:
        core = self.core
        account = session.account
        assert account is not None and session._target is not None
        session._cseq += 1
        session._provisional = False
        identity = core.identity(account)
        headers = Headers()
        headers.add("Via", core.via(core.branch()))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"{identity};tag={session._local_tag}")
        headers.add("To", f"<{session._target}>")
        headers.add("Call-ID", session._call_id)
        headers.add("CSeq", f"{session._cseq} INVITE")
        request = Request("INVITE", session._target, headers, session._sdp_offer)
        core.common_headers(request, account, contact=True)
        request.headers.add("Content-Type", "application/sdp")
        for name, value in self.timers.request_headers(session):
            request.headers.add(name, value)
        for name, value in session._extra:
            request.headers.add(name, value)
        session._digest.authorize(request, core.cnonce())
        dest = core.destination(request, account, session._target)
        session._invite = request
        session._txn = core.send(request, dest, now, session._handler)
        session._oa.invite_out = True
        session._oa.offer = LOCAL

    def hang_up(self, session: InviteSession, now: float, cause: str | None = None) -> None:
        """``cancel_or_bye`` for either role; ``cause`` overrides the CallEnded cause."""
        if session._ended or session._end_cause is not None:
            return
        if session.incoming:
            self.uas_hang_up(session, now, cause)
            return
        session._end_cause = cause or "cancelled"
        if session.state == CONFIRMED:
            session._end_cause = cause or "local-bye"
            self.send_bye(session, now)
        elif session._provisional:
            self._send_cancel(session, now)
        else:
            session._cancel_pending = True  # §9.1: no CANCEL before a provisional response

    def _send_cancel(self, session: InviteSession, now: float) -> None:
        invite, txn = session._invite, session._txn
        if invite is None or txn is None or session._cancel_sent:
            return
        session._cancel_pending = False
        session._cancel_sent = True
        headers = Headers()
        headers.add("Via", invite.headers.get_list("Via")[0])   # §9.1: same branch
        headers.add("Max-Forwards", "70")
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        for name in ("From", "To", "Call-ID"):
            headers.add(name, invite.headers.get(name) or "")
        headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
        headers.add("User-Agent", self.core.user_agent)
        cancel = Request("CANCEL", invite.uri, headers)
        self.core.send(cancel, txn.dest, now, session._handler)
        # §9.1: without a final response to the INVITE within 64*T1 it is considered cancelled
        self.core.arm(session._handler, "cancel-guard", now + self.core.timers.timer_b)

    # ------------------------------------------------------------ transaction outcomes

    def on_response(self, session: InviteSession, txn: ClientTransaction, response: Response,
                    now: float) -> None:
        if txn.method == "INVITE":
            self._invite_response(session, txn, response, now)
        elif txn.method == "BYE":
            self._bye_response(session, txn, response, now)
        # CANCEL: its 200 means nothing by itself; the 487 to the INVITE ends the call

    def on_failure(self, session: InviteSession, txn: ClientTransaction, status: int, reason: str,
                   now: float) -> None:
        if txn.method == "INVITE" and txn is session._txn:
            cause = session._end_cause or ("timeout" if status == 408 else "failed")
            self.end(session, cause, status, reason, now)
        elif txn.method == "BYE" and txn is session._bye_txn:
            self.end(session, session._end_cause or "local-bye", status, reason, now)

    def on_timer(self, session: InviteSession, name: str, now: float) -> None:
        if name == "timer-c":
            if not session._ended and session.state in (CALLING, EARLY):
                session._end_cause = "timeout"
                self._send_cancel(session, now)
        elif name == "cancel-guard":
            self.end(session, session._end_cause or "cancelled", None, "No response to CANCEL", now)
        elif name == "purge":
            self._forget(session)
        elif name.startswith("st-"):
            self.timers.on_timer(session, name, now)
        elif name.startswith("rel1xx"):
            self.prack.on_timer(session, name, now)
        elif name == "glare":
            self.offers.on_timer(session, now)
        elif name.startswith("refer"):
            self.transfers.on_timer(session, name, now)
        else:
            self.uas_timer(session, name, now)

    def _invite_response(self, session: InviteSession, txn: ClientTransaction, response: Response,
                         now: float) -> None:
        status = response.status
        if session.remote_user_agent is None and status > 100:
            session.remote_user_agent = response.headers.get("Server") or response.headers.get("User-Agent")
        if 200 <= status < 300:
            self._uac_2xx(session, response, now)
            return
        if txn is not session._txn or session._ended:
            return  # an INVITE we replaced (auth retry) or a session already over
        if status < 200:
            self._uac_provisional(session, response, now)
            return
        self.core.disarm(session._handler, "timer-c")
        if status in (401, 407) and session._end_cause is None and session._digest.accept(response):
            self._send_invite(session, now)
            return
        if status == 422 and session._end_cause is None and self.timers.retry_after_422(session, response):
            self._send_invite(session, now)   # RFC 4028 §7.3: again with the larger Min-SE
            return
        if session._end_cause is not None:
            cause = session._end_cause
        elif status in _BUSY:
            cause = "rejected"
        else:
            cause = "failed"
        self.end(session, cause, status, response.reason, now)

    def _uac_provisional(self, session: InviteSession, response: Response, now: float) -> None:
        session._provisional = True
        if session._cancel_pending:
            self._send_cancel(session, now)
        if response.status == 100:
            return
        assert session._invite is not None
        if response.to_tag is not None:
            self._early_dialog(session, response)
        if not self.prack.uac_provisional(session, response, now):
            return  # a retransmitted or out-of-order reliable 1xx (RFC 3262 §4)
        if session.state == CALLING:
            session.state = EARLY
        sdp = sdp_body(response)
        if sdp is not None:
            session.remote_sdp = sdp
        self.core.arm(session._handler, "timer-c", now + self.core.timers.timer_c)
        if session._end_cause is None:
            self.core.emit(CallProgress(session, response.status, response.reason, sdp))

    def _early_dialog(self, session: InviteSession, response: Response) -> None:
        """The early dialog of the 1xx's To tag (one per fork, kept for its CSeq count)."""
        assert session._invite is not None and response.to_tag is not None
        dialog = session._early.get(response.to_tag)
        if dialog is not None:
            dialog.refresh_target(response)
            session.dialog = dialog
            return
        try:
            dialog = Dialog.from_uac(session._invite, response)
        except SipParseError:
            return  # unusable Record-Route/Contact in a provisional: no early dialog
        session._early[response.to_tag] = dialog
        session.dialog = dialog
        self.by_dialog[dialog.id] = session

    def _uac_2xx(self, session: InviteSession, response: Response, now: float) -> None:
        invite = session._invite
        assert invite is not None
        if response.cseq.seq != invite.cseq.seq:
            return  # a 2xx to an INVITE we replaced: the session follows the latest one
        dialog = session.dialog
        if dialog is not None and dialog.state == CONFIRMED:
            if response.to_tag == dialog.remote_tag:
                if session._ack is not None:  # a retransmission: the same ACK again
                    self.core.layer.send_stateless(*session._ack)
            else:
                self._ack_and_bye_fork(session, response, now)
            return
        if session._ended:  # a 2xx for a call that is over already: ACK and end it at once
            self._ack_and_bye_fork(session, response, now)
            return
        self.core.disarm(session._handler, "timer-c")
        dialog = session._early.get(response.to_tag or "", dialog)
        try:
            if dialog is not None and dialog.remote_tag == response.to_tag:
                dialog.confirm_from_2xx(response)
            else:
                dialog = Dialog.from_uac(invite, response)
        except SipParseError as exc:
            # cannot even ACK properly; give up on the call
            self.end(session, "failed", 502, exc.reason, now)
            return
        dialog.state = CONFIRMED
        session.dialog = dialog
        self.by_dialog[dialog.id] = session
        session._ack = self._send_ack(session, dialog, invite)
        session.state = CONFIRMED
        session._answered = True
        session._peer_allow = allowed(response)
        session._oa.invite_out = False
        session._oa.offer = None
        sdp = sdp_body(response)
        if sdp is not None:
            session.remote_sdp = sdp
        if session._end_cause is not None:
            # we hung up (CANCEL) but the callee answered first: ACK, then BYE (§15)
            self.send_bye(session, now)
            return
        self.timers.on_2xx_received(session, response, now)
        self.core.emit(CallAnswered(session, sdp))
        self.offers.flush(session, now)

    def _send_ack(self, session: InviteSession, dialog: Dialog, invite: Request) -> tuple[Request, Address]:
        """The ACK for a 2xx (§13.2.2.4): an in-dialog request with the INVITE's CSeq and credentials."""
        core = self.core
        ack, next_hop = dialog.build_request("ACK", core.via(core.branch()), cseq=invite.cseq.seq)
        for name in ("Authorization", "Proxy-Authorization"):
            for value in invite.headers.get_all(name):
                ack.headers.add(name, value)
        ack.headers.add("User-Agent", core.user_agent)
        dest = core.destination(ack, session.account, next_hop)
        core.layer.send_stateless(ack, dest)
        return ack, dest

    def _ack_and_bye_fork(self, session: InviteSession, response: Response, now: float) -> None:
        """A 2xx we do not want (another fork, a call already over): ACK it, then BYE (§13.2.2.4)."""
        assert session._invite is not None
        try:
            fork = Dialog.from_uac(session._invite, response)
        except SipParseError:
            return
        self._send_ack(session, fork, session._invite)
        core = self.core
        bye, next_hop = fork.build_request("BYE", core.via(core.branch()))
        bye.headers.add("User-Agent", core.user_agent)
        core.send(bye, core.destination(bye, session.account, next_hop), now, _Ignore())

    def re_ack(self, response: Response) -> bool:
        """A 2xx that matched no transaction (after Timer M): re-ACK it if it is ours."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return False
        session = self.by_call.get((response.call_id, response.from_tag or ""))
        if session is None or session._ack is None or session.dialog is None:
            return False
        last = session._offers.last_ack
        if response.to_tag != session.dialog.remote_tag:
            return True
        if last is not None and response.cseq.seq == last[0]:
            self.core.layer.send_stateless(last[1], last[2])   # a late 2xx to a re-INVITE
        elif response.cseq.seq == session._ack[0].cseq.seq:
            self.core.layer.send_stateless(*session._ack)
        return True

    # ------------------------------------------------------------ BYE (both roles)

    def send_bye(self, session: InviteSession, now: float, *, retry: bool = False) -> None:
        """BYE in the session's dialog (``retry``: again, after a challenge)."""
        dialog = session.dialog
        if dialog is None or (session._bye_txn is not None and not retry):
            return
        core = self.core
        bye, next_hop = dialog.build_request("BYE", core.via(core.branch()))
        bye.headers.add("User-Agent", core.user_agent)
        if not retry:
            session._digest.new_chain()
        session._digest.authorize(bye, core.cnonce())
        session._bye_txn = core.send(bye, core.destination(bye, session.account, next_hop), now,
                                     session._handler)

    def _bye_response(self, session: InviteSession, txn: ClientTransaction, response: Response,
                      now: float) -> None:
        if txn is not session._bye_txn or response.status < 200:
            return
        if response.status in (401, 407) and session._digest.accept(response):
            self.send_bye(session, now, retry=True)
            return
        self.end(session, session._end_cause or "local-bye", response.status, response.reason, now)

    # ------------------------------------------------------------ ending

    def end(self, session: InviteSession, cause: str, status: int | None, reason: str,
            now: float) -> None:
        """Emit CallEnded once, stop the session's timers, forget it 64*T1 later."""
        if session._ended:
            return
        session._ended = True
        session.state = TERMINATED
        if session.dialog is not None:
            session.dialog.state = TERMINATED
        handler = session._handler
        for name in ("timer-c", "cancel-guard", "2xx", "2xx-giveup", "no-answer"):
            self.core.disarm(handler, name)
        session._ok = None
        self.timers.stop(session)
        self.prack.stop(session)
        self.offers.drop(session)
        self.transfers.drop(session)
        self.core.arm(handler, "purge", now + self.core.timers.timer_b)
        self.core.emit(CallEnded(session, cause, status, reason))

    def expire(self, session: InviteSession, now: float) -> None:
        """RFC 4028 §10: no refresh in time: BYE, CallEnded("session-timer") at once."""
        session._end_cause = "session-timer"
        self.send_bye(session, now)
        self.end(session, "session-timer", None, "Session expired", now)

    def bye_and_end(self, session: InviteSession, status: int | None, reason: str, now: float) -> None:
        """A request in the dialog got 408/481 or timed out (§12.2.1.2): BYE, CallEnded("failed")."""
        if session.ended:
            return
        session._end_cause = "failed"
        self.send_bye(session, now)
        self.end(session, "failed", status, reason, now)

    def answer_received(self, session: InviteSession, sdp: bytes | None) -> None:
        """The answer to an offer we made in a reliable 1xx or a 2xx arrived."""
        self.core.emit(AnswerReceived(session, sdp))

    def contact(self, session: InviteSession) -> str:
        """Our Contact in the session; without an account, the user the caller asked for."""
        user = None
        if session.account is None and session.incoming and session._invite is not None:
            user = session._invite.request_uri.user
        return self.core.contact(session.account, user)

    def _forget(self, session: InviteSession) -> None:
        _drop(self.by_dialog, session)
        _drop(self.by_call, session)
        _drop(self.by_server_txn, session)
        _drop(self.by_invite, session)

    # hooks for the callee side (wcs/sip/invite_uas.py)
    def uas_hang_up(self, session: InviteSession, now: float, cause: str | None = None) -> None:
        raise NotImplementedError

    def uas_timer(self, session: InviteSession, name: str, now: float) -> None:
        raise NotImplementedError


class _Ignore:
    """Response handler for fire-and-forget requests (BYE to an unwanted fork)."""

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        pass

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None:
        pass


def _drop(table: dict[K, InviteSession], session: InviteSession) -> None:
    for key in [k for k, v in table.items() if v is session]:
        del table[key]



def allowed(message: Request | Response) -> frozenset[str]:
    """The methods an Allow header lists (upper case)."""
    return frozenset(method.upper() for method in message.headers.get_list("Allow") if method)
