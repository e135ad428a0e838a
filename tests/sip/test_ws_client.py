"""The sans-I/O core as a SIP WebSocket *client* (RFC 7118): our UA opened the connection, so it
has no WS address anybody could reach.  Via sent-by and Contact carry a random ``.invalid``
host without a port (Appendix B.1), the Contact says ``;transport=ws`` for WS and WSS (§5.2),
responses without ``received`` are accepted (§5.3), the server's requests over the connection
reach us, and in-dialog requests follow a Record-Route that names the WebSocket side.  ``now``
is driven by hand; nothing sleeps.
"""

from __future__ import annotations

import re

import pytest

from wcs.entropy import SeededEntropy
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response, make_response, parse_message
from wcs.sip.transport import Address
from wcs.sip.transport_select import TransportPolicy
from wcs.sip.ua import Account, CallAnswered, IncomingCall, RegistrationChanged, UserAgent
from wcs.timers import TimerConfig

LOCAL = Address("192.0.2.10", 5070)
#: UDP and TCP listeners only: WebSocket is client-side
LISTENERS = {"udp": LOCAL, "tcp": Address("192.0.2.10", 5070, "tcp")}
WS_PROXY = Address("192.0.2.1", 8080, "ws")
SDP = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 0\r\n")
INVALID = re.compile(r"[a-z0-9]{12}\.invalid")


def ua(seed: int = 1, listeners: dict[str, Address] | None = None) -> UserAgent:
    agent = UserAgent(LOCAL, entropy=SeededEntropy(seed), timers=TimerConfig())
    agent.set_transport_policy(TransportPolicy(LISTENERS if listeners is None else listeners))
    return agent


def account(proxy: Address = WS_PROXY) -> Account:
    return Account("1001", "example.com", password="pw", proxy=proxy)


def sent(agent: UserAgent) -> list[tuple[Request | Response, Address]]:
    return [(parse_message(out.data), out.dest) for out in agent.outgoing()]


def only_request(agent: UserAgent) -> tuple[Request, Address]:
    items = sent(agent)
    assert len(items) == 1, items
    message, dest = items[0]
    assert isinstance(message, Request)
    return message, dest


def registered(agent: UserAgent, proxy: Address = WS_PROXY) -> str:
    """REGISTER over ``proxy``, answer 200 without ``received``; the .invalid host we used."""
    agent.register(account(proxy), 0.0)
    register, dest = only_request(agent)
    assert dest == proxy
    ok = make_response(register, 200, to_tag="r")
    ok.headers.add("Contact", register.headers.get("Contact") + ";expires=600")
    agent.receive_datagram(bytes(ok), proxy, 0.1)
    [changed] = [e for e in agent.events() if isinstance(e, RegistrationChanged)]
    assert (changed.state, changed.status) == ("registered", 200)
    return register.top_via.host


@pytest.mark.parametrize(("transport", "token"), [("ws", "WS"), ("wss", "WSS")])
def test_register_over_a_websocket_we_opened_uses_an_invalid_host(transport: str, token: str) -> None:
    agent = ua()
    proxy = Address("192.0.2.1", 8443, transport)
    agent.register(account(proxy), 0.0)
    register, dest = only_request(agent)
    assert dest == proxy
    via = register.top_via
    assert via.transport == token and INVALID.fullmatch(via.host) and via.port is None   # RFC 7118 B.1
    assert str(via).startswith(f"SIP/2.0/{token} {via.host};rport;branch=z9hG4bK")
    # §5.2: one URI transport value, "ws", for WS and WSS
    assert register.headers.get("Contact") == f"<sip:1001@{via.host};transport=ws>"
    assert register.headers.get("Route") == f"<sip:192.0.2.1:8443;transport={transport};lr>"
    # reliable transport (§5): no Timer E retransmission, only Timer F
    assert agent.get_timer() == pytest.approx(32.0)


def test_the_invalid_host_is_drawn_once_per_ua_and_differs_between_uas() -> None:
    agent = ua(seed=1)
    host = registered(agent)
    agent.invite(account(), "sip:1002@example.com", SDP, 0.2)
    invite, dest = only_request(agent)
    assert dest == WS_PROXY and invite.top_via.host == host
    assert invite.headers.get("Contact") == f"<sip:1001@{host};transport=ws>"
    other = ua(seed=2)
    other.register(account(), 0.0)
    register, _ = only_request(other)
    assert register.top_via.host != host and INVALID.fullmatch(register.top_via.host)


def test_a_ws_listener_of_ours_is_advertised_instead() -> None:
    agent = ua(listeners={**LISTENERS, "ws": Address("192.0.2.10", 8088, "ws")})
    agent.register(account(), 0.0)
    register, _ = only_request(agent)
    assert register.top_via.sent_by == "192.0.2.10:8088"
    assert register.headers.get("Contact") == "<sip:1001@192.0.2.10:8088;transport=ws>"


def test_other_transports_keep_their_listeners() -> None:
    agent = ua()
    registered(agent)
    agent.register(account(Address("192.0.2.1", 5060, "tcp")), 0.2)
    register, _ = only_request(agent)
    assert register.top_via.sent_by == "192.0.2.10:5070"
    assert register.headers.get("Contact") == "<sip:1001@192.0.2.10:5070;transport=tcp>"


def test_response_with_received_and_rport_is_accepted_too() -> None:
    agent = ua()
    agent.register(account(), 0.0)
    register, _ = only_request(agent)
    ok = make_response(register, 200, to_tag="r")
    via = ok.top_via
    via.received, via.rport = "198.51.100.7", 51234
    ok.headers.set("Via", str(via))
    agent.receive_datagram(bytes(ok), WS_PROXY, 0.1)
    [changed] = [e for e in agent.events() if isinstance(e, RegistrationChanged)]
    assert changed.state == "registered"


def test_a_call_from_the_server_over_our_connection() -> None:
    """The registrar routes to the connection we registered from; the Request-URI is our .invalid
    Contact (Kamailio: lookup + fix_nated_register).  We answer on the connection, and the BYE we
    send follows the Record-Route back to the WebSocket side of the proxy."""
    agent = ua()
    host = registered(agent)
    invite = Request("INVITE", f"sip:1001@{host};transport=ws", Headers([
        ("Via", "SIP/2.0/WS 192.0.2.1:8080;branch=z9hG4bKin1"),
        ("Via", "SIP/2.0/UDP 192.0.2.77:5060;received=192.0.2.77;branch=z9hG4bKbob"),
        ("Record-Route", "<sip:192.0.2.1:8080;transport=ws;r2=on;lr>"),
        ("Record-Route", "<sip:192.0.2.1;r2=on;lr>"),
        ("Max-Forwards", "69"), ("From", "<sip:1002@example.com>;tag=f1"), ("To", "<sip:1001@example.com>"),
        ("Call-ID", "in-1"), ("CSeq", "1 INVITE"), ("Contact", "<sip:1002@192.0.2.77:5060>"),
        ("Content-Type", "application/sdp")]), SDP)
    agent.receive_datagram(bytes(invite), WS_PROXY, 0.2)   # a WebSocket message is a whole message
    trying, dest = sent(agent)[0]
    assert dest == WS_PROXY and isinstance(trying, Response) and trying.status == 100
    [incoming] = [e for e in agent.events() if isinstance(e, IncomingCall)]
    agent.answer(incoming.session, SDP, 0.3)
    ok, dest = sent(agent)[0]
    assert dest == WS_PROXY and isinstance(ok, Response) and ok.status == 200
    assert ok.headers.get("Contact") == f"<sip:1001@{host};transport=ws>"
    assert ok.headers.get_all("Record-Route") == ["<sip:192.0.2.1:8080;transport=ws;r2=on;lr>",
                                                  "<sip:192.0.2.1;r2=on;lr>"]
    ack = Request("ACK", f"sip:1001@{host};transport=ws", Headers([
        ("Via", "SIP/2.0/WS 192.0.2.1:8080;branch=z9hG4bKack1"),
        ("Max-Forwards", "69"), ("From", "<sip:1002@example.com>;tag=f1"),
        ("To", f"<sip:1001@example.com>;tag={ok.to.tag}"), ("Call-ID", "in-1"), ("CSeq", "1 ACK")]))
    agent.receive_datagram(bytes(ack), WS_PROXY, 0.4)
    agent.events()
    agent.cancel_or_bye(incoming.session, 1.0)
    bye, dest = only_request(agent)
    assert bye.method == "BYE" and dest == WS_PROXY
    assert bye.uri == "sip:1002@192.0.2.77:5060"
    assert bye.headers.get_all("Route") == ["<sip:192.0.2.1:8080;transport=ws;r2=on;lr>",
                                            "<sip:192.0.2.1;r2=on;lr>"]
    assert bye.top_via.transport == "WS" and bye.top_via.host == host


def test_our_call_follows_the_double_record_route_of_the_proxy() -> None:
    """Kamailio record-routes twice when the call changes transport (WS → UDP); the route set of
    our dialog starts with the WebSocket side, so ACK and BYE go back over our connection."""
    agent = ua()
    host = registered(agent)
    session = agent.invite(account(), "sip:1002@example.com", SDP, 0.2)
    invite, dest = only_request(agent)
    assert dest == WS_PROXY
    ok = make_response(invite, 200, to_tag="callee")
    ok.headers.add("Record-Route", "<sip:192.0.2.1;r2=on;lr>")
    ok.headers.add("Record-Route", "<sip:192.0.2.1:8080;transport=ws;r2=on;lr>")
    ok.headers.add("Contact", "<sip:1002@192.0.2.77:5060>")
    ok.headers.add("Content-Type", "application/sdp")
    ok.body = SDP
    agent.receive_datagram(bytes(ok), WS_PROXY, 0.3)
    [answered] = [e for e in agent.events() if isinstance(e, CallAnswered)]
    assert answered.session is session
    ack, dest = only_request(agent)
    assert ack.method == "ACK" and dest == WS_PROXY and ack.top_via.host == host
    assert ack.headers.get_all("Route")[0] == "<sip:192.0.2.1:8080;transport=ws;r2=on;lr>"
    agent.cancel_or_bye(session, 1.0)
    bye, dest = only_request(agent)
    assert bye.method == "BYE" and dest == WS_PROXY
