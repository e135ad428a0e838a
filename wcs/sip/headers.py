"""SIP header fields: an ordered multimap keeping the values as received, and typed views.

:class:`Headers` keeps every header line as ``(name, value)`` with the name spelled as
received (``v``, ``MaX-fOrWaRdS``) and the value unfolded (RFC 3261 §7.3.1: a line fold
is equivalent to one SP) with surrounding whitespace removed.  Look-ups are
case-insensitive and treat compact forms (§7.3.3 and later RFCs) as their full names.

Typed views (:class:`Via`, :class:`CSeq`) are parsed from those strings on demand; the
message classes cache them in :meth:`Headers.cached`, which any mutation clears.  A typed
view is a snapshot: to change a header, write its new text with :meth:`Headers.set`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wcs.sip.errors import SipParseError, SipUsageError
from wcs.sip.grammar import (
    TOKEN,
    TOKEN_CHARS,
    format_params,
    is_token,
    parse_params,
    simple_params,
    split_commas,
)

T = TypeVar("T")

COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",  # RFC 3841
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",  # RFC 4474
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",
    "t": "to",
    "u": "allow-events",  # RFC 6665
    "v": "via",
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}
"""Compact header names (one letter) and the full names they stand for, lower case."""

_KEYS: dict[str, str] = {}
_MISSING: Any = object()
_KEY_CACHE_LIMIT = 2048


def header_key(name: str) -> str:
    """The look-up key of a header name: lower case, compact forms expanded.

    Raises :class:`SipParseError` if ``name`` is not a token.
    """
    key = _KEYS.get(name)
    if key is not None:
        return key
    if not is_token(name):
        raise SipParseError("Malformed header name")
    lower = name.lower()
    key = COMPACT_FORMS.get(lower, lower)
    if len(_KEYS) < _KEY_CACHE_LIMIT:
        _KEYS[name] = key
    return key


for _full in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Type",
              "Content-Length", "Route", "Record-Route", "Allow", "Supported", "User-Agent",
              "Server", "Expires", "Authorization", "WWW-Authenticate", "Proxy-Authenticate",
              "Proxy-Authorization", "Require", "Session-Expires", "Min-SE", "Event",
              "Subscription-State", "Refer-To", "Referred-By", "Accept", "Allow-Events",
              "Call-Id", "Cseq", "Content-length", "Content-type"):
    header_key(_full)
del _full


class Headers:
    """Ordered multimap of header fields; names case-insensitive, compact == full."""

    __slots__ = ("_items", "_cache", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        self._cache: dict[str, Any] = {}
        self._index: dict[str, list[str]] | None = None
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_parsed(cls, items: list[tuple[str, str, str]],
                     index: dict[str, list[str]] | None = None) -> Headers:
        """Wrap ``(key, name, value)`` triples the parser already validated (and their
        key -> values index, if the parser built it on the way)."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._cache = {}
        headers._index = index
        return headers

    def _lookup(self) -> dict[str, list[str]]:
        """key -> values, built on the first look-up after a change (one pass)."""
        index = self._index
        if index is None:
            index = self._index = {}
            for key, _, value in self._items:
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
        return index

    def _changed(self) -> None:
        self._cache.clear()
        self._index = None

    # -- reading
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self._lookup().get(header_key(name))
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every header line's value for ``name``, in order."""
        return list(self._lookup().get(header_key(name), ()))

    def get_list(self, name: str) -> list[str]:
        """All comma-separated elements of ``name`` across its header lines (empty ones dropped)."""
        return [part for value in self.get_all(name) for part in split_commas(value) if part]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return header_key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((name, value) for _, name, value in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def copy(self) -> Headers:
        return Headers._from_parsed(list(self._items))

    # -- writing
    @staticmethod
    def _check(name: str, value: str) -> str:
        try:
            key = header_key(name)
        except SipParseError:
            raise SipUsageError(f"Invalid header name {name!r}") from None
        if "\r" in value or "\n" in value:
            raise SipUsageError(f"Line break in {name} header value")
        return key

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        value = str(value).strip(" \t")
        self._items.append((self._check(name, value), name, value))
        self._changed()

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a header line at ``index`` among all lines (0 = first, e.g. a new top Via)."""
        value = str(value).strip(" \t")
        self._items.insert(index, (self._check(name, value), name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first line of the same name (or append if there is none)."""
        value = str(value).strip(" \t")
        key = self._check(name, value)
        for i, (k, _, _) in enumerate(self._items):
            if k == key:
                self._items.insert(i, (key, name, value))
                break
        else:
            self._items.append((key, name, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, where the first one was (else append)."""
        value = str(value).strip(" \t")
        key = self._check(name, value)
        items: list[tuple[str, str, str]] = []
        placed = False
        for item in self._items:
            if item[0] == key:
                if not placed:
                    items.append((key, item[1], value))
                    placed = True
            else:
                items.append(item)
        if not placed:
            items.append((key, name, value))
        self._items = items
        self._changed()

    def remove(self, name: str) -> None:
        """Remove every line of ``name``."""
        key = header_key(name)
        self._items = [item for item in self._items if item[0] != key]
        self._changed()

    # -- typed views
    def cached(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per ``key`` until the headers change."""
        cache = self._cache
        value: T = cache.get(key, _MISSING)
        if value is _MISSING:
            value = cache[key] = build()
        return value

    def serialize(self) -> str:
        """``Name: value\\r\\n`` for every line."""
        return "".join(f"{name}: {value}\r\n" for _, name, value in self._items)


@dataclass
class Via:
    """One Via value (RFC 3261 §20.42): ``SIP/2.0/UDP host:port;params``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @branch.setter
    def branch(self, value: str | None) -> None:
        self._set("branch", value)

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (§18.2.1)."""
        return self.params.get("received")

    @received.setter
    def received(self, value: str | None) -> None:
        self._set("received", value)

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (RFC 3581); ``None`` if absent or empty (``"rport" in params``)."""
        value = self.params.get("rport")
        return int(value) if value is not None and value.isdigit() else None

    @rport.setter
    def rport(self, value: int | None) -> None:
        self.params["rport"] = None if value is None else str(value)

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as it would be written."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def _set(self, name: str, value: str | None) -> None:
        if value is None:
            self.params.pop(name, None)
        else:
            self.params[name] = value

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


# via-parm = sent-protocol LWS sent-by *( SEMI via-params ); SLASH = SWS "/" SWS.
_VIA_RE = re.compile(
    rf"[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]+"
    rf"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_](?:[A-Za-z0-9_.-]*)))(?:[ \t]*:[ \t]*([0-9]{{1,5}}))?"
)


# The common shape of a Via value in one regex: no LWS but the one SP before sent-by, and
# ";name[=value]" parameters without whitespace or quoted values.  It accepts a subset of
# what _VIA_RE + parse_params accept, with the same result; anything else (and a port above
# 65535) takes the general path, which also names the error.
_FAST_VIA_RE = re.compile(
    rf"({TOKEN})/({TOKEN})/({TOKEN}) (?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_][A-Za-z0-9_.-]*+))"
    rf"(?::([0-9]{{1,5}}))?((?:;{TOKEN}(?:=[{TOKEN_CHARS}\[\]:]++)?)*+)"
)


def _parse_one_via(text: str) -> Via:
    fast = _FAST_VIA_RE.fullmatch(text)
    if fast is not None:
        name, version, transport, host6, host, port_text, params_text = fast.groups()
        port = None if port_text is None else int(port_text)
        if port is None or port <= 65535:
            return Via(transport, host6 or host, port, simple_params(params_text),
                       f"{name}/{version}")
    m = _VIA_RE.match(text)
    if m is None:
        raise SipParseError("Malformed Via header")
    port = None
    if m.group(6) is not None:
        port = int(m.group(6))
        if port > 65535:
            raise SipParseError("Malformed Via header")
    params = parse_params(text, m.end())
    if params is None:
        raise SipParseError("Malformed Via header")
    return Via(m.group(3), m.group(4) or m.group(5), port, params, f"{m.group(1)}/{m.group(2)}")


def parse_via(text: str) -> list[Via]:
    """All Via values in one header value; raises ``SipParseError("Malformed Via header")``."""
    if "," not in text:
        return [_parse_one_via(text)]
    return [_parse_one_via(part) for part in split_commas(text)]


@dataclass(frozen=True)
class CSeq:
    """CSeq (§20.16): sequence number (< 2**31, §8.1.1.5) and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_CSEQ_RE = re.compile(rf"[ \t]*([0-9]{{1,10}})[ \t]+([{TOKEN_CHARS}]+)[ \t]*")


KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                           "UPDATE", "INFO", "MESSAGE", "REFER", "NOTIFY", "SUBSCRIBE", "PUBLISH"})
"""Methods of RFC 3261 and its extensions (all tokens): lets the common case skip a regex."""


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq value; raises ``SipParseError("Invalid CSeq header")``."""
    digits, _, method = text.partition(" ")
    if method in KNOWN_METHODS and digits.isdigit() and digits.isascii() and len(digits) <= 10:
        number = int(digits)  # "1597 INVITE": what _CSEQ_RE accepts, without the regex
        if number >= 2**31:
            raise SipParseError("Invalid CSeq header")
        return CSeq(number, method)
    m = _CSEQ_RE.fullmatch(text)
    if m is None:
        raise SipParseError("Invalid CSeq header")
    seq = int(m.group(1))
    if seq >= 2**31:
        raise SipParseError("Invalid CSeq header")
    return CSeq(seq, m.group(2))
