"""StreamParser: TCP/TLS framing by Content-Length (RFC 3261 §18.3), keep-alives (RFC 5626)."""

from __future__ import annotations

import pytest

from wcs.sip.errors import SipParseError
from wcs.sip.message import Request, Response, StreamParser, error_response, parse_message


def _request(n: int, body: bytes = b"") -> bytes:
    return (f"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK{n}\r\n"
            f"From: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: c{n}\r\nCSeq: {n} MESSAGE\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


RESPONSE = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
            b"To: <sip:b@b>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\nl: 0\r\n\r\n")
BLANKS = b"\r\n\r\nbody with blank lines\r\n\r\n"
STREAM = _request(1, b"hello") + RESPONSE + _request(2, BLANKS) + _request(3)


def _ids(messages: list[Request | Response]) -> list[str]:
    return [m.call_id + ("" if isinstance(m, Request) else "/resp") for m in messages]


def test_whole_stream() -> None:
    messages = StreamParser().feed(STREAM)
    assert _ids(messages) == ["c1", "c1/resp", "c2", "c3"]
    assert messages[0].body == b"hello"
    assert messages[2].body == BLANKS
    singles = (_request(1, b"hello"), RESPONSE, _request(2, BLANKS), _request(3))
    assert [bytes(m) for m in messages] == [bytes(parse_message(m)) for m in singles]


def test_byte_by_byte_gives_the_same_messages() -> None:
    parser = StreamParser()
    messages = []
    for i in range(len(STREAM)):
        messages += parser.feed(STREAM[i:i + 1])
    assert messages == StreamParser().feed(STREAM)


def test_trailing_partial_message_waits() -> None:
    parser = StreamParser()
    cut = len(STREAM) - 10
    assert _ids(parser.feed(STREAM[:cut])) == ["c1", "c1/resp", "c2"]
    assert _ids(parser.feed(STREAM[cut:])) == ["c3"]
    assert parser.feed(b"") == []


def test_keepalive_pings_between_messages() -> None:
    parser = StreamParser()
    assert parser.feed(b"\r\n\r\n") == []
    assert parser.pings == 1
    assert parser.feed(b"\r\n") == []
    assert parser.feed(b"\r\n" + _request(1)) != []
    assert parser.pings == 2
    for byte in b"\r\n\r\n":
        parser.feed(bytes([byte]))
    assert parser.pings == 3


def test_missing_content_length_is_fatal() -> None:
    parser = StreamParser()
    data = _request(1).replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError) as info:
        parser.feed(data)
    assert (info.value.reason, info.value.status_code, info.value.fatal) == (
        "Missing Content-Length header", 400, True)
    with pytest.raises(SipParseError):
        parser.feed(_request(2))


def test_garbage_head_is_fatal() -> None:
    parser = StreamParser()
    with pytest.raises(SipParseError) as info:
        parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert info.value.reason == "Malformed Request-Line" and info.value.fatal


def test_oversize_is_513_and_fatal() -> None:
    parser = StreamParser(max_size=1000)
    with pytest.raises(SipParseError) as info:
        parser.feed(b"X" * 1001)
    assert (info.value.status_code, info.value.fatal) == (513, True)
    parser = StreamParser(max_size=1000)
    with pytest.raises(SipParseError) as info:
        parser.feed(_request(1, b"x" * 1000))
    assert info.value.status_code == 513


def test_invalid_message_with_sound_framing_is_not_fatal() -> None:
    parser = StreamParser()
    bad = _request(2).replace(b"CSeq: 2 MESSAGE", b"CSeq: 2 INVITE")
    with pytest.raises(SipParseError) as info:
        parser.feed(_request(1) + bad + _request(3))
    error = info.value
    assert error.reason == "CSeq method does not match request method"
    assert (error.fatal, error.data) == (False, bad)
    response = error_response(error.data or b"", error)
    assert response is not None and response.status == 400
    assert _ids(parser.feed(b"")) == ["c1", "c3"]


def test_scan_position_keeps_parsing_linear() -> None:
    parser = StreamParser(max_size=10**6)
    head = _request(1)
    for i in range(0, len(head) - 4):
        parser.feed(head[i:i + 1])
    assert parser._scan >= len(head) - 8  # the head is searched once, not once per feed
    assert len(parser.feed(head[len(head) - 4:])) == 1


def test_many_messages_in_one_segment() -> None:
    stream = b"".join(_request(n) for n in range(2000))
    messages = StreamParser().feed(stream + _request(2000)[:30])
    assert [m.cseq.seq for m in messages] == list(range(2000))
