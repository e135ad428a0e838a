"""The four transaction machines driven directly through a recording sink (edge cases the
back-to-back layer tests in test_layer.py do not reach)."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response, make_response
from wcs.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    RequestReceived,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Transaction,
    TransactionEvent,
    TransactionTimeout,
    TransportFailure,
    build_non2xx_ack,
)
from wcs.sip.transport import Address
from wcs.timers import TimerConfig

PEER = Address("192.0.2.2", 5060)
TIMERS = TimerConfig()


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.armed: dict[str, float] = {}
        self.events: list[TransactionEvent] = []
        self.ended: list[Transaction] = []

    def transmit(self, data: bytes, dest: Address) -> None:
        self.sent.append(data)

    def arm(self, txn: Transaction, timer: str, deadline: float) -> None:
        self.armed[timer] = deadline

    def disarm(self, txn: Transaction, timer: str) -> None:
        self.armed.pop(timer, None)

    def emit(self, event: TransactionEvent) -> None:
        self.events.append(event)

    def terminated(self, txn: Transaction) -> None:
        self.ended.append(txn)

    def fire(self, txn: Transaction, timer: str) -> None:
        txn.on_timer(timer, self.armed.pop(timer))


def req(method: str, branch: str = "z9hG4bKt1") -> Request:
    branch_param = f";branch={branch}" if branch else ""
    return Request(method, "sip:bob@192.0.2.2", Headers([
        ("Via", f"SIP/2.0/UDP 192.0.2.1:5060{branch_param}"),
        ("From", "<sip:a@x>;tag=f"), ("To", "<sip:b@y>"), ("Call-ID", "c1"),
        ("CSeq", f"7 {method}"), ("Max-Forwards", "70")]))


def test_client_invite_timers_and_states() -> None:
    sink = Sink()
    txn = ClientInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.start(10.0)
    assert txn.state == "calling" and sink.armed == {"A": 10.5, "B": 42.0}
    sink.fire(txn, "A")
    assert sink.armed["A"] == 11.5 and len(sink.sent) == 2
    txn.receive_response(make_response(req("INVITE"), 100), 11.0)
    assert txn.state == "proceeding" and sink.armed == {}
    txn.receive_response(make_response(req("INVITE"), 180, to_tag="x"), 11.1)
    assert [type(e) for e in sink.events] == [ResponseReceived, ResponseReceived]
    txn.receive_response(make_response(req("INVITE"), 200, to_tag="x"), 12.0)
    assert txn.state == "accepted" and sink.armed == {"M": 44.0}
    txn.receive_response(make_response(req("INVITE"), 180, to_tag="x"), 12.1)  # ignored now
    txn.receive_response(make_response(req("INVITE"), 200, to_tag="y"), 12.2)  # another fork: up
    assert [e.response.status for e in sink.events if isinstance(e, ResponseReceived)] == [100, 180, 200, 200]
    sink.fire(txn, "M")
    assert txn.terminated and sink.ended == [txn]


def test_client_invite_transport_failure_only_before_a_final() -> None:
    sink = Sink()
    txn = ClientInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.start(0.0)
    txn.receive_response(make_response(req("INVITE"), 500, to_tag="x"), 0.1)
    txn.transport_failed("unreachable")  # in Completed: nothing left to fail
    assert not any(isinstance(e, TransportFailure) for e in sink.events)
    txn2 = ClientNonInviteTransaction(req("OPTIONS"), PEER, sink, TIMERS)
    txn2.start(0.0)
    txn2.transport_failed("unreachable")
    assert isinstance(sink.events[-1], TransportFailure) and txn2.terminated


def test_client_non_invite_ignores_responses_once_completed() -> None:
    sink = Sink()
    txn = ClientNonInviteTransaction(req("BYE"), PEER, sink, TIMERS)
    txn.start(0.0)
    txn.receive_response(make_response(req("BYE"), 200), 0.1)
    txn.receive_response(make_response(req("BYE"), 200), 0.2)
    txn.receive_response(make_response(req("BYE"), 100), 0.3)
    assert len(sink.events) == 1 and sink.armed == {"K": pytest.approx(5.1)}


def test_client_timer_b_after_state_change_is_harmless() -> None:
    sink = Sink()
    txn = ClientInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.start(0.0)
    txn.receive_response(make_response(req("INVITE"), 180, to_tag="x"), 0.1)
    txn.on_timer("B", 32.0)  # a stale firing (the layer cancels it; the machine checks anyway)
    txn.on_timer("A", 32.0)
    assert txn.state == "proceeding" and sink.events[-1].__class__ is ResponseReceived


def test_server_invite_legacy_ack_in_accepted_goes_to_the_tu() -> None:
    sink = Sink()
    txn = ServerInviteTransaction(req("INVITE", ""), PEER, sink, TIMERS)
    txn.send_response(make_response(req("INVITE", ""), 200, to_tag="s"), 0.0)
    assert txn.state == "accepted" and sink.armed == {"L": 32.0}
    ack = req("ACK", "")
    txn.receive_request(ack, 0.1)
    (event,) = sink.events
    assert isinstance(event, RequestReceived) and event.request is ack and event.transaction is None


def test_server_invite_timer_h_and_ack_absorbed_in_confirmed() -> None:
    sink = Sink()
    txn = ServerInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.send_response(make_response(req("INVITE"), 404, to_tag="s"), 0.0)
    assert sink.armed == {"G": 0.5, "H": 32.0}
    txn.receive_request(req("ACK"), 0.2)
    assert txn.state == "confirmed" and sink.armed == {"I": 5.2}
    txn.receive_request(req("ACK"), 0.3)
    txn.receive_request(req("INVITE"), 0.4)
    assert len(sink.sent) == 1 and sink.events == []
    sink.fire(txn, "I")
    assert txn.terminated

    sink = Sink()
    txn = ServerInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.send_response(make_response(req("INVITE"), 404, to_tag="s"), 0.0)
    sink.fire(txn, "H")
    assert isinstance(sink.events[0], TransactionTimeout) and txn.terminated


def test_server_non_invite_refuses_after_final_and_resends_provisional() -> None:
    sink = Sink()
    txn = ServerNonInviteTransaction(req("OPTIONS"), PEER, sink, TIMERS)
    txn.send_response(make_response(req("OPTIONS"), 100), 0.0)
    txn.receive_request(req("OPTIONS"), 0.5)
    assert len(sink.sent) == 2 and txn.state == "proceeding"
    txn.send_response(make_response(req("OPTIONS"), 200), 0.6)
    assert txn.final_sent and sink.armed == {"J": pytest.approx(32.6)}
    with pytest.raises(LocalProtocolError, match="cannot send 500 in state completed of OPTIONS"):
        txn.send_response(make_response(req("OPTIONS"), 500), 0.7)


def test_server_invite_refuses_provisional_after_2xx() -> None:
    sink = Sink()
    txn = ServerInviteTransaction(req("INVITE"), PEER, sink, TIMERS)
    txn.send_response(make_response(req("INVITE"), 200, to_tag="s"), 0.0)
    txn.send_response(make_response(req("INVITE"), 200, to_tag="s"), 0.5)  # TU retransmission: ok
    with pytest.raises(LocalProtocolError, match="cannot send 180 in state accepted of INVITE"):
        txn.send_response(make_response(req("INVITE"), 180, to_tag="s"), 0.6)
    assert len(sink.sent) == 2


def test_build_non2xx_ack_uses_only_the_top_via() -> None:
    invite = req("INVITE")
    invite.headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKt1, "
                              "SIP/2.0/UDP proxy;branch=z9hG4bKp")
    response = Response(486, headers=make_response(invite, 486, to_tag="r").headers)
    ack = build_non2xx_ack(invite, response)
    assert ack.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKt1"]
    assert ack.to_tag == "r" and str(ack.cseq) == "7 ACK" and ack.uri == invite.uri
