"""SDES-SRTP on the SIP leg of the translations (RFC 4568 with RFC 3264 offer/answer).

Theory of operation
-------------------
The ``sip_srtp`` setting (:data:`~wcs.sdp.crypto.MODES`, carried in
``SipTransport.srtp``) decides what the SIP side of a call looks like; the browser leg is
DTLS-SRTP whatever it says, and the relay decrypts and re-encrypts between the two.

* ``off`` — plain ``RTP/AVP``; ``RTP/SAVP`` offers are not translated (their m-lines are
  refused); a=crypto lines in an ``RTP/AVP`` offer are ignored.
* ``optional`` — we offer ``RTP/AVP`` *with* a=crypto lines ("best effort SRTP", what
  baresip's ``mediaenc=srtp``, Asterisk, FreeSWITCH and Polycom phones do): a peer that
  knows SDES answers with a=crypto and the stream is SRTP; one that does not ignores the
  attribute (RFC 8866 §5.13) and the stream stays plain RTP.  RFC 5939 capability
  negotiation would be the standard way to offer both, but few SIP devices implement it.
  Incoming ``RTP/SAVP`` offers, and ``RTP/AVP`` offers with usable a=crypto lines, are
  answered with SRTP; plain ``RTP/AVP`` offers with plain RTP.
* ``mandatory`` — we offer ``RTP/SAVP`` with a=crypto lines; an answer without a usable
  crypto line leaves the stream refused.  Incoming offers must carry a usable crypto line
  (``RTP/SAVP``, or ``RTP/AVP`` with a=crypto), other streams are refused.

Keys: ``SipTransport.srtp_keys[index]`` holds fresh random material for m-line ``index``
(drawn from the injected entropy by the media plane): one entry per offered suite, the
first also for answers.  The negotiated :class:`~wcs.sdp.crypto.SrtpKeys` goes into
``StreamPlan.sip_srtp``, from which the relay keys the SIP leg's SRTP context.  In a
renegotiation our key stays the same while the suite does (RFC 4568 §7.1.4 allows it;
our address and port never change), so our sending context continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from wcs.sdp.crypto import (
    MODES,
    OFFERED_SUITES,
    CryptoError,
    SrtpKeys,
    answer_crypto,
    first_usable,
    keys_from_answer,
    offer_crypto,
)
from wcs.sdp.errors import SdpUsageError
from wcs.sdp.model import Line, MediaDescription
from wcs.sdp.plan import SipTransport, StreamPlan

__all__ = ["SECURE_PROTOS", "answer_lines", "check_mode", "offer_lines", "offer_proto", "plain_or_secure",
           "rekeyed", "reoffer_lines", "translatable", "with_answer_keys"]

#: the SDES transports (RFC 3711 §12, RFC 5124)
SECURE_PROTOS = ("RTP/SAVP", "RTP/SAVPF")
_PLAIN = ("RTP/AVP", "RTP/AVPF")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise SdpUsageError(f"sip_srtp must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def offer_proto(sip: SipTransport) -> str:
    """The transport of our SIP offer's m-lines."""
    return "RTP/SAVP" if check_mode(sip.srtp) == "mandatory" else "RTP/AVP"


def _materials(sip: SipTransport, index: int) -> Sequence[bytes]:
    materials = sip.srtp_keys.get(index)
    if not materials:
        raise SdpUsageError(f"sip_srtp={sip.srtp} but no SRTP key material for m-line {index}")
    return materials


def offer_lines(sip: SipTransport, index: int) -> list[Line]:
    """Our offer's a=crypto lines for m-line ``index`` (none with ``off``)."""
    if check_mode(sip.srtp) == "off":
        return []
    return [("a", f"crypto:{c}") for c in offer_crypto(_materials(sip, index), OFFERED_SUITES)]


def with_answer_keys(plan: StreamPlan, offered: MediaDescription | None,
                     answer: MediaDescription | None) -> StreamPlan | None:
    """``plan`` keyed from the SIP answer to our offer (outgoing call); None: refuse the stream.

    Our offer's a=crypto lines say whether we asked for SRTP and how strongly (RTP/SAVP:
    mandatory).  An answer without a=crypto is plain RTP where we offered RTP/AVP; a bad
    crypto answer fails the stream (RFC 4568 §5.1.3).
    """
    if not plan.accepted or offered is None or answer is None:
        return plan
    ours = offered.attributes("crypto")
    if not ours:
        return plan
    try:
        keys = keys_from_answer(ours, answer.attributes("crypto"), offered.proto)
    except CryptoError:
        return None
    if keys is None and offered.proto.upper() in SECURE_PROTOS:
        return None
    return replace(plan, sip_srtp=keys)


def translatable(md: MediaDescription, mode: str) -> bool:
    """May an incoming SIP m-line be offered to the browser under ``mode``?"""
    proto = md.proto.upper()
    if check_mode(mode) == "off" or proto not in SECURE_PROTOS + _PLAIN:
        return proto in _PLAIN
    if proto in SECURE_PROTOS or mode == "mandatory":
        return first_usable(md.attributes("crypto")) is not None
    return True


def plain_or_secure(offer: MediaDescription, sip: SipTransport, index: int,
                    previous: SrtpKeys | None = None) -> SrtpKeys | None:
    """The keys with which we answer an incoming (re-)offer's m-line; None: plain RTP.

    Raises :class:`CryptoError` when the stream must be refused: SDES required (RTP/SAVP,
    or ``mandatory``) but no usable crypto line, or RTP/SAVP under ``off``.
    """
    mode = check_mode(sip.srtp)
    proto = offer.proto.upper()
    secure = proto in SECURE_PROTOS
    if mode == "off":
        if secure:
            raise CryptoError("SRTP (RTP/SAVP) refused: sip_srtp is off")
        return None
    offered = offer.attributes("crypto")
    keys = answer_crypto(offered, _materials(sip, index)[0], offer.proto, previous) if offered else None
    if keys is None and (secure or mode == "mandatory"):
        raise CryptoError("No usable crypto attribute" if offered else "SRTP required: no crypto attribute")
    return keys


def answer_lines(keys: SrtpKeys | None) -> list[Line]:
    """Our answer's a=crypto line for negotiated ``keys`` (none for plain RTP)."""
    return [] if keys is None else [("a", f"crypto:{keys.local_crypto()}")]


def reoffer_lines(plan: StreamPlan) -> tuple[str, list[Line]]:
    """Proto and a=crypto line of our re-offer for an established stream (same suite and key)."""
    keys = plan.sip_srtp
    if keys is None:
        return "RTP/AVP", []
    return keys.proto, answer_lines(keys)


def rekeyed(plan: StreamPlan, answer: MediaDescription) -> SrtpKeys | None:
    """The keys after the peer's answer to our re-offer of an established stream.

    The answer echoes our tag and suite with its (possibly new) key; one without a=crypto
    keeps the current keys on RTP/AVP (a peer that dropped best-effort SRTP would be
    unreadable either way) and fails an RTP/SAVP stream: :class:`CryptoError`.
    """
    keys = plan.sip_srtp
    if keys is None:
        return None
    answered = answer.attributes("crypto")
    if not answered:
        if keys.proto.upper() in SECURE_PROTOS:
            raise CryptoError("SRTP stream answered without crypto")
        return keys
    again = keys_from_answer([str(keys.local_crypto())], answered, keys.proto)
    return again if again is not None else keys
