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
