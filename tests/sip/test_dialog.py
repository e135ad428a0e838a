"""Dialog state and in-dialog requests (RFC 3261 §12), incl. the §12.2.1.1 strict-router example."""

from __future__ import annotations

import pytest

from wcs.errors import LocalProtocolError
from wcs.sip.dialog import Dialog, uri_address
from wcs.sip.headers import Headers
from wcs.sip.message import Request, Response, make_response
from wcs.sip.transport import Address
from wcs.sip.uri import NameAddr, parse_name_addr, parse_uri


def invite() -> Request:
    return Request("INVITE", "sip:bob@biloxi.com", Headers([
        ("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"),
        ("Max-Forwards", "70"),
        ("To", "Bob <sip:bob@biloxi.com>"),
        ("From", "Alice <sip:alice@atlanta.com>;tag=1928301774"),
        ("Call-ID", "a84b4c76e66710@pc33.atlanta.com"),
        ("CSeq", "314159 INVITE"),
        ("Contact", "<sip:alice@pc33.atlanta.com>"),
        ("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
    ]))


def ok_for(request: Request) -> Response:
    ok = make_response(request, 200, to_tag="a6c85cf")
    ok.headers.add("Contact", "<sip:bob@192.0.2.4>")
    return ok


def test_uac_dialog_from_2xx() -> None:
    req = invite()
    dialog = Dialog.from_uac(req, ok_for(req))
    assert dialog.id == ("a84b4c76e66710@pc33.atlanta.com", "1928301774", "a6c85cf")
    assert dialog.state == "confirmed" and dialog.local_seq == 314159 and dialog.remote_seq is None
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert str(dialog.local_uri) == '"Alice" <sip:alice@atlanta.com>'
    assert str(dialog.remote_uri) == '"Bob" <sip:bob@biloxi.com>'


def test_uac_early_dialog_confirmed_by_2xx_recomputes_the_route_set() -> None:
    req = invite()
    ringing = make_response(req, 180, to_tag="a6c85cf")
    dialog = Dialog.from_uac(req, ringing)
    assert dialog.state == "early" and str(dialog.remote_target) == "sip:bob@biloxi.com"
    ok = make_response(req, 200, to_tag="a6c85cf")
    ok.headers.set("Record-Route", "<sip:p3.example.com;lr>")
    ok.headers.add("Contact", "<sip:bob@192.0.2.4>")
    dialog.confirm_from_2xx(ok)
    assert dialog.state == "confirmed" and [str(r.uri) for r in dialog.route_set] == ["sip:p3.example.com;lr"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"


def test_uas_dialog() -> None:
    req = invite()
    dialog = Dialog.from_uas(req, "a6c85cf")
    assert dialog.id == ("a84b4c76e66710@pc33.atlanta.com", "a6c85cf", "1928301774")
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert dialog.remote_seq == 314159 and dialog.local_seq is None
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.com"
    bye, hop = dialog.build_request("BYE", "SIP/2.0/UDP h;branch=z9hG4bK1")
    assert str(bye.cseq) == "1 BYE"  # local sequence was empty
    assert bye.from_tag == "a6c85cf" and bye.to_tag == "1928301774"
    assert bye.headers.get("To") == '"Alice" <sip:alice@atlanta.com>;tag=1928301774'
    assert str(hop) == "sip:p1.example.com;lr"


def test_dialog_creation_needs_tags_and_contact() -> None:
    req = invite()
    req.headers.set("From", "<sip:alice@atlanta.com>")
    with pytest.raises(LocalProtocolError, match="a dialog-creating request needs a From tag"):
        Dialog.from_uac(req, ok_for(invite()))
    req = invite()
    req.headers.remove("Contact")
    with pytest.raises(LocalProtocolError, match="a dialog-creating request needs a Contact"):
        Dialog.from_uas(req, "x")


def test_remote_cseq_must_not_go_down() -> None:
    dialog = Dialog.from_uas(invite(), "t")
    assert dialog.accept_remote_cseq(314160)
    assert dialog.accept_remote_cseq(314160)  # equal is not lower (a retransmission reaching the TU)
    assert not dialog.accept_remote_cseq(314159)
    assert dialog.remote_seq == 314160


def _dialog_with(routes: list[str], target: str = "sip:user@remoteua") -> Dialog:
    return Dialog("c", "l", "r", NameAddr(parse_uri("sip:a@x")), NameAddr(parse_uri("sip:b@y")),
                  parse_uri(target), [parse_name_addr(r) for r in routes], local_seq=5)


def test_loose_routing() -> None:
    dialog = _dialog_with(["<sip:proxy1;lr>", "<sip:proxy2;lr>"])
    req, hop = dialog.build_request("INFO", "SIP/2.0/UDP h;branch=z9hG4bK1")
    assert req.uri == "sip:user@remoteua" and str(hop) == "sip:proxy1;lr"
    assert req.headers.get_all("Route") == ["<sip:proxy1;lr>", "<sip:proxy2;lr>"]
    assert str(req.cseq) == "6 INFO"


def test_strict_router_example_of_section_12_2_1_1() -> None:
    dialog = _dialog_with(["<sip:proxy1>", "<sip:proxy2>", "<sip:proxy3;lr>", "<sip:proxy4>"])
    req, hop = dialog.build_request("BYE", "SIP/2.0/UDP h;branch=z9hG4bK1")
    assert req.start_line() == "BYE sip:proxy1 SIP/2.0"
    assert req.headers.get_all("Route") == ["<sip:proxy2>", "<sip:proxy3;lr>", "<sip:proxy4>",
                                            "<sip:user@remoteua>"]
    assert str(hop) == "sip:proxy1"


def test_strict_router_parameters_not_allowed_in_a_request_uri_are_stripped() -> None:
    dialog = _dialog_with(["<sip:proxy1;method=INVITE;transport=tcp?Subject=x>"])
    req, _ = dialog.build_request("BYE", "SIP/2.0/UDP h;branch=z9hG4bK1")
    assert req.uri == "sip:proxy1;transport=tcp"


def test_no_route_set_uses_the_remote_target() -> None:
    dialog = _dialog_with([])
    req, hop = dialog.build_request("BYE", "SIP/2.0/UDP h;branch=z9hG4bK1", cseq=99)
    assert req.uri == "sip:user@remoteua" and "Route" not in req.headers and str(hop) == req.uri
    assert str(req.cseq) == "99 BYE" and dialog.local_seq == 5  # an explicit CSeq does not count


def test_target_refresh() -> None:
    dialog = _dialog_with([])
    reinvite = Request("INVITE", "sip:a@x", Headers([("Contact", "<sip:user@new-place:5070>")]))
    dialog.refresh_target(reinvite)
    assert str(dialog.remote_target) == "sip:user@new-place:5070"
    dialog.refresh_target(Request("INFO", "sip:a@x", Headers()))  # no Contact: unchanged
    assert str(dialog.remote_target) == "sip:user@new-place:5070"


@pytest.mark.parametrize(("uri", "address"), [
    ("sip:bob@192.0.2.4", Address("192.0.2.4", 5060)),
    ("sip:bob@192.0.2.4:5070;transport=TCP", Address("192.0.2.4", 5070, "tcp")),
    ("sips:bob@example.com", Address("example.com", 5061, "tls")),
    ("sip:p.example.com;maddr=192.0.2.9;lr", Address("192.0.2.9", 5060)),
    ("sip:[2001:db8::1]:5080", Address("2001:db8::1", 5080)),
    # RFC 7118 §5.5: WS defaults to 80, WSS to 443; §5.2: sips + transport=ws is WSS
    ("sip:ws.example.com;transport=wss", Address("ws.example.com", 443, "wss")),
    ("sip:ws.example.com;transport=ws", Address("ws.example.com", 80, "ws")),
    ("sips:ws.example.com;transport=ws", Address("ws.example.com", 443, "wss")),
])
def test_uri_address(uri: str, address: Address) -> None:
    assert uri_address(parse_uri(uri)) == address
