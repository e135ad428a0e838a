"""Client registration: REGISTER with digest, refresh before expiry, un-REGISTER (RFC 3261 §10.2).

Theory of operation
-------------------
A :class:`Registration` binds our Contact to the account's address of record.  All its
REGISTERs share one Call-ID and count CSeq up by one (§10.2); only one is in flight
at a time (§10.2: "UAs MUST NOT send a new registration until they have received a
final response ... for the previous one").

==============  ==============================  ======================================
state           input                           action → next state
==============  ==============================  ======================================
registering     401 / 407                       retry once with credentials (§22.2);
                                                again (not stale) → failed
registering     423 + Min-Expires               retry once with that interval (§10.2.8)
registering     2xx                             → registered; refresh armed
registering     other final / timeout           → failed (timeouts and 5xx retry later)
registered      refresh timer                   REGISTER again → registering*
unregistering   any final / timeout             → unregistered
==============  ==============================  ======================================

(* a refresh keeps the public state "registered"; only its failure is reported.)

The granted interval is the ``expires`` parameter of our Contact in the 200, else
the Expires header, else what we asked for (§10.2.4).  The refresh runs
``min(expires/2, expires-30 s)`` after the REGISTER was sent (half the interval when
that is less than one second).
"""

from __future__ import annotations

from wcs.errors import LocalProtocolError
from wcs.sip.errors import SipParseError
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response
from wcs.sip.transaction import ClientTransaction
from wcs.sip.uacore import Account, DigestClient, RegistrationChanged, UaCore
from wcs.sip.uri import SipUri

REGISTERING = "registering"
REGISTERED = "registered"
FAILED = "failed"
UNREGISTERING = "unregistering"
UNREGISTERED = "unregistered"

#: after a timeout, 5xx or transport failure the registration is tried again this much later
RETRY_AFTER = 60.0


def refresh_delay(expires: int) -> float:
    """Seconds from sending a REGISTER to refreshing the binding it got."""
    delay = min(expires * 0.5, expires - 30.0)
    return delay if delay >= 1.0 else expires * 0.5


class Registration:
    """One address-of-record binding kept alive by the UA."""

    def __init__(self, core: UaCore, reg_id: str, account: Account, expires: int) -> None:
        self.id = reg_id
        self.account = account
        #: the interval we ask for
        self.expires = expires
        #: the interval the registrar granted in its last 200 (None before)
        self.granted: int | None = None
        #: "registering" "registered" "failed" "unregistering" "unregistered"
        self.state = REGISTERING
        self.user_data: object = None
        self._core = core
        self._call_id = core.call_id()
        self._from_tag = core.tag()
        self._cseq = 0
        self._digest = DigestClient(account.credentials)
        self._txn: ClientTransaction | None = None
        self._sent_at = 0.0
        self._tried_min_expires = False
        self._unregister_pending = False
        self._reported = ""

    def __repr__(self) -> str:
        return f"<Registration {self.id} {self.account.user}@{self.account.domain} {self.state}>"

    @property
    def refresh_at(self) -> float | None:
        """When the next REGISTER (refresh or retry) goes out, if one is planned."""
        return self._core.heap.deadline((self, "refresh"))

    # ------------------------------------------------------------ actions

    def start(self, now: float) -> None:
        self._digest.new_chain()
        self._tried_min_expires = False
        self._send(now, self.expires)

    def stop(self, now: float) -> None:
        """Remove the binding (REGISTER with Expires 0), once the pending one is answered."""
        if self.state in (UNREGISTERING, UNREGISTERED):
            return
        self._core.disarm(self, "refresh")
        if self._txn is not None:
            self._unregister_pending = True
            return
        if self.state == FAILED and self.granted is None:
            self._report(UNREGISTERED, None, "Not registered")
            return
        self.state = UNREGISTERING
        self._digest.new_chain()
        self._send(now, 0)

    def _send(self, now: float, expires: int) -> None:
        core = self._core
        account = self.account
        self._cseq += 1
        domain = core.domain_uri(account)
        request_uri = SipUri("sip", None, None, domain.host, domain.port)
        identity = core.identity(account)
        headers = Headers()
        headers.add("Via", core.via(core.branch()))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"{identity};tag={self._from_tag}")
        headers.add("To", str(identity))
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} REGISTER")
        request = Request("REGISTER", request_uri, headers)
        core.common_headers(request, account, contact=True)
        request.headers.add("Expires", str(expires))
        self._digest.authorize(request, core.cnonce())
        dest = core.destination(request, account, request_uri)
        self._sent_at = now
        self._txn = core.send(request, dest, now, self)

    # ------------------------------------------------------------ outcomes

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None:
        status = response.status
        if txn is not self._txn or status < 200:
            return
        self._txn = None
        if status in (401, 407) and self._digest.accept(response):
            self._send(now, self._asked(txn))
            return
        if status == 423 and self.state != UNREGISTERING:
            minimum = _min_expires(response)
            if minimum is not None and minimum > self._asked(txn) and not self._tried_min_expires:
                self._tried_min_expires = True
                self.expires = minimum
                self._send(now, minimum)
                return
        if self.state == UNREGISTERING:
            self._report(UNREGISTERED, status, response.reason)
        elif 200 <= status < 300:
            self._registered(response, now)
        else:
            self._failed(status, response.reason, now)
        self._after_final(now)

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None:
        if txn is not self._txn:
            return
        self._txn = None
        if self.state == UNREGISTERING:
            self._report(UNREGISTERED, status, reason)
        else:
            self._failed(status, reason, now)
        self._after_final(now)

    def on_timer(self, name: str, now: float) -> None:
        if self._txn is not None or self.state in (UNREGISTERING, UNREGISTERED):
            return
        self.start(now)

    def _after_final(self, now: float) -> None:
        if self._unregister_pending:
            self._unregister_pending = False
            self.stop(now)

    def _asked(self, txn: ClientTransaction) -> int:
        value = txn.request.headers.get("Expires") or "0"
        return int(value) if value.isdigit() else 0

    def _registered(self, response: Response, now: float) -> None:
        granted = self._granted_expires(response)
        if granted <= 0:
            self._failed(response.status, "Registrar granted no binding", now)
            return
        self.granted = granted
        self._core.arm(self, "refresh", self._sent_at + refresh_delay(granted))
        self._report(REGISTERED, response.status, response.reason)

    def _failed(self, status: int, reason: str, now: float) -> None:
        self.granted = None
        if status == 408 or status >= 500:
            self._core.arm(self, "refresh", now + RETRY_AFTER)
        self._report(FAILED, status, reason)

    def _report(self, state: str, status: int | None, reason: str) -> None:
        self.state = state
        key = f"{state} {status} {reason}"
        if state == REGISTERED and self._reported.startswith(REGISTERED):
            return  # a successful refresh is no news
        self._reported = key
        self._core.emit(RegistrationChanged(self, state, status, reason))

    def _granted_expires(self, response: Response) -> int:
        ours = self._core.contact_uri(self.account)
        try:
            contacts = response.name_addrs("Contact")
        except SipParseError:  # a malformed Contact list: fall back to the Expires header
            contacts = []
        for contact in contacts:
            uri = contact.uri
            if (uri.user == ours.user and uri.host.lower() == ours.host.lower()
                    and (uri.port or 5060) == (ours.port or 5060)):
                value = contact.params.get("expires")
                if value is not None and value.isdigit():
                    return int(value)
        header = response.headers.get("Expires")
        if header is not None and header.strip().isdigit():
            return int(header.strip())
        return self.expires


def _min_expires(response: Response) -> int | None:
    value = response.headers.get("Min-Expires")
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def check_expires(expires: int) -> None:
    if not 0 < expires < 2**32:
        raise LocalProtocolError("expires must be between 1 and 2**32-1 seconds")
