"""What the user agent reports to its owner (drained with ``UserAgent.events()``).

Every event is a small dataclass naming the registration, session or request it is
about.  Sessions emit exactly one :class:`CallEnded`; every re-INVITE or UPDATE the UA
sends (the owner's or a session-timer refresh) ends with exactly one
:class:`ReinviteDone`; every INFO, MESSAGE or OPTIONS the owner sends ends with exactly
one :class:`RequestDone`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wcs.sip.message import Request, Response
from wcs.sip.uri import NameAddr

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession
    from wcs.sip.registration import Registration
    from wcs.sip.requester import OutgoingRequest
    from wcs.sip.uacore import Account


@dataclass(eq=False)
class RegistrationChanged:
    """``state``: "registered", "failed" or "unregistered"."""

    registration: Registration
    state: str
    status: int | None
    reason: str


@dataclass(eq=False)
class IncomingCall:
    """A new INVITE; 100 Trying has been sent.

    ``replaces``: the session of ours its Replaces header names (RFC 3891); answering the
    new call ends that one (BYE, or CANCEL while it is early) with cause "replaced".
    """

    session: InviteSession
    request: Request
    replaces: InviteSession | None = None


@dataclass(eq=False)
class CallProgress:
    """A 101-199 response from the callee (with its SDP, if any)."""

    session: InviteSession
    status: int
    reason: str
    sdp: bytes | None


@dataclass(eq=False)
class CallAnswered:
    """UAC: a 2xx arrived and was ACKed.  UAS: the ACK for our 2xx arrived (its SDP, if any)."""

    session: InviteSession
    sdp: bytes | None


@dataclass(eq=False)
class CallEnded:
    """The session is over.

    ``cause``: "local-bye", "remote-bye", "cancelled", "rejected", "failed", "timeout",
    "session-timer" (RFC 4028 expiry: we sent BYE) or "replaced" (RFC 3891: a new call
    took its place).
    """

    session: InviteSession
    cause: str
    status: int | None
    reason: str


@dataclass(eq=False)
class RequestUnhandled:
    """A request the UA answered by itself with an error (405, 481 …), for logging."""

    request: Request
    status: int = 0


# ---------------------------------------------------------------- offer/answer inside a dialog


@dataclass(eq=False)
class ReinviteDone:
    """A re-INVITE or UPDATE we sent is over.

    ``ok``: a 2xx arrived; ``sdp`` is then the peer's answer (or, after an offer-less
    re-INVITE, the offer we answered).  A failure leaves the session as it was, except
    408/481/timeout, which end the call (RFC 3261 §14.1, RFC 4028 §10).  ``refresh``: the
    UA sent it by itself to refresh the session timer.
    """

    session: InviteSession
    ok: bool
    status: int | None
    reason: str
    sdp: bytes | None
    method: str = "INVITE"
    refresh: bool = False


@dataclass(eq=False)
class OfferReceived:
    """The peer offers ``sdp`` (re-INVITE, UPDATE, or the 2xx to our offer-less re-INVITE).

    The owner answers with ``UserAgent.answer_offer`` or refuses with ``reject_offer``.
    """

    session: InviteSession
    sdp: bytes
    method: str


@dataclass(eq=False)
class OfferNeeded:
    """The peer sent an offer-less re-INVITE: ``UserAgent.provide_offer`` puts our offer in
    the 2xx; the answer comes in the ACK (:class:`AnswerReceived`)."""

    session: InviteSession
    method: str = "INVITE"


@dataclass(eq=False)
class AnswerReceived:
    """The answer to an offer we put in a 2xx (in the ACK) or a reliable 1xx (in the PRACK).

    ``sdp`` is None when the ACK carried no answer (a peer fault; descriptions unchanged).
    """

    session: InviteSession
    sdp: bytes | None


# ---------------------------------------------------------------- transfer, INFO, MESSAGE, OPTIONS


@dataclass(eq=False)
class TransferProgress:
    """Progress of a REFER we sent (RFC 3515).

    ``state``: "accepted" (2xx to the REFER), "pending" (subscription pending), "trying"
    (NOTIFY with a 1xx sipfrag), "completed" (2xx sipfrag) or "failed" (REFER refused,
    error sipfrag, or the subscription ended without a final status).  ``status`` and
    ``reason`` come from the REFER's response or the sipfrag status line.
    """

    session: InviteSession
    state: str
    status: int | None
    reason: str


@dataclass(eq=False)
class ReferReceived:
    """The peer asks us to call ``refer_to`` (RFC 3515).

    ``target``: the Refer-To URI without its header part; ``replaces``: the Replaces value
    it carried (attended transfer: put it in the new INVITE).  The owner answers with
    ``accept_refer`` (202 + NOTIFY 100 Trying) or ``reject_refer``, then reports the new
    call with ``notify_refer``.
    """

    session: InviteSession
    refer_to: NameAddr
    target: str
    replaces: str | None
    referred_by: NameAddr | None
    request: Request


@dataclass(eq=False)
class InfoReceived:
    """An INFO in the session's dialog (RFC 6086), answered 200."""

    session: InviteSession
    content_type: str
    body: bytes
    info_package: str | None
    request: Request


@dataclass(eq=False)
class MessageReceived:
    """A MESSAGE (RFC 3428), answered 200; ``session`` is set when it came inside a dialog,
    ``account`` when its Request-URI names a registered account."""

    session: InviteSession | None
    account: Account | None
    sender: NameAddr
    content_type: str
    body: bytes
    request: Request


@dataclass(eq=False)
class RequestDone:
    """An INFO, MESSAGE or OPTIONS we sent got its final response (or timed out: 408).

    ``ok``: 2xx.  ``response`` is None on a timeout or transport failure.
    """

    request: OutgoingRequest
    ok: bool
    status: int
    reason: str
    response: Response | None


@dataclass(eq=False)
class KeepaliveFailed:
    """An OPTIONS keep-alive for a registered account got no response (timeout or transport
    error): the owner may re-register.  Any response, even an error, counts as alive."""

    registration: Registration
    status: int
    reason: str


UaEvent = (RegistrationChanged | IncomingCall | CallProgress | CallAnswered | CallEnded | RequestUnhandled
           | ReinviteDone | OfferReceived | OfferNeeded | AnswerReceived | TransferProgress | ReferReceived
           | InfoReceived | MessageReceived | RequestDone | KeepaliveFailed)
