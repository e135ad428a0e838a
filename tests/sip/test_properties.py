"""Hypothesis properties of the SIP parsers.

* ``parse_message`` returns a message or raises :class:`SipParseError`, nothing else (on
  random bytes and on randomly mutated real messages);
* the same for :class:`StreamParser` fed byte by byte;
* a stream fed whole, byte by byte, in random chunks, or with trailing bytes left over
  gives the same messages;
* parse → bytes → parse → bytes is stable.
"""

from __future__ import annotations

import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wcs.sip.errors import SipParseError
from wcs.sip.headers import Headers
from wcs.sip.message import Message, Request, Response, StreamParser, parse_message

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sip"
SEEDS = [p.read_bytes() for p in sorted((DATA / "rfc4475").glob("*.dat"))] + [
    p.read_bytes() for p in sorted((DATA / "rfc3665").glob("3.1-*.sip"))]

_TOKEN_ALPHABET = "".join(c for c in map(chr, range(33, 127)) if c.isalnum() or c in "-.!%*_+`'~")
assert all(c in _TOKEN_ALPHABET for c in "-.!%*_+`'~")
tokens = st.text(_TOKEN_ALPHABET, min_size=1, max_size=12)
users = st.text(_TOKEN_ALPHABET.replace("%", "").replace("`", ""), min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
                 max_size=30).map(lambda s: s.strip(" \t"))
hosts = st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]", "h-1.example.org"])
bodies = st.binary(max_size=64)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    method = draw(st.sampled_from(["INVITE", "BYE", "OPTIONS", "MESSAGE"]) | tokens)
    cseq_method = method
    headers = Headers([
        ("Via", f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'WSS']))} {draw(hosts)};branch=z9hG4bK"
                f"{draw(tokens)}"),
        ("From", f'"{draw(values).replace(chr(92), "").replace(chr(34), "")}" <sip:a@{draw(hosts)}>'
                 f";tag={draw(tokens)}"),
        ("To", f"<sip:{draw(users)}@{draw(hosts)}>"),
        ("Call-ID", draw(tokens)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {cseq_method}"),
    ])
    for name, value in draw(st.lists(st.tuples(tokens, values), max_size=4)):
        if name.lower() not in ("content-length", "l", "call-id", "i", "cseq", "from", "f", "to", "t",
                                "via", "v", "max-forwards"):
            headers.add("X-" + name, value)
    body = draw(bodies)
    if draw(st.booleans()):
        return Request(method, f"sip:{draw(users)}@{draw(hosts)}", headers, body)
    return Response(draw(st.integers(100, 699)), draw(values), headers, body)


def _parse_or_error(data: bytes) -> Message | None:
    try:
        return parse_message(data)
    except SipParseError:
        return None


@given(st.binary(max_size=300))
def test_parse_message_on_random_bytes(data: bytes) -> None:
    _parse_or_error(data)


_NASTY = [b"\r\n", b" ", b":", b";", b",", b'"', b"<", b">", b"\x00", b"\xff", b"%", b"\r", b"\n", b"\t",
          b"@", b"="]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.sampled_from(_NASTY) | st.binary(min_size=1, max_size=3))
        if op == "insert":
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos:pos + len(chunk)]
        else:
            data[pos:pos + len(chunk)] = chunk
    return bytes(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parse_message_on_mutated_messages_and_round_trip(data: bytes) -> None:
    msg = _parse_or_error(data)
    if msg is None:
        return
    # every typed view of a parsed message works or raises SipParseError only
    for view in (lambda: msg.name_addrs("Contact"), lambda: msg.name_addrs("Route"),
                 lambda: msg.content_length, lambda: getattr(msg, "request_uri", None)):
        try:
            view()
        except SipParseError:
            pass
    once = bytes(msg)
    again = parse_message(once)
    assert bytes(again) == once


@given(messages())
def test_generated_messages_round_trip(msg: Message) -> None:
    data = bytes(msg)
    parsed = parse_message(data)
    assert bytes(parsed) == data
    assert parsed == msg or msg.headers.get("Content-Length") is None
    assert (parsed.call_id, parsed.cseq, parsed.body) == (msg.call_id, msg.cseq, msg.body)


@given(st.binary(max_size=200))
def test_stream_parser_fed_byte_by_byte_only_raises_sip_parse_error(data: bytes) -> None:
    parser = StreamParser()
    try:
        for i in range(len(data)):
            parser.feed(data[i:i + 1])
    except SipParseError:
        pass


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_stream_parser_on_mutated_messages(data: bytes) -> None:
    parser = StreamParser()
    for chunk in (data[:len(data) // 2], data[len(data) // 2:], b""):
        try:
            parser.feed(chunk)
        except SipParseError as exc:
            if exc.fatal:
                return


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_stream_whole_byte_by_byte_chunked_and_with_trailing_bytes(msgs: list[Message],
                                                                   data: st.DataObject) -> None:
    stream = b"".join((b"\r\n\r\n" if data.draw(st.booleans()) else b"") + bytes(m) for m in msgs)
    whole = StreamParser().feed(stream)
    assert [bytes(m) for m in whole] == [bytes(m) for m in msgs]

    parser = StreamParser()
    byte_by_byte: list[Message] = []
    for i in range(len(stream)):
        byte_by_byte += parser.feed(stream[i:i + 1])
    assert byte_by_byte == whole

    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    parser = StreamParser()
    chunked: list[Message] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        chunked += parser.feed(stream[start:end])
    assert chunked == whole

    trailing = data.draw(st.integers(1, len(bytes(msgs[0])) - 1))
    parser = StreamParser()
    assert parser.feed(stream + bytes(msgs[0])[:trailing]) == whole
    assert parser.feed(bytes(msgs[0])[trailing:]) == [parse_message(bytes(msgs[0]))]
