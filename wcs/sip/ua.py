"""The SIP user agent: registrations and INVITE sessions over one transaction layer (sans-I/O).

Theory of operation
-------------------
:class:`UserAgent` is what the gateway holds.  Datagrams go in through
``receive_datagram(data, source, now)``; what to send comes out of ``outgoing()``, what
happened out of ``events()``; timers are ``get_timer()`` / ``handle_timer(now)`` (the
earliest of the transaction layer's and the UA's own).  Every call takes ``now``.

Received datagrams are parsed (a malformed request with a usable Via is answered 400
with the parse error's reason as reason phrase, RFC 3261 §8.2; anything else
unparseable is dropped) and handed to the transaction layer.  What it passes up is
dispatched here (§8.2):

* responses → the registration or session that sent the request;
* ACK → the session whose 2xx it acknowledges; CANCEL → the INVITE it matches (§9.2);
* requests with a To tag → their dialog (unknown → 481, CSeq lower than the last → 500,
  §12.2.2): BYE, re-INVITE, UPDATE, PRACK, INFO, REFER, NOTIFY, MESSAGE, OPTIONS; other
  methods → 405;
* requests without a To tag: INVITE → a new session, OPTIONS → 200 with Allow/Accept/
  Supported (§11.2), MESSAGE → 200 and MessageReceived, BYE → 481, anything else → 405
  with Allow (§8.2.1);
* a Require naming an extension other than 100rel, timer and replaces → 420 with
  Unsupported (§8.2.2.3; 100rel too when ``UaConfig.prack`` is "off").

Registration and calls live in :mod:`wcs.sip.registration`, :mod:`wcs.sip.invite`
(caller) and :mod:`wcs.sip.invite_uas` (callee); the call features (re-INVITE/UPDATE,
PRACK, session timers, REFER, INFO, MESSAGE, OPTIONS) in :mod:`wcs.sip.features` and the
modules it names; shared plumbing in :mod:`wcs.sip.uacore`, which also documents where
requests are sent (outbound proxy); the events in :mod:`wcs.sip.events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from wcs.entropy import Entropy, SystemEntropy
from wcs.errors import LocalProtocolError
from wcs.sip.dialog import Dialog
from wcs.sip.errors import SipParseError, SipUsageError
from wcs.sip.events import (
    AnswerReceived,
    InfoReceived,
    KeepaliveFailed,
    MessageReceived,
    OfferNeeded,
    OfferReceived,
    ReferReceived,
    ReinviteDone,
    RequestDone,
    TransferProgress,
)
from wcs.sip.features import CallFeatures
from wcs.sip.invite import InviteSession
from wcs.sip.invite_uas import InviteManager
from wcs.sip.layer import (
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionEvent,
    TransactionTimeout,
    TransportFailure,
)
from wcs.sip.locate import Target
from wcs.sip.message import Message, Request, Response, error_response, parse_message
from wcs.sip.registration import Registration, check_expires
from wcs.sip.requester import OutgoingRequest
from wcs.sip.transaction import ClientTransaction, ServerTransaction
from wcs.sip.transport import Address, Outgoing
from wcs.sip.transport_select import Router, TransportPolicy
from wcs.sip.uaconfig import OPTION_TAGS, UaConfig
from wcs.sip.uacore import (
    ACCEPT,
    ALLOW,
    Account,
    CallAnswered,
    CallEnded,
    CallProgress,
    IncomingCall,
    RegistrationChanged,
    RequestUnhandled,
    ResponseHandler,
    UaCore,
    UaEvent,
)
from wcs.timers import TimerConfig

__all__ = [
    "Account", "AnswerReceived", "CallAnswered", "CallEnded", "CallProgress", "Dialog", "IncomingCall",
    "InfoReceived", "InviteSession", "KeepaliveFailed", "MessageReceived", "OfferNeeded", "OfferReceived",
    "OutgoingRequest", "ReferReceived", "Registration", "RegistrationChanged", "ReinviteDone", "RequestDone",
    "RequestUnhandled", "TransferProgress", "UaConfig", "UaEvent", "UserAgent",
]

DEFAULT_TIMERS = TimerConfig()
_ALLOWED = frozenset(m.strip() for m in ALLOW.split(","))


class UserAgent(CallFeatures):
    """A SIP user agent bound to one local address (see the module docstring).

    ``config`` sets the call features (100rel as callee, session timers, keep-alive pings);
    ``supported`` adds option tags to the ones we implement (100rel, replaces, timer).
    """

    def __init__(self, local: Address, *, timers: TimerConfig = DEFAULT_TIMERS,
                 entropy: Entropy | None = None, user_agent: str = "wcs/0.1",
                 supported: Sequence[str] = (), config: UaConfig | None = None) -> None:
        self.local = local
        self._config = config if config is not None else UaConfig()
        tags = list(OPTION_TAGS) + [tag for tag in supported if tag not in OPTION_TAGS]
        self._core = UaCore(local, timers, entropy if entropy is not None else SystemEntropy(),
                            user_agent, tags)
        self._registrations: dict[str, Registration] = {}
        self._reg_counter = 0
        self._invites = InviteManager(self._core, self._account_for, self._config)
        self._keepalives = {}
        self._request_counter = 0

    # ------------------------------------------------------------ I/O surface

    def receive_datagram(self, data: bytes, source: Address, now: float) -> None:
        """Feed one received datagram; never raises for anything the peer sent."""
        if not data.strip(b"\r\n\t "):
            return  # keep-alive (RFC 5626 §3.5.1 CRLF) or empty datagram
        try:
            message = parse_message(data)
        except SipParseError as exc:
            try:
                reply = error_response(data, exc)
            except (SipParseError, SipUsageError):  # e.g. a bare CR inside a copied header value
                reply = None
            if reply is not None:
                self._core.layer.send_stateless(reply, _reply_address(reply, source))
            return
        self._core.layer.receive(message, source, now)
        self._dispatch(now)

    def outgoing(self) -> list[Outgoing]:
        """Drain the datagrams to send."""
        return self._core.layer.outgoing()

    def events(self) -> list[UaEvent]:
        """Drain what happened since the last call."""
        events, self._core.events = self._core.events, []
        return events

    def get_timer(self) -> float | None:
        """The earliest deadline (transactions and UA timers), or ``None``."""
        deadlines = [t for t in (self._core.layer.get_timer(), self._core.heap.next_deadline())
                     if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        self._core.layer.handle_timer(now)
        self._dispatch(now)
        while due := self._core.heap.pop_due(now):
            for owner, name in due:
                owner.on_timer(name, now)
            self._dispatch(now)

    @property
    def busy(self) -> bool:
        """True while a request we sent still awaits its final response (e.g. at shutdown)."""
        return self._core.layer.pending_requests > 0

    def report_transport_error(self, dest: Address, reason: str, now: float) -> None:
        """The adapter could not send to ``dest`` (unresolvable, unreachable …)."""
        self._core.layer.report_transport_error(dest, reason, now)
        self._dispatch(now)

    # -- transports (wcs/sip/transport_select.py): listeners, §18.1.1 size rule, RFC 3263
    def set_transport_policy(self, policy: TransportPolicy) -> None:
        """Our listeners per transport, the UDP size limit, whether names are located (RFC 3263).

        Call it before sending anything; without it every request keeps ``local``.
        """
        self._core.layer.router = Router(self.local, policy, self._core.entropy)

    @property
    def router(self) -> Router:
        """Targets to locate (``router.queries()``) and transport log lines (``router.notes()``)."""
        return self._core.layer.router

    def located(self, target: Target, addresses: list[Address], now: float, error: str | None = None) -> None:
        """The adapter located ``target`` (RFC 3263): the requests waiting for it go out."""
        self._core.layer.located(target, addresses, now, error)
        self._dispatch(now)

    def receive_message(self, message: Message, source: Address, now: float) -> None:
        """Feed one message framed by the adapter (TCP/TLS ``StreamParser``)."""
        self._core.layer.receive(message, source, now)
        self._dispatch(now)

    # ------------------------------------------------------------ registration

    def register(self, account: Account, now: float, expires: int = 600) -> Registration:
        """REGISTER ``account`` and keep the binding refreshed."""
        check_expires(expires)
        for old in [r for r in self._registrations.values() if r.state == "unregistered"]:
            del self._registrations[old.id]  # forget bindings removed earlier
        self._reg_counter += 1
        reg = Registration(self._core, f"reg-{self._reg_counter}", account, expires)
        self._registrations[reg.id] = reg
        reg.start(now)
        self._start_keepalive(reg, now)
        return reg

    def unregister(self, registration: Registration, now: float) -> None:
        """Remove the binding (REGISTER with Expires: 0); stops refreshing."""
        registration.stop(now)

    @property
    def registrations(self) -> list[Registration]:
        """The registrations this UA keeps (unregistered ones until the next ``register``)."""
        return list(self._registrations.values())

    # ------------------------------------------------------------ calls

    def invite(self, account: Account, target: str, sdp: bytes, now: float, *,
               extra_headers: Sequence[tuple[str, str]] = ()) -> InviteSession:
        """Call ``target`` (a SIP URI, or a user part at the account's domain) with ``sdp``."""
        return self._invites.invite(account, target, sdp, now, extra_headers)

    def cancel_or_bye(self, session: InviteSession, now: float) -> None:
        """Hang up: CANCEL before the answer, BYE after; an unanswered incoming call gets 480."""
        self._invites.hang_up(session, now)

    def ring(self, session: InviteSession, now: float, sdp: bytes | None = None) -> None:
        """180 Ringing, or 183 Session Progress with early media ``sdp``."""
        self._invites.ring(session, now, sdp)

    def answer(self, session: InviteSession, sdp: bytes, now: float) -> None:
        """200 OK with ``sdp``, re-sent until the ACK arrives."""
        self._invites.answer(session, sdp, now)

    def reject(self, session: InviteSession, status: int, reason: str, now: float, *,
               headers: Sequence[tuple[str, str]] = ()) -> None:
        """A final error (486 Busy Here, 603 Decline …) to an incoming INVITE, with extra ``headers``
        (e.g. a ``Warning`` naming why a 488 was sent, RFC 3261 §20.43)."""
        self._invites.reject(session, status, reason, now, headers)

    # ------------------------------------------------------------ dispatch

    def _account_for(self, request: Request) -> Account | None:
        """The registered account an incoming request is addressed to (by Request-URI user)."""
        try:
            user = request.request_uri.user
        except SipParseError:
            return None
        for reg in self._registrations.values():
            if reg.account.user == user and reg.state != "unregistered":
                return reg.account
        return None

    def _dispatch(self, now: float) -> None:
        layer = self._core.layer
        while events := layer.events():
            for event in events:
                try:
                    self._dispatch_one(event, now)
                except SipParseError as exc:
                    # a header the parser let through but this layer needs (Contact,
                    # Record-Route, Require …) is malformed: answer a request, drop a response
                    if isinstance(event, RequestReceived):
                        self._bad_request(event, exc, now)

    def _dispatch_one(self, event: TransactionEvent, now: float) -> None:
        if isinstance(event, ResponseReceived):
            self._handler(event.transaction).on_response(event.transaction, event.response, now)
        elif isinstance(event, RequestReceived):
            self._on_request(event, now)
        elif isinstance(event, StrayResponse):
            self._invites.re_ack(event.response)
        elif isinstance(event, TransactionTimeout):
            if isinstance(event.transaction, ClientTransaction):
                txn = event.transaction
                self._handler(txn).on_failure(txn, 408, "Request Timeout", now)
        elif isinstance(event, TransportFailure):
            if isinstance(event.transaction, ClientTransaction):
                txn = event.transaction
                self._handler(txn).on_failure(txn, 503, event.reason, now)

    def _bad_request(self, event: RequestReceived, exc: SipParseError, now: float) -> None:
        txn = event.transaction
        if txn is None or txn.final_sent:
            return
        self._core.layer.respond(txn, self._invites.error_response(event.request, exc.status_code,
                                                                      exc.reason), now)

    @staticmethod
    def _handler(txn: ClientTransaction) -> ResponseHandler:
        if txn.user_data is None:
            raise LocalProtocolError(f"{txn!r} has no response handler")
        return cast(ResponseHandler, txn.user_data)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request, txn = event.request, event.transaction
        invites = self._invites
        if request.method == "ACK":
            invites.on_ack(request, now)
            return
        if txn is None:
            return
        if request.method == "CANCEL":
            invites.on_cancel(request, txn, event.cancels, now)
            return
        accepted = self._config.accepted_tags
        unsupported = [tag for tag in request.headers.get_list("Require") if tag.lower() not in accepted]
        if unsupported:
            response = invites.error_response(request, 420)
            response.headers.add("Unsupported", ", ".join(unsupported))
            self._core.layer.respond(txn, response, now)
            self._core.emit(RequestUnhandled(request, 420))
            return
        if request.to_tag is not None:
            self._in_dialog(request, txn, now)
        elif request.method == "INVITE":
            invites.on_invite(request, event.source, txn, now)
        elif request.method == "OPTIONS":
            self._options(request, txn, now)
        elif request.method == "MESSAGE":
            self._message(request, txn, now)
        elif request.method == "BYE":
            self._unhandled(request, txn, 481, now)
        else:
            self._unhandled(request, txn, 405, now)

    def _in_dialog(self, request: Request, txn: ServerTransaction, now: float) -> None:
        session = self._invites.by_dialog.get((request.call_id, request.to_tag or "", request.from_tag))
        dialog = session.dialog if session is not None else None
        if session is None or dialog is None or session.ended:
            self._unhandled(request, txn, 481, now)
            return
        if not dialog.accept_remote_cseq(request.cseq.seq):
            self._unhandled(request, txn, 500, now, "CSeq out of order")
            return
        if request.method == "BYE":
            self._invites.on_bye(session, request, txn, now)
        elif request.method == "INVITE":
            self._invites.on_reinvite(session, request, txn, now)
        elif request.method == "OPTIONS":
            self._options(request, txn, now)
        elif not self._dialog_request(session, request, txn, now):
            self._unhandled(request, txn, 405, now)

    def _options(self, request: Request, txn: ServerTransaction, now: float) -> None:
        response = self._invites.error_response(request, 200)
        response.headers.add("Allow", ALLOW)
        response.headers.add("Accept", ACCEPT)
        response.headers.add("Supported", self._core.supported)
        response.headers.add("Server", self._core.user_agent)
        self._core.layer.respond(txn, response, now)

    def _unhandled(self, request: Request, txn: ServerTransaction, status: int, now: float,
                   reason: str | None = None) -> None:
        response = self._invites.error_response(request, status, reason)
        if status == 405 or request.method not in _ALLOWED:
            response.headers.add("Allow", ALLOW)
        self._core.layer.respond(txn, response, now)
        self._core.emit(RequestUnhandled(request, status))


def _reply_address(reply: Response, source: Address) -> Address:
    """Where a stateless reply to an unparseable request goes (§18.2.2 with RFC 3581)."""
    if source.reliable:
        return source
    try:
        via = reply.top_via
    except SipParseError:
        return source
    port = source.port if "rport" in via.params else (via.port or 5060)
    return Address(source.host, port, source.transport)
