"""Instant messages: MESSAGE (RFC 3428) sent outside a dialog, received in or outside one.

A MESSAGE we send is a request of its own (new Call-ID and From tag) to the target,
through the account's outbound proxy, with digest retries; its final response is
reported as RequestDone (RFC 3428 §4: a 2xx means delivered, not read).  A MESSAGE from
the network is answered 200 (without a body, §7) and reported as MessageReceived, with
the session when it came inside a dialog and the registered account its Request-URI
names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wcs.sip.events import MessageReceived
from wcs.sip.message import Request, make_response
from wcs.sip.requester import ClientRequest, OutgoingRequest, out_of_dialog, reporter
from wcs.sip.transaction import ServerTransaction
from wcs.sip.uacore import Account, DigestClient, UaCore
from wcs.sip.uri import SipUri

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession


def send_message(core: UaCore, account: Account, target: SipUri, handle: OutgoingRequest, content_type: str,
                 body: bytes, now: float) -> None:
    build = out_of_dialog(core, account, target, "MESSAGE", [("Content-Type", content_type)], body)
    ClientRequest(core, build, DigestClient(account.credentials), reporter(core, handle)).send(now)


def on_message(core: UaCore, request: Request, txn: ServerTransaction, now: float,
               session: InviteSession | None, account: Account | None) -> None:
    to_tag = None if request.to_tag else core.tag()
    core.layer.respond(txn, make_response(request, 200, to_tag=to_tag), now)
    core.emit(MessageReceived(session, account, request.from_, request.content_type or "", request.body,
                              request))
