"""Headers multimap, compact forms, Via and CSeq (RFC 3261 §7.3, §20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.sip.errors import SipParseError, SipUsageError
from wcs.sip.grammar import split_commas
from wcs.sip.headers import COMPACT_FORMS, CSeq, Headers, Via, header_key, parse_cseq, parse_via


def test_get_is_case_insensitive_and_compact_equals_full() -> None:
    h = Headers([("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b"), ("i", "abc"), ("l", "0")])
    assert h.get("Via") == "SIP/2.0/UDP a"
    assert h.get_all("via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
    assert h.get("Call-ID") == "abc"
    assert h.get("content-length") == "0"
    assert "CALL-ID" in h and "i" in h and "Contact" not in h
    assert h.get("Contact") is None
    assert h.get("Contact", "x") == "x"
    assert list(h) == [("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b"), ("i", "abc"), ("l", "0")]


@pytest.mark.parametrize(("compact", "full"), [
    ("i", "call-id"), ("m", "contact"), ("e", "content-encoding"), ("l", "content-length"),
    ("c", "content-type"), ("f", "from"), ("s", "subject"), ("k", "supported"), ("t", "to"),
    ("v", "via"), ("o", "event"), ("u", "allow-events"), ("r", "refer-to"), ("b", "referred-by"),
    ("x", "session-expires"), ("y", "identity"), ("a", "accept-contact"), ("j", "reject-contact"),
    ("d", "request-disposition"), ("n", "identity-info"),
])
def test_compact_forms(compact: str, full: str) -> None:
    assert COMPACT_FORMS[compact] == full
    assert header_key(compact) == header_key(compact.upper()) == full


def test_get_list_splits_across_lines_and_respects_quotes_and_brackets() -> None:
    h = Headers([("Contact", '"Doe, John" <sip:a@b>;q=0.5, <sip:c,d@e>'), ("m", "<sip:f@g>")])
    assert h.get_list("Contact") == ['"Doe, John" <sip:a@b>;q=0.5', "<sip:c,d@e>", "<sip:f@g>"]
    assert Headers([("Allow", "INVITE, ACK,,BYE ")]).get_list("Allow") == ["INVITE", "ACK", "BYE"]


def test_split_commas_keeps_empty_elements() -> None:
    assert split_commas("a,,b") == ["a", "", "b"]
    assert split_commas('"unterminated, x') == ['"unterminated, x']  # runs to the end
    assert split_commas('<sip:a,b') == ["<sip:a,b"]
    assert split_commas('a, "q\\", b", <c,d>, e') == ["a", '"q\\", b"', "<c,d>", "e"]


def test_mutation() -> None:
    h = Headers([("Via", "v1"), ("To", "t"), ("Via", "v2")])
    h.insert(0, "Via", "v0")
    assert h.get_all("Via") == ["v0", "v1", "v2"]
    h.prepend("Route", "<sip:r>")
    h.prepend("Via", "vtop")
    assert h.get_all("Via") == ["vtop", "v0", "v1", "v2"]
    h.set("via", "only")
    assert list(h)[0] == ("Via", "only")
    assert h.get_all("Via") == ["only"]
    h.set("Subject", "hi")
    assert list(h)[-1] == ("Subject", "hi")
    h.remove("TO")
    assert "To" not in h
    assert len(h) == 3
    assert h.copy() == h and h.copy() is not h


def test_mutation_clears_typed_cache() -> None:
    h = Headers([("CSeq", "1 INVITE")])
    assert h.cached("cseq", lambda: parse_cseq(h.get("CSeq") or "")) == CSeq(1, "INVITE")
    h.set("CSeq", "2 INVITE")
    assert h.cached("cseq", lambda: parse_cseq(h.get("CSeq") or "")) == CSeq(2, "INVITE")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("Bad Name", "x", "Invalid header name 'Bad Name'"),
    ("", "x", "Invalid header name ''"),
    ("X-Inject", "a\r\nVia: evil", "Line break in X-Inject header value"),
    ("X-Inject", "a\nb", "Line break in X-Inject header value"),
])
def test_building_invalid_headers_is_a_usage_error(name: str, value: str, message: str) -> None:
    with pytest.raises(SipUsageError) as info:
        Headers().add(name, value)
    assert str(info.value) == message


def test_serialize() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a"), ("X-Custom", "  spaced  ")])
    assert h.serialize() == "Via: SIP/2.0/UDP a\r\nX-Custom: spaced\r\n"


def test_via_full() -> None:
    (via,) = parse_via("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1")
    assert via.protocol == "SIP/2.0"
    assert via.transport == "UDP"
    assert via.host == "pc33.atlanta.com"
    assert via.port == 5066
    assert via.branch == "z9hG4bK776asdhds"
    assert via.received == "192.0.2.1"
    assert via.rport is None and "rport" in via.params
    assert str(via) == "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1"


def test_via_rport_and_received_setters() -> None:
    via = Via("TCP", "2001:db8::9", None, {"branch": "z9hG4bKx", "rport": None})
    via.rport = 40123
    via.received = "2001:db8::10"
    assert via.rport == 40123
    assert str(via) == "SIP/2.0/TCP [2001:db8::9];branch=z9hG4bKx;rport=40123;received=2001:db8::10"
    via.branch = None
    assert via.branch is None
    assert parse_via(str(via)) == [via]


def test_via_lws_everywhere_and_multiple_values() -> None:
    # RFC 4475 §3.1.1.1 (wsinv), after unfolding
    vias = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , "
                     "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239")
    assert [(v.transport, v.host, v.port, v.branch) for v in vias] == [
        ("TCP", "spindle.example.com", None, "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", None, "z9hG4bK30239"),
    ]


def test_via_ipv6_and_unknown_transport() -> None:
    (via,) = parse_via("SIP/2.0/WSS [2001:db8::1]:443;branch=z9hG4bKa")
    assert (via.transport, via.host, via.port) == ("WSS", "2001:db8::1", 443)
    assert via.sent_by == "[2001:db8::1]:443"
    assert parse_via("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en")[0].transport == "UNKNOWN"


@pytest.mark.parametrize("text", [
    "", "SIP/2.0/UDP", "SIP/2.0 192.0.2.1", "SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP host:70000",
    "SIP/2.0/UDP host;branch=a b", "SIP/2.0/UDP host,", "SIP/2.0/UDP [::1",
])
def test_malformed_via(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_via(text)
    assert info.value.reason == "Malformed Via header"


def test_cseq() -> None:
    assert parse_cseq("0009\t INVITE") == CSeq(9, "INVITE")
    assert str(CSeq(4711, "BYE")) == "4711 BYE"
    assert parse_cseq("2147483647 ACK").seq == 2**31 - 1


@pytest.mark.parametrize("text", [
    "", "INVITE", "1", "1 INV ITE", "-1 INVITE", "2147483648 INVITE", "36893488147419103232 REGISTER",
    "1 INVITE extra", "x INVITE",
])
def test_invalid_cseq(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_cseq(text)
    assert info.value.reason == "Invalid CSeq header"


@given(st.text(max_size=80))
def test_via_parser_only_raises_sip_parse_error(text: str) -> None:
    try:
        parse_via(text)
    except SipParseError:
        pass


@given(st.text(max_size=40))
def test_cseq_parser_only_raises_sip_parse_error(text: str) -> None:
    try:
        parse_cseq(text)
    except SipParseError:
        pass
