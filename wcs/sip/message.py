"""SIP requests and responses (RFC 3261 §7) with lazily parsed, cached typed views.

A message is a start line, a :class:`~wcs.sip.headers.Headers` and a body (bytes; a
multipart or SDP body is never looked into here).  Messages are built in code::

    Request("INVITE", "sip:bob@example.com", Headers([("Via", ...), ...]), sdp)

or parsed from the network with :func:`parse_message` (one datagram) or
:class:`StreamParser` (TCP/TLS framing); both live in :mod:`wcs.sip.parser` and are
re-exported here.  ``bytes(message)`` serializes it with a Content-Length that matches
the body.

Typed views (``call_id``, ``cseq``, ``vias``, ``from_``, ``to`` …) parse their header on
first access and are cached until the headers change.  Parsed messages have been
validated already (the parser reads the views once), so on them the views never raise;
on a message built in code a missing or malformed header raises :class:`SipParseError`.
"""

from __future__ import annotations

from typing import Any

from wcs.sip.errors import SipParseError, SipUsageError
from wcs.sip.headers import CSeq, Headers, Via, parse_cseq, parse_via
from wcs.sip.uri import NameAddr, SipUri, is_fast_valid_name_addr, parse_name_addr, parse_uri

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief", 428: "Use Identity Header",
    429: "Provide Referrer Identity", 430: "Flow Failed", 433: "Anonymity Disallowed",
    439: "First Hop Lacks Outbound Support", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}
"""Default reason phrases (RFC 3261 §21 and later RFCs)."""

SIP_VERSION = "SIP/2.0"


def _single(headers: Headers, name: str) -> str:
    values = headers.get_all(name)
    if not values:
        raise SipParseError(f"Missing {name} header")
    if len(values) > 1:
        raise SipParseError(f"Multiple {name} headers")
    return values[0]


def _one(values: list[str] | None, name: str) -> str:
    """The single value of a header from the header index (``_single`` without the look-up)."""
    if not values:
        raise SipParseError(f"Missing {name} header")
    if len(values) > 1:
        raise SipParseError(f"Multiple {name} headers")
    return values[0]


# Builders of the validated views from the header index (key -> values).  The properties
# and _validate share them, so a view is the same object and raises the same error
# whichever asks first.
def _call_id_of(index: dict[str, list[str]]) -> str:
    value = _one(index.get("call-id"), "Call-ID")
    if not value or " " in value or "\t" in value:
        raise SipParseError("Invalid Call-ID header")
    return value


def _cseq_of(index: dict[str, list[str]]) -> CSeq:
    return parse_cseq(_one(index.get("cseq"), "CSeq"))


def _vias_of(index: dict[str, list[str]]) -> list[Via]:
    values = index.get("via")
    if not values:
        raise SipParseError("Missing Via header")
    if len(values) == 1:
        return parse_via(values[0])
    return [via for value in values for via in parse_via(value)]


def _name_addr_of(index: dict[str, list[str]], key: str, name: str) -> NameAddr:
    value = _one(index.get(key), name)
    try:
        return parse_name_addr(value)
    except SipParseError:
        raise SipParseError(f"Malformed {name} header") from None


def _max_forwards_of(index: dict[str, list[str]]) -> int | None:
    values = index.get("max-forwards")
    if not values:
        return None
    value = values[0]
    if len(values) > 1 or not value.isdigit() or not value.isascii() or int(value) > 255:
        raise SipParseError("Invalid Max-Forwards header")
    return int(value)


_MISSING: Any = object()


class _Message:
    """What requests and responses share: headers, body and the typed views."""

    __slots__ = ("headers", "body", "version")

    headers: Headers
    body: bytes
    version: str

    # -- typed views (cached in headers._cache until the headers change)
    @property
    def call_id(self) -> str:
        """Call-ID (§20.8); exactly one, non-empty, without whitespace."""
        headers = self.headers
        value: str = headers._cache.get("call-id", _MISSING)
        if value is _MISSING:
            value = headers._cache["call-id"] = _call_id_of(headers._lookup())
        return value

    @property
    def cseq(self) -> CSeq:
        headers = self.headers
        value: CSeq = headers._cache.get("cseq", _MISSING)
        if value is _MISSING:
            value = headers._cache["cseq"] = _cseq_of(headers._lookup())
        return value

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        headers = self.headers
        value: list[Via] = headers._cache.get("via", _MISSING)
        if value is _MISSING:
            value = headers._cache["via"] = _vias_of(headers._lookup())
        return value

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def from_(self) -> NameAddr:
        headers = self.headers
        value: NameAddr = headers._cache.get("from", _MISSING)
        if value is _MISSING:
            value = headers._cache["from"] = _name_addr_of(headers._lookup(), "from", "From")
        return value

    @property
    def to(self) -> NameAddr:
        headers = self.headers
        value: NameAddr = headers._cache.get("to", _MISSING)
        if value is _MISSING:
            value = headers._cache["to"] = _name_addr_of(headers._lookup(), "to", "To")
        return value

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def content_length(self) -> int | None:
        """The Content-Length header's value as received (``None`` if absent)."""
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii():
            raise SipParseError("Invalid Content-Length header")
        return int(value)

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (§20.22), 0-255; ``None`` if absent."""
        headers = self.headers
        value: int | None = headers._cache.get("max-forwards", _MISSING)
        if value is _MISSING:
            value = headers._cache["max-forwards"] = _max_forwards_of(headers._lookup())
        return value

    def name_addrs(self, name: str) -> list[NameAddr]:
        """Every name-addr of a list header (Contact, Route, Record-Route …), in order."""
        key = "name-addrs:" + name.lower()
        return self.headers.cached(key, lambda: self._name_addrs(name))

    def _name_addrs(self, name: str) -> list[NameAddr]:
        try:
            return [parse_name_addr(v) for v in self.headers.get_list(name)]
        except SipParseError:
            raise SipParseError(f"Malformed {name} header") from None

    @property
    def contact(self) -> NameAddr | None:
        """The first Contact (the remote target, §12.1), ``None`` if absent."""
        contacts = self.name_addrs("Contact")
        return contacts[0] if contacts else None

    def _validate(self) -> None:
        """Parse the views every layer relies on (§8.1.1: Via, From, To, Call-ID, CSeq).

        The same as reading ``call_id``, ``cseq``, ``vias``, ``from_`` and ``to`` in this
        order (each parses, caches, and raises on a defect), with one index look-up; a To
        value that a regex finds well-formed is only built when read.
        """
        headers = self.headers
        index = headers._lookup()
        cache = headers._cache
        if "call-id" not in cache:
            values = index.get("call-id")  # the common case inline, the rest in _call_id_of
            if values and len(values) == 1 and (value := values[0]) and " " not in value \
                    and "\t" not in value:
                cache["call-id"] = value
            else:
                cache["call-id"] = _call_id_of(index)
        if "cseq" not in cache:
            values = index.get("cseq")
            cache["cseq"] = (parse_cseq(values[0]) if values and len(values) == 1
                             else _cseq_of(index))
        if "via" not in cache:
            values = index.get("via")
            cache["via"] = (parse_via(values[0]) if values and len(values) == 1
                            else _vias_of(index))
        if "from" not in cache:
            cache["from"] = _name_addr_of(index, "from", "From")
        if "to" not in cache:
            # To of the common shape is valid as it stands: built when first read
            if not is_fast_valid_name_addr(_one(index.get("to"), "To")):
                cache["to"] = _name_addr_of(index, "to", "To")

    # -- serialization
    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        """The message with Content-Length set to the body's length (§20.14)."""
        body = self.body
        start = self.start_line()
        if "\r" in start or "\n" in start:
            raise SipUsageError(f"Line break in start line {start!r}")
        parts = [start, "\r\n"]
        length_written = False
        for key, name, value in self.headers._items:
            if key == "content-length":
                if length_written:
                    continue
                value = str(len(body))
                length_written = True
            parts.append(f"{name}: {value}\r\n")
        if not length_written:
            parts.append(f"Content-Length: {len(body)}\r\n")
        parts.append("\r\n")
        return "".join(parts).encode("utf-8", "surrogateescape") + body

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Message)
        return (self.start_line() == other.start_line() and self.headers == other.headers
                and self.body == other.body)

    __hash__ = None  # type: ignore[assignment]


class Request(_Message):
    """A SIP request."""

    __slots__ = ("method", "uri", "_uri_cache")

    def __init__(self, method: str, uri: str | SipUri, headers: Headers | None = None,
                 body: bytes = b"", version: str = SIP_VERSION) -> None:
        self.method = method
        self.uri = str(uri)
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.version = version
        self._uri_cache: tuple[str, SipUri] | None = None

    @property
    def request_uri(self) -> SipUri:
        """The Request-URI, parsed (cached while ``uri`` is unchanged)."""
        cache = self._uri_cache
        if cache is not None and cache[0] is self.uri:
            return cache[1]
        parsed = parse_uri(self.uri)
        self._uri_cache = (self.uri, parsed)
        return parsed

    def start_line(self) -> str:
        if " " in self.method or " " in self.uri or not self.uri:
            raise SipUsageError(f"Invalid Request-Line {self.method!r} {self.uri!r}")
        return f"{self.method} {self.uri} {self.version}"

    def _validate(self) -> None:
        super()._validate()
        cache = self.headers._cache
        if cache["cseq"].method != self.method:
            raise SipParseError("CSeq method does not match request method")
        if "max-forwards" not in cache:
            cache["max-forwards"] = _max_forwards_of(self.headers._lookup())

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(_Message):
    """A SIP response."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str | None = None, headers: Headers | None = None,
                 body: bytes = b"", version: str = SIP_VERSION) -> None:
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


Message = Request | Response

_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def make_response(request: Request, status: int, reason: str | None = None,
                  to_tag: str | None = None) -> Response:
    """A response to ``request`` as RFC 3261 §8.2.6 builds it.

    Copies every Via (in order), From, To, Call-ID and CSeq; adds ``tag=to_tag`` to the
    To header when given and the request's To has no tag; copies Timestamp into a 100
    (§8.2.6.1) and Record-Route into 101-299 responses to dialog-creating requests
    (§12.1.1).  The body is empty; set ``response.body`` and a Content-Type as needed.
    """
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    if 100 < status < 300 and request.method in _DIALOG_CREATING:
        for value in request.headers.get_all("Record-Route"):
            headers.add("Record-Route", value)
    headers.add("From", _single(request.headers, "From"))
    to = _single(request.headers, "To")
    if to_tag is not None and request.to.tag is None:
        to = f"{to};tag={to_tag}"
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", _single(request.headers, "CSeq"))
    if status == 100:
        timestamp = request.headers.get("Timestamp")
        if timestamp is not None:
            headers.add("Timestamp", timestamp)
    return Response(status, reason, headers)


from wcs.sip.parser import (  # noqa: E402  (the parser builds the classes above)
    DEFAULT_MAX_SIZE,
    StreamParser,
    error_response,
    parse_message,
)

__all__ = [
    "DEFAULT_MAX_SIZE", "REASON_PHRASES", "Message", "Request", "Response", "StreamParser",
    "error_response", "make_response", "parse_message",
]
