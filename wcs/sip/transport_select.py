"""Which transport and address a request leaves on (RFC 3261 §18.1.1, RFC 3263), sans-I/O.

Theory of operation
-------------------
The transaction layer hands every request it is about to send to a :class:`Router`:

1. **Targets** (:meth:`Router.targets`).  The destination the TU chose is turned into an
   RFC 3263 :class:`~wcs.sip.locate.Target`: from the next-hop URI in the request (first
   Route, else the Request-URI) when the destination came from it, so an explicit port
   or transport in the URI is honoured; else from the address itself (port 0 = "not
   given").  Numeric and ``localhost`` targets resolve at once; for a host name the
   router *parks* the request and queues the target for the I/O adapter, which runs
   the RFC 3263 procedure over DNS and reports back (``TransactionLayer.located``).
   The list it returns is the failover order (RFC 3263 §4.3); an address that failed
   in the last ``holdoff`` seconds is moved to its end, so the next requests do not
   wait for it to time out again.

2. **Transport and rewrite** (:meth:`Router.prepare`).  The request gets our top Via
   and Contact for the transport it will actually use: Via ``SIP/2.0/<T>`` with the
   sent-by of our listener for that transport (§18.1.1: "the value in the top Via MUST
   be changed"), Contact with that listener's host:port and ``;transport=`` (omitted
   for UDP).  Then the size rule of §18.1.1: a request bound for UDP whose size exceeds
   ``mtu_threshold`` (default 1300 bytes: the RFC's figure for an unknown path MTU, 200
   bytes under a 1500-byte MTU) goes over TCP to the same address instead, its Via
   rewritten again.  The switch is reported as a note for the adapter's log, and the
   request size is returned so a TCP failure can say why TCP was used.  Nothing ever
   falls back to UDP.

Responses keep the transport of their request (§18.2.2); :meth:`Router.prepare_response`
only makes the Contact of a response we send name the transport it travels on.

WebSocket as a client (RFC 7118).  Without a WS/WSS listener of ours, a request over
``ws``/``wss`` travels on a connection we opened from an ephemeral port nobody can
connect to (and the stamp is made before that port is known).  Like the browser client
of RFC 7118 Appendix B.1, the router then writes a random ``<token>.invalid`` host
(RFC 2606), without a port, into the Via sent-by and the Contact, with
``;transport=ws`` (§5.2 defines that one URI value for WS and WSS).  Responses come back
on the connection whatever the Via says, with or without ``received`` (§5.3), and the
server reaches us for new requests through the connection we registered from: the
registrar keeps the connection's source address with the binding (RFC 5626-style flow;
with Kamailio: ``nathelper`` ``fix_nated_register``/``add_contact_alias`` and
``handle_ruri_alias``).  The token is drawn once per router (one per UA), so every
request of a UA carries the same host and it is recognised as ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wcs.entropy import Entropy, SystemEntropy, random_token
from wcs.sip.dialog import uri_address
from wcs.sip.errors import SipParseError
from wcs.sip.grammar import split_commas
from wcs.sip.locate import Target, is_ip, locate_with
from wcs.sip.message import Message, Request, Response
from wcs.sip.transport import Address
from wcs.sip.uri import SipUri, parse_name_addr

__all__ = ["DEFAULT_MTU_THRESHOLD", "Router", "TransportPolicy", "host_port", "replace_top_via"]

#: RFC 3261 §18.1.1: "larger than 1300 bytes and the path MTU is unknown" → TCP
DEFAULT_MTU_THRESHOLD = 1300


@dataclass(frozen=True)
class TransportPolicy:
    """How the UA picks transports.

    ``listeners``: our address per transport (Via sent-by, Contact); a transport without
    one uses the UA's local host and port.  ``mtu_threshold``: the §18.1.1 size limit for
    UDP requests, in bytes.  ``locate``: park requests for host names until the adapter
    located them (RFC 3263); False passes names through for the adapter to resolve.
    ``families``: address records the adapter can use ("A", "AAAA"), in order.
    ``holdoff``: seconds a located address that failed is tried last.
    """

    listeners: Mapping[str, Address] = field(default_factory=dict)
    mtu_threshold: int = DEFAULT_MTU_THRESHOLD
    locate: bool = False
    families: tuple[str, ...] = ("A", "AAAA")
    holdoff: float = 60.0


class Router:
    """Targets, parking and transport choice for one transaction layer (module docstring)."""

    def __init__(self, local: Address | None, policy: TransportPolicy | None = None,
                 entropy: Entropy | None = None) -> None:
        #: the UA's own address; None (a bare transaction layer): Via sent-by and Contact
        #: are left as the TU wrote them and only the transport token changes
        self.local = local
        self.policy = policy or TransportPolicy()
        self.entropy = entropy if entropy is not None else SystemEntropy()
        self._parked: dict[Target, list[object]] = {}
        self._queries: list[Target] = []
        self._notes: list[str] = []
        self._failed: dict[Address, float] = {}   # address → when it last failed
        self._hosts = {a.host.lower() for a in self.policy.listeners.values()}
        if local is not None:
            self._hosts.add(local.host.lower())
        self._invalid_host: str | None = None

    # ------------------------------------------------------------ targets

    def target(self, message: Message, dest: Address) -> Target:
        """The RFC 3263 target for sending ``message`` to ``dest``."""
        uri = _next_hop(message)
        if uri is not None and uri_address(uri) == dest:
            return Target.from_uri(uri)
        return Target.from_address(dest)

    def targets(self, message: Message, dest: Address) -> tuple[Target, list[Address] | None]:
        """The target and, when known without DNS, the addresses to try in order (None: park it)."""
        target = self.target(message, dest)
        if not self.policy.locate and not is_ip(target.host):
            return target, [dest]
        found = locate_with(target, lambda query: None, self.entropy, families=self.policy.families)
        return target, found or None

    def park(self, target: Target, item: object) -> None:
        """Hold ``item`` until :meth:`unpark` for ``target``; queue the target for the adapter."""
        waiting = self._parked.setdefault(target, [])
        if not waiting:
            self._queries.append(target)
        waiting.append(item)

    def unpark(self, target: Target) -> list[object]:
        """Everything parked for ``target``, in order."""
        return self._parked.pop(target, [])

    def failed(self, address: Address, now: float) -> None:
        """``address`` failed (timeout, transport error): try it last for a while."""
        self._failed[address] = now

    def order(self, addresses: list[Address], now: float) -> list[Address]:
        """``addresses`` with those that failed within ``holdoff`` moved to the end (stable)."""
        limit = now - self.policy.holdoff
        for address in [a for a, when in self._failed.items() if when < limit]:
            del self._failed[address]
        return sorted(addresses, key=lambda a: a in self._failed)

    def queries(self) -> list[Target]:
        """Drain the targets the adapter must locate (RFC 3263 over DNS)."""
        queries, self._queries = self._queries, []
        return queries

    @property
    def parked(self) -> int:
        """How many requests wait for a target to be located."""
        return sum(len(items) for items in self._parked.values())

    # ------------------------------------------------------------ transport choice

    def listener(self, transport: str) -> Address | None:
        """Our address for ``transport`` (Via sent-by, Contact); port 0: none is written.

        WS/WSS without a listener of ours: ``<token>.invalid`` without a port (RFC 7118
        Appendix B.1, see the module docstring).
        """
        found = self.policy.listeners.get(transport)
        if found is None and self.local is not None:
            if transport in ("ws", "wss"):
                return Address(self.invalid_host, 0, transport)
            found = Address(self.local.host, self.local.port, transport)
        return found

    @property
    def invalid_host(self) -> str:
        """The random ``.invalid`` host of our WebSocket client side (drawn on first use)."""
        if self._invalid_host is None:
            token = random_token(self.entropy, 12, "abcdefghijklmnopqrstuvwxyz0123456789")
            self._invalid_host = f"{token}.invalid"
            self._hosts.add(self._invalid_host)
        return self._invalid_host

    def prepare(self, request: Request, dest: Address) -> tuple[Address, int | None]:
        """Rewrite Via/Contact for the transport used and apply the §18.1.1 size rule.

        Returns the address to send to and, when the size rule moved the request from
        UDP to TCP, its size in bytes (else ``None``).
        """
        self._stamp(request, dest.transport)
        if dest.transport != "udp":
            return dest, None
        size = len(bytes(request))
        if size <= self.policy.mtu_threshold:
            return dest, None
        tcp = Address(dest.host, dest.port, "tcp")
        self._stamp(request, "tcp")
        self._notes.append(f"{request.method} of {size} bytes is larger than {self.policy.mtu_threshold} "
                           f"bytes: sent over TCP to {host_port(tcp)} instead of UDP (RFC 3261 §18.1.1)")
        return tcp, size

    def prepare_response(self, response: Response, transport: str) -> None:
        """Our Contact in a response names the transport it is sent on."""
        local = self.listener(transport)
        if local is not None:
            self._rewrite_contact(response, local)

    def note(self, text: str) -> None:
        """Record something the adapter should log (failover, size switch)."""
        self._notes.append(text)

    def notes(self) -> list[str]:
        """Drain the log lines about transport decisions."""
        notes, self._notes = self._notes, []
        return notes

    def _stamp(self, request: Request, transport: str) -> None:
        local = self.listener(transport)
        via = request.top_via
        if local is None:
            if via.transport.lower() != transport:
                via.transport = transport.upper()
                replace_top_via(request, str(via))
            return
        via.transport = transport.upper()
        via.host, via.port = local.host, local.port or None
        replace_top_via(request, str(via))
        self._rewrite_contact(request, local)

    def _rewrite_contact(self, message: Message, local: Address) -> None:
        value = message.headers.get("Contact")
        if value is None or value.strip() == "*":
            return
        try:
            contact = parse_name_addr(value)
        except SipParseError:
            return
        uri = contact.uri
        if not uri.is_sip or uri.host.lower() not in self._hosts:
            return  # not ours
        uri.host, uri.port = local.host, local.port or None
        uri.params.pop("transport", None)
        if local.transport != "udp":
            # RFC 7118 §5.2 has one URI value, "ws", for WS and WSS
            uri.params["transport"] = "ws" if local.transport == "wss" else local.transport
        message.headers.set("Contact", str(contact))


def replace_top_via(message: Message, value: str) -> None:
    """Replace the first Via value, keeping every other one and the header's position."""
    headers = message.headers
    lines = headers.get_all("Via")
    first = split_commas(lines[0])
    first[0] = value
    lines[0] = ", ".join(first)
    index = next(i for i, (name, _) in enumerate(headers) if name.lower() in ("via", "v"))
    headers.remove("Via")
    for offset, line in enumerate(lines):
        headers.insert(index + offset, "Via", line)


def _next_hop(message: Message) -> SipUri | None:
    """First Route, else the Request-URI (§8.1.2); None for responses or unusable values."""
    if not isinstance(message, Request):
        return None
    try:
        routes = message.name_addrs("Route")
        return routes[0].uri if routes else message.request_uri
    except SipParseError:
        return None


def host_port(address: Address) -> str:
    """``host:port`` with IPv6 brackets (for log lines and reasons)."""
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}"
