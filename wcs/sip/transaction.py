"""The four SIP transaction state machines (RFC 3261 §17, as amended by RFC 6026).

Theory of operation
-------------------
A transaction is one request plus every response to it.  The machines here only
keep state and decide; they never touch a socket or a clock.  Each one is driven by

* an input from the transport (``receive_request`` / ``receive_response``),
* an input from the transaction user, the TU (``start`` / ``send_response``),
* a timer that fired (``on_timer(name, now)``),

and reacts through a :class:`TransactionSink` (implemented by
:class:`wcs.sip.layer.TransactionLayer`): ``transmit`` bytes to an address,
``arm``/``disarm`` named timers, ``emit`` events to the TU, and report that the
machine ``terminated`` so the layer forgets it (RFC 6026 §8.7: destroyed at once).

Timer values come from an injected :class:`wcs.timers.TimerConfig` (RFC 3261 Table 4
and RFC 6026 §8.4/§8.7).  Over reliable transports (TCP, TLS, WS) requests and
responses are never retransmitted (Timers A, E, G are not armed) and the "wait for
stray retransmissions" timers D, I, J, K are zero, so those states end at once
(§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).

========================  ==========  ============================================
machine                   states      section
========================  ==========  ============================================
client INVITE             Calling → Proceeding → Completed | Accepted → Terminated
                                      §17.1.1, RFC 6026 §8.4 (Figure 5 replaced)
client non-INVITE         Trying → Proceeding → Completed → Terminated   §17.1.2
server INVITE             Proceeding → Completed → Confirmed | Accepted → Terminated
                                      §17.2.1, RFC 6026 §8.5–8.7 (Figure 7 replaced)
server non-INVITE         Trying → Proceeding → Completed → Terminated   §17.2.2
========================  ==========  ============================================

Who retransmits a 2xx to INVITE?  Not the transactions: RFC 6026 moves the 2xx and
its ACK to the TU (the UA core, §13.3.1.4 and §13.2.2.4).  The client INVITE machine
passes every 2xx (also retransmissions, also from other forks) up while Accepted
(Timer M); the server INVITE machine sends each 2xx the TU hands it and absorbs
retransmitted INVITEs while Accepted (Timer L).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wcs.errors import LocalProtocolError
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response
from wcs.timers import TimerConfig

if TYPE_CHECKING:
    from wcs.sip.transport import Address

# state names (strings keep logs and tests readable)
CALLING = "calling"
TRYING = "trying"
PROCEEDING = "proceeding"
COMPLETED = "completed"
CONFIRMED = "confirmed"
ACCEPTED = "accepted"
TERMINATED = "terminated"


# ---------------------------------------------------------------- events to the TU


@dataclass(eq=False)
class RequestReceived:
    """A new request (or an ACK for a 2xx, or a CANCEL) for the TU.

    ``transaction`` is the server transaction to answer through (``None`` for ACK).
    For a CANCEL, ``cancels`` is the INVITE server transaction it matches (§9.2), or
    ``None`` when there is none (the TU answers 481).
    """

    request: Request
    source: Address
    transaction: ServerTransaction | None
    cancels: ServerTransaction | None = None


@dataclass(eq=False)
class ResponseReceived:
    """A response the client transaction passes up (provisional, final, 2xx retransmission)."""

    response: Response
    transaction: ClientTransaction


@dataclass(eq=False)
class StrayResponse:
    """A response that matched no client transaction (e.g. a late 2xx retransmission)."""

    response: Response
    source: Address


@dataclass(eq=False)
class TransactionTimeout:
    """Timer B / F on a client transaction (the TU treats it as 408), or Timer H on a server one."""

    transaction: Transaction


@dataclass(eq=False)
class TransportFailure:
    """The adapter could not deliver a request of this client transaction (§18.4)."""

    transaction: Transaction
    reason: str


TransactionEvent = RequestReceived | ResponseReceived | StrayResponse | TransactionTimeout | TransportFailure


class TransactionSink(Protocol):
    """What a machine may do to the world; implemented by the transaction layer."""

    def transmit(self, data: bytes, dest: Address) -> None: ...

    def arm(self, txn: Transaction, timer: str, deadline: float) -> None: ...

    def disarm(self, txn: Transaction, timer: str) -> None: ...

    def emit(self, event: TransactionEvent) -> None: ...

    def terminated(self, txn: Transaction) -> None: ...


# ---------------------------------------------------------------- common base


class Transaction:
    """State shared by the four machines."""

    state: str

    def __init__(self, request: Request, sink: TransactionSink, timers: TimerConfig,
                 reliable: bool) -> None:
        self.request = request
        self.method = request.method
        self.branch = request.top_via.branch or ""
        self.reliable = reliable
        self._sink = sink
        self._timers = timers
        self._intervals: dict[str, float] = {}
        #: free slot for the transaction user (the UA core stores the response handler)
        self.user_data: object = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.branch} {self.state}>"

    @property
    def terminated(self) -> bool:
        return self.state == TERMINATED

    def on_timer(self, name: str, now: float) -> None:
        """A timer armed by this machine fired."""
        handler = getattr(self, f"_timer_{name}")
        handler(now)

    def _arm(self, name: str, now: float, interval: float) -> None:
        self._intervals[name] = interval
        self._sink.arm(self, name, now + interval)

    def _terminate(self) -> None:
        if self.state != TERMINATED:
            self.state = TERMINATED
            self._sink.terminated(self)

    def _wait_then_terminate(self, name: str, now: float, unreliable_wait: float) -> None:
        """Arm a stray-retransmission wait timer, or end at once over reliable transports."""
        if self.reliable:
            self._terminate()
        else:
            self._arm(name, now, unreliable_wait)


# ---------------------------------------------------------------- client side


class ClientTransaction(Transaction):
    """A request we sent, waiting for its responses (§17.1)."""

    def __init__(self, request: Request, dest: Address, sink: TransactionSink,
                 timers: TimerConfig) -> None:
        super().__init__(request, sink, timers, dest.reliable)
        self.dest = dest
        self.last_response: Response | None = None
        self._data = bytes(request)

    def start(self, now: float) -> None:
        """Hand the request to the transport and arm the first timers."""
        raise NotImplementedError

    def receive_response(self, response: Response, now: float) -> None:
        """A response matched this transaction (§17.1.3)."""
        raise NotImplementedError

    def transport_failed(self, reason: str) -> None:
        """The request could not be sent: inform the TU and end (§17.1.1.2, §17.1.2.2)."""
        if self.state in (CALLING, TRYING, PROCEEDING):
            self._sink.emit(TransportFailure(self, reason))
            self._terminate()

    def _send(self) -> None:
        self._sink.transmit(self._data, self.dest)

    def _pass_up(self, response: Response) -> None:
        self.last_response = response
        self._sink.emit(ResponseReceived(response, self))


class ClientInviteTransaction(ClientTransaction):
    """Client INVITE machine (§17.1.1 with RFC 6026 §8.4).

    =============  ==================  ===================================================
    state          input               action → next state
    =============  ==================  ===================================================
    Calling        Timer A             retransmit, A doubles (unreliable only)
    Calling        Timer B             TransactionTimeout → Terminated
    Calling/Proc.  1xx                 to TU → Proceeding (A stops; B only ends Calling)
    Calling/Proc.  300-699             ACK (§17.1.1.3), to TU → Completed, Timer D
    Calling/Proc.  2xx                 to TU → Accepted, Timer M (no ACK: the TU sends it)
    Completed      300-699 again       re-send the ACK, not to TU
    Completed      Timer D             → Terminated
    Accepted       2xx (any fork)      to TU
    Accepted       Timer M             → Terminated
    =============  ==================  ===================================================
    """

    def start(self, now: float) -> None:
        self.state = CALLING
        self._send()
        if not self.reliable:
            self._arm("A", now, self._timers.timer_a)
        self._arm("B", now, self._timers.timer_b)

    def receive_response(self, response: Response, now: float) -> None:
        status = response.status
        if self.state in (CALLING, PROCEEDING):
            if status < 200:
                if self.state == CALLING:
                    self.state = PROCEEDING
                    self._sink.disarm(self, "A")
                    self._sink.disarm(self, "B")
                self._pass_up(response)
            elif status < 300:
                self._leave_calling()
                self.state = ACCEPTED
                self._arm("M", now, self._timers.timer_m)
                self._pass_up(response)
            else:
                self._leave_calling()
                self.state = COMPLETED
                self._ack_data = bytes(build_non2xx_ack(self.request, response))
                self._sink.transmit(self._ack_data, self.dest)
                self._pass_up(response)
                self._wait_then_terminate("D", now, self._timers.timer_d)
        elif self.state == COMPLETED:
            if status >= 300:
                self._sink.transmit(self._ack_data, self.dest)
        elif self.state == ACCEPTED:
            if 200 <= status < 300:
                self._pass_up(response)

    def _leave_calling(self) -> None:
        self._sink.disarm(self, "A")
        self._sink.disarm(self, "B")

    def _timer_A(self, now: float) -> None:
        if self.state == CALLING:
            self._send()
            self._arm("A", now, 2 * self._intervals["A"])

    def _timer_B(self, now: float) -> None:
        if self.state == CALLING:
            self._sink.emit(TransactionTimeout(self))
            self._terminate()

    def _timer_D(self, now: float) -> None:
        self._terminate()

    def _timer_M(self, now: float) -> None:
        self._terminate()


class ClientNonInviteTransaction(ClientTransaction):
    """Client non-INVITE machine (§17.1.2, Figure 6).

    ===============  ============  =====================================================
    state            input         action → next state
    ===============  ============  =====================================================
    Trying           Timer E       retransmit, E = min(2E, T2)  (unreliable only)
    Proceeding       Timer E       retransmit, E = T2
    Trying/Proc.     Timer F       TransactionTimeout → Terminated
    Trying/Proc.     1xx           to TU → Proceeding
    Trying/Proc.     200-699       to TU → Completed, Timer K (T4; 0 if reliable)
    Completed        any response  absorbed
    Completed        Timer K       → Terminated
    ===============  ============  =====================================================
    """

    def start(self, now: float) -> None:
        self.state = TRYING
        self._send()
        if not self.reliable:
            self._arm("E", now, self._timers.timer_e)
        self._arm("F", now, self._timers.timer_f)

    def receive_response(self, response: Response, now: float) -> None:
        if self.state not in (TRYING, PROCEEDING):
            return  # Completed: retransmissions of the final response are absorbed
        if response.status < 200:
            self.state = PROCEEDING
            self._pass_up(response)
            return
        self.state = COMPLETED
        self._sink.disarm(self, "E")
        self._sink.disarm(self, "F")
        self._pass_up(response)
        self._wait_then_terminate("K", now, self._timers.timer_k)

    def _timer_E(self, now: float) -> None:
        if self.state == TRYING:
            self._send()
            self._arm("E", now, min(2 * self._intervals["E"], self._timers.t2))
        elif self.state == PROCEEDING:
            self._send()
            self._arm("E", now, self._timers.t2)

    def _timer_F(self, now: float) -> None:
        if self.state in (TRYING, PROCEEDING):
            self._sink.emit(TransactionTimeout(self))
            self._terminate()

    def _timer_K(self, now: float) -> None:
        self._terminate()


# ---------------------------------------------------------------- server side


class ServerTransaction(Transaction):
    """A request we received, answered by the TU through ``send_response`` (§17.2)."""

    def __init__(self, request: Request, reply_to: Address, sink: TransactionSink,
                 timers: TimerConfig) -> None:
        super().__init__(request, sink, timers, reply_to.reliable)
        #: where responses go (§18.2.2), fixed when the request arrived
        self.reply_to = reply_to
        self.last_response: Response | None = None
        self._response_data: bytes | None = None

    @property
    def final_sent(self) -> bool:
        """True once a final response went out."""
        return self.last_response is not None and self.last_response.status >= 200

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of our request (or an ACK for INVITE) matched (§17.2.3)."""
        raise NotImplementedError

    def send_response(self, response: Response, now: float) -> None:
        """The TU answers."""
        raise NotImplementedError

    def _transmit(self, response: Response) -> None:
        self.last_response = response
        self._response_data = bytes(response)
        self._sink.transmit(self._response_data, self.reply_to)

    def _resend(self) -> None:
        if self._response_data is not None:
            self._sink.transmit(self._response_data, self.reply_to)

    def _refuse(self, response: Response) -> None:
        raise LocalProtocolError(
            f"cannot send {response.status} in state {self.state} of {self.method} transaction")


class ServerInviteTransaction(ServerTransaction):
    """Server INVITE machine (§17.2.1 with RFC 6026 §8.5–8.7).

    ==========  =================  ======================================================
    state       input              action → next state
    ==========  =================  ======================================================
    Proceeding  INVITE again       re-send the last provisional (if any)
    Proceeding  1xx from TU        send
    Proceeding  2xx from TU        send → Accepted, Timer L (the TU retransmits the 2xx)
    Proceeding  300-699 from TU    send → Completed, Timer G (unreliable), Timer H
    Completed   INVITE again       re-send the final response
    Completed   Timer G            re-send, G = min(2G, T2)
    Completed   ACK                → Confirmed, Timer I (T4; 0 if reliable)
    Completed   Timer H            TransactionTimeout (ACK never came) → Terminated
    Confirmed   ACK / INVITE       absorbed;  Timer I → Terminated
    Accepted    INVITE again       absorbed (not passed up)
    Accepted    2xx from TU        send (a TU retransmission)
    Accepted    ACK                to TU (only a legacy RFC 2543 ACK can match here)
    Accepted    Timer L            → Terminated
    ==========  =================  ======================================================
    """

    def __init__(self, request: Request, reply_to: Address, sink: TransactionSink,
                 timers: TimerConfig, source: Address | None = None) -> None:
        super().__init__(request, reply_to, sink, timers)
        self.state = PROCEEDING
        self._source = source if source is not None else reply_to

    def receive_request(self, request: Request, now: float) -> None:
        if request.method == "ACK":
            if self.state == COMPLETED:
                self.state = CONFIRMED
                self._sink.disarm(self, "G")
                self._sink.disarm(self, "H")
                self._wait_then_terminate("I", now, self._timers.timer_i)
            elif self.state == ACCEPTED:
                self._sink.emit(RequestReceived(request, self._source, None))
            return
        if self.state in (PROCEEDING, COMPLETED):
            self._resend()

    def send_response(self, response: Response, now: float) -> None:
        status = response.status
        if self.state == PROCEEDING:
            self._transmit(response)
            if status < 200:
                return
            if status < 300:
                self.state = ACCEPTED
                self._arm("L", now, self._timers.timer_l)
            else:
                self.state = COMPLETED
                if not self.reliable:
                    self._arm("G", now, self._timers.timer_g)
                self._arm("H", now, self._timers.timer_h)
        elif self.state == ACCEPTED and 200 <= status < 300:
            self._transmit(response)
        else:
            self._refuse(response)

    def _timer_G(self, now: float) -> None:
        if self.state == COMPLETED:
            self._resend()
            self._arm("G", now, min(2 * self._intervals["G"], self._timers.t2))

    def _timer_H(self, now: float) -> None:
        if self.state == COMPLETED:
            self._sink.emit(TransactionTimeout(self))
            self._terminate()

    def _timer_I(self, now: float) -> None:
        self._terminate()

    def _timer_L(self, now: float) -> None:
        self._terminate()


class ServerNonInviteTransaction(ServerTransaction):
    """Server non-INVITE machine (§17.2.2, Figure 8).

    ============  ================  ===================================================
    state         input             action → next state
    ============  ================  ===================================================
    Trying        request again     absorbed (nothing to re-send yet)
    Trying/Proc.  1xx from TU       send → Proceeding
    Trying/Proc.  200-699 from TU   send → Completed, Timer J (64*T1; 0 if reliable)
    Proceeding    request again     re-send the last provisional
    Completed     request again     re-send the final response
    Completed     Timer J           → Terminated
    ============  ================  ===================================================
    """

    def __init__(self, request: Request, reply_to: Address, sink: TransactionSink,
                 timers: TimerConfig) -> None:
        super().__init__(request, reply_to, sink, timers)
        self.state = TRYING

    def receive_request(self, request: Request, now: float) -> None:
        if self.state in (PROCEEDING, COMPLETED):
            self._resend()

    def send_response(self, response: Response, now: float) -> None:
        if self.state not in (TRYING, PROCEEDING):
            self._refuse(response)
        self._transmit(response)
        if response.status < 200:
            self.state = PROCEEDING
        else:
            self.state = COMPLETED
            self._wait_then_terminate("J", now, self._timers.timer_j)

    def _timer_J(self, now: float) -> None:
        self._terminate()


# ---------------------------------------------------------------- helpers


def build_non2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 response (§17.1.1.3).

    Request-URI, Call-ID, From and the Route set come from the INVITE; To from the
    response (with its tag); one Via, the INVITE's top one; CSeq number of the INVITE
    with method ACK.
    """
    headers = Headers()
    headers.add("Via", invite.headers.get_list("Via")[0].strip())
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request("ACK", invite.uri, headers)
