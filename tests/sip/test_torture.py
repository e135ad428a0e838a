"""RFC 4475 torture messages, RFC 3261 §24 and RFC 3665 examples through the parser.

Every RFC 4475 message has exactly one case here (``test_every_torture_message_is_covered``).
Decisions per message, where the RFC leaves a choice or puts the check above the parser:

* Syntax errors in the start line, framing (Content-Length) and the headers every layer
  relies on (Via, From, To, Call-ID, CSeq, Max-Forwards) are rejected by ``parse_message``
  with the status RFC 4475 asks for (400, 505).
* Headers that only some requests need (Contact, Date, Accept, Require …) are parsed when
  used: a malformed Contact (regbadct) is rejected by ``name_addrs("Contact")``.
* lwsstart / trws: RFC 4475 allows rejecting extra SP in the Request-Line; we do (400),
  keeping the Request-Line grammar exact (§25.1).
* escruri: RFC 3261 §19.1.1 Table 1 forbids headers in a Request-URI; we reject (400).
* baddate: a non-GMT Date is accepted; we never interpret Date (RFC 4475 §3.1.2.12 allows
  rejecting it only if Date matters to the element).
* Application-level cases (§3.3: 416 for an unknown Request-URI scheme, 420 for Require,
  415, 406, 483 …) parse fine; the tests assert the facts a UA needs to make that decision.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import pytest

from wcs.sip.errors import SipParseError
from wcs.sip.headers import CSeq
from wcs.sip.message import Message, Request, Response, parse_message

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sip"
TORTURE = DATA / "rfc4475"


def _load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def _request(name: str) -> Request:
    msg = parse_message(_load(name))
    assert isinstance(msg, Request)
    return msg


def _response(name: str) -> Response:
    msg = parse_message(_load(name))
    assert isinstance(msg, Response)
    return msg


# ---------------------------------------------------------------- §3.1.1 valid messages

def test_3_1_1_1_wsinv_short_tortuous_invite() -> None:
    msg = _request("wsinv")
    assert msg.method == "INVITE"
    assert msg.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert msg.request_uri.params == {"unknownparam": None}
    assert msg.to.uri.user == "vivekg" and msg.to_tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert msg.cseq == CSeq(9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.name_addrs("Route")[0].uri.params == {
        "lr": None, "unknownwith": "value", "unknown-no-value": None}
    contact = msg.contact
    assert contact is not None
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert msg.content_type == "application/sdp"
    assert msg.content_length == 150 and len(msg.body) == 150


def test_3_1_1_2_intmeth_wide_range_of_valid_characters() -> None:
    msg = _request("intmeth")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.request_uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.request_uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert msg.from_tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.cseq == CSeq(139122385, msg.method)
    assert msg.max_forwards == 255
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    # kept byte for byte, except that serialization writes one SP after the colon
    assert bytes(msg) == _load("intmeth").replace(b"~:\xef\xbb\xbf", b"~: \xef\xbb\xbf")


def test_3_1_1_3_esc01_valid_escaping() -> None:
    msg = _request("esc01")
    assert msg.request_uri.user == "sips:user@example.com"
    assert msg.request_uri.host == "example.net"
    assert msg.to.uri.user == "user"
    assert msg.from_.uri.user == "I have spaces"
    assert msg.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # compact "i"
    assert msg.content_type == "application/sdp"  # compact "C"
    contact = msg.contact
    assert contact is not None
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}


def test_3_1_1_4_escnull_escaped_nulls() -> None:
    msg = _request("escnull")
    assert msg.to.uri.user == "null-\x00-null"
    assert [c.uri.user for c in msg.name_addrs("Contact")] == ["\x00", "\x00\x00"]
    assert msg.content_length == 0


def test_3_1_1_5_esc02_percent_that_is_not_an_escape() -> None:
    msg = _request("esc02")
    assert msg.method == "RE%47IST%45R"  # not REGISTER
    assert msg.cseq == CSeq(29344, "RE%47IST%45R")
    assert msg.to.display_name == "%Z%45"
    assert msg.top_via.branch == "z9hG4bK209%fzsnel234"
    assert [c.uri.host for c in msg.name_addrs("Contact")] == ["host1.example.com", "host3.example.com"]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_3_1_1_6_lwsdisp_no_lws_before_angle() -> None:
    msg = _request("lwsdisp")
    assert msg.from_.display_name == "caller"
    assert msg.from_tag == "323"


def test_3_1_1_7_longreq_long_values() -> None:
    msg = _request("longreq")
    assert msg.to.display_name is not None and msg.to.display_name.startswith("I have a user name of extreme")
    assert msg.to.uri.port == 6000
    assert len(msg.from_tag or "") == 155
    assert msg.call_id.startswith("longreq.onereally")
    assert msg.cseq == CSeq(3882340, "INVITE")
    assert len(msg.vias) == 34
    assert msg.max_forwards == 70
    assert len(msg.body) == 150


def test_3_1_1_8_dblreq_trailing_octets_are_ignored() -> None:
    data = _load("dblreq")
    msg = _request("dblreq")
    assert msg.method == "REGISTER"
    assert msg.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    assert msg.body == b""
    assert b"INVITE sip:joe@example.com" in data  # the noise that must be discarded (§18.3)


def test_3_1_1_9_semiuri_semicolons_in_user_part() -> None:
    msg = _request("semiuri")
    assert msg.request_uri.user == "user;par=u@example.net"
    assert msg.request_uri.host == "example.com"
    assert msg.request_uri.params == {}
    assert msg.headers.get_list("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed",
        "message/sip", "message/sipfrag"]


def test_3_1_1_10_transports_varied_and_unknown() -> None:
    msg = _request("transports")
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_3_1_1_11_mpart01_multipart_body_kept_as_bytes() -> None:
    data = _load("mpart01")
    msg = _request("mpart01")
    assert msg.method == "MESSAGE"
    assert msg.content_type == "multipart/mixed;boundary=7a9cbec02ceef655"
    assert len(msg.body) == 553
    assert msg.body == data[-553:]
    assert bytes(msg) == data


def test_3_1_1_12_unreason_unusual_reason_phrase() -> None:
    msg = _response("unreason")
    assert msg.status == 200
    assert msg.reason.startswith("= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e")
    assert len(msg.body) == 154
    assert bytes(msg) == _load("unreason")


def test_3_1_1_13_noreason_empty_reason_phrase() -> None:
    msg = _response("noreason")
    assert (msg.status, msg.reason) == (100, "")
    assert msg.to_tag == "902jndnke3"


# ---------------------------------------------------------------- §3.1.2 invalid messages

REJECTED: dict[str, tuple[str, int, str]] = {
    # name: (section, status, reason)
    "badinv01": ("3.1.2.1", 400, "Malformed Via header"),
    "clerr": ("3.1.2.2", 400, "Content-Length 9999 exceeds body of 154 bytes"),
    "ncl": ("3.1.2.3", 400, "Invalid Content-Length header"),
    "scalar02": ("3.1.2.4", 400, "Invalid CSeq header"),
    "scalarlg": ("3.1.2.5", 400, "Invalid CSeq header"),  # a response: discarded
    "quotbal": ("3.1.2.6", 400, "Malformed To header"),
    "ltgtruri": ("3.1.2.7", 400, "Malformed Request-URI"),
    "lwsruri": ("3.1.2.8", 400, "Malformed Request-Line"),
    "lwsstart": ("3.1.2.9", 400, "Malformed Request-Line"),
    "trws": ("3.1.2.10", 400, "Malformed Request-Line"),
    "escruri": ("3.1.2.11", 400, "Headers not allowed in Request-URI"),
    "badaspec": ("3.1.2.14", 400, "Malformed To header"),
    "baddn": ("3.1.2.15", 400, "Malformed From header"),
    "badvers": ("3.1.2.16", 505, "SIP version not supported"),
    "mismatch01": ("3.1.2.17", 400, "CSeq method does not match request method"),
    "mismatch02": ("3.1.2.18", 400, "CSeq method does not match request method"),  # 501 also allowed
    "bigcode": ("3.1.2.19", 400, "Invalid status code"),  # a response: discarded
    "insuf": ("3.3.1", 400, "Missing Call-ID header"),
    "multi01": ("3.3.8", 400, "Multiple Call-ID headers"),
    "mcl01": ("3.3.9", 400, "Multiple Content-Length headers"),
}


@pytest.mark.parametrize("name", sorted(REJECTED), ids=lambda n: f"{REJECTED[n][0]}-{n}")
def test_rejected_by_the_parser(name: str) -> None:
    _, status, reason = REJECTED[name]
    with pytest.raises(SipParseError) as info:
        parse_message(_load(name))
    assert (info.value.status_code, info.value.reason) == (status, reason)


def test_3_1_2_12_baddate_is_accepted_date_is_not_interpreted() -> None:
    msg = _request("baddate")
    assert msg.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_3_1_2_13_regbadct_contact_rejected_when_used() -> None:
    msg = _request("regbadct")
    with pytest.raises(SipParseError) as info:
        msg.name_addrs("Contact")
    assert (info.value.status_code, info.value.reason) == (400, "Malformed Contact header")


# ---------------------------------------------------------------- §3.2, §3.3, §3.4: above the parser

def test_3_2_1_badbranch_is_valid_branch_is_just_the_cookie() -> None:
    msg = _request("badbranch")
    assert msg.top_via.branch == "z9hG4bK"  # transaction layer: not a unique RFC 3261 branch


def test_3_3_2_unkscm_unknown_request_uri_scheme_is_a_ua_decision() -> None:
    uri = _request("unkscm").request_uri
    assert (uri.scheme, uri.opaque, uri.is_sip) == ("nobodyknowsthisscheme", "totallyopaquecontent", False)


def test_3_3_3_novelsc_atypical_request_uri_scheme() -> None:
    uri = _request("novelsc").request_uri
    assert (uri.scheme, uri.opaque, uri.is_sip) == ("soap.beep", "//192.0.2.103:3002", False)


def test_3_3_4_unksm2_unknown_schemes_in_headers_parse() -> None:
    msg = _request("unksm2")
    assert (msg.to.uri.scheme, msg.to.uri.opaque) == ("isbn", "2983792873")
    assert msg.from_.uri.scheme == "http" and msg.from_tag == "3234233"
    contact = msg.contact
    assert contact is not None and contact.uri.scheme == "name"


def test_3_3_5_bext01_require_is_visible_to_the_ua() -> None:
    msg = _request("bext01")
    assert msg.headers.get_list("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert msg.headers.get_list("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def test_3_3_6_invut_unknown_content_type() -> None:
    msg = _request("invut")
    assert msg.content_type == "application/unknownformat"
    assert msg.body.startswith(b"<audio>")


def test_3_3_7_regaut01_unknown_authorization_scheme_is_kept() -> None:
    assert _request("regaut01").headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"


def test_3_3_10_bcast_broadcast_via_parses() -> None:
    msg = _response("bcast")
    assert [v.host for v in msg.vias] == ["192.0.2.198", "255.255.255.255"]


def test_3_3_11_zeromf_max_forwards_zero() -> None:
    assert _request("zeromf").max_forwards == 0


def test_3_3_12_cparam01_contact_parameter() -> None:
    contact = _request("cparam01").contact
    assert contact is not None
    assert contact.uri.params == {} and contact.params == {"unknownparam": None}


def test_3_3_13_cparam02_url_parameter() -> None:
    contact = _request("cparam02").contact
    assert contact is not None
    assert contact.uri.params == {"unknownparam": None} and contact.params == {}


def test_3_3_14_regescrt_escaped_header_in_contact() -> None:
    contact = _request("regescrt").contact
    assert contact is not None
    assert contact.uri.headers == {"Route": "<sip:sip.example.com>"}


def test_3_3_15_sdp01_unacceptable_accept() -> None:
    assert _request("sdp01").headers.get("Accept") == "text/nobodyKnowsThis"


def test_3_4_1_inv2543_rfc2543_syntax() -> None:
    msg = _request("inv2543")
    assert msg.top_via.branch is None
    assert msg.from_tag is None
    assert msg.max_forwards is None
    assert msg.content_length is None
    assert len(msg.body) == 105  # the rest of the datagram (§18.3)


VALID_CHECKED = {
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
    "transports", "mpart01", "unreason", "noreason", "baddate", "regbadct", "badbranch", "unkscm",
    "novelsc", "unksm2", "bext01", "invut", "regaut01", "bcast", "zeromf", "cparam01", "cparam02",
    "regescrt", "sdp01", "inv2543",
}


def test_every_torture_message_is_covered() -> None:
    files = {p.stem for p in TORTURE.glob("*.dat")}
    assert len(files) == 49
    assert not VALID_CHECKED & set(REJECTED)
    assert VALID_CHECKED | set(REJECTED) == files


@pytest.mark.parametrize("name", sorted(VALID_CHECKED))
def test_valid_torture_messages_round_trip(name: str) -> None:
    msg = parse_message(_load(name))
    again = parse_message(bytes(msg))
    assert bytes(again) == bytes(msg)
    assert (again.call_id, again.cseq, again.vias, again.from_, again.to, again.body) == (
        msg.call_id, msg.cseq, msg.vias, msg.from_, msg.to, msg.body)


# ---------------------------------------------------------------- RFC 3261 §24 and RFC 3665

FACTS: dict[str, dict[str, object]] = json.loads((DATA / "corpus-facts.json").read_text())

# Files the parser rejects, and why (typos of the printed RFCs).
CORPUS_REJECTED: dict[str, Callable[[dict[str, object]], str]] = {
    # RFC 3261 §24.2 prints "Content-Length: 142" but omits the body ("SDP not shown")
    **{name: (lambda f: f"Content-Length {f['content_length']} exceeds body of 0 bytes")
       for name, f in FACTS.items() if f["content_length"] and not f["body_length"]},
    # RFC 3665 §3.10 F4: the second Record-Route line lost its leading whitespace
    "rfc3665/3.10-F4-INVITE-Proxy-2-Bob.sip": lambda f: "Malformed header line",
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_rfc3261_and_rfc3665_examples(name: str) -> None:
    facts = FACTS[name]
    data = (DATA / name).read_bytes()
    if name in CORPUS_REJECTED:
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.reason == CORPUS_REJECTED[name](facts)
        return
    msg: Message = parse_message(data)
    assert msg.start_line().replace("  ", " ") == str(facts["start_line"]).replace("  ", " ")
    assert msg.call_id == facts["call_id"]
    assert str(msg.cseq) == facts["cseq"]
    assert len(msg.vias) == facts["via_count"]
    assert msg.content_length == facts["content_length"]
    assert len(msg.body) == facts["body_length"]
    if msg.headers.get("Contact") != "*":  # REGISTER removing all bindings (§10.2.2)
        msg.name_addrs("Contact")
    msg.name_addrs("Route")
    msg.name_addrs("Record-Route")
    assert bytes(parse_message(bytes(msg))) == bytes(msg)


def test_corpus_counts() -> None:
    assert sum(1 for n in FACTS if n.startswith("rfc3261-section24/")) == 16
    assert sum(1 for n in FACTS if n.startswith("rfc3665/")) == 181
    assert len(CORPUS_REJECTED) == 7
