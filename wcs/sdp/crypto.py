"""SDES: SRTP keys in SDP (``a=crypto``, RFC 4568) — parse, build and negotiate.

Theory of operation
-------------------
An ``a=crypto`` line (RFC 4568 §4, grammar §9) names a *tag*, a *crypto suite* and the
*inline* master key||salt its writer will **send** with (§5.1.1: each side declares its own
transmission key), optionally a lifetime, an MKI and session parameters::

    a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4

:func:`parse_crypto` reads the generic grammar and the SRTP ``inline`` key syntax (§6.1,
§9.2) and raises :class:`CryptoError` on malformed text; :meth:`Crypto.problem` then says
why a well-formed line cannot be *used* here (RFC 4568 makes such a line "invalid" or
"not supported", and the answerer moves on to the next one, §5.1.2):

* the suite is not one of :data:`SUITES` (AES_CM_128_HMAC_SHA1_80/_32, RFC 4568 §6.2;
  AEAD_AES_128_GCM/AEAD_AES_256_GCM, RFC 7714 §14.1), or the key||salt length does not
  match it (§6.1: "MUST be considered invalid");
* an MKI or several keys (libsrtp as wrapped by :mod:`wcs.rtp.srtp` keys one master key
  without MKI), or a lifetime above the suite's 2^48 packets (§6.1);
* a session parameter that changes SRTP processing (KDR ≠ 0, UNENCRYPTED_SRTP/SRTCP,
  UNAUTHENTICATED_SRTP, FEC_ORDER=SRTP_FEC, FEC_KEY) or an unknown one without the
  "optional" dash prefix (§6.3.7); WSH (§6.3.6, a hint) and "-…" parameters are ignored.

A lifetime that is accepted is carried in :class:`SrtpKeys` so that the relay stops
accepting packets under that key once it is used up (§6.1: "MUST NOT accept incoming
packets that violate the policy").  We never send a lifetime or MKI ourselves.

Negotiation, seen from the gateway, which is offerer toward SIP for outgoing calls and
answerer for incoming ones (the three ``sip_srtp`` modes are in :data:`MODES`):

* :func:`offer_crypto` — our offer: one line per suite of :data:`OFFERED_SUITES`, each with
  its own fresh key (§6.1: every key unique within the SDP);
* :func:`keys_from_answer` — the answer to our offer selects one tag (§5.1.3: same tag and
  suite as offered, a valid key; otherwise the negotiation fails: :class:`CryptoError`);
* :func:`answer_crypto` — answering an offer: the first usable line (§5.1.2: the most
  preferred one we support), echoing tag and suite with our key; a stream whose offer has
  crypto lines but none usable must be refused.

Keys come from the caller (who draws them from the injected entropy): this module reads
no randomness.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from wcs.sdp.errors import SdpError, SdpUsageError

__all__ = ["KEY_MATERIAL", "MODES", "OFFERED_SUITES", "SUITES", "Crypto", "CryptoError", "CryptoSuite",
           "InlineKey", "SrtpKeys", "answer_crypto", "first_usable", "keys_from_answer", "offer_crypto",
           "parse_crypto"]

#: ``sip_srtp``: "off" (plain RTP/AVP; RTP/SAVP offers refused), "optional" (RTP/AVP offered with
#: a=crypto lines, "best effort": SRTP when the answer carries a=crypto; RTP/SAVP and RTP/AVP offers
#: accepted), "mandatory" (RTP/SAVP offered; streams without usable crypto refused both ways)
MODES = ("off", "optional", "mandatory")


class CryptoSuite(NamedTuple):
    """An SRTP crypto suite: key and salt lengths (octets), its libsrtp profile, key lifetime."""

    name: str
    key_length: int
    salt_length: int
    srtp_profile: str            # the wcs.rtp.srtp profile name
    max_lifetime: int = 2 ** 48  # SRTP packets (RFC 4568 §6.2, RFC 7714 Table 2)

    @property
    def key_salt_length(self) -> int:
        return self.key_length + self.salt_length


SUITES: dict[str, CryptoSuite] = {s.name: s for s in (
    CryptoSuite("AES_CM_128_HMAC_SHA1_80", 16, 14, "SRTP_AES128_CM_SHA1_80"),
    CryptoSuite("AES_CM_128_HMAC_SHA1_32", 16, 14, "SRTP_AES128_CM_SHA1_32"),
    CryptoSuite("AEAD_AES_128_GCM", 16, 12, "SRTP_AEAD_AES_128_GCM"),
    CryptoSuite("AEAD_AES_256_GCM", 32, 12, "SRTP_AEAD_AES_256_GCM"),
)}
#: what we offer, most preferred first (RFC 4568 §5.1.1); the widely deployed AES-CM suites
OFFERED_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
#: octets of random key material per key: enough for the longest key||salt (AEAD_AES_256_GCM)
KEY_MATERIAL = 44

_TAG = re.compile(r"(?:0|[1-9][0-9]{0,8})\Z")
_SUITE = re.compile(r"[A-Za-z0-9_]+\Z")
_METHOD = re.compile(r"[A-Za-z0-9_]+\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}\Z")
_LIFETIME = re.compile(r"(2\^)?([1-9][0-9]*)\Z")
_MKI = re.compile(r"([1-9][0-9]*|0):([1-9][0-9]{0,2})\Z")
_IGNORED_PARAMS = ("WSH=", "FEC_ORDER=FEC_SRTP", "KDR=0")


class CryptoError(SdpError):
    """An ``a=crypto`` line that does not parse, or an answer that breaks RFC 4568 §5.1.3 (488)."""


@dataclass(frozen=True)
class InlineKey:
    """One ``inline:`` key parameter (RFC 4568 §6.1)."""

    key_salt: bytes
    lifetime: int | None = None        # packets; None: the suite's default
    mki: int | None = None
    mki_length: int | None = None      # octets of MKI in each SRTP packet (1..128)

    def __str__(self) -> str:
        text = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            power = self.lifetime.bit_length() - 1
            text += f"|2^{power}" if self.lifetime == 1 << power else f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki}:{self.mki_length}"
        return text


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` attribute value (RFC 4568 §4)."""

    tag: int
    suite: str
    keys: tuple[InlineKey, ...]
    session_params: tuple[str, ...] = ()

    def __str__(self) -> str:
        """The attribute value (after ``a=crypto:``)."""
        text = f"{self.tag} {self.suite} " + ";".join(str(k) for k in self.keys)
        return " ".join((text, *self.session_params))

    @property
    def key(self) -> InlineKey:
        return self.keys[0]

    def problem(self) -> str | None:
        """Why this line cannot be used here (see the module docstring), or None."""
        suite = SUITES.get(self.suite.upper())
        if suite is None:
            return f"crypto suite {self.suite} not supported"
        for key in self.keys:
            if len(key.key_salt) != suite.key_salt_length:
                return (f"{suite.name} needs a {suite.key_salt_length}-octet key||salt, "
                        f"got {len(key.key_salt)}")
            if key.lifetime is not None and key.lifetime > suite.max_lifetime:
                return f"key lifetime {key.lifetime} exceeds {suite.name}'s 2^48 packets"
        if len(self.keys) > 1 or self.key.mki is not None:
            return "MKI not supported"
        for param in self.session_params:
            if param.startswith("-") or param.upper().startswith(_IGNORED_PARAMS):
                continue
            return f"session parameter {param} not supported"
        return None


def parse_crypto(value: str) -> Crypto:
    """An ``a=crypto`` value (without ``a=crypto:``); raises :class:`CryptoError` naming the defect."""
    fields = value.split()
    if len(fields) < 3:
        raise CryptoError(f"Malformed crypto attribute {value.strip()!r}: expected tag, suite and key")
    tag, suite, key_params, *params = fields
    if not _TAG.match(tag):
        raise CryptoError(f"Malformed crypto attribute: bad tag {tag!r}")
    if not _SUITE.match(suite):
        raise CryptoError(f"Malformed crypto attribute: bad crypto suite {suite!r}")
    keys = tuple(_parse_key(param) for param in key_params.split(";"))
    return Crypto(int(tag), suite, keys, tuple(params))


def _parse_key(param: str) -> InlineKey:
    method, colon, info = param.partition(":")
    if not colon or not _METHOD.match(method):
        raise CryptoError(f"Malformed crypto key parameter {param!r}")
    if method.lower() != "inline":
        raise CryptoError(f"crypto key method {method!r} not supported")
    key_text, *rest = info.split("|")
    if not _BASE64.match(key_text) or len(rest) > 2:
        raise CryptoError(f"Malformed crypto key {info!r}")
    try:
        key_salt = base64.b64decode(key_text + "=" * (-len(key_text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"Malformed crypto key {info!r}: bad base64") from None
    lifetime: int | None = None
    mki: int | None = None
    mki_length: int | None = None
    for part in rest:
        mki_match = _MKI.match(part)
        life_match = _LIFETIME.match(part)
        if mki_match is not None and mki is None:
            mki, mki_length = int(mki_match.group(1)), int(mki_match.group(2))
            if not 1 <= mki_length <= 128:
                raise CryptoError(f"Malformed crypto key {info!r}: MKI length {mki_length} not 1-128")
        elif life_match is not None and lifetime is None and mki is None:
            number = int(life_match.group(2))
            if life_match.group(1):
                if number > 64:
                    raise CryptoError(f"Malformed crypto key {info!r}: lifetime 2^{number}")
                number = 1 << number
            lifetime = number
        else:
            raise CryptoError(f"Malformed crypto key {info!r}: bad lifetime or MKI {part!r}")
    return InlineKey(key_salt, lifetime, mki, mki_length)


def first_usable(values: Iterable[str]) -> Crypto | None:
    """The first line of an offer that parses and can be used (RFC 4568 §5.1.2), or None."""
    for value in values:
        try:
            crypto = parse_crypto(value)
        except CryptoError:
            continue
        if crypto.problem() is None:
            return crypto
    return None


@dataclass(frozen=True)
class SrtpKeys:
    """The SDES outcome for one stream: what the relay keys its SRTP context with."""

    suite: str                     # a key of SUITES
    tag: int                       # the negotiated a=crypto tag
    local: bytes                   # our key||salt (we send with it)
    remote: bytes                  # the peer's key||salt (it sends with it)
    remote_lifetime: int | None = None   # packets the peer may send under its key (None: 2^48)
    proto: str = "RTP/SAVP"        # the SIP m-line's transport: RTP/SAVP, or RTP/AVP (best effort)

    @property
    def profile(self) -> str:
        """The :class:`wcs.rtp.srtp.SrtpSession` profile name."""
        return SUITES[self.suite].srtp_profile

    def local_crypto(self) -> Crypto:
        """Our line for a re-offer or answer: the negotiated tag and suite, our key (§7.1.4)."""
        return Crypto(self.tag, self.suite, (InlineKey(self.local),))


def _key(material: bytes, suite: CryptoSuite) -> bytes:
    if len(material) < suite.key_salt_length:
        raise SdpUsageError(f"{suite.name} needs {suite.key_salt_length} octets of key material, "
                            f"got {len(material)}")
    return material[:suite.key_salt_length]


def offer_crypto(materials: Sequence[bytes], suites: Sequence[str] = OFFERED_SUITES) -> list[Crypto]:
    """Our offer's lines: tag 1, 2 … one per suite, each keyed from its own entry of ``materials``."""
    if len(materials) < len(suites):
        raise SdpUsageError(f"{len(suites)} crypto suites need as many keys, got {len(materials)}")
    return [Crypto(tag, name, (InlineKey(_key(material, SUITES[name])),))
            for tag, (name, material) in enumerate(zip(suites, materials, strict=False), 1)]


def keys_from_answer(offered: Iterable[str], answered: Sequence[str], proto: str) -> SrtpKeys | None:
    """The keys our offer (``offered`` a=crypto values) and the peer's answer agreed on.

    None when the answer has no a=crypto line (the caller decides whether plain RTP is
    acceptable).  :class:`CryptoError` when the answer's line is malformed, unusable, or
    names a tag and suite we did not offer (RFC 4568 §5.1.3: the negotiation fails).
    """
    if not answered:
        return None
    chosen = parse_crypto(answered[0])
    ours = {c.tag: c for c in map(_parse_ours, offered)}
    mine = ours.get(chosen.tag)
    if mine is None or mine.suite.upper() != chosen.suite.upper():
        raise CryptoError(f"crypto answer {chosen.tag} {chosen.suite} was not offered")
    problem = chosen.problem()
    if problem is not None:
        raise CryptoError(f"crypto answer unusable: {problem}")
    suite = SUITES[chosen.suite.upper()]
    return SrtpKeys(suite.name, chosen.tag, mine.key.key_salt, chosen.key.key_salt, chosen.key.lifetime,
                    proto)


def _parse_ours(value: str) -> Crypto:
    try:
        return parse_crypto(value)
    except CryptoError as exc:
        raise SdpUsageError(f"our own crypto line does not parse: {exc.reason}") from None


def answer_crypto(offered: Sequence[str], material: bytes, proto: str,
                  previous: SrtpKeys | None = None) -> SrtpKeys | None:
    """Answer an offer's a=crypto lines: the negotiated keys (our line is ``.local_crypto()``).

    None when no line is usable (RFC 4568 §5.1.2: refuse the stream if the offer had any and
    it is RTP/SAVP).  ``previous`` (a renegotiation) keeps our key when its suite is offered
    again, so our sending context continues (§7.1.4).
    """
    candidates = []
    for value in offered:
        try:
            crypto = parse_crypto(value)
        except CryptoError:
            continue
        if crypto.problem() is None:
            candidates.append(crypto)
    if not candidates:
        return None
    chosen = candidates[0]
    if previous is not None:
        chosen = next((c for c in candidates if c.suite.upper() == previous.suite), chosen)
    suite = SUITES[chosen.suite.upper()]
    local = previous.local if previous is not None and previous.suite == suite.name else _key(material, suite)
    return SrtpKeys(suite.name, chosen.tag, local, chosen.key.key_salt, chosen.key.lifetime, proto)
