"""Transport choice in the sans-I/O core: the RFC 3261 §18.1.1 size rule, Via/Contact rewriting,
parking requests for host names until they are located (RFC 3263) and failover across targets
(RFC 3263 §4.3).  ``now`` is driven by hand; nothing sleeps.
"""

from __future__ import annotations

import pytest

from wcs.entropy import SeededEntropy
from wcs.sip.headers import Headers
from wcs.sip.layer import TransactionLayer, TransactionTimeout, TransportFailure
from wcs.sip.locate import Target
from wcs.sip.message import Request, Response, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.transport_select import Router, TransportPolicy, replace_top_via
from wcs.sip.ua import Account, CallEnded, IncomingCall, RegistrationChanged, UserAgent
from wcs.timers import TimerConfig

LOCAL = Address("192.0.2.10", 5070)
LISTENERS = {"udp": LOCAL, "tcp": Address("192.0.2.10", 5070, "tcp"),
             "tls": Address("192.0.2.10", 5071, "tls"), "ws": Address("192.0.2.10", 8088, "ws")}
PROXY = Address("192.0.2.1", 5060)
BIG_SDP = b"v=0\r\n" + b"a=x-padding:" + b"p" * 1400 + b"\r\n"
SMALL_SDP = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/AVP 0\r\n")


def ua(*, mtu: int = 1300, locate: bool = False, seed: int = 1,
       timers: TimerConfig | None = None) -> UserAgent:
    agent = UserAgent(LOCAL, entropy=SeededEntropy(seed), timers=timers or TimerConfig())
    agent.set_transport_policy(TransportPolicy(LISTENERS, mtu, locate=locate, families=("A",)))
    return agent


def account(proxy: Address | None = PROXY, domain: str = "example.com") -> Account:
    return Account("1001", domain, password="pw", proxy=proxy)


def sent(agent: UserAgent) -> list[tuple[Request | Response, Address]]:
    return [(parse_message(out.data), out.dest) for out in agent.outgoing()]


def only_request(agent: UserAgent) -> tuple[Request, Address]:
    items = sent(agent)
    assert len(items) == 1, items
    message, dest = items[0]
    assert isinstance(message, Request)
    return message, dest


# ---------------------------------------------------------------- RFC 3261 §18.1.1 size rule


def test_small_request_stays_on_udp_with_our_udp_via_and_contact() -> None:
    agent = ua()
    agent.invite(account(), "sip:1002@example.com", SMALL_SDP, 0.0)
    invite, dest = only_request(agent)
    assert dest == PROXY
    assert invite.top_via.transport == "UDP" and invite.top_via.sent_by == "192.0.2.10:5070"
    assert invite.headers.get("Contact") == "<sip:1001@192.0.2.10:5070>"
    assert agent.router.notes() == []


def test_large_request_goes_over_tcp_with_via_and_contact_rewritten() -> None:
    agent = ua()
    session = agent.invite(account(), "sip:1002@example.com", BIG_SDP, 0.0)
    out = agent.outgoing()
    assert len(out) == 1 and out[0].dest == Address("192.0.2.1", 5060, "tcp")
    invite = parse_message(out[0].data)
    assert isinstance(invite, Request)
    size = len(out[0].data) - len(";transport=tcp")   # as it would have been over UDP
    assert size > 1300
    assert str(invite.top_via).startswith("SIP/2.0/TCP 192.0.2.10:5070;rport;branch=z9hG4bK")
    assert invite.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;transport=tcp>"
    assert agent.router.notes() == [
        f"INVITE of {size} bytes is larger than 1300 bytes: sent over TCP to 192.0.2.1:5060 instead of UDP "
        "(RFC 3261 §18.1.1)"]
    # reliable transport: no Timer A retransmission, only Timer B
    assert agent.get_timer() == pytest.approx(32.0)
    agent.handle_timer(0.5)
    assert agent.outgoing() == []
    assert session.state == "calling"


def test_threshold_is_configurable() -> None:
    agent = ua(mtu=4000)
    agent.invite(account(), "sip:1002@example.com", BIG_SDP, 0.0)
    _, dest = only_request(agent)
    assert dest == PROXY
    agent = ua(mtu=200)
    agent.register(account(), 0.0)
    register, dest = only_request(agent)
    assert dest.transport == "tcp" and register.top_via.transport == "TCP"


def test_small_requests_go_back_to_udp_after_a_large_one() -> None:
    agent = ua()
    agent.invite(account(), "sip:1002@example.com", BIG_SDP, 0.0)
    _, first = only_request(agent)
    agent.register(account(), 0.0)
    register, second = only_request(agent)
    assert (first.transport, second.transport) == ("tcp", "udp")
    assert register.top_via.transport == "UDP"
    assert register.contact is not None and "transport" not in register.contact.uri.params


def test_tcp_failure_of_a_switched_request_names_the_reason_never_falls_back() -> None:
    agent = ua()
    session = agent.invite(account(), "sip:1002@example.com", BIG_SDP, 0.0)
    out = agent.outgoing()
    size = len(out[0].data) - len(";transport=tcp")
    agent.report_transport_error(out[0].dest, "TCP connection to 192.0.2.1:5060 failed: Connection refused",
                                 0.1)
    assert agent.outgoing() == []     # nothing is retried over UDP
    [ended] = [e for e in agent.events() if isinstance(e, CallEnded)]
    assert ended.session is session and (ended.cause, ended.status) == ("failed", 503)
    assert ended.reason == (f"TCP connection to 192.0.2.1:5060 failed: Connection refused "
                            f"(request of {size} bytes is too large for UDP)")


def test_account_transport_decides_via_and_contact() -> None:
    agent = ua()
    agent.register(account(Address("192.0.2.1", 5061, "tls")), 0.0)
    register, dest = only_request(agent)
    assert dest == Address("192.0.2.1", 5061, "tls")
    assert str(register.top_via).startswith("SIP/2.0/TLS 192.0.2.10:5071;rport;branch=")
    assert register.headers.get("Contact") == "<sip:1001@192.0.2.10:5071;transport=tls>"
    assert register.headers.get("Route") == "<sip:192.0.2.1:5061;transport=tls;lr>"


def test_a_proxy_without_port_is_written_without_one() -> None:
    agent = ua(locate=True)
    agent.register(account(Address("pbx.example.com", 0, "tcp")), 0.0)
    assert agent.outgoing() == []
    assert agent.router.queries() == [Target("pbx.example.com", None, "tcp")]


def test_response_contact_names_the_transport_of_the_request() -> None:
    agent = ua()
    agent.register(account(), 0.0)
    register, _ = only_request(agent)
    ok = make_response(register, 200, to_tag="r")
    ok.headers.add("Expires", "600")
    agent.receive_datagram(bytes(ok), PROXY, 0.1)
    invite = Request("INVITE", "sip:1001@192.0.2.10:5071;transport=tls", Headers([
        ("Via", "SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKin1"),
        ("Max-Forwards", "70"), ("From", "<sip:1002@example.com>;tag=f1"), ("To", "<sip:1001@example.com>"),
        ("Call-ID", "in-1"), ("CSeq", "1 INVITE"), ("Contact", "<sip:1002@192.0.2.1:5061;transport=tls>"),
        ("Content-Type", "application/sdp")]), SMALL_SDP)
    source = Address("192.0.2.1", 40000, "tls")
    agent.receive_message(invite, source, 0.2)
    trying, dest = sent(agent)[0]
    assert dest == source and isinstance(trying, Response) and trying.status == 100
    [incoming] = [e for e in agent.events() if isinstance(e, IncomingCall)]
    agent.answer(incoming.session, SMALL_SDP, 0.3)
    ok2, dest = sent(agent)[0]
    assert dest == source and isinstance(ok2, Response) and ok2.status == 200
    assert ok2.headers.get("Contact") == "<sip:1001@192.0.2.10:5071;transport=tls>"


# ---------------------------------------------------------------- Router details


def test_via_rewrite_keeps_params_and_the_other_vias() -> None:
    request = Request("OPTIONS", "sip:x@192.0.2.1", Headers([
        ("v", "SIP/2.0/UDP 192.0.2.10:5070;rport;branch=z9hG4bKa1, SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKb"),
        ("Via", "SIP/2.0/UDP 192.0.2.98;branch=z9hG4bKc"),
        ("Contact", '"Me" <sip:me@192.0.2.10:5070;ob>;+sip.x'),
        ("Call-ID", "1"), ("CSeq", "1 OPTIONS"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>")]))
    router = Router(LOCAL, TransportPolicy(LISTENERS))
    dest, oversize = router.prepare(request, Address("192.0.2.1", 5060, "ws"))
    assert (dest, oversize) == (Address("192.0.2.1", 5060, "ws"), None)
    assert request.headers.get_all("Via") == [
        "SIP/2.0/WS 192.0.2.10:8088;rport;branch=z9hG4bKa1, SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKb",
        "SIP/2.0/UDP 192.0.2.98;branch=z9hG4bKc"]
    assert request.headers.get("Contact") == '"Me" <sip:me@192.0.2.10:8088;ob;transport=ws>;+sip.x'


def test_a_contact_that_is_not_ours_is_left_alone() -> None:
    request = Request("REGISTER", "sip:example.com", Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKa1"), ("Contact", "<sip:other@198.51.100.1:5060>"),
        ("Call-ID", "1"), ("CSeq", "1 REGISTER"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:a@b>")]))
    Router(LOCAL, TransportPolicy(LISTENERS)).prepare(request, Address("192.0.2.1", 5060, "tcp"))
    assert request.headers.get("Contact") == "<sip:other@198.51.100.1:5060>"
    assert request.top_via.transport == "TCP"


def test_bare_layer_router_changes_only_the_transport_token() -> None:
    request = Request("MESSAGE", "sip:x@192.0.2.1", Headers([
        ("Via", "SIP/2.0/UDP host.example:5999;branch=z9hG4bKa1"), ("Call-ID", "1"), ("CSeq", "1 MESSAGE"),
        ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>")]), b"x" * 1400)
    dest, oversize = Router(None).prepare(request, Address("192.0.2.1", 5060))
    assert dest == Address("192.0.2.1", 5060, "tcp") and oversize == len(bytes(request))
    assert str(request.top_via) == "SIP/2.0/TCP host.example:5999;branch=z9hG4bKa1"


def test_replace_top_via_on_a_response() -> None:
    response = Response(200, headers=Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b"),
                                              ("Call-ID", "1")]))
    replace_top_via(response, "SIP/2.0/TCP c;branch=z9hG4bK2")
    assert response.headers.get_all("Via") == ["SIP/2.0/TCP c;branch=z9hG4bK2, SIP/2.0/UDP b"]


# ---------------------------------------------------------------- RFC 3263: parking and failover


def register_parked(agent: UserAgent, proxy: Address) -> Target:
    agent.register(account(proxy, domain="pbx.example.com"), 0.0)
    assert agent.outgoing() == []
    [target] = agent.router.queries()
    assert agent.router.parked == 1
    return target


def test_requests_for_a_name_wait_until_located() -> None:
    agent = ua(locate=True)
    target = register_parked(agent, Address("pbx.example.com", 0, "udp"))
    assert target == Target("pbx.example.com", None, "udp")
    agent.register(account(Address("pbx.example.com", 0, "udp"), domain="pbx.example.com"), 0.0)
    assert agent.router.queries() == []          # one query per target
    agent.located(target, [Address("192.0.2.1", 5080), Address("192.0.2.2", 5080)], 1.0)
    items = sent(agent)
    assert [dest for _, dest in items] == [Address("192.0.2.1", 5080)] * 2
    assert all(isinstance(m, Request) and m.top_via.transport == "UDP" for m, _ in items)
    assert agent.get_timer() == pytest.approx(1.5)   # Timer E from when it really left


def test_a_located_tls_target_gets_a_tls_via_and_contact() -> None:
    agent = ua(locate=True)
    target = register_parked(agent, Address("pbx.example.com", 0, "udp"))
    agent.located(target, [Address("192.0.2.1", 5061, "tls")], 0.5)
    register, dest = only_request(agent)
    assert dest == Address("192.0.2.1", 5061, "tls")
    assert register.top_via.transport == "TLS" and register.top_via.port == 5071


def test_location_failure_fails_the_parked_requests_with_the_reason() -> None:
    agent = ua(locate=True)
    target = register_parked(agent, Address("pbx.example.com", 0, "udp"))
    agent.located(target, [], 0.5, "cannot resolve pbx.example.com: NXDOMAIN")
    [changed] = agent.events()
    assert isinstance(changed, RegistrationChanged)
    assert (changed.state, changed.status, changed.reason) == ("failed", 503,
                                                              "cannot resolve pbx.example.com: NXDOMAIN")


def test_timeout_fails_over_to_the_next_target_with_a_new_branch() -> None:
    timers = TimerConfig(t1=0.1)
    agent = ua(locate=True, timers=timers)
    target = register_parked(agent, Address("pbx.example.com", 0, "udp"))
    agent.located(target, [Address("192.0.2.1", 5060), Address("192.0.2.2", 5060, "tcp")], 0.0)
    first, _ = only_request(agent)
    agent.handle_timer(64 * 0.1)   # Timer F: no response at all
    retries = sent(agent)
    assert retries[-1][1] == Address("192.0.2.2", 5060, "tcp")
    second = retries[-1][0]
    assert isinstance(second, Request) and second.top_via.transport == "TCP"
    assert second.top_via.branch != first.top_via.branch
    assert second.cseq == first.cseq and second.call_id == first.call_id
    assert agent.events() == []                 # the TU heard nothing
    assert agent.router.notes() == ["REGISTER to 192.0.2.1:5060/udp failed (no response): "
                                    "trying 192.0.2.2:5060/tcp (RFC 3263 §4.3)"]
    ok = make_response(second, 200, to_tag="x")
    ok.headers.add("Expires", "600")
    agent.receive_message(ok, Address("192.0.2.2", 5060, "tcp"), 7.0)
    [changed] = agent.events()
    assert isinstance(changed, RegistrationChanged) and changed.state == "registered"


def test_transport_failure_fails_over_at_once_and_the_last_failure_reaches_the_tu() -> None:
    agent = ua(locate=True)
    session = agent.invite(account(Address("pbx.example.com", 0, "tcp")), "sip:1002@pbx.example.com",
                           SMALL_SDP, 0.0)
    [target] = agent.router.queries()
    a, b = Address("192.0.2.1", 5060, "tcp"), Address("192.0.2.2", 5060, "tcp")
    agent.located(target, [a, b], 0.0)
    _, dest = only_request(agent)
    assert dest == a
    agent.report_transport_error(a, "TCP connection to 192.0.2.1:5060 failed: Connection refused", 0.1)
    _, dest = only_request(agent)
    assert dest == b and agent.events() == []
    agent.report_transport_error(b, "TCP connection to 192.0.2.2:5060 failed: Connection refused", 0.2)
    [ended] = agent.events()
    assert isinstance(ended, CallEnded) and ended.session is session
    assert ended.status == 503
    assert ended.reason == "TCP connection to 192.0.2.2:5060 failed: Connection refused"


def test_no_failover_once_the_server_answered() -> None:
    layer = TransactionLayer(timers=TimerConfig(t1=0.1), router=Router(LOCAL, TransportPolicy(locate=True),
                                                                      SeededEntropy(2)))
    request = Request("OPTIONS", "sip:x@pbx.example.com", Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKopt"), ("Call-ID", "1"), ("CSeq", "1 OPTIONS"),
        ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>")]))
    txn = layer.send_request(request, Address("pbx.example.com", 5060), 0.0)
    [target] = layer.router.queries()
    assert target == Target("pbx.example.com", None, None)   # from the Request-URI: NAPTR allowed
    layer.located(target, [Address("192.0.2.1", 5060), Address("192.0.2.2", 5060)], 0.0)
    layer.outgoing()
    layer.receive(make_response(request, 100), Address("192.0.2.1", 5060), 0.1)
    layer.handle_timer(6.4)
    events = layer.events()
    assert [type(e) for e in events] == [type(events[0]), TransactionTimeout]
    assert events[-1].transaction is txn
    assert all(out.dest == Address("192.0.2.1", 5060) for out in layer.outgoing())


def test_503_fails_over_and_the_left_machine_still_acks_its_retransmissions() -> None:
    """RFC 3263 §4.3: a 503 is a failure like a timeout; the INVITE goes to the next target with
    a new branch, and the first server's retransmitted 503 still gets its ACK (§17.1.1.2)."""
    timers = TimerConfig(t1=0.1)
    agent = ua(locate=True, timers=timers)
    session = agent.invite(account(Address("pbx.example.com", 0, "udp")), "sip:1002@pbx.example.com",
                           SMALL_SDP, 0.0)
    [target] = agent.router.queries()
    a, b = Address("192.0.2.1", 5060), Address("192.0.2.2", 5060)
    agent.located(target, [a, b], 0.0)
    first, dest = only_request(agent)
    assert dest == a
    unavailable = make_response(first, 503, "Service Unavailable", to_tag="busy")
    agent.receive_message(unavailable, a, 0.05)
    out = sent(agent)
    assert [(m.method, d) for m, d in out if isinstance(m, Request)] == [("ACK", a), ("INVITE", b)]
    second = out[-1][0]
    assert isinstance(second, Request) and second.top_via.branch != first.top_via.branch
    assert second.cseq == first.cseq and second.call_id == first.call_id
    assert agent.events() == []                       # the TU did not hear of the 503
    assert agent.router.notes() == ["INVITE to 192.0.2.1:5060/udp failed (503 Service Unavailable): "
                                    "trying 192.0.2.2:5060/udp (RFC 3263 §4.3)"]
    agent.receive_message(unavailable, a, 0.3)         # the first server did not get our ACK
    [(ack, ack_dest)] = sent(agent)
    assert isinstance(ack, Request) and ack.method == "ACK" and ack_dest == a
    assert ack.top_via.branch == first.top_via.branch
    agent.handle_timer(0.5)                            # Timer A of the new INVITE only
    assert [(m.method, d) for m, d in sent(agent) if isinstance(m, Request)] == [("INVITE", b)]
    agent.receive_message(make_response(second, 486, "Busy Here", to_tag="b"), b, 0.6)
    [ended] = [e for e in agent.events() if isinstance(e, CallEnded)]
    assert ended.session is session and ended.status == 486
    agent.handle_timer(40.0)                           # both Timer Ds: nothing left behind
    sent(agent)
    agent.receive_message(unavailable, a, 40.1)        # a stray now: no ACK
    assert sent(agent) == [] and not agent.busy


def test_503_from_the_last_target_reaches_the_tu() -> None:
    agent = ua(locate=True)
    target = register_parked(agent, Address("pbx.example.com", 0, "udp"))
    agent.located(target, [Address("192.0.2.1", 5060)], 0.0)
    register, _ = only_request(agent)
    agent.receive_message(make_response(register, 503, "Service Unavailable", to_tag="x"),
                          Address("192.0.2.1", 5060), 0.1)
    [changed] = agent.events()
    assert isinstance(changed, RegistrationChanged) and (changed.state, changed.status) == ("failed", 503)


def test_parked_ack_goes_out_once_located() -> None:
    layer = TransactionLayer(router=Router(LOCAL, TransportPolicy(LISTENERS, locate=True)))
    ack = Request("ACK", "sip:bob@h.example.com;transport=tcp", Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKack"), ("Call-ID", "1"), ("CSeq", "1 ACK"),
        ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>;tag=2")]))
    layer.send_stateless(ack, Address("h.example.com", 5060, "tcp"))
    assert layer.outgoing() == []
    [target] = layer.router.queries()
    layer.located(target, [Address("192.0.2.7", 5060, "tcp")], 1.0)
    [out] = layer.outgoing()
    assert out.dest == Address("192.0.2.7", 5060, "tcp") and out.data.startswith(b"ACK ")
    assert b"Via: SIP/2.0/TCP 192.0.2.10:5070;branch=z9hG4bKack" in out.data


def test_legacy_layers_pass_names_through() -> None:
    layer = TransactionLayer()
    request = Request("OPTIONS", "sip:x@pbx.example.com", Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKopt"), ("Call-ID", "1"), ("CSeq", "1 OPTIONS"),
        ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>")]))
    layer.send_request(request, Address("pbx.example.com", 5060), 0.0)
    [out] = layer.outgoing()
    assert out.dest == Address("pbx.example.com", 5060)
    layer.report_transport_error(out.dest, "cannot resolve pbx.example.com")
    [failure] = layer.events()
    assert isinstance(failure, TransportFailure) and failure.reason == "cannot resolve pbx.example.com"


def test_an_address_that_failed_is_tried_last_for_the_holdoff() -> None:
    agent = ua(locate=True, timers=TimerConfig(t1=0.1))
    proxy = Address("pbx.example.com", 0, "udp")
    a, b = Address("192.0.2.1", 5060), Address("192.0.2.2", 5060)
    target = register_parked(agent, proxy)
    agent.located(target, [a, b], 0.0)
    agent.handle_timer(6.4)                       # a times out: the REGISTER goes to b
    assert sent(agent)[-1][1] == b
    agent.register(account(proxy, domain="pbx.example.com"), 10.0)
    [again] = agent.router.queries()
    agent.located(again, [a, b], 10.0)            # the adapter's order, b first for a while
    assert [dest for _, dest in sent(agent)] == [b]
    agent.register(account(proxy, domain="pbx.example.com"), 100.0)
    [later] = agent.router.queries()
    agent.located(later, [a, b], 100.0)           # 60 s later a is first again
    assert [dest for _, dest in sent(agent)] == [a]
