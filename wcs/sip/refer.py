"""Call transfer: REFER and its implicit subscription (RFC 3515), sipfrag NOTIFYs, Replaces (RFC 3891).

Theory of operation
-------------------
Transferor (``refer``).  A REFER goes in the session's dialog with ``Refer-To`` (for an
attended transfer the URI carries ``?Replaces=call-id;to-tag=…;from-tag=…``, RFC 3891
§4, naming the other dialog as its far end sees it) and ``Referred-By``.  Its 2xx
reports TransferProgress "accepted", an error "failed".  The implicit subscription's
NOTIFYs (``Event: refer;id=<REFER CSeq>``, §2.4.6; they may come before the 2xx,
§2.4.4) are answered 200 and their ``message/sipfrag`` status line reported: 1xx
"trying" ("pending" while the Subscription-State is pending), 2xx "completed", else
"failed".  ``Subscription-State: terminated`` without a final status reports "failed";
so does silence past the subscription's expiry plus 32 s.  A NOTIFY matching no REFER
gets 481, a foreign event package 489.

Transferee.  An in-dialog REFER with exactly one Refer-To (else 400, §2.4.1) is
reported (ReferReceived) with the Replaces value its URI carries.  ``accept_refer``
answers 202 and sends the first NOTIFY ("SIP/2.0 100 Trying", subscription active for
120 s); ``notify_refer`` reports the new call's progress, a final status ending the
subscription (``terminated;reason=noresource``); so does expiry (``reason=timeout``).
``reject_refer`` answers with an error.  One REFER at a time per session: another one
meanwhile gets 500 with Retry-After.

Replaces in an incoming INVITE is matched by the callee code (``match_replaces``):
the to-tag is our local tag, the from-tag the remote one (§3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wcs.entropy import random_uint
from wcs.errors import LocalProtocolError
from wcs.sip.dialog import CONFIRMED, Dialog
from wcs.sip.errors import SipParseError
from wcs.sip.events import ReferReceived, TransferProgress
from wcs.sip.grammar import parse_params
from wcs.sip.message import Request, make_response
from wcs.sip.requester import ClientRequest, in_dialog
from wcs.sip.transaction import ServerTransaction
from wcs.sip.uacore import ALLOW
from wcs.sip.uri import parse_name_addr, parse_uri

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession
    from wcs.sip.invite_uas import InviteManager

SIPFRAG = "message/sipfrag;version=2.0"
#: how long the subscription of a REFER we accept lasts (Subscription-State expires)
SUBSCRIPTION = 120
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) ?([^\r\n]*)")


@dataclass(frozen=True)
class ReplacesId:
    """A parsed Replaces header (RFC 3891 §6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


def replaces_value(dialog: Dialog, early_only: bool = False) -> str:
    """The Replaces value naming ``dialog`` as its far end sees it (to-tag = its local tag)."""
    value = f"{dialog.call_id};to-tag={dialog.remote_tag or ''};from-tag={dialog.local_tag}"
    return value + (";early-only" if early_only else "")


def parse_replaces(value: str) -> ReplacesId:
    """Raises SipParseError("Malformed Replaces header")."""
    call_id, _, rest = value.strip().partition(";")
    params = parse_params(";" + rest) if rest else {}
    call_id = call_id.strip()
    if not call_id or params is None or not params.get("to-tag") or not params.get("from-tag"):
        raise SipParseError("Malformed Replaces header")
    return ReplacesId(call_id, params["to-tag"] or "", params["from-tag"] or "", "early-only" in params)


def sipfrag(status: int, reason: str) -> bytes:
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> tuple[int, str]:
    """The status line of a message/sipfrag body; raises SipParseError("Malformed sipfrag body")."""
    m = _STATUS_LINE.match(body.decode("utf-8", "replace").lstrip())
    if m is None:
        raise SipParseError("Malformed sipfrag body")
    return int(m.group(1)), m.group(2).strip()


def _event(request: Request) -> tuple[str, str | None]:
    """(package, id) of the Event header; raises SipParseError("Malformed Event header")."""
    package, _, rest = (request.headers.get("Event") or "").partition(";")
    params = parse_params(";" + rest) if rest else {}
    if params is None or not package.strip():
        raise SipParseError("Malformed Event header")
    return package.strip().lower(), params.get("id")


def _subscription_state(request: Request) -> tuple[str, dict[str, str | None]]:
    state, _, rest = (request.headers.get("Subscription-State") or "").partition(";")
    params = parse_params(";" + rest) if rest else {}
    if params is None or not state.strip():
        raise SipParseError("Malformed Subscription-State header")
    return state.strip().lower(), params


class ReferOut:
    """A REFER we sent and its subscription."""

    __slots__ = ("client", "final", "number")

    def __init__(self, number: int) -> None:
        self.number = number
        self.client: ClientRequest | None = None
        self.final = False

    @property
    def cseq(self) -> int | None:
        """CSeq of the latest attempt (the NOTIFYs' ``id``)."""
        request = self.client.request if self.client is not None else None
        return request.cseq.seq if request is not None else None


class ReferIn:
    """A REFER from the peer the owner is handling."""

    __slots__ = ("accepted", "request", "txn")

    def __init__(self, request: Request, txn: ServerTransaction) -> None:
        self.request = request
        self.txn = txn
        self.accepted = False


class Transfers:
    """REFER/NOTIFY for the INVITE sessions of one UA (see the module docstring)."""

    def __init__(self, manager: InviteManager) -> None:
        self._manager = manager
        self._core = manager.core
        self._counter = 0

    # ------------------------------------------------------------ transferor

    def refer(self, session: InviteSession, target: str, now: float, replaces: Dialog | None = None) -> None:
        if session.ended or session.state != CONFIRMED or session.dialog is None:
            raise LocalProtocolError("a REFER needs a confirmed call")
        try:
            uri = parse_uri(target)
        except SipParseError:
            raise LocalProtocolError(f"cannot transfer to {target!r}: not a URI") from None
        if replaces is not None:
            if replaces.remote_tag is None:
                raise LocalProtocolError("Replaces needs a dialog with a remote tag")
            uri = replace(uri, headers={**uri.headers, "Replaces": replaces_value(replaces)})
        core = self._core
        account = session.account
        referred_by = f"<{core.aor(account)}>" if account is not None else self._manager.contact(session)
        headers = [("Refer-To", f"<{uri}>"), ("Referred-By", referred_by),
                   ("Contact", self._manager.contact(session)), ("Allow", ALLOW),
                   ("Supported", core.supported)]
        self._counter += 1
        ref = ReferOut(self._counter)
        ref.client = ClientRequest(core, in_dialog(core, session, "REFER", headers), session._digest,
                                   lambda status, reason, response, when: self._refer_done(
                                       session, ref, status, reason, when))
        session._refers.append(ref)
        ref.client.send(now)

    def _refer_done(self, session: InviteSession, ref: ReferOut, status: int, reason: str,
                    now: float) -> None:
        if ref not in session._refers or session.ended or ref.final:
            return
        if 200 <= status < 300:
            self._core.emit(TransferProgress(session, "accepted", status, reason))
            self._core.arm(session._handler, f"refer {ref.number}", now + SUBSCRIPTION + 32.0)
        elif not ref.final:
            self._finish(session, ref, "failed", status, reason)
            self._forget(session, ref)

    def on_notify(self, session: InviteSession, request: Request, txn: ServerTransaction, now: float) -> None:
        package, event_id = _event(request)
        if package != "refer":
            self._reply(request, txn, 489, now)
            return
        ref = next((r for r in session._refers if event_id is None or str(r.cseq) == event_id.strip()), None)
        if ref is None:
            self._reply(request, txn, 481, now, "Subscription does not exist")
            return
        state, params = _subscription_state(request)
        status, reason = parse_sipfrag(request.body)
        self._reply(request, txn, 200, now)
        if not ref.final:
            if status >= 300:
                self._finish(session, ref, "failed", status, reason)
            elif status >= 200:
                self._finish(session, ref, "completed", status, reason)
            else:
                self._core.emit(TransferProgress(session, "pending" if state == "pending" else "trying",
                                                 status, reason))
        if state == "terminated":
            if not ref.final:
                self._finish(session, ref, "failed", None, params.get("reason") or "Subscription terminated")
            self._forget(session, ref)
            return
        expires = params.get("expires")
        if expires is not None and expires.isdigit():
            self._core.arm(session._handler, f"refer {ref.number}", now + int(expires) + 32.0)

    def _finish(self, session: InviteSession, ref: ReferOut, state: str, status: int | None,
                reason: str) -> None:
        ref.final = True
        self._core.emit(TransferProgress(session, state, status, reason))

    def _forget(self, session: InviteSession, ref: ReferOut) -> None:
        if ref in session._refers:
            session._refers.remove(ref)
        self._core.disarm(session._handler, f"refer {ref.number}")

    def _reply(self, request: Request, txn: ServerTransaction, status: int, now: float,
               reason: str | None = None) -> None:
        self._core.layer.respond(txn, make_response(request, status, reason), now)

    # ------------------------------------------------------------ transferee

    def on_refer(self, session: InviteSession, request: Request, txn: ServerTransaction, now: float) -> None:
        values = request.headers.get_all("Refer-To")
        if len(values) != 1:
            self._reply(request, txn, 400, now, "Missing Refer-To header" if not values
                        else "Multiple Refer-To headers")
            return
        try:
            refer_to = parse_name_addr(values[0])
        except SipParseError:
            raise SipParseError("Malformed Refer-To header") from None
        if session._refer_in is not None or session.state != CONFIRMED:
            response = make_response(request, 500, "Transfer in progress" if session._refer_in else None)
            response.headers.add("Retry-After", str(random_uint(self._core.entropy, 16) % 11))
            self._core.layer.respond(txn, response, now)
            return
        uri = refer_to.uri
        replaces = next((v for k, v in uri.headers.items() if k.lower() == "replaces"), None)
        target = str(replace(uri, headers={})) if uri.opaque is None else str(uri)
        referred_by = None
        value = request.headers.get("Referred-By")
        if value is not None:
            try:
                referred_by = parse_name_addr(value)
            except SipParseError:
                referred_by = None
        session._refer_in = ReferIn(request, txn)
        self._core.emit(ReferReceived(session, refer_to, target, replaces, referred_by, request))

    def _pending(self, session: InviteSession, what: str) -> ReferIn:
        ref = session._refer_in
        if ref is None:
            raise LocalProtocolError(f"cannot {what}: {session.id} has no REFER to handle")
        return ref

    def accept_refer(self, session: InviteSession, now: float) -> None:
        if session.ended:
            return
        ref = self._pending(session, "accept a REFER")
        if ref.accepted:
            raise LocalProtocolError("the REFER was accepted already")
        ref.accepted = True
        response = make_response(ref.request, 202)
        response.headers.add("Contact", self._manager.contact(session))
        self._core.layer.respond(ref.txn, response, now)
        self._notify(session, ref, 100, "Trying", f"active;expires={SUBSCRIPTION}", now)
        self._core.arm(session._handler, "refer-in", now + SUBSCRIPTION)

    def reject_refer(self, session: InviteSession, status: int, reason: str | None, now: float) -> None:
        if session.ended:
            return
        ref = self._pending(session, "reject a REFER")
        if ref.accepted or not 300 <= status <= 699:
            raise LocalProtocolError("reject_refer needs an unanswered REFER and a 3xx-6xx status")
        session._refer_in = None
        self._reply(ref.request, ref.txn, status, now, reason)

    def notify_refer(self, session: InviteSession, status: int, reason: str, now: float) -> None:
        """Report the referred call's progress; a final status ends the subscription.  Ignored
        once the subscription is over."""
        ref = session._refer_in
        if ref is None or not ref.accepted or session.ended:
            return
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"notify_refer needs a SIP status, not {status}")
        if status < 200:
            self._notify(session, ref, status, reason, "active", now)
            return
        session._refer_in = None
        self._core.disarm(session._handler, "refer-in")
        self._notify(session, ref, status, reason, "terminated;reason=noresource", now)

    def _notify(self, session: InviteSession, ref: ReferIn, status: int, reason: str, state: str,
                now: float) -> None:
        core = self._core
        headers = [("Event", f"refer;id={ref.request.cseq.seq}"), ("Subscription-State", state),
                   ("Contact", self._manager.contact(session)), ("Content-Type", SIPFRAG)]
        build = in_dialog(core, session, "NOTIFY", headers, sipfrag(status, reason))
        ClientRequest(core, build, session._digest, lambda *args: None).send(now)

    # ------------------------------------------------------------ timers and the end

    def on_timer(self, session: InviteSession, name: str, now: float) -> None:
        if name == "refer-in":
            ref = session._refer_in
            if ref is not None and ref.accepted and not session.ended:
                session._refer_in = None
                self._notify(session, ref, 100, "Trying", "terminated;reason=timeout", now)
            return
        for out in list(session._refers):
            if name == f"refer {out.number}":
                if not out.final:
                    self._finish(session, out, "failed", None, "Subscription expired")
                self._forget(session, out)

    def drop(self, session: InviteSession) -> None:
        for ref in list(session._refers):
            self._forget(session, ref)
        session._refer_in = None
        self._core.disarm(session._handler, "refer-in")


def match_replaces(value: str, by_dialog: dict[tuple[str, str, str | None], InviteSession]
                   ) -> tuple[InviteSession | None, int | None]:
    """The session an INVITE's Replaces names, or the status to refuse it with (RFC 3891 §3).

    481 when nothing matches or the dialog is an early one we did not initiate, 603 when it
    has ended, 486 for ``early-only`` on a confirmed dialog.  Raises SipParseError (→ 400).
    """
    rid = parse_replaces(value)
    session = by_dialog.get((rid.call_id, rid.to_tag, rid.from_tag))
    if session is None:
        return None, 481
    if session.ended:
        return None, 603
    if session.state == CONFIRMED:
        return (None, 486) if rid.early_only else (session, None)
    if session.incoming:
        return None, 481
    return session, None
