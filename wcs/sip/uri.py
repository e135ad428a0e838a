"""SIP, SIPS and tel URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1; RFC 3966).

:func:`parse_uri` accepts

* ``sip:`` / ``sips:`` URIs: ``sip:user:password@host:port;params?headers``.  The user,
  password, parameters and headers are stored *unescaped* (``%41`` → ``A``) and
  re-escaped by :meth:`SipUri.__str__`, so ``sip:%75ser@h`` and ``sip:user@h`` compare
  equal as RFC 3261 §19.1.4 requires.  IPv6 hosts are stored without brackets.
* ``tel:`` URIs: the telephone-subscriber goes to ``user``, its parameters to ``params``.
* any other absolute URI (``http:``, ``urn:``, ``isbn:`` …): kept opaque in ``opaque``;
  whether such a URI is acceptable where it appears is the application's decision
  (416 for a Request-URI, RFC 3261 §8.2.2.1).

:func:`parse_name_addr` parses From/To/Contact/Route/Refer-To values in both forms,
``"Display" <uri>;params`` and the bare addr-spec ``uri;params`` (where the parameters
belong to the header, not the URI, and the URI may hold no ``,``, ``?`` or ``;``, §20.10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote as _pct_quote
from urllib.parse import unquote as _pct_unquote

from wcs.sip.errors import SipParseError
from wcs.sip.grammar import (
    QUOTED_BODY,
    TOKEN,
    TOKEN_CHARS,
    format_params,
    parse_params,
    quote,
    simple_params,
    unquote,
)

_ESC = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER_SAFE = "-_.!~*'()&=+$,;?/"  # unreserved + user-unreserved (§25.1)
_PASSWORD_SAFE = "-_.!~*'()&=+$,"
_PARAM_SAFE = "-_.!~*'()[]/:&+$"  # unreserved + param-unreserved
_HEADER_SAFE = "-_.!~*'()[]/?:+$"  # unreserved + hnv-unreserved



def _chars(allowed: str, at_least_one: bool = True) -> str:
    """``1*( [allowed] / escaped )`` as an unrolled, backtracking-free loop."""
    run = f"[{allowed}]*+(?:{_ESC}[{allowed}]*+)*+"
    return f"(?=[{allowed}]|{_ESC}){run}" if at_least_one else run


_USER_RE = re.compile(_chars(f"{_UNRESERVED}&=+$,;?/"))
_PASSWORD_RE = re.compile(_chars(f"{_UNRESERVED}&=+$,", at_least_one=False))
_HOST = r"\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_](?:[A-Za-z0-9_.-]*))"
_HOSTPORT_RE = re.compile(rf"(?:{_HOST})(?::([0-9]{{1,5}}))?")
_PCHARS = _chars(f"{_UNRESERVED}\\[\\]/:&+$")
_URI_PARAM_RE = re.compile(rf";({_PCHARS})(?:=({_PCHARS}))?")
_HCHARS = _chars(f"{_UNRESERVED}\\[\\]/?:+$")
_HCHARS0 = _chars(f"{_UNRESERVED}\\[\\]/?:+$", at_least_one=False)
_HEADERS_RE = re.compile(rf"\?({_HCHARS}={_HCHARS0}(?:&{_HCHARS}={_HCHARS0})*+)")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_OPAQUE_RE = re.compile(r"[!-~\x80-\U0010ffff]+")  # visible characters, no whitespace
_OPAQUE_FORBIDDEN = re.compile(r'[<>"]')
_TEL_NUMBER_RE = re.compile(r"[0-9A-Fa-f*#+\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#+\-.()]*")
_USER_OK_RE = re.compile(rf"[{_UNRESERVED}&=+$,;?/]+")


def _unescape(text: str) -> str:
    return _pct_unquote(text, errors="surrogateescape") if "%" in text else text


def _escape(text: str, safe: str) -> str:
    return _pct_quote(text, safe=safe, errors="surrogateescape")


def is_valid_user(user: str) -> bool:
    """True if every character of ``user`` may appear unescaped in a user part (§25.1)."""
    return _USER_OK_RE.fullmatch(user) is not None


@dataclass
class SipUri:
    """A SIP/SIPS/tel URI, or any other absolute URI kept ``opaque``."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None
    """Everything after ``scheme:`` for schemes other than sip, sips and tel."""

    @property
    def is_sip(self) -> bool:
        """True for ``sip:`` and ``sips:`` URIs."""
        return self.scheme in ("sip", "sips")

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower case."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def host_port(self) -> str:
        """``host[:port]`` with IPv6 brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        params = "".join(
            f";{_escape(k, _PARAM_SAFE)}" + ("" if v is None else f"={_escape(v, _PARAM_SAFE)}")
            for k, v in self.params.items()
        )
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{params}"
        userinfo = ""
        if self.user is not None:
            userinfo = _escape(self.user, _USER_SAFE)
            if self.password is not None:
                userinfo += ":" + _escape(self.password, _PASSWORD_SAFE)
            userinfo += "@"
        headers = "&".join(
            f"{_escape(k, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}" for k, v in self.headers.items()
        )
        return f"{self.scheme}:{userinfo}{self.host_port}{params}" + (f"?{headers}" if headers else "")


def _bad(text: str) -> SipParseError:
    return SipParseError("Malformed URI")  # the text is not echoed: it may be huge


def _uri_params(text: str, pos: int) -> tuple[dict[str, str | None], int]:
    params: dict[str, str | None] = {}
    end = len(text)
    while pos < end and text[pos] == ";":
        m = _URI_PARAM_RE.match(text, pos)
        if m is None:
            raise _bad(text)
        name = _unescape(m.group(1)).lower()
        value = m.group(2)
        if name not in params:
            params[name] = _unescape(value) if value is not None else None
        pos = m.end()
    return params, pos


# The common shape of a sip:/sips: URI in one regex: no escapes, no URI headers, no
# whitespace.  It accepts a subset of what the general parser below accepts, with the same
# result, and lets the per-packet path skip the step-by-step parse; anything else (and an
# out-of-range port) takes the general path, which also names the error.
_FAST_USER = "A-Za-z0-9\\-_.!~*'()&=+$,;?/"
_FAST_PCHAR = "A-Za-z0-9\\-_.!~*'()\\[\\]/:&+$"
_FAST_SIP = (
    rf"sip(s?):(?:([{_FAST_USER}]++)(?::([A-Za-z0-9\-_.!~*'()&=+$,]*+))?@)?"
    rf"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_][A-Za-z0-9_.-]*+))(?::([0-9]{{1,5}}))?"
    rf"((?:;[{_FAST_PCHAR}]++(?:=[{_FAST_PCHAR}]++)?)*+)"
)
_FAST_SIP_RE = re.compile(_FAST_SIP)


def _fast_sip(text: str) -> SipUri | None:
    m = _FAST_SIP_RE.fullmatch(text)
    if m is None:
        return None
    secure, user, password, host6, host, port, params_text = m.groups()
    if port is not None:
        number = int(port)
        if number > 65535:
            return None
    else:
        number = None
    return SipUri("sips" if secure else "sip", user, password, host6 or host, number,
                  simple_params(params_text), {})


def is_fast_valid_uri(text: str) -> bool:
    """True if ``text`` is a sip:/sips: URI of the common shape (see ``_FAST_SIP_RE``), so
    that :func:`parse_uri` accepts it, without building it.  False says nothing."""
    m = _FAST_SIP_RE.fullmatch(text)
    return m is not None and (m.group(6) is None or int(m.group(6)) <= 65535)


def parse_uri(text: str) -> SipUri:
    """Parse a URI; raises :class:`SipParseError` ("Malformed URI") if it is not valid."""
    if text[:4] == "sip:" or text[:5] == "sips:":
        uri = _fast_sip(text)
        if uri is not None:
            return uri
    m = _SCHEME_RE.match(text)
    if m is None:
        raise _bad(text)
    scheme = m.group(1).lower()
    rest = text[m.end():]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest, text)
    if scheme == "tel":
        semi = rest.find(";")
        number = rest if semi < 0 else rest[:semi]
        if _TEL_NUMBER_RE.fullmatch(number) is None:
            raise _bad(text)
        params, pos = _uri_params(rest, len(number))
        if pos != len(rest):
            raise _bad(text)
        return SipUri("tel", number, None, "", None, params)
    if _OPAQUE_RE.fullmatch(rest) is None or _OPAQUE_FORBIDDEN.search(rest):
        raise _bad(text)
    return SipUri(scheme, opaque=rest)


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        colon = userinfo.find(":")
        raw_user = userinfo if colon < 0 else userinfo[:colon]
        if _USER_RE.fullmatch(raw_user) is None:
            raise _bad(text)
        user = _unescape(raw_user)
        if colon >= 0:
            raw_password = userinfo[colon + 1:]
            if _PASSWORD_RE.fullmatch(raw_password) is None:
                raise _bad(text)
            password = _unescape(raw_password)
        pos = at + 1
    else:
        pos = 0
    m = _HOSTPORT_RE.match(rest, pos)
    if m is None:
        raise _bad(text)
    host = m.group(1) or m.group(2)
    port = None
    if m.group(3) is not None:
        port = int(m.group(3))
        if port > 65535:
            raise _bad(text)
    params, pos = _uri_params(rest, m.end())
    headers: dict[str, str] = {}
    if pos < len(rest):
        hm = _HEADERS_RE.fullmatch(rest, pos)
        if hm is None:
            raise _bad(text)
        for pair in hm.group(1).split("&"):
            name, _, value = pair.partition("=")
            headers.setdefault(_unescape(name), _unescape(value))
    return SipUri(scheme, user, password, host, port, params, headers)


@dataclass
class NameAddr:
    """A From/To/Contact/Route/Refer-To value: URI, optional display name, header params."""

    uri: SipUri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (§19.3)."""
        return self.params.get("tag")

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is None:
            self.params.pop("tag", None)
        else:
            self.params["tag"] = value

    def __str__(self) -> str:
        name = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"


# name-addr: [ display-name ] LAQUOT addr-spec RAQUOT, display-name = *(token LWS) / quoted-string
_NAME_ADDR_RE = re.compile(
    rf'[ \t]*(?:"({QUOTED_BODY})"|({TOKEN}(?:[ \t]++{TOKEN})*+))?[ \t]*<([^<>\s]++)>', re.S
)
_ADDR_SPEC_RE = re.compile(r'[ \t]*([^\s;<>"]+)')


# The common shape of a name-addr in one regex: no leading whitespace, a quoted display
# name without escapes (or tokens, or none), <uri>, then ";name[=value]" parameters with no
# whitespace or quoted values.  What it accepts, the general path below accepts with the
# same groups (its prefix is the same as _NAME_ADDR_RE's); anything else takes that path.
_FAST_NAME_ADDR_RE = re.compile(
    rf'(?:"([^"\\]*+)"|({TOKEN}(?:[ \t]++{TOKEN})*+))?[ \t]*+<([^<>\s]++)>'
    rf"((?:;{TOKEN}(?:=[{TOKEN_CHARS}\[\]:]++)?)*+)"
)


# The same with a sip:/sips: URI of the common shape inside the <>, all in one match.  The
# URI part can only end at the first ">" (none of its characters is "<", ">" or
# whitespace), so it matches what _NAME_ADDR_RE would cut out and hand to parse_uri.
_FAST_NAME_ADDR_SIP_RE = re.compile(
    rf'(?:"([^"\\]*+)"|({TOKEN}(?:[ \t]++{TOKEN})*+))?[ \t]*+<{_FAST_SIP}>'
    rf"((?:;{TOKEN}(?:=[{TOKEN_CHARS}\[\]:]++)?)*+)"
)


def is_fast_valid_name_addr(text: str) -> bool:
    """True if ``text`` is a name-addr of the common shape with a sip:/sips: URI, so that
    :func:`parse_name_addr` accepts it, without building it.  False says nothing."""
    m = _FAST_NAME_ADDR_SIP_RE.fullmatch(text)
    return m is not None and (m.group(8) is None or int(m.group(8)) <= 65535)


def parse_name_addr(text: str) -> NameAddr:
    """Parse one name-addr / addr-spec value with its header parameters.

    Raises :class:`SipParseError` ("Malformed name-addr") on any syntax error.
    """
    sip = _FAST_NAME_ADDR_SIP_RE.fullmatch(text)
    if sip is not None:
        quoted, tokens, secure, user, password, host6, host, port, uri_params, params = sip.groups()
        number = None if port is None else int(port)
        if number is None or number <= 65535:
            uri = SipUri("sips" if secure else "sip", user, password, host6 or host, number,
                         simple_params(uri_params), {})
            return NameAddr(uri, quoted if quoted is not None else tokens, simple_params(params))
    fast = _FAST_NAME_ADDR_RE.fullmatch(text)
    if fast is not None:
        quoted, tokens, uri_text, params_text = fast.groups()
        try:
            uri = parse_uri(uri_text)
        except SipParseError:
            raise SipParseError("Malformed name-addr") from None
        return NameAddr(uri, quoted if quoted is not None else tokens, simple_params(params_text))
    m = _NAME_ADDR_RE.match(text)
    display: str | None
    if m is not None:
        quoted, tokens, uri_text = m.group(1), m.group(2), m.group(3)
        display = unquote(quoted) if quoted is not None else tokens
    else:
        m = _ADDR_SPEC_RE.match(text)
        if m is None:
            raise SipParseError("Malformed name-addr")
        uri_text = m.group(1)
        if "," in uri_text or "?" in uri_text:  # §20.10: such URIs MUST be in <>
            raise SipParseError("Malformed name-addr")
        display = None
    try:
        uri = parse_uri(uri_text)
    except SipParseError:
        raise SipParseError("Malformed name-addr") from None
    params = parse_params(text, m.end())
    if params is None:
        raise SipParseError("Malformed name-addr")
    return NameAddr(uri, display, params)
