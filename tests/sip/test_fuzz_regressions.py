"""Regressions found by the long fuzz run (benchmarks/fuzz_sip.py), one test per finding.

Each test names the oracle the input violated; the inputs are reduced by hand from the
saved findings.
"""

from __future__ import annotations

import pytest

from wcs.sip.errors import SipParseError
from wcs.sip.message import Message, StreamParser

GOOD = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _events(chunks: list[bytes]) -> tuple[list[bytes], list[tuple[str, bool]]]:
    parser = StreamParser()
    messages: list[Message] = []
    errors: list[tuple[str, bool]] = []
    for chunk in [*chunks, b""]:
        try:
            messages += parser.feed(chunk)
        except SipParseError as exc:
            errors.append((exc.reason, exc.fatal))
            break
    return [bytes(m) for m in messages], errors


@pytest.mark.parametrize("garbage", [
    b"INVITE sip:joe@example.com SIP/2.0 extra\r\n\r\n",  # bad Request-Line (fatal)
    b" folded\r\nVia: x\r\n\r\n",  # continuation line before the first header (fatal)
    b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",  # no Content-Length (fatal)
])
def test_stream_delivers_messages_completed_before_a_fatal_error(garbage: bytes) -> None:
    # Finding "stream split at random points differs from the stream fed whole": a good
    # message and garbage in one segment lost the good message, while the same bytes in
    # two segments delivered it.  Now the good message comes out and the next feed raises.
    parser = StreamParser()
    assert [bytes(m) for m in parser.feed(GOOD + garbage)] == [GOOD]
    with pytest.raises(SipParseError) as first:
        parser.feed(b"")
    assert first.value.fatal
    with pytest.raises(SipParseError) as again:
        parser.feed(GOOD)
    assert again.value is first.value

    whole = _events([GOOD + garbage])
    assert whole == _events([GOOD, garbage])
    assert whole == _events([bytes([b]) for b in GOOD + garbage])
    assert whole[0] == [GOOD] and whole[1][0][1] is True


def test_stream_fatal_error_without_earlier_messages_raises_at_once() -> None:
    parser = StreamParser()
    with pytest.raises(SipParseError) as exc:
        parser.feed(b"garbage line\r\n\r\n")
    assert exc.value.fatal and exc.value.reason == "Malformed Request-Line"


# -- the fast paths of the parser (one regex for the common shape, the general code for the
# rest) must agree with the general code at their edges; benchmarks/fuzz_sip.py checks this
# against the parser before the fast paths (--reference), these pin the edges in CI.

from wcs.sip.headers import parse_cseq, parse_via  # noqa: E402
from wcs.sip.message import parse_message  # noqa: E402
from wcs.sip.uri import parse_name_addr, parse_uri  # noqa: E402


@pytest.mark.parametrize("text", [
    "sip:h:65536", "sip:a@h:99999;lr", "<sip:a@h:65536>;tag=x", "SIP/2.0/UDP h:65536;branch=z",
])
def test_ports_above_65535_are_rejected_on_every_path(text: str) -> None:
    parse = parse_via if text.startswith("SIP/") else (
        parse_name_addr if text.startswith("<") else parse_uri)
    with pytest.raises(SipParseError):
        parse(text)


def test_fast_and_general_uri_paths_agree() -> None:
    assert parse_uri("sip:a:@h:65535;LR;Transport=TCP;lr=1") == parse_uri(
        "sip:a:@h:65535;%4CR;Transport=TCP;lr=1")
    uri = parse_uri("sip:a:@h:65535;LR;Transport=TCP;lr=1")
    assert (uri.user, uri.password, uri.port, uri.params) == ("a", "", 65535,
                                                              {"lr": None, "transport": "TCP"})
    assert parse_uri("SIP:alice@example.com") == parse_uri("sip:alice@example.com")
    assert parse_uri("sips:[2001:db8::1]:5061").host == "2001:db8::1"
    assert parse_uri("sip:a;b=c@h").user == "a;b=c"


def test_fast_and_general_name_addr_paths_agree() -> None:
    fast = parse_name_addr('"" <sip:a@h>;TAG=x;tag=y;lr')
    general = parse_name_addr(' "" <sip:a@h> ;TAG=x;tag=y;lr')  # leading/inner LWS: general path
    assert fast == general
    assert (fast.display_name, fast.params) == ("", {"tag": "x", "lr": None})
    assert parse_name_addr("Alice  Bob <sip:a@h>").display_name == "Alice  Bob"
    assert parse_name_addr("<tel:+1-555>;tag=1").uri.user == "+1-555"


def test_fast_and_general_via_and_cseq_paths_agree() -> None:
    assert parse_via("SIP/2.0/UDP h:5060;BRANCH=z9;branch=x;rport") == parse_via(
        "SIP / 2.0 / UDP h : 5060 ; BRANCH=z9 ;branch=x;rport")
    assert parse_via("SIP/2.0/UDP h;branch=a")[0].params == {"branch": "a"}
    assert parse_cseq("2147483647 INVITE") == parse_cseq(" 2147483647\tINVITE ")
    for bad in ("2147483648 INVITE", "12345678901 BYE", "\u00b2 INVITE", "1 INVITE x"):
        with pytest.raises(SipParseError):
            parse_cseq(bad)


@pytest.mark.parametrize(("to", "uri", "reason"), [
    ("<sip:b@h:65536>", "sip:b@h", "Malformed To header"),
    ("<sip:b@h>", "sip:b@h:65536", "Malformed Request-URI"),
    ("<sip:b@h>", "sip:b@h?Subject=x", "Headers not allowed in Request-URI"),
])
def test_to_and_request_uri_checked_by_regex_are_still_validated(to: str, uri: str,
                                                                 reason: str) -> None:
    data = (f"OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: {to}\r\n"
            "From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(SipParseError) as exc:
        parse_message(data.encode())
    assert exc.value.reason == reason
    good = parse_message(data.replace(to, "<sip:b@h:5060>").replace(uri, "sip:b@h").encode())
    assert good.to.uri.port == 5060 and good.request_uri.host == "h"  # built when first read
