"""The transaction layer: matching, routing of responses, one timer heap (RFC 3261 §17, §18).

Theory of operation
-------------------
The layer owns every live transaction and the timers they arm.  The TU (the user
agent core) hands it requests to send (``send_request``), responses to send through a
server transaction (``respond``) and messages to send without one (``send_stateless``:
ACK for 2xx, replies to requests no transaction owns).  The adapter hands it the
messages it received (``receive``) and fires ``handle_timer(now)`` at ``get_timer()``.
What to put on the wire is drained with ``outgoing()``, what the TU must know with
``events()``.

Matching (§17.1.3, §17.2.3):

* responses → client transaction by (top Via branch, CSeq method);
* requests with an RFC 3261 branch (magic cookie ``z9hG4bK``) → server transaction by
  (branch, sent-by, method), where ACK looks for the INVITE;
* requests without it (RFC 2543 peers) → by Request-URI, From tag, Call-ID, CSeq
  number, top Via and To tag (for an ACK: the To tag of the response we sent);
* CANCEL gets its own non-INVITE server transaction; the INVITE it cancels is found
  with the same rules as if its method were INVITE (§9.2) and reported in
  ``RequestReceived.cancels``.

Before matching, the top Via of a received request is stamped with ``received`` and,
when the client asked with a bare ``rport``, ``rport`` (§18.2.1, RFC 3581 §4).
Responses then go where §18.2.2 says: over reliable transports back to the source
(the connection), else to ``maddr``, else to ``received``:``rport`` (or the sent-by
port), else to the sent-by address.

Where requests go (:class:`~wcs.sip.transport_select.Router`): before a client
transaction starts, the router turns its destination into the ordered addresses to
try (RFC 3263; a host name parks the transaction until the adapter reports
``located``), rewrites Via and Contact for the transport used and applies the
§18.1.1 size rule, so the machine is created for the transport the request really
takes (reliable timers over TCP).  When a transaction fails — Timer B/F without any
response, a transport failure, or a 503 final response — and addresses remain, the
layer does not report it: it sends the same request with a new branch to the next
address (RFC 3263 §4.3), keeping the transaction object the TU holds.  After a 503 over
UDP a copy of the old machine stays behind under the old branch until its Timer D/K,
so retransmitted 503s still get their ACK (§17.1.1.2) or are absorbed (§17.1.2.2).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable

from wcs.errors import LocalProtocolError
from wcs.sip.grammar import split_commas
from wcs.sip.ids import MAGIC_COOKIE, new_branch
from wcs.sip.locate import Target
from wcs.sip.message import Message, Request, Response
from wcs.sip.transaction import (
    CALLING,
    PROCEEDING,
    TRYING,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    StrayResponse,
    Transaction,
    TransactionEvent,
    TransactionTimeout,
    TransportFailure,
)
from wcs.sip.transport import Address, Outgoing
from wcs.sip.transport_select import Router, host_port, replace_top_via
from wcs.timers import TimerConfig, TimerHeap

__all__ = [
    "ClientTransaction",
    "RequestReceived",
    "ResponseReceived",
    "ServerTransaction",
    "StrayResponse",
    "TransactionEvent",
    "TransactionLayer",
    "TransactionTimeout",
    "TransportFailure",
    "response_address",
]

DEFAULT_TIMERS = TimerConfig()

_TIMER_NAMES = "ABDEFGHIJKLM"


class TransactionLayer:
    """All transactions of one SIP endpoint (see the module docstring)."""

    def __init__(self, *, timers: TimerConfig = DEFAULT_TIMERS, router: Router | None = None) -> None:
        self.timers = timers
        #: transport choice, RFC 3263 targets and parking (default: addresses used as given)
        self.router = router or Router(None)
        self._alternatives: dict[ClientTransaction, list[Address]] = {}
        self._oversize: dict[ClientTransaction, int] = {}   # moved to TCP by §18.1.1: size
        self._failovers: list[tuple[ClientTransaction, list[Address], str]] = []
        self._now = 0.0
        self._heap: TimerHeap[tuple[Transaction, str]] = TimerHeap()
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[Hashable, ServerTransaction] = {}
        self._server_keys: dict[ServerTransaction, Hashable] = {}
        self._out: list[Outgoing] = []
        self._events: list[TransactionEvent] = []
        self._sink = _Sink(self)

    # ------------------------------------------------------------ TU → network

    def send_request(self, request: Request, dest: Address, now: float) -> ClientTransaction:
        """Start a client transaction: INVITE → Timer A/B/D machine, others → E/F/K."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK is never sent in a client transaction; use send_stateless")
        branch = request.top_via.branch
        if not branch or not branch.startswith(MAGIC_COOKIE):
            raise LocalProtocolError("request needs a top Via branch starting with z9hG4bK")
        key = (branch, request.method)
        if key in self._clients:
            raise LocalProtocolError(f"a {request.method} client transaction with branch {branch} exists")
        self._now = now
        target, addresses = self.router.targets(request, dest)
        oversize = None
        if addresses:
            dest, oversize = self.router.prepare(request, addresses[0])
        machine = ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        txn: ClientTransaction = machine(request, dest, self._sink, self.timers)
        self._clients[key] = txn
        if addresses:
            self._start(txn, addresses[1:], oversize, now)
            return txn
        txn.state = CALLING if request.method == "INVITE" else TRYING   # handed over, not yet sent
        self.router.park(target, txn)
        return txn

    def send_stateless(self, message: Message, dest: Address) -> None:
        """Queue a message outside any transaction (ACK for 2xx, stateless replies).

        Requests go through the router like transaction requests (no failover).
        """
        if isinstance(message, Request):
            target, addresses = self.router.targets(message, dest)
            if addresses is None:
                self.router.park(target, message)
                return
            dest, _ = self.router.prepare(message, addresses[0])
        self._out.append(Outgoing(bytes(message), dest))

    def located(self, target: Target, addresses: list[Address], now: float, error: str | None = None) -> None:
        """The adapter located ``target`` (RFC 3263): send what was parked for it.

        No addresses: the parked transactions fail with ``error`` (TransportFailure).
        """
        self._now = now
        addresses = self.router.order(addresses, now)
        for item in self.router.unpark(target):
            if isinstance(item, ClientTransaction):
                if addresses:
                    self._relaunch(item, addresses, now)
                else:
                    item.transport_failed(error or f"no address for {target}")
            elif isinstance(item, Request) and addresses:
                dest, _ = self.router.prepare(item, addresses[0])
                self._out.append(Outgoing(bytes(item), dest))

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send ``response`` through ``transaction`` (it handles retransmission)."""
        self.router.prepare_response(response, transaction.reply_to.transport)
        transaction.send_response(response, now)

    def report_transport_error(self, dest: Address, reason: str, now: float | None = None) -> None:
        """The adapter failed to deliver to ``dest``: fail the client transactions sending there.

        A transaction with addresses left fails over to the next one instead; one the
        §18.1.1 size rule moved to TCP says so in its reason.  Server transactions are
        left alone; their timers end them (RFC 6026 §7.1).
        """
        for txn in [t for t in self._clients.values() if t.dest == dest]:
            size = self._oversize.get(txn)
            txn.transport_failed(reason if size is None
                                 else f"{reason} (request of {size} bytes is too large for UDP)")
        self._run_failovers(self._now if now is None else now)

    # ------------------------------------------------------------ network → TU

    def receive(self, message: Message, source: Address, now: float) -> None:
        """Match a received message to its transaction or pass it up (see module docstring)."""
        if isinstance(message, Response):
            self._receive_response(message, source, now)
        else:
            self._receive_request(message, source, now)

    def _receive_response(self, response: Response, source: Address, now: float) -> None:
        branch = response.top_via.branch or ""
        txn = self._clients.get((branch, response.cseq.method))
        if txn is None:
            self._events.append(StrayResponse(response, source))
        else:
            txn.receive_response(response, now)
            self._run_failovers(now)

    def _receive_request(self, request: Request, source: Address, now: float) -> None:
        stamp_received(request, source)
        method = request.method
        match = self._find_server(request)
        if match is not None:
            match.receive_request(request, now)
            return
        if method == "ACK":  # ACK for a 2xx (its own branch): the TU's business (§13.3.1.4)
            self._events.append(RequestReceived(request, source, None))
            return
        reply_to = response_address(request, source)
        txn: ServerTransaction
        if method == "INVITE":
            txn = ServerInviteTransaction(request, reply_to, self._sink, self.timers, source)
        else:
            txn = ServerNonInviteTransaction(request, reply_to, self._sink, self.timers)
        key = _server_key(request, method)
        self._servers[key] = txn
        self._server_keys[txn] = key
        cancels = None
        if method == "CANCEL":
            found = self._servers.get(_server_key(request, "INVITE"))
            if isinstance(found, ServerInviteTransaction):
                cancels = found
        self._events.append(RequestReceived(request, source, txn, cancels))

    def _find_server(self, request: Request) -> ServerTransaction | None:
        if request.method != "ACK":
            return self._servers.get(_server_key(request, request.method))
        txn = self._servers.get(_server_key(request, "INVITE"))
        if txn is None and not _has_cookie(request):
            # legacy re-INVITE: the INVITE carried the To tag the ACK carries
            txn = self._servers.get(_server_key(request, "INVITE", request.to_tag))
        if txn is None or _has_cookie(request):
            return txn
        # RFC 2543: the ACK's To tag must be the tag of the response we sent (§17.2.3)
        sent = txn.last_response
        if sent is None or sent.to_tag != request.to_tag:
            return None
        return txn

    # ------------------------------------------------------------ timers and queues

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or ``None``."""
        return self._heap.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        self._now = now
        while due := self._heap.pop_due(now):
            for txn, name in due:
                if not txn.terminated:
                    txn.on_timer(name, now)
            self._run_failovers(now)

    def outgoing(self) -> list[Outgoing]:
        """Drain the datagrams to send."""
        out, self._out = self._out, []
        return out

    def events(self) -> list[TransactionEvent]:
        """Drain the events for the TU."""
        events, self._events = self._events, []
        return events

    @property
    def pending_requests(self) -> int:
        """Client transactions still waiting for their final response."""
        return sum(1 for txn in self._clients.values() if txn.state in (CALLING, TRYING, PROCEEDING))

    @property
    def transaction_count(self) -> int:
        """Live client plus server transactions (for tests and metrics)."""
        return len(self._clients) + len(self._servers)

    # ------------------------------------------------------------ targets and failover

    def _start(self, txn: ClientTransaction, rest: list[Address], oversize: int | None, now: float) -> None:
        if rest:
            self._alternatives[txn] = rest
        if oversize is not None:
            self._oversize[txn] = oversize
        txn.start(now)

    def _relaunch(self, txn: ClientTransaction, addresses: list[Address], now: float) -> None:
        """Aim a parked or failed-over transaction at ``addresses[0]`` and start it.

        The machine is initialised again (same object: the TU keeps its reference) so
        its branch, transport and timers follow the request as it is now.
        """
        dest, oversize = self.router.prepare(txn.request, addresses[0])
        if self._clients.get((txn.branch, txn.method)) is txn:   # not the copy left behind
            del self._clients[(txn.branch, txn.method)]
        user_data = txn.user_data
        type(txn).__init__(txn, txn.request, dest, self._sink, self.timers)
        txn.user_data = user_data
        self._clients[(txn.branch, txn.method)] = txn
        self._start(txn, addresses[1:], oversize, now)

    def _hold_for_failover(self, event: TransactionEvent) -> bool:
        """Keep a failure from the TU when another address can be tried (RFC 3263 §4.3)."""
        if isinstance(event, (StrayResponse, RequestReceived)):
            return False
        txn = event.transaction
        if not isinstance(txn, ClientTransaction):
            return False
        if isinstance(event, ResponseReceived):
            if event.response.status != 503:
                return False
            reason = f"503 {event.response.reason}".rstrip()
        elif txn.last_response is not None:
            return False   # a timeout or transport failure after a response: that server is alive
        else:
            reason = "no response" if isinstance(event, TransactionTimeout) else event.reason
        rest = self._alternatives.pop(txn, None)
        if not rest:
            return False
        self._failovers.append((txn, rest, reason))
        return True

    def _run_failovers(self, now: float) -> None:
        while self._failovers:
            txn, rest, reason = self._failovers.pop(0)
            if not txn.terminated:
                self._leave_behind(txn)
            failed, following = txn.dest, rest[0]
            self.router.failed(failed, now)
            via = txn.request.top_via
            via.branch = new_branch(self.router.entropy)
            replace_top_via(txn.request, str(via))
            self.router.note(f"{txn.method} to {host_port(failed)}/{failed.transport} failed ({reason}): "
                             f"trying {host_port(following)}/{following.transport} (RFC 3263 §4.3)")
            self._relaunch(txn, rest, now)

    def _leave_behind(self, txn: ClientTransaction) -> None:
        """A machine that got a 503 over UDP keeps waiting (Timer D/K) for retransmissions
        of it; a copy does that under the old branch while ``txn`` itself is relaunched."""
        ghost = copy.copy(txn)
        self._clients[(ghost.branch, ghost.method)] = ghost
        for name in ("D", "K"):
            deadline = self._heap.deadline((txn, name))
            if deadline is not None:
                self._heap.cancel((txn, name))
                self._heap.schedule((ghost, name), deadline)

    def _forget(self, txn: Transaction) -> None:
        for name in _TIMER_NAMES:
            self._heap.cancel((txn, name))
        if isinstance(txn, ClientTransaction):
            self._clients.pop((txn.branch, txn.method), None)
            self._alternatives.pop(txn, None)
            self._oversize.pop(txn, None)
        elif isinstance(txn, ServerTransaction):
            key = self._server_keys.pop(txn, None)
            if key is not None and self._servers.get(key) is txn:
                del self._servers[key]


class _Sink:
    """The layer as seen by its transactions (keeps those hooks out of the public API)."""

    def __init__(self, layer: TransactionLayer) -> None:
        self._layer = layer

    def transmit(self, data: bytes, dest: Address) -> None:
        self._layer._out.append(Outgoing(data, dest))

    def arm(self, txn: Transaction, timer: str, deadline: float) -> None:
        self._layer._heap.schedule((txn, timer), deadline)

    def disarm(self, txn: Transaction, timer: str) -> None:
        self._layer._heap.cancel((txn, timer))

    def emit(self, event: TransactionEvent) -> None:
        if not self._layer._hold_for_failover(event):
            self._layer._events.append(event)

    def terminated(self, txn: Transaction) -> None:
        self._layer._forget(txn)


# ---------------------------------------------------------------- matching keys and routing


def _has_cookie(request: Request) -> bool:
    branch = request.top_via.branch
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def _server_key(request: Request, method: str, to_tag: str | None = None) -> Hashable:
    """Server transaction id (§17.2.3); ``method`` is the one of the transaction sought.

    RFC 2543 fallback: Request-URI, To tag, From tag, Call-ID, CSeq number and top Via
    (compared without the ``received``/``rport`` we stamp on it).  An ACK carries the
    To tag of our response, not of the INVITE: the caller passes the tag to look for.
    """
    via = request.top_via
    sent_by = (via.host.lower(), via.port)
    if _has_cookie(request):
        return (via.branch, sent_by, method)
    if request.method != "ACK":
        to_tag = request.to_tag
    return ("2543", request.uri, to_tag, request.from_tag, request.call_id, request.cseq.seq,
            via.transport.upper(), sent_by, via.branch, method)


def stamp_received(request: Request, source: Address) -> None:
    """Add ``received`` (and fill a bare ``rport``) to the top Via (§18.2.1, RFC 3581 §4).

    ``received`` is added when the sent-by host is a name or another address than the
    packet's source, and always when the client asked for ``rport``.
    """
    via = request.top_via
    wants_rport = "rport" in via.params and via.rport is None
    if not wants_rport and via.host == source.host:
        return
    via.received = source.host
    if wants_rport:
        via.rport = source.port
    headers = request.headers
    lines = headers.get_all("Via")
    first = split_commas(lines[0])
    first[0] = str(via)
    lines[0] = ", ".join(first)
    index = next(i for i, (name, _) in enumerate(headers) if name.lower() in ("via", "v"))
    headers.remove("Via")
    for offset, line in enumerate(lines):
        headers.insert(index + offset, "Via", line)


def response_address(request: Request, source: Address) -> Address:
    """Where responses to ``request`` go (§18.2.2 with RFC 3581 §4)."""
    if source.reliable:
        return source
    via = request.top_via
    maddr = via.params.get("maddr")
    if maddr:
        return Address(maddr, via.port or 5060, source.transport)
    if via.received:
        port = via.rport if isinstance(via.rport, int) else via.port or 5060
        return Address(via.received, port, source.transport)
    return Address(via.host, via.port or 5060, source.transport)
