"""What the parts of the user agent share: accounts, events, message plumbing, digest retries.

:class:`UaCore` holds the transaction layer, the injected entropy and timer values, the
UA's own timer heap (registration refresh, 2xx retransmission …), the event queue and
the helpers that build the common header fields (Via, Contact, From) and decide where
a request goes.

Where requests go (RFC 3261 §8.1.2).  Without an outbound proxy a request goes to its
next hop: the first Route, else the Request-URI (host, port or 5060, transport
parameter; no DNS in the core).  With an outbound proxy (``Account.proxy``) every
request of that account is *sent* to the proxy, and a pre-loaded ``Route: <sip:proxy;lr>``
tells the proxy to forward it by its Request-URI: on requests outside a dialog always,
inside a dialog when the route set does not already start at the proxy (a proxy that
record-routed is the first hop already).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wcs.entropy import Entropy, random_token
from wcs.errors import LocalProtocolError
from wcs.sip.auth import Challenge, Credentials, authorization, choose_challenge
from wcs.sip.dialog import uri_address
from wcs.sip.errors import SipParseError
from wcs.sip.events import (  # re-exported: the event types used to live here
    CallAnswered,
    CallEnded,
    CallProgress,
    IncomingCall,
    RegistrationChanged,
    RequestUnhandled,
    UaEvent,
)
from wcs.sip.ids import new_branch, new_call_id, new_tag
from wcs.sip.layer import TransactionLayer
from wcs.sip.message import Request, Response
from wcs.sip.transaction import ClientTransaction
from wcs.sip.transport import Address
from wcs.sip.uri import NameAddr, SipUri, parse_uri
from wcs.timers import TimerConfig, TimerHeap

__all__ = [
    "ACCEPT", "ALLOW", "Account", "CallAnswered", "CallEnded", "CallProgress", "DigestClient", "IncomingCall",
    "RegistrationChanged", "RequestUnhandled", "ResponseHandler", "TimerOwner", "UaCore", "UaEvent",
]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO, MESSAGE"
ACCEPT = "application/sdp"


@dataclass
class Account:
    """One SIP identity the gateway acts for."""

    user: str                      # From/To/Contact user part
    domain: str                    # registrar / From domain ("host" or "host:port")
    auth_user: str | None = None   # digest user name (defaults to ``user``)
    password: str = ""
    display_name: str | None = None
    proxy: Address | None = None   # outbound proxy; None → the Request-URI's host
    contact_params: dict[str, str | None] = field(default_factory=dict)

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.auth_user or self.user, self.password)


# ---------------------------------------------------------------- plumbing


class ResponseHandler(Protocol):
    """Whoever sent a request through :meth:`UaCore.send` hears about its outcome."""

    def on_response(self, txn: ClientTransaction, response: Response, now: float) -> None: ...

    def on_failure(self, txn: ClientTransaction, status: int, reason: str, now: float) -> None: ...


class TimerOwner(Protocol):
    def on_timer(self, name: str, now: float) -> None: ...


class UaCore:
    """Shared state of one user agent (see the module docstring)."""

    def __init__(self, local: Address, timers: TimerConfig, entropy: Entropy, user_agent: str,
                 supported: Sequence[str] = ()) -> None:
        self.local = local
        self.timers = timers
        self.entropy = entropy
        self.user_agent = user_agent
        self.supported = ", ".join(supported)
        self.layer = TransactionLayer(timers=timers)
        self.heap: TimerHeap[tuple[TimerOwner, str]] = TimerHeap()
        self.events: list[UaEvent] = []

    # -- identifiers
    def branch(self) -> str:
        return new_branch(self.entropy)

    def tag(self) -> str:
        return new_tag(self.entropy)

    def call_id(self) -> str:
        return new_call_id(self.entropy)

    def cnonce(self) -> str:
        return random_token(self.entropy, 16)

    # -- header values
    def via(self, branch: str) -> str:
        """Our Via with ``rport`` (RFC 3581 §3) and ``branch``."""
        host = f"[{self.local.host}]" if ":" in self.local.host else self.local.host
        return f"SIP/2.0/{self.local.transport.upper()} {host}:{self.local.port};rport;branch={branch}"

    def contact_uri(self, account: Account | None, user: str | None = None) -> SipUri:
        """Our Contact URI: the account's user and contact parameters (else ``user``)."""
        params: dict[str, str | None] = {}
        if self.local.transport != "udp":
            params["transport"] = self.local.transport
        if account is not None:
            params.update(account.contact_params)
            user = account.user
        return SipUri("sip", user, None, self.local.host, self.local.port, params)

    def contact(self, account: Account | None, user: str | None = None) -> str:
        return f"<{self.contact_uri(account, user)}>"

    def aor(self, account: Account) -> SipUri:
        """``sip:user@domain`` of the account."""
        domain = self.domain_uri(account)
        return SipUri("sip", account.user, None, domain.host, domain.port)

    def identity(self, account: Account) -> NameAddr:
        """The account as a From/To value (without tag)."""
        return NameAddr(self.aor(account), account.display_name)

    @staticmethod
    def domain_uri(account: Account) -> SipUri:
        try:
            return parse_uri(f"sip:{account.domain}")
        except SipParseError:
            raise LocalProtocolError(f"account domain {account.domain!r} is not a host[:port]") from None

    def common_headers(self, request: Request, account: Account | None, *, contact: bool) -> None:
        """Contact (optional), Allow, Supported and User-Agent, as every UA request carries."""
        if contact:
            request.headers.add("Contact", self.contact(account))
        request.headers.add("Allow", ALLOW)
        request.headers.add("Supported", self.supported)
        request.headers.add("User-Agent", self.user_agent)

    # -- where requests go
    @staticmethod
    def proxy_route(proxy: Address) -> str:
        host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
        transport = "" if proxy.transport == "udp" else f";transport={proxy.transport}"
        port = f":{proxy.port}" if proxy.port else ""   # 0: not given, RFC 3263 SRV applies
        return f"<sip:{host}{port}{transport};lr>"

    def destination(self, request: Request, account: Account | None, next_hop: SipUri) -> Address:
        """Next-hop address for ``request``; adds the pre-loaded proxy Route when needed."""
        proxy = account.proxy if account is not None else None
        if proxy is None:
            return uri_address(next_hop)
        routes = request.name_addrs("Route")
        if routes and uri_address(routes[0].uri) == proxy:
            return proxy
        if routes:
            request.headers.prepend("Route", self.proxy_route(proxy))
        else:  # after Via and Max-Forwards, where a Route is expected
            names = [name.lower() for name, _ in request.headers]
            index = names.index("max-forwards") + 1 if "max-forwards" in names else len(names)
            request.headers.insert(index, "Route", self.proxy_route(proxy))
        return proxy

    # -- sending and timers
    def send(self, request: Request, dest: Address, now: float, owner: ResponseHandler) -> ClientTransaction:
        txn = self.layer.send_request(request, dest, now)
        txn.user_data = owner
        return txn

    def arm(self, owner: TimerOwner, name: str, deadline: float) -> None:
        self.heap.schedule((owner, name), deadline)

    def disarm(self, owner: TimerOwner, name: str) -> None:
        self.heap.cancel((owner, name))

    def emit(self, event: UaEvent) -> None:
        self.events.append(event)


class DigestClient:
    """Answers digest challenges for one request chain (RFC 3261 §22.2, §22.3).

    Challenges are kept per header and realm (§22.3: a proxy's 407 and the registrar's 401
    may both need answers, each in its own ``Proxy-Authorization``/``Authorization``), each
    with its own nonce count.  One retry per challenge: after we answered a realm, another
    401/407 for it fails the chain unless it says ``stale=true`` (a nonce that merely
    expired), which gets one more try.  The challenges are kept so later requests (a
    registration refresh, the in-dialog BYE) carry credentials at once.
    """

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        #: (header name, realm) → (challenge, nonce count used so far)
        self._challenges: dict[tuple[str, str], tuple[Challenge, int]] = {}
        self._tries: dict[tuple[str, str], int] = {}

    @property
    def challenge(self) -> Challenge | None:
        """The challenge answered most recently (None before any)."""
        return next(reversed(self._challenges.values()))[0] if self._challenges else None

    def new_chain(self) -> None:
        """A new logical request starts (not a retry of the last one)."""
        self._tries.clear()

    def accept(self, response: Response) -> bool:
        """Take the challenge of a 401/407; True if the request should be retried with it."""
        proxy = response.status == 407
        values = response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        try:
            challenge = choose_challenge(values)
        except SipParseError:
            return False
        key = ("Proxy-Authorization" if proxy else "Authorization", challenge.realm)
        tries = self._tries.get(key, 0)
        if tries >= 2 or (tries == 1 and not challenge.stale):
            return False
        self._tries[key] = tries + 1
        self._challenges.pop(key, None)           # most recent last
        self._challenges[key] = (challenge, 0)
        return True

    def authorize(self, request: Request, cnonce: str) -> None:
        """Add our credentials for every challenge we hold to ``request``."""
        for key, (challenge, nc) in list(self._challenges.items()):
            self._challenges[key] = (challenge, nc + 1)
            value = authorization(challenge, self.credentials, request.method, request.uri,
                                  cnonce=cnonce, nc=nc + 1, body=request.body)
            request.headers.add(key[0], value)
