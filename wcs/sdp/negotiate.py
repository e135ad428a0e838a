"""Offer/answer rules (RFC 3264, RFC 6337) that do not depend on WebRTC.

Directions are always read from the point of view of the party that wrote the
description: ``sendonly`` in an offer means "the offerer sends, the answerer
receives".  RFC 3264 §6.1: the answer to ``sendonly`` is ``recvonly`` or
``inactive``, to ``recvonly`` ``sendonly`` or ``inactive``, to ``inactive``
``inactive``, and to ``sendrecv`` anything.

Hold (RFC 3264 §8.4, RFC 6337 §5): a party on hold offers ``sendonly`` (or
``inactive``).  The legacy RFC 2543 form, ``c=IN IP4 0.0.0.0``, means "do not send
to me"; :func:`effective_direction` folds it into the direction by removing the
receive half (except for ICE descriptions, where 0.0.0.0 with port 9 is only the
default-candidate placeholder of RFC 8839 §4.2).

Versions (RFC 3264 §8): a re-offer or re-answer keeps the ``o=`` username and
session id; its version is one higher when anything changed and equal when the
body is the same.  :class:`VersionedOrigin` stamps our SDP that way and
:func:`remote_changed` tells whether a peer's new SDP changed anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from wcs.sdp.errors import SdpUsageError
from wcs.sdp.model import DIRECTIONS, MediaDescription, Origin, SessionDescription

_SENDS = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_RECVS = {"sendrecv": True, "sendonly": False, "recvonly": True, "inactive": False}


def _check(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise SdpUsageError(f"not an SDP direction: {direction!r}")


def make_direction(sends: bool, receives: bool) -> str:
    return ("sendrecv" if receives else "sendonly") if sends else ("recvonly" if receives else "inactive")


def sends(direction: str) -> bool:
    _check(direction)
    return _SENDS[direction]


def receives(direction: str) -> bool:
    _check(direction)
    return _RECVS[direction]


def reverse_direction(direction: str) -> str:
    """The same stream seen from the other end: sendonly ⇄ recvonly."""
    return make_direction(receives(direction), sends(direction))


def intersect_directions(a: str, b: str) -> str:
    """What both allow, from one point of view (sendrecv ∩ recvonly = recvonly)."""
    return make_direction(sends(a) and sends(b), receives(a) and receives(b))


def answer_direction(offered: str, wanted: str = "sendrecv") -> str:
    """RFC 3264 §6.1: the answerer's direction given the offer and its own wish."""
    return intersect_directions(reverse_direction(offered), wanted)


def is_ice(sd: SessionDescription, md: MediaDescription) -> bool:
    """True for a description carrying ICE credentials (RFC 8839 §5.4)."""
    return md.has_attribute("ice-ufrag") or sd.has_attribute("ice-ufrag")


def is_unspecified(address: str | None) -> bool:
    return address in ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")


def effective_direction(sd: SessionDescription, md: MediaDescription) -> str:
    """``md``'s direction (media, else session level), with legacy c=0.0.0.0 hold applied."""
    direction = sd.media_direction(md)
    if not is_ice(sd, md) and is_unspecified(sd.media_connection_address(md)):
        return intersect_directions(direction, "sendonly")
    return direction


def is_hold(sd: SessionDescription, md: MediaDescription) -> bool:
    """The writer of ``sd`` does not want to receive on ``md`` (hold, RFC 6337 §5)."""
    return not md.rejected and not receives(effective_direction(sd, md))


@dataclass
class VersionedOrigin:
    """Our ``o=`` across a session: same id, version +1 whenever the body changes."""

    username: str
    session_id: str
    address: str
    version: int = 1
    _last_body: str | None = None

    @classmethod
    def adopt(cls, sd: SessionDescription) -> VersionedOrigin:
        """Continue the numbering of an SDP we already sent (e.g. the initial offer)."""
        o = sd.origin
        return cls(o.username, o.session_id, o.address, o.session_version, _body(sd))

    def stamp(self, sd: SessionDescription) -> SessionDescription:
        """Set ``sd.origin`` (in place, returned) bumping the version if the body changed."""
        addrtype = "IP6" if ":" in self.address else "IP4"
        body = _body(sd)
        if self._last_body is not None and body != self._last_body:
            self.version += 1
        self._last_body = body
        sd.origin = Origin(self.username, self.session_id, self.version, "IN", addrtype, self.address)
        return sd


def _body(sd: SessionDescription) -> str:
    """Everything but v= and o=: what decides whether the version must change."""
    return str(sd).split("\r\n", 2)[2]


def remote_changed(previous: SessionDescription | None, new: SessionDescription) -> bool:
    """Whether ``new`` may differ from ``previous`` (RFC 3264 §8).

    Same username, session id and version means the peer re-sent the same SDP
    (e.g. a session refresh); anything else is a change to process.
    """
    if previous is None:
        return True
    a, b = previous.origin, new.origin
    same_session = (a.username, a.session_id, a.nettype, a.addrtype, a.address) == (
        b.username, b.session_id, b.nettype, b.addrtype, b.address)
    return not (same_session and a.session_version == b.session_version)
