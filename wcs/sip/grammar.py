"""Lexical pieces of the SIP grammar shared by URIs and header values (RFC 3261 §25.1).

Everything here works on already unfolded header text (one line, LWS collapsed) and is
built on precompiled regular expressions so that the per-packet path does no
per-character Python loops.  Functions return ``None`` (or raise nothing) on malformed
input; the callers turn that into a :class:`~wcs.sip.errors.SipParseError` whose reason
names the header at fault.
"""

from __future__ import annotations

import re

TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
"""Characters of ``token`` (§25.1), ready for a regex character class."""

TOKEN = f"[{TOKEN_CHARS}]++"
QUOTED_BODY = r'[^"\\]*+(?:\\.[^"\\]*+)*+'
"""The inside of a ``quoted-string`` (qdtext and quoted-pairs), as an unrolled loop."""
QUOTED = f'"{QUOTED_BODY}"'
"""``quoted-string``: DQUOTE *(qdtext / quoted-pair) DQUOTE (§25.1)."""

_TOKEN_RE = re.compile(TOKEN)

# generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string.
# SEMI and EQUAL allow whitespace on both sides (SWS).  A host value adds "[", "]", ":"
# to the token characters (IPv6 references, e.g. received=2001:db8::1).
_PARAM_RE = re.compile(
    rf"[ \t]*;[ \t]*({TOKEN})(?:[ \t]*=[ \t]*({QUOTED}|[{TOKEN_CHARS}\[\]:]++))?[ \t]*", re.S
)

# One element of a comma-separated list: runs of ordinary characters, quoted strings and
# <...> sections (whose commas do not separate).  An unterminated quoted string or <...>
# runs to the end of the value.  Every quantifier is possessive so that no input makes the
# scan backtrack: the cost stays linear in the length of the value.
_ITEM_RE = re.compile(rf'(?:[^,"<]++|"{QUOTED_BODY}(?:"|\\?\Z)|<[^>]*+(?:>|\Z))*+', re.S)

_UNQUOTE_RE = re.compile(r"\\(.)", re.S)


def is_token(text: str) -> bool:
    """True if ``text`` is a non-empty ``token``."""
    return _TOKEN_RE.fullmatch(text) is not None


def parse_params(text: str, pos: int = 0) -> dict[str, str | None] | None:
    """Parse ``*( SEMI generic-param )`` from ``text[pos:]``; ``None`` if malformed.

    Keys are lower-cased (parameter names are case-insensitive, §7.3.1); values are kept
    as written, quoted strings with their quotes.  The first occurrence of a name wins.
    """
    params: dict[str, str | None] = {}
    end = len(text)
    while pos < end:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            if text[pos:].strip(" \t"):
                return None
            break
        name = m.group(1).lower()
        if name not in params:
            params[name] = m.group(2)
        pos = m.end()
    return params


def simple_params(text: str) -> dict[str, str | None]:
    """``;name[=value]...`` already validated by a caller's regex (no whitespace, no quoted
    or escaped values) as :func:`parse_params` would return it: names lower-cased, the first
    occurrence of a name wins, a flag is ``None``."""
    if not text:
        return {}
    if text.count(";") == 1:  # one parameter (";tag=…", ";lr")
        name, eq, value = text[1:].partition("=")
        return {name.lower(): value if eq else None}
    params: dict[str, str | None] = {}
    for param in text[1:].split(";"):
        name, eq, value = param.partition("=")
        name = name.lower()
        if name not in params:
            params[name] = value if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """``;name=value`` for each parameter, ``;name`` for flags."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def split_commas(value: str) -> list[str]:
    """Split a header value at the commas that separate list elements (§7.3.1).

    Commas inside quoted strings and inside ``<...>`` do not split (nor do those after an
    unterminated one).  Elements are stripped; empty elements are kept (the caller decides
    whether they are an error).
    """
    if '"' not in value and "<" not in value:
        return [part.strip(" \t") for part in value.split(",")]
    parts: list[str] = []
    pos = 0
    end = len(value)
    while True:
        m = _ITEM_RE.match(value, pos)
        assert m is not None  # the pattern matches the empty string
        parts.append(m.group().strip(" \t"))
        pos = m.end() + 1  # skip the comma
        if pos > end:
            return parts


def unquote(text: str) -> str:
    """The content of a quoted string (with or without its quotes), escapes resolved."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return _UNQUOTE_RE.sub(r"\1", text) if "\\" in text else text


def quote(text: str) -> str:
    """``text`` as a quoted string, escaping backslash and double quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
