"""Two transaction layers back to back in memory (UAC layer ⇄ UAS layer) with scripted loss.

Every deadline is asserted exactly (T1 = 0.5 s, T2 = 4 s, T4 = 5 s, the RFC 3261 defaults);
``now`` is driven by hand, nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.headers import Headers
from wcs.sip.layer import (
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionLayer,
    TransactionTimeout,
    TransportFailure,
    response_address,
)
from wcs.sip.message import Request, Response, make_response, parse_message
from wcs.sip.transport import Address
from wcs.timers import TimerConfig

UAC = Address("192.0.2.1", 5060)
UAS = Address("192.0.2.2", 5060)


def request(method: str, branch: str = "z9hG4bKaaa", *, cseq: int = 1, to_tag: str | None = None,
            via_host: str = "192.0.2.1", via_params: str = "", transport: str = "UDP",
            uri: str = "sip:bob@192.0.2.2") -> Request:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    branch_param = f";branch={branch}" if branch else ""
    headers = Headers([
        ("Via", f"SIP/2.0/{transport} {via_host}:5060{branch_param}{via_params}"),
        ("Max-Forwards", "70"),
        ("From", "Alice <sip:alice@example.com>;tag=1928301774"),
        ("To", to),
        ("Call-ID", "a84b4c76e66710"),
        ("CSeq", f"{cseq} {method}"),
    ])
    return Request(method, uri, headers)


class Wire:
    """Carries datagrams between the two layers; ``drop`` decides per datagram what is lost."""

    def __init__(self, timers: TimerConfig | None = None, transport: str = "udp") -> None:
        timers = timers or TimerConfig()
        self.uac = TransactionLayer(timers=timers)
        self.uas = TransactionLayer(timers=timers)
        self.uac_addr = UAC._replace(transport=transport)
        self.uas_addr = UAS._replace(transport=transport)
        self.log: list[tuple[float, str, str]] = []  # (now, direction, first line)
        self.drop: Callable[[str, bytes], bool] = lambda direction, data: False

    def pump(self, now: float) -> None:
        """Deliver everything queued on both sides (repeat until quiet)."""
        while True:
            moved = False
            for side, other, src, direction in ((self.uac, self.uas, self.uac_addr, ">"),
                                                (self.uas, self.uac, self.uas_addr, "<")):
                for out in side.outgoing():
                    moved = True
                    line = out.data.split(b"\r\n", 1)[0].decode()
                    lost = self.drop(direction, out.data)
                    self.log.append((now, direction + ("x" if lost else ""), line))
                    if not lost:
                        other.receive(parse_message(out.data), src, now)
            if not moved:
                return

    def run_timers(self, now: float) -> None:
        self.uac.handle_timer(now)
        self.uas.handle_timer(now)
        self.pump(now)

    def next_timer(self) -> float | None:
        deadlines = [t for t in (self.uac.get_timer(), self.uas.get_timer()) if t is not None]
        return min(deadlines) if deadlines else None

    def run_until(self, end: float) -> list[float]:
        """Fire timers in deadline order up to ``end``; returns the firing times."""
        fired = []
        while (t := self.next_timer()) is not None and t <= end:
            fired.append(t)
            self.run_timers(t)
        return fired

    def sent(self, direction: str, start: str) -> list[float]:
        return [t for t, d, line in self.log if d.startswith(direction) and line.startswith(start)]


def server_txn(events: Sequence[object]) -> RequestReceived:
    (event,) = [e for e in events if isinstance(e, RequestReceived)]
    return event


# ---------------------------------------------------------------- client INVITE


def test_invite_lost_twice_is_retransmitted_at_t1_and_3t1() -> None:
    w = Wire()
    lost = [True, True]
    w.drop = lambda d, data: d == ">" and bool(lost) and lost.pop()
    w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    assert w.uac.get_timer() == 0.5
    w.run_timers(0.5)
    assert w.uac.get_timer() == 1.5  # interval doubled to 2*T1
    w.run_timers(1.5)
    assert w.sent(">", "INVITE") == [0.0, 0.5, 1.5]
    assert [d for _, d, _ in w.log] == [">x", ">x", ">"]
    assert isinstance(server_txn(w.uas.events()).transaction, object)


def test_invite_never_answered_times_out_with_timer_b_at_64_t1() -> None:
    w = Wire()
    w.drop = lambda d, data: True
    txn = w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    fired = w.run_until(100.0)
    assert w.sent(">", "INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert fired[-1] == 32.0
    events = w.uac.events()
    assert len(events) == 1 and isinstance(events[0], TransactionTimeout)
    assert events[0].transaction is txn and txn.state == "terminated"
    assert w.uac.transaction_count == 0 and w.uac.get_timer() is None


def test_provisional_stops_invite_retransmissions_and_timer_b() -> None:
    w = Wire()
    txn = w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 180, to_tag="t1"), 0.1)
    w.pump(0.1)
    assert txn.state == "proceeding"
    assert [type(e) for e in w.uac.events()] == [ResponseReceived]
    assert w.uac.get_timer() is None  # neither Timer A nor Timer B in Proceeding
    assert w.sent(">", "INVITE") == [0.0]


def test_non_2xx_final_is_acked_by_the_transaction_and_retransmissions_re_acked() -> None:
    w = Wire()
    lost = [True]  # the first ACK is lost: the UAS retransmits the 486 (Timer G), the UAC re-ACKs
    w.drop = lambda d, data: data.startswith(b"ACK") and bool(lost) and lost.pop()
    txn = w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 486, to_tag="t1"), 0.2)
    w.pump(0.2)
    assert txn.state == "completed" and st.state == "completed"
    (ev,) = w.uac.events()
    assert isinstance(ev, ResponseReceived) and ev.response.status == 486
    assert w.uas.get_timer() == pytest.approx(0.7)  # Timer G = T1
    w.run_timers(0.7)
    assert w.sent("<", "SIP/2.0 486") == [0.2, 0.7]
    assert w.sent(">", "ACK") == [0.2, 0.7]
    assert w.uac.events() == []  # the retransmitted 486 is not passed up
    assert st.state == "confirmed"
    # Timer I = T4 on the server, Timer D = 32 s on the client
    assert w.uas.get_timer() == pytest.approx(5.7)
    w.run_timers(5.7)
    assert st.state == "terminated" and w.uas.transaction_count == 0
    assert w.uac.get_timer() == pytest.approx(32.2)
    w.run_timers(32.2)
    assert txn.state == "terminated" and w.uac.transaction_count == 0


def test_ack_for_non_2xx_has_the_invite_via_and_the_response_to() -> None:
    w = Wire()
    inv = request("INVITE")
    inv.headers.add("Route", "<sip:proxy.example.com;lr>")
    w.uac.send_request(inv, w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 404, to_tag="t9"), 0.1)
    acks: list[bytes] = []

    def capture(direction: str, data: bytes) -> bool:
        if data.startswith(b"ACK"):
            acks.append(data)
        return False

    w.drop = capture
    w.pump(0.1)
    ack = parse_message(acks[0])
    assert isinstance(ack, Request)
    assert ack.uri == inv.uri and ack.call_id == inv.call_id
    assert ack.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa"]
    assert ack.to_tag == "t9" and ack.from_tag == "1928301774"
    assert str(ack.cseq) == "1 ACK"
    assert ack.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]


def test_2xx_retransmissions_reach_the_tu_in_accepted_until_timer_m() -> None:
    w = Wire()
    txn = w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    ok = make_response(st.request, 200, to_tag="t1")
    w.uas.respond(st, ok, 1.0)
    w.pump(1.0)
    assert txn.state == "accepted" and st.state == "accepted"
    assert w.sent(">", "ACK") == []  # the transaction never ACKs a 2xx
    w.uas.respond(st, ok, 1.5)  # the UAS core retransmits (§13.3.1.4)
    w.pump(1.5)
    statuses = [e.response.status for e in w.uac.events() if isinstance(e, ResponseReceived)]
    assert statuses == [200, 200]
    # Timer L (server) and Timer M (client) are both 64*T1 after the 2xx
    assert w.uac.get_timer() == 33.0 and w.uas.get_timer() == 33.0
    w.run_timers(33.0)
    assert txn.state == "terminated" and st.state == "terminated"
    # a 2xx after Timer M is stray: the UA core re-ACKs it from its dialog state
    w.uas.send_stateless(ok, w.uac_addr)
    w.pump(34.0)
    (stray,) = w.uac.events()
    assert isinstance(stray, StrayResponse) and stray.source == w.uas_addr


def test_invite_retransmission_in_accepted_is_absorbed() -> None:
    w = Wire()
    inv = request("INVITE")
    w.uas.receive(parse_message(bytes(inv)), UAC, 0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 200, to_tag="t1"), 0.1)
    w.uas.outgoing()
    w.uas.receive(parse_message(bytes(inv)), UAC, 0.6)
    assert w.uas.outgoing() == [] and w.uas.events() == []


def test_invite_retransmission_in_proceeding_resends_the_last_provisional() -> None:
    w = Wire()
    inv = request("INVITE")
    w.uas.receive(parse_message(bytes(inv)), UAC, 0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.receive(parse_message(bytes(inv)), UAC, 0.5)
    assert w.uas.outgoing() == []  # nothing sent yet, nothing to re-send
    w.uas.respond(st, make_response(st.request, 100), 0.6)
    w.uas.respond(st, make_response(st.request, 180, to_tag="x"), 0.7)
    w.uas.outgoing()
    w.uas.receive(parse_message(bytes(inv)), UAC, 1.5)
    (out,) = w.uas.outgoing()
    assert out.data.startswith(b"SIP/2.0 180 Ringing")
    assert w.uas.events() == []


# ---------------------------------------------------------------- server INVITE non-2xx


def test_server_non_2xx_retransmitted_with_timer_g_capped_at_t2_until_timer_h() -> None:
    w = Wire()
    w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.drop = lambda d, data: d == "<"  # every response is lost
    w.uas.respond(st, make_response(st.request, 603, to_tag="t1"), 0.0)
    w.pump(0.0)
    w.uac.handle_timer(10_000)  # silence the client side: only the server's timers matter here
    w.uac.outgoing()
    fired = []
    while (t := w.uas.get_timer()) is not None:
        fired.append(t)
        w.uas.handle_timer(t)
        w.pump(t)
    assert w.sent("<", "SIP/2.0 603") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == 32.0  # Timer H
    (ev,) = w.uas.events()
    assert isinstance(ev, TransactionTimeout) and ev.transaction is st
    assert st.state == "terminated"


def test_server_refuses_a_second_final_response() -> None:
    w = Wire()
    w.uas.receive(parse_message(bytes(request("INVITE"))), UAC, 0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 486, to_tag="t"), 0.0)
    with pytest.raises(LocalProtocolError, match="cannot send 200 in state completed of INVITE"):
        w.uas.respond(st, make_response(st.request, 200, to_tag="t"), 0.1)


# ---------------------------------------------------------------- non-INVITE


def test_non_invite_retransmit_interval_capped_at_t2_then_timer_f() -> None:
    w = Wire()
    w.drop = lambda d, data: True
    txn = w.uac.send_request(request("OPTIONS"), w.uas_addr, 0.0)
    w.pump(0.0)
    fired = w.run_until(100.0)
    assert w.sent(">", "OPTIONS") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == 32.0
    (ev,) = w.uac.events()
    assert isinstance(ev, TransactionTimeout) and ev.transaction is txn


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    w = Wire()
    w.uac.send_request(request("REGISTER"), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 100), 0.2)
    w.pump(0.2)
    assert w.uac.get_timer() == 0.5
    w.run_timers(0.5)  # Timer E in Proceeding: retransmit, next in T2
    assert w.uac.get_timer() == 4.5
    w.run_timers(4.5)
    assert w.sent(">", "REGISTER") == [0.0, 0.5, 4.5]
    # each retransmission re-sends the last provisional (server non-INVITE Proceeding)
    assert w.sent("<", "SIP/2.0 100") == [0.2, 0.5, 4.5]


def test_timers_j_and_k() -> None:
    w = Wire()
    txn = w.uac.send_request(request("BYE", cseq=2), w.uas_addr, 0.0)
    w.pump(0.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 200), 0.1)
    w.pump(0.1)
    assert txn.state == "completed" and st.state == "completed"
    assert w.uac.get_timer() == pytest.approx(5.1)  # Timer K = T4
    assert w.uas.get_timer() == pytest.approx(32.1)  # Timer J = 64*T1
    # a retransmitted BYE (the 200 crossed it) gets the 200 again, not passed up
    w.uas.receive(parse_message(bytes(request("BYE", cseq=2))), UAC, 0.4)
    (again,) = w.uas.outgoing()
    assert again.data.startswith(b"SIP/2.0 200 OK") and w.uas.events() == []
    w.run_timers(5.1)
    assert txn.state == "terminated"
    w.run_timers(32.1)
    assert st.state == "terminated" and w.uas.transaction_count == 0


def test_non_invite_request_retransmission_in_trying_is_absorbed() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("OPTIONS"))), UAC, 0.0)
    assert len(layer.events()) == 1
    layer.receive(parse_message(bytes(request("OPTIONS"))), UAC, 0.5)
    assert layer.events() == [] and layer.outgoing() == []


# ---------------------------------------------------------------- reliable transports


@pytest.mark.parametrize("transport", ["tcp", "tls", "ws"])
def test_reliable_transport_never_retransmits_and_waits_zero(transport: str) -> None:
    w = Wire(transport=transport)
    w.drop = lambda d, data: True
    txn = w.uac.send_request(request("INVITE", transport=transport.upper()), w.uas_addr, 0.0)
    w.pump(0.0)
    assert w.uac.get_timer() == 32.0  # only Timer B
    w.run_timers(32.0)
    assert w.sent(">", "INVITE") == [0.0]
    assert isinstance(w.uac.events()[0], TransactionTimeout) and txn.state == "terminated"

    w.drop = lambda d, data: False
    txn = w.uac.send_request(request("INVITE", "z9hG4bKbbb", transport=transport.upper()),
                             w.uas_addr, 40.0)
    w.pump(40.0)
    st = server_txn(w.uas.events()).transaction
    assert st is not None and st.reply_to == w.uac_addr  # back over the connection
    w.uas.respond(st, make_response(st.request, 480, to_tag="t"), 40.0)
    w.pump(40.0)
    # Timer D and Timer I are zero: both machines are gone at once; only Timer H was armed
    assert txn.state == "terminated" and st.state == "terminated"
    assert w.uac.transaction_count == 0 and w.uas.transaction_count == 0
    assert w.uas.get_timer() is None


def test_reliable_non_invite_completed_ends_at_once() -> None:
    w = Wire(transport="tcp")
    txn = w.uac.send_request(request("OPTIONS", transport="TCP"), w.uas_addr, 0.0)
    w.pump(0.0)
    assert w.uac.get_timer() == 32.0  # Timer F only, no Timer E
    st = server_txn(w.uas.events()).transaction
    assert st is not None
    w.uas.respond(st, make_response(st.request, 200), 0.1)
    w.pump(0.1)
    assert txn.state == "terminated" and st.state == "terminated"  # K = J = 0


# ---------------------------------------------------------------- CANCEL


def test_cancel_matches_the_invite_server_transaction() -> None:
    w = Wire()
    inv = request("INVITE")
    w.uac.send_request(inv, w.uas_addr, 0.0)
    w.pump(0.0)
    ist = server_txn(w.uas.events()).transaction
    assert ist is not None
    w.uas.respond(ist, make_response(ist.request, 180, to_tag="t1"), 0.1)
    w.pump(0.1)
    w.uac.events()
    cancel_txn = w.uac.send_request(request("CANCEL"), w.uas_addr, 1.0)  # same branch, §9.1
    w.pump(1.0)
    ev = server_txn(w.uas.events())
    assert ev.request.method == "CANCEL" and ev.cancels is ist
    assert ev.transaction is not None and ev.transaction is not ist
    w.uas.respond(ev.transaction, make_response(ev.request, 200, to_tag="t1"), 1.0)
    w.uas.respond(ist, make_response(ist.request, 487, to_tag="t1"), 1.0)
    w.pump(1.0)
    got = [(e.transaction.method, e.response.status) for e in w.uac.events()
           if isinstance(e, ResponseReceived)]
    assert got == [("CANCEL", 200), ("INVITE", 487)]
    assert cancel_txn.state == "completed"
    assert w.sent(">", "ACK") == [1.0]


def test_cancel_without_invite_reports_no_match() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("CANCEL"))), UAC, 0.0)
    ev = server_txn(layer.events())
    assert ev.cancels is None and ev.transaction is not None


# ---------------------------------------------------------------- matching details


def test_ack_for_2xx_is_passed_up_without_transaction() -> None:
    layer = TransactionLayer()
    ack = request("ACK", "z9hG4bKnew", to_tag="t1")
    layer.receive(parse_message(bytes(ack)), UAC, 0.0)
    ev = server_txn(layer.events())
    assert ev.request.method == "ACK" and ev.transaction is None


def test_same_branch_from_another_sent_by_is_a_new_transaction() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("OPTIONS"))), UAC, 0.0)
    layer.receive(parse_message(bytes(request("OPTIONS", via_host="192.0.2.9"))),
                  Address("192.0.2.9", 5060), 0.0)
    assert len(layer.events()) == 2 and layer.transaction_count == 2


def test_response_matching_needs_branch_and_method() -> None:
    w = Wire()
    w.uac.send_request(request("INVITE"), w.uas_addr, 0.0)
    w.uac.outgoing()
    # a response with the right branch but another CSeq method is stray
    bad = make_response(request("OPTIONS"), 200)
    w.uac.receive(parse_message(bytes(bad)), UAS, 0.1)
    (ev,) = w.uac.events()
    assert isinstance(ev, StrayResponse)


def test_rfc2543_requests_without_magic_cookie_are_matched() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", branch="")
    layer.receive(parse_message(bytes(inv)), UAC, 0.0)
    st = server_txn(layer.events()).transaction
    assert st is not None
    layer.respond(st, make_response(st.request, 486, to_tag="srv"), 0.0)
    layer.outgoing()
    layer.receive(parse_message(bytes(inv)), UAC, 0.3)  # retransmission → final re-sent
    assert len(layer.outgoing()) == 1 and layer.events() == []
    # an ACK with another To tag is not ours (e.g. for a response another element sent)
    layer.receive(parse_message(bytes(request("ACK", branch="", to_tag="other"))), UAC, 0.4)
    assert isinstance(layer.events()[0], RequestReceived) and st.state == "completed"
    layer.receive(parse_message(bytes(request("ACK", branch="", to_tag="srv"))), UAC, 0.5)
    assert layer.events() == [] and st.state == "confirmed"


def test_rfc2543_cancel_finds_its_invite() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("INVITE", branch=""))), UAC, 0.0)
    st = server_txn(layer.events()).transaction
    layer.receive(parse_message(bytes(request("CANCEL", branch=""))), UAC, 0.1)
    ev = server_txn(layer.events())
    assert ev.cancels is st and ev.transaction is not st


# ---------------------------------------------------------------- Via stamping and response routing


def test_received_and_rport_are_stamped_and_responses_follow_them() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", via_host="10.0.0.7", via_params=";rport")
    nat = Address("203.0.113.5", 40123)
    layer.receive(parse_message(bytes(inv)), nat, 0.0)
    ev = server_txn(layer.events())
    assert ev.request.headers.get_all("Via") == [
        "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKaaa;rport=40123;received=203.0.113.5"]
    assert ev.transaction is not None and ev.transaction.reply_to == nat
    layer.respond(ev.transaction, make_response(ev.request, 100), 0.0)
    (out,) = layer.outgoing()
    assert out.dest == nat and b";rport=40123;received=203.0.113.5" in out.data


def test_received_without_rport_uses_the_sent_by_port() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("OPTIONS", via_host="pc33.example.com"))),
                  Address("192.0.2.4", 5999), 0.0)
    ev = server_txn(layer.events())
    assert ev.request.top_via.received == "192.0.2.4"
    assert ev.transaction is not None and ev.transaction.reply_to == Address("192.0.2.4", 5060)


def test_matching_source_address_is_not_stamped() -> None:
    layer = TransactionLayer()
    layer.receive(parse_message(bytes(request("OPTIONS"))), UAC, 0.0)
    ev = server_txn(layer.events())
    assert ev.request.headers.get("Via") == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa"


def test_only_the_top_via_of_a_multi_value_line_is_stamped() -> None:
    raw = bytes(request("OPTIONS")).replace(
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa",
        b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa")
    layer = TransactionLayer()
    layer.receive(parse_message(raw), Address("192.0.2.8", 5060), 0.0)
    ev = server_txn(layer.events())
    assert ev.request.headers.get_all("Via") == [
        "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1;received=192.0.2.8, "
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa"]


def test_response_address_maddr_and_defaults() -> None:
    req = request("OPTIONS", via_host="192.0.2.1", via_params=";maddr=239.1.1.1")
    assert response_address(req, UAC) == Address("239.1.1.1", 5060)
    parsed = parse_message(bytes(request("OPTIONS")).replace(b"192.0.2.1:5060", b"192.0.2.1"))
    assert isinstance(parsed, Request)
    assert response_address(parsed, Address("192.0.2.1", 7000)) == Address("192.0.2.1", 5060)


# ---------------------------------------------------------------- API misuse and transport errors


def test_send_request_rejects_ack_missing_cookie_and_duplicates() -> None:
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError, match="ACK is never sent in a client transaction"):
        layer.send_request(request("ACK"), UAS, 0.0)
    with pytest.raises(LocalProtocolError, match="top Via branch starting with z9hG4bK"):
        layer.send_request(request("OPTIONS", branch="1234"), UAS, 0.0)
    layer.send_request(request("OPTIONS"), UAS, 0.0)
    with pytest.raises(LocalProtocolError, match="OPTIONS client transaction with branch z9hG4bKaaa"):
        layer.send_request(request("OPTIONS"), UAS, 0.0)


def test_transport_error_fails_client_transactions_to_that_destination() -> None:
    layer = TransactionLayer()
    txn = layer.send_request(request("INVITE"), UAS, 0.0)
    other = layer.send_request(request("OPTIONS", "z9hG4bKzzz"), Address("192.0.2.99", 5060), 0.0)
    layer.report_transport_error(UAS, "connection refused")
    (ev,) = layer.events()
    assert isinstance(ev, TransportFailure) and ev.transaction is txn
    assert ev.reason == "connection refused"
    assert txn.state == "terminated" and other.state == "trying"


def test_stray_response_is_reported_with_its_source() -> None:
    layer = TransactionLayer()
    resp = Response(200, headers=make_response(request("OPTIONS"), 200).headers)
    layer.receive(resp, UAS, 0.0)
    (ev,) = layer.events()
    assert isinstance(ev, StrayResponse) and ev.source == UAS


def test_custom_timer_config_scales_every_deadline() -> None:
    w = Wire(timers=TimerConfig(t1=0.1, t2=0.4, t4=1.0))
    w.drop = lambda d, data: True
    w.uac.send_request(request("OPTIONS"), w.uas_addr, 0.0)
    w.pump(0.0)
    fired = w.run_until(100.0)
    assert [round(t, 3) for t in w.sent(">", "OPTIONS")] == [
        0.0, 0.1, 0.3, 0.7, 1.1, 1.5, 1.9, 2.3, 2.7, 3.1, 3.5, 3.9, 4.3, 4.7, 5.1, 5.5, 5.9, 6.3]
    assert fired[-1] == pytest.approx(6.4)
