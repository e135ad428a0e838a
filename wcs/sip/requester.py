"""One non-INVITE request, in a dialog or outside one, with digest retries (RFC 3261 §8.1, §12.2.1, §22).

:class:`ClientRequest` sends what its ``build`` function makes and answers a 401/407 by
building the request again (next CSeq, new branch) with credentials, once per
challenge (:class:`~wcs.sip.uacore.DigestClient`); the final outcome goes to ``done``.
:func:`in_dialog` and :func:`out_of_dialog` make the ``build`` functions: the first uses
the dialog's route set, remote target and CSeq (§12.2.1.1), the second a fresh Call-ID
and From tag with its own CSeq count, sent like any request of the account (outbound
proxy, §8.1.2).  :class:`OutgoingRequest` is the handle the owner gets for an INFO,
MESSAGE or OPTIONS it sent; :class:`~wcs.sip.events.RequestDone` reports its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wcs.errors import LocalProtocolError
from wcs.sip.errors import SipParseError
from wcs.sip.events import RequestDone
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response
from wcs.sip.transaction import ClientTransaction
from wcs.sip.transport import Address
from wcs.sip.uacore import Account, DigestClient, UaCore
from wcs.sip.uri import SipUri, parse_uri

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession

Build = Callable[[], tuple[Request, Address]]
#: done(status, reason, final response or None (timeout, transport error), now)
Done = Callable[[int, str, Response | None, float], None]


class OutgoingRequest:
    """An INFO, MESSAGE or OPTIONS the owner sent (reported by ``RequestDone``)."""

    def __init__(self, request_id: str, method: str, session: InviteSession | None,
                 account: Account | None, target: str) -> None:
        self.id = request_id
        self.method = method
        self.session = session
        self.account = account
        self.target = target
        #: final status once known
        self.status: int | None = None
        #: free slot for the owner
        self.user_data: object = None

    def __repr__(self) -> str:
        return f"<OutgoingRequest {self.id} {self.method} {self.target} {self.status}>"


class ClientRequest:
    """One non-INVITE request and its digest retries (see the module docstring)."""

    def __init__(self, core: UaCore, build: Build, digest: DigestClient, done: Done) -> None:
        self._core = core
        self._build = build
        self._digest = digest
        self._done = done
        self._txn: ClientTransaction | None = None
        self.request: Request | None = None

    def send(self, now: float) -> None:
        self._digest.new_chain()
        self._send(now)

    def _send(self, now: float) -> None:
        request, dest = self._build()
        self._digest.authorize(request, self._core.cnonce())
        self.request = request
        self._txn = self._core.send(request, dest, now, self)

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        if txn is not self._txn or response.status < 200:
            return
        if response.status in (401, 407) and self._digest.accept(response):
            self._send(now)
            return
        self._txn = None
        self._done(response.status, response.reason, response, now)

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None:
        if txn is self._txn:
            self._txn = None
            self._done(status, reason, None, now)


def in_dialog(core: UaCore, session: InviteSession, method: str,
              headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> Build:
    """Builds ``method`` in the session's dialog (§12.2.1.1), then ``headers`` and User-Agent."""
    def build() -> tuple[Request, Address]:
        dialog = session.dialog
        if dialog is None:
            raise LocalProtocolError(f"{session.id} has no dialog")
        request, next_hop = dialog.build_request(method, core.via(core.branch()),
                                                 extra_headers=headers, body=body)
        request.headers.add("User-Agent", core.user_agent)
        return request, core.destination(request, session.account, next_hop)
    return build


def out_of_dialog(core: UaCore, account: Account, target: SipUri, method: str,
                  headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> Build:
    """Builds ``method`` to ``target`` outside any dialog (§8.1.1): one Call-ID and From tag
    for every retry, CSeq counting up."""
    call_id = core.call_id()
    from_tag = core.tag()
    cseq = 0

    def build() -> tuple[Request, Address]:
        nonlocal cseq
        cseq += 1
        identity = core.identity(account)
        h = Headers()
        h.add("Via", core.via(core.branch()))
        h.add("Max-Forwards", "70")
        h.add("From", f"{identity};tag={from_tag}")
        h.add("To", f"<{target}>")
        h.add("Call-ID", call_id)
        h.add("CSeq", f"{cseq} {method}")
        for name, value in headers:
            h.add(name, value)
        h.add("User-Agent", core.user_agent)
        request = Request(method, target, h, body)
        return request, core.destination(request, account, target)
    return build


def target_uri(core: UaCore, account: Account, target: str, what: str = "call") -> SipUri:
    """The Request-URI for ``target``: a sip:/sips: URI, tel: (→ ``sip:number@domain;user=phone``,
    §19.1.6) or a bare user at the account's domain.  ``what`` words the error."""
    text = target if ":" in target.split("@", 1)[0] or target.startswith(("sip:", "sips:", "tel:")) \
        else f"sip:{target}@{account.domain}"
    try:
        uri = parse_uri(text)
    except SipParseError:
        raise LocalProtocolError(f"cannot {what} {target!r}: not a SIP URI") from None
    if uri.scheme == "tel":
        domain = core.domain_uri(account)
        return SipUri("sip", uri.user, None, domain.host, domain.port, {"user": "phone"})
    if not uri.is_sip:
        raise LocalProtocolError(f"cannot {what} {target!r}: not a SIP URI")
    return uri


def reporter(core: UaCore, handle: OutgoingRequest) -> Done:
    """A ``done`` that records the status on ``handle`` and emits RequestDone."""
    def done(status: int, reason: str, response: Response | None, now: float) -> None:
        handle.status = status
        core.emit(RequestDone(handle, 200 <= status < 300, status, reason, response))
    return done
