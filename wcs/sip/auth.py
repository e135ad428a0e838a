"""Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760; RFC 3261 §22).

Client side: :func:`parse_challenge` reads a WWW-Authenticate / Proxy-Authenticate value,
:func:`choose_challenge` picks one of several, :func:`authorization` builds the
Authorization / Proxy-Authorization value.  Server side (used by tests to check the
client, and usable by a registrar): :func:`parse_credentials` and
:func:`verify_authorization`.

Algorithms: MD5, SHA-256, SHA-512-256 and their ``-sess`` variants (RFC 7616 §3.4.2,
RFC 8760 §2.7); qop ``auth`` and ``auth-int`` (H(entity-body), of the empty string when
there is no body, RFC 8760 §2.6 item 7).  A challenge without qop gets an RFC 2069-style
response (no qop, nc or cnonce), which is what RFC 3261 servers that omit qop check.
``userhash=true`` challenges are answered with the hashed username (RFC 7616 §3.4.4);
``stale=true`` is exposed so the caller retries with the same credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from wcs.sip.errors import SipParseError
from wcs.sip.grammar import QUOTED, TOKEN, quote, unquote

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
_STRENGTH = {"MD5": 0, "SHA-256": 1, "SHA-512-256": 2}

SUPPORTED_ALGORITHMS = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")

# auth-param = token BWS "=" BWS ( token / quoted-string ); separated by commas.  Whitespace
# alone is accepted as a separator too (some peers forget the comma, e.g. RFC 3665 §2.1 F3).
_SCHEME_RE = re.compile(rf"[ \t]*({TOKEN})(?:[ \t]+|$)")
_AUTH_PARAM_RE = re.compile(
    rf"[ \t,]*({TOKEN})[ \t]*=[ \t]*({QUOTED}|[^\s,\"]++)[ \t]*(?:,|(?=[ \t]*{TOKEN}[ \t]*=)|$)", re.S
)


def _auth_params(value: str) -> tuple[str, dict[str, str]]:
    """The scheme and the auth-params (names lower-cased, values unquoted)."""
    m = _SCHEME_RE.match(value)
    if m is None:
        raise SipParseError("Malformed authentication header")
    scheme = m.group(1)
    params: dict[str, str] = {}
    pos = m.end()
    end = len(value)
    while pos < end:
        pm = _AUTH_PARAM_RE.match(value, pos)
        if pm is None:
            if value[pos:].strip(" \t,"):
                raise SipParseError("Malformed authentication header")
            break
        params.setdefault(pm.group(1).lower(), unquote(pm.group(2)))
        pos = pm.end()
    return scheme, params


def _base(algorithm: str) -> str | None:
    """The hash name of a supported algorithm ("SHA-256" for "sha-256-sess"), else None."""
    upper = algorithm.upper()
    base = upper[:-5] if upper.endswith("-SESS") else upper
    return base if base in _HASHES else None


@dataclass
class Challenge:
    """One WWW-Authenticate / Proxy-Authenticate challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False
    scheme: str = "Digest"
    domain: str | None = None
    userhash: bool = False
    charset: str | None = None

    @property
    def supported(self) -> bool:
        """True for a Digest challenge with an algorithm and qop this module implements."""
        qop_ok = not self.qop or "auth" in self.qop or "auth-int" in self.qop
        return self.scheme.lower() == "digest" and _base(self.algorithm) is not None and qop_ok


def parse_challenge(header_value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value.

    Non-Digest schemes are returned with empty realm/nonce unless given (and
    ``supported`` False); a Digest challenge without realm or nonce raises
    ``SipParseError("Malformed Digest challenge")``.
    """
    scheme, params = _auth_params(header_value)
    is_digest = scheme.lower() == "digest"
    if is_digest and ("realm" not in params or "nonce" not in params):
        raise SipParseError("Malformed Digest challenge")
    qop = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    return Challenge(
        realm=params.get("realm", ""),
        nonce=params.get("nonce", ""),
        algorithm=params.get("algorithm", "MD5"),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        scheme=scheme,
        domain=params.get("domain"),
        userhash=params.get("userhash", "").lower() == "true",
        charset=params.get("charset"),
    )


def choose_challenge(values: list[str], *, prefer: str = "strongest") -> Challenge:
    """Pick one challenge among the values of all WWW-/Proxy-Authenticate headers.

    ``prefer="strongest"`` (default, a local policy RFC 8760 §2.4 allows, and the defence
    against downgrade it recommends in §3): SHA-512-256 > SHA-256 > MD5, the topmost
    among equals.  ``prefer="first"``: the topmost supported one (RFC 8760 §2.4).
    Unparseable and unsupported challenges are ignored; if none is left raises
    ``SipParseError("No supported Digest challenge")``.
    """
    candidates: list[Challenge] = []
    for value in values:
        try:
            challenge = parse_challenge(value)
        except SipParseError:
            continue
        if challenge.supported:
            candidates.append(challenge)
    if not candidates:
        raise SipParseError("No supported Digest challenge")
    if prefer == "first":
        return candidates[0]
    best = candidates[0]
    for challenge in candidates[1:]:
        if _STRENGTH[_base(challenge.algorithm) or "MD5"] > _STRENGTH[_base(best.algorithm) or "MD5"]:
            best = challenge
    return best


@dataclass
class Credentials:
    username: str
    password: str


def _digest(algorithm: str, username: str, realm: str, password: str, nonce: str, cnonce: str | None,
            nc: str | None, qop: str | None, method: str, uri: str, body: bytes) -> str:
    """The request-digest (RFC 7616 §3.4.1-3.4.3)."""
    base = _base(algorithm)
    if base is None:
        raise SipParseError(f"Unsupported digest algorithm {algorithm}")
    h = _HASHES[base]
    ha1 = h(f"{username}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}".encode())
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + h(body)
    ha2 = h(a2.encode())
    if qop is None:  # RFC 2069 compatibility (RFC 2617 §3.2.2.1)
        return h(f"{ha1}:{nonce}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


def authorization(challenge: Challenge, credentials: Credentials, method: str, uri: str, *,
                  cnonce: str, nc: int, body: bytes = b"", qop: str | None = None) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge``.

    ``uri`` is the Request-URI (RFC 8760 §2.6), ``nc`` the number of requests sent with
    this nonce (1 for the first), ``cnonce`` fresh client randomness.  ``qop`` defaults to
    "auth" when offered, else "auth-int"; for "auth-int" ``body`` is hashed.
    """
    if not challenge.supported:
        raise SipParseError(f"Unsupported challenge {challenge.scheme} {challenge.algorithm}")
    if qop is None and challenge.qop:
        qop = "auth" if "auth" in challenge.qop else "auth-int"
    nc_text = f"{nc:08x}"
    username = credentials.username
    if challenge.userhash:
        username = _HASHES[_base(challenge.algorithm) or "MD5"](
            f"{credentials.username}:{challenge.realm}".encode())
    response = _digest(challenge.algorithm, credentials.username, challenge.realm, credentials.password,
                       challenge.nonce, cnonce, nc_text, qop, method, uri, body)
    parts = [
        f"username={quote(username)}",
        f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}",
        f"uri={quote(uri)}",
        f"response={quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"cnonce={quote(cnonce)}", f"qop={qop}", f"nc={nc_text}"]
    elif challenge.algorithm.upper().endswith("-SESS"):
        parts.append(f"cnonce={quote(cnonce)}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


# ---------------------------------------------------------------- server side

@dataclass
class DigestResponse:
    """The parameters of an Authorization / Proxy-Authorization value (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None
    userhash: bool = False


def parse_credentials(header_value: str) -> DigestResponse:
    """Parse a Digest Authorization value; raises ``SipParseError`` if it is not one."""
    scheme, params = _auth_params(header_value)
    if scheme.lower() != "digest":
        raise SipParseError("Unsupported authentication scheme")
    try:
        return DigestResponse(
            username=params["username"], realm=params["realm"], nonce=params["nonce"],
            uri=params["uri"], response=params["response"], algorithm=params.get("algorithm", "MD5"),
            cnonce=params.get("cnonce"), nc=params.get("nc"), qop=params.get("qop"),
            opaque=params.get("opaque"), userhash=params.get("userhash", "").lower() == "true",
        )
    except KeyError as missing:
        raise SipParseError(f"Missing {missing.args[0]} in Authorization") from None


def verify_authorization(header_value: str, method: str, password: str, *, username: str | None = None,
                         body: bytes = b"", realm: str | None = None, nonce: str | None = None) -> bool:
    """True if ``header_value`` proves knowledge of ``password`` for this request.

    ``realm``/``nonce``, when given, must match the ones in the value (the server's
    challenge); ``username`` is the plain user name (needed to check a userhash).
    Malformed values raise :class:`SipParseError`.
    """
    creds = parse_credentials(header_value)
    base = _base(creds.algorithm)
    if base is None:
        return False
    if realm is not None and creds.realm != realm:
        return False
    if nonce is not None and creds.nonce != nonce:
        return False
    if creds.qop is not None and (creds.qop not in ("auth", "auth-int") or not creds.nc or not creds.cnonce):
        return False
    name = creds.username
    if creds.userhash:
        if username is None:
            return False
        if not hmac.compare_digest(_HASHES[base](f"{username}:{creds.realm}".encode()), creds.username):
            return False
        name = username
    elif username is not None and username != name:
        return False
    expected = _digest(creds.algorithm, name, creds.realm, password, creds.nonce, creds.cnonce, creds.nc,
                       creds.qop, method, creds.uri, body)
    return hmac.compare_digest(expected, creds.response.lower())
