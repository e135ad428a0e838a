"""The call features of :class:`~wcs.sip.ua.UserAgent`: its methods for re-INVITE/UPDATE offer/answer,
transfer (REFER), INFO, MESSAGE and OPTIONS, and the dispatch of the requests they bring.

Kept apart from ua.py (the I/O surface, registration and calls) so each stays small;
``UserAgent`` inherits :class:`CallFeatures`.  The work is done in reinvite.py,
refer.py, info.py, im.py and options.py; this is the owner-facing surface.
"""

from __future__ import annotations

from wcs.sip.dialog import Dialog
from wcs.sip.im import on_message, send_message
from wcs.sip.info import on_info, send_info
from wcs.sip.invite import InviteSession
from wcs.sip.invite_uas import InviteManager
from wcs.sip.message import Request
from wcs.sip.options import Keepalive, ping_uri, send_options
from wcs.sip.registration import Registration
from wcs.sip.requester import OutgoingRequest, reporter, target_uri
from wcs.sip.transaction import ServerTransaction
from wcs.sip.uaconfig import UaConfig
from wcs.sip.uacore import Account, UaCore


class CallFeatures:
    """Mixed into UserAgent (which sets ``_core``, ``_invites`` and ``_config``).

    The methods that start something (``reinvite``, ``update``, ``refer``, ``info``) raise
    LocalProtocolError on a call that has ended; the ones that answer an event
    (``answer_offer``, ``provide_offer``, ``reject_offer``, ``accept_refer``, ``reject_refer``,
    ``notify_refer``) then do nothing, since the owner may still be draining events that came
    before the CallEnded.
    """

    _core: UaCore
    _invites: InviteManager
    _config: UaConfig
    _keepalives: dict[str, Keepalive]
    _request_counter: int

    # ------------------------------------------------------------ offer/answer in a call

    def reinvite(self, session: InviteSession, sdp: bytes | None, now: float) -> None:
        """Send a re-INVITE offering ``sdp`` (hold: a=sendonly, resume: sendrecv; None: offer-less,
        the 2xx's offer comes as OfferReceived).  Queued while another exchange is in progress;
        ends with ReinviteDone (491 is retried after the RFC 3261 §14.1 delay)."""
        self._invites.offers.reinvite(session, sdp, now)

    def update(self, session: InviteSession, sdp: bytes | None, now: float) -> None:
        """Send an UPDATE (RFC 3311) offering ``sdp``, or without a body (a session refresh);
        ends with ReinviteDone(method="UPDATE")."""
        self._invites.offers.update(session, sdp, now)

    def answer_offer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """Answer the offer of an OfferReceived (200 to the re-INVITE/UPDATE, or our ACK)."""
        self._invites.offers.answer_offer(session, sdp, now)

    def provide_offer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """Our offer for an OfferNeeded (offer-less re-INVITE); AnswerReceived follows."""
        self._invites.offers.provide_offer(session, sdp, now)

    def reject_offer(self, session: InviteSession, now: float, status: int = 488, reason: str | None = None,
                     *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Refuse the pending offer (488 Not Acceptable Here by default; add a Warning in
        ``headers``); the session keeps its descriptions."""
        self._invites.offers.reject_offer(session, now, status, reason, headers)

    # ------------------------------------------------------------ transfer

    def refer(self, session: InviteSession, target: str, now: float, replaces: Dialog | None = None) -> None:
        """Ask the peer to call ``target`` (blind transfer), or with ``replaces`` (the dialog of
        our other call to ``target``) to replace that call (attended transfer, RFC 3891).
        Progress comes as TransferProgress."""
        self._invites.transfers.refer(session, target, now, replaces)

    def accept_refer(self, session: InviteSession, now: float) -> None:
        """202 to the peer's REFER and the first NOTIFY (100 Trying)."""
        self._invites.transfers.accept_refer(session, now)

    def reject_refer(self, session: InviteSession, status: int, now: float,
                     reason: str | None = None) -> None:
        """Refuse the peer's REFER (603 Decline, 403 …)."""
        self._invites.transfers.reject_refer(session, status, reason, now)

    def notify_refer(self, session: InviteSession, status: int, reason: str, now: float) -> None:
        """Tell the referrer how the referred call goes (NOTIFY with ``SIP/2.0 status reason``);
        a final status ends the subscription."""
        self._invites.transfers.notify_refer(session, status, reason, now)

    # ------------------------------------------------------------ INFO, MESSAGE, OPTIONS

    def info(self, session: InviteSession, content_type: str, body: bytes, now: float, *,
             info_package: str | None = None) -> OutgoingRequest:
        """Send an INFO in the call (RFC 6086), e.g. ``application/dtmf-relay`` (info.py helpers)."""
        handle = self._handle("INFO", session, session.account, session.remote_uri)
        send_info(self._core, session, handle, content_type, body, now, info_package)
        return handle

    def message(self, account: Account, target: str, content_type: str, body: bytes,
                now: float) -> OutgoingRequest:
        """Send a MESSAGE (RFC 3428) to ``target``; RequestDone reports delivery."""
        uri = target_uri(self._core, account, target, "send a MESSAGE to")
        handle = self._handle("MESSAGE", None, account, str(uri))
        send_message(self._core, account, uri, handle, content_type, body, now)
        return handle

    def options(self, account: Account, now: float, target: str | None = None) -> OutgoingRequest:
        """Send an OPTIONS to ``target`` (default: the outbound proxy, else the registrar)."""
        uri = ping_uri(self._core, account) if target is None else target_uri(self._core, account, target,
                                                                              "query")
        handle = self._handle("OPTIONS", None, account, str(uri))
        send_options(self._core, account, uri, reporter(self._core, handle), now)
        return handle

    def _handle(self, method: str, session: InviteSession | None, account: Account | None,
                target: str) -> OutgoingRequest:
        self._request_counter += 1
        return OutgoingRequest(f"req-{self._request_counter}", method, session, account, target)

    def _start_keepalive(self, registration: Registration, now: float) -> None:
        interval = self._config.keepalive_interval
        if interval is not None and registration.id not in self._keepalives:
            Keepalive(self._core, registration, interval, self._keepalives).start(now)

    # ------------------------------------------------------------ requests from the peer

    def _dialog_request(self, session: InviteSession, request: Request, txn: ServerTransaction,
                        now: float) -> bool:
        """Handle an in-dialog UPDATE, PRACK, INFO, REFER, NOTIFY or MESSAGE; False: not ours."""
        invites = self._invites
        method = request.method
        if method == "UPDATE":
            invites.offers.on_update(session, request, txn, now)
        elif method == "PRACK":
            invites.prack.on_prack(session, request, txn, now)
        elif method == "INFO":
            on_info(self._core, session, request, txn, now)
        elif method == "REFER":
            invites.transfers.on_refer(session, request, txn, now)
        elif method == "NOTIFY":
            invites.transfers.on_notify(session, request, txn, now)
        elif method == "MESSAGE":
            on_message(self._core, request, txn, now, session, session.account)
        else:
            return False
        return True

    def _message(self, request: Request, txn: ServerTransaction, now: float) -> None:
        """A MESSAGE outside any dialog."""
        on_message(self._core, request, txn, now, None, self._invites.account_for(request))

