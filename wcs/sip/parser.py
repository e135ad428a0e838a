"""Parsing SIP messages: one datagram (:func:`parse_message`) or a stream (:class:`StreamParser`).

Theory of operation
-------------------
The head (start line and header fields, RFC 3261 §7) ends at the first empty line.  It
is decoded once (UTF-8; undecodable bytes are kept as surrogates so they serialize back
unchanged), split into lines once, and each line is cut at its first colon; lines that
start with SP/HTAB continue the previous field (§7.3.1); the key -> values index of the
headers is built in the same pass.  No per-character Python loop runs.  The views every
layer needs (Call-ID, CSeq, Via, From, To, Max-Forwards, the Request-URI) are then
validated once and cached on the message; anything else is parsed when first used.

Speed (benchmarks/bench_sip_parse.py): Via values, name-addrs with a sip:/sips: URI and
sip: URIs of the common shape (no LWS, no escapes, no quoted parameter values) are parsed
by one regex each, which accepts a subset of what the general, step-by-step code accepts
and gives the same result; everything else, and every error, goes through the general
code.  To and the Request-URI of that shape are only checked by the regex here and built
when first read (they cannot fail then).  benchmarks/fuzz_sip.py --reference checks the
fast paths against the parser as it was before them.

Framing (§18.3, §20.14):

* datagram: a Content-Length larger than the body is an error (400); a smaller one cuts
  the body (the extra octets are discarded); without Content-Length the body is the rest
  of the datagram.  A datagram larger than ``max_size`` (default 65535) gets 513.
* stream: Content-Length is mandatory; the parser keeps a scan position so each byte is
  searched for the end of the head once (O(n) whatever the segmentation).  CRLFs between
  messages are skipped (§7.5); each CRLFCRLF counts as an RFC 5626 keep-alive ``ping``.

Errors raise :class:`SipParseError` with the status to answer with (400, 505, 513) and a
reason naming the defect.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wcs.sip.errors import SipParseError
from wcs.sip.grammar import is_token
from wcs.sip.headers import _KEYS, KNOWN_METHODS, Headers, header_key, parse_via
from wcs.sip.uri import is_fast_valid_uri

if TYPE_CHECKING:
    from wcs.sip.message import Message, Response

DEFAULT_MAX_SIZE = 65535
"""Largest message accepted by default (the largest UDP payload; RFC 3261 §18.1.1)."""

_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.I)


_SIP_VERSION = "SIP/2.0"  # wcs.sip.message.SIP_VERSION (which imports this module)
_CLASSES: list[Any] = []  # Request, Response (wcs.sip.message imports this module)


def _load_classes() -> list[Any]:
    from wcs.sip.message import Request, Response

    _CLASSES[:] = [Request, Response]
    return _CLASSES


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


def _split_fields(lines: list[str]) -> tuple[list[tuple[str, str, str]], dict[str, list[str]] | None]:
    """``(key, name, value)`` per header field (folded lines joined with one SP), and the
    key -> values index of :class:`Headers` (``None`` when a line was folded)."""
    items: list[tuple[str, str, str]] = []
    append = items.append
    index: dict[str, list[str]] = {}
    keys = _KEYS
    folded = False
    for line in lines:
        name, colon, value = line.partition(":")
        key = keys.get(name)  # a name seen before (a token: never a continuation line)
        if key is None or not colon:
            if not line:
                continue
            first = line[0]
            if first == " " or first == "\t":
                if not items:
                    raise SipParseError("Continuation line before first header")
                key, name, value = items[-1]
                items[-1] = (key, name, (value + " " + line.strip(" \t")).strip(" \t"))
                folded = True
                continue
            if not colon:
                raise SipParseError("Malformed header line")
            name = name.rstrip(" \t")
            key = keys.get(name)
            if key is None:
                if not is_token(name):
                    raise SipParseError("Malformed header line")
                key = header_key(name)
        value = value.strip(" \t")
        append((key, name, value))
        values = index.get(key)
        if values is None:
            index[key] = [value]
        else:
            values.append(value)
    return items, None if folded else index


def _parse_head(raw: bytes) -> tuple[Message, int | None]:
    """The message (body not yet set) and its Content-Length."""
    Request, Response = _CLASSES or _load_classes()  # noqa: N806

    try:
        head = raw.decode("utf-8")
    except UnicodeDecodeError:
        head = raw.decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise SipParseError("Bare CR or LF in message head")
    start = lines[0]
    lines[0] = ""  # skipped by _split_fields (cheaper than copying lines[1:])
    headers = Headers._from_parsed(*_split_fields(lines))
    message: Message
    if start[:4].upper() == "SIP/":
        version, _, rest = start.partition(" ")
        code, _, reason = rest.lstrip(" ").partition(" ")
        if version.upper() != _SIP_VERSION:
            if _VERSION_RE.fullmatch(version):
                raise SipParseError("SIP version not supported", 505)
            raise SipParseError("Malformed Status-Line")
        # [1-6][0-9][0-9]
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
            raise SipParseError("Invalid status code")
        message = Response(int(code), reason, headers, b"", _SIP_VERSION)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or (parts[0] not in KNOWN_METHODS and not is_token(parts[0])):
            raise SipParseError("Malformed Request-Line")
        method, uri, version = parts
        if version.upper() != _SIP_VERSION:
            if _VERSION_RE.fullmatch(version):
                raise SipParseError("SIP version not supported", 505)
            raise SipParseError("Malformed Request-Line")
        request = Request(method, uri, headers, b"", _SIP_VERSION)
        message = request
        if not is_fast_valid_uri(uri):  # the common shape is valid: parsed when first used
            try:
                parsed_uri = request.request_uri
            except SipParseError:
                raise SipParseError("Malformed Request-URI") from None
            if parsed_uri.headers:  # §19.1.1 Table 1: no headers in a Request-URI
                raise SipParseError("Headers not allowed in Request-URI")
    lengths = headers._lookup().get("content-length")  # the index _validate uses next
    if not lengths:
        return message, None
    if len(lengths) > 1:
        raise SipParseError("Multiple Content-Length headers")
    value = lengths[0]
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise SipParseError("Invalid Content-Length header")
    return message, int(value)


def parse_message(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Message:
    """Parse one datagram; raises :class:`SipParseError` (400/505/513) on any defect."""
    if len(data) > max_size:
        raise SipParseError("Message too large", 513)
    start = 0
    if data[:2] == b"\r\n":  # §7.5: CRLFs before the start line are ignored
        start = len(data) - len(data.lstrip(b"\r\n"))
        if start == len(data):
            raise SipParseError("Empty message")
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("Missing empty line after header fields")
    message, length = _parse_head(data[start:end])
    body_start = end + 4
    available = len(data) - body_start
    if length is None:
        message.body = data[body_start:]
    elif length > available:
        raise SipParseError(f"Content-Length {length} exceeds body of {available} bytes")
    else:
        message.body = data[body_start:body_start + length]
    message._validate()
    return message


class StreamParser:
    """Frames SIP messages on a TCP/TLS connection by Content-Length (§18.3).

    ``feed(data)`` returns the messages completed so far.  A framing error (bad head,
    missing Content-Length, oversize) raises :class:`SipParseError` with ``fatal=True``
    and every later ``feed`` raises it again: close the connection.  Messages completed
    before a framing error in the same ``feed`` are returned first and the error is raised
    by the next ``feed`` (so what comes out does not depend on how the stream was cut into
    segments).  A message whose framing is sound but whose content is invalid (e.g. no
    Call-ID) raises with ``fatal=False`` and ``error.data`` holding its bytes: answer it,
    then call ``feed(b"")`` to get the messages completed before it and continue.
    """

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self.pings = 0
        """CRLFCRLF keep-alives seen between messages (RFC 5626 §4.4.1; answer with CRLF)."""
        self._buffer = bytearray()
        self._pos = 0  # start of the unconsumed data in _buffer
        self._scan = 0  # where the search for the end of the head resumes
        self._crlfs = 0
        self._pending: tuple[Message, int, int] | None = None  # message, body offset, length
        self._ready: list[Message] = []
        self._error: SipParseError | None = None

    def feed(self, data: bytes) -> list[Message]:
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if self._pos:  # drop what was consumed, once per call (not once per message)
            del buffer[:self._pos]
            self._scan = max(0, self._scan - self._pos)
            self._pos = 0
        buffer += data
        ready = self._ready
        while True:
            if self._pending is None:
                try:
                    if not self._frame_head():
                        break
                except SipParseError:
                    if not ready:
                        raise
                    break  # deliver what was completed before; the next feed raises
            assert self._pending is not None
            message, body_offset, length = self._pending
            start = self._pos
            end = start + body_offset + length
            if len(buffer) < end:
                break
            raw = bytes(buffer[start:end])
            message.body = raw[body_offset:]
            self._pending = None
            self._pos = self._scan = end
            try:
                message._validate()
            except SipParseError as exc:
                exc.data = raw
                raise
            ready.append(message)
        self._ready = []
        return ready

    def _fail(self, reason: str, status: int = 400) -> SipParseError:
        self._error = SipParseError(reason, status, fatal=True)
        return self._error

    def _frame_head(self) -> bool:
        """Parse the next head if complete; False when more data is needed."""
        buffer = self._buffer
        pos = self._pos
        skipped = 0
        while buffer[pos:pos + 2] == b"\r\n":  # §7.5; RFC 5626 keep-alives
            pos += 2
            skipped += 1
        if skipped:
            self._pos = pos
            self._scan = max(self._scan, pos)
            self._crlfs += skipped
            self.pings += self._crlfs // 2
            self._crlfs %= 2
        remaining = len(buffer) - pos
        if remaining == 0 or (remaining == 1 and buffer[pos] == 13):
            return False
        self._crlfs = 0
        end = buffer.find(b"\r\n\r\n", max(self._scan, pos))
        if end < 0:
            if remaining > self.max_size:
                raise self._fail("Message too large", 513)
            self._scan = max(pos, len(buffer) - 3)
            return False
        try:
            message, length = _parse_head(bytes(buffer[pos:end]))
        except SipParseError as exc:
            raise self._fail(exc.reason, exc.status_code) from None
        if length is None:
            raise self._fail("Missing Content-Length header")
        head = end + 4 - pos
        if head + length > self.max_size:
            raise self._fail("Message too large", 513)
        self._pending = (message, head, length)
        return True


def error_response(data: bytes, error: SipParseError) -> Response | None:
    """A response carrying ``error`` for a request that failed to parse, if one can be made.

    Best effort (RFC 3261 §8.2: a UAS answers a malformed request with 400 when it can):
    the head is split leniently and Via, From, To, Call-ID and CSeq are copied as found.
    ``None`` for responses, ACKs, and requests without a usable top Via (no one to
    answer).  The status and reason phrase are ``error.status_code`` and ``error.reason``.
    """
    from wcs.sip.message import Response

    end = data.find(b"\r\n\r\n")
    head = _decode(data if end < 0 else data[:end]).lstrip("\r\n")
    lines = head.replace("\r\n", "\n").split("\n")
    method = lines[0].split(" ", 1)[0]
    if not is_token(method) or method.upper() == "ACK":
        return None
    fields: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and is_token(name.strip(" \t")):
            fields.setdefault(header_key(name.strip(" \t")), []).append(value.strip(" \t"))
    vias = fields.get("via")
    if not vias:
        return None
    try:
        parse_via(vias[0])
    except SipParseError:
        return None
    headers = Headers()
    for value in vias:
        headers.add("Via", value)
    for key, name in (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq")):
        if key in fields:
            headers.add(name, fields[key][0])
    return Response(error.status_code, error.reason, headers)
