"""Test helpers: what a browser's ICE agent sends to an ICE-lite peer."""

from __future__ import annotations

from wcs.webrtc import stun
from wcs.webrtc.stun import StunMessage, parse_message

TIEBREAKER = 0x1234_5678_9ABC_DEF0


def binding_request(username: str, password: str, *, tid: bytes = b"\x01" * 12, use_candidate: bool = False,
                    controlling: bool = True, priority: int | None = 1853824767,
                    fingerprint: bool = True, integrity: bool = True) -> bytes:
    """A Binding request as Chrome sends it (RFC 8445 §7.2.2)."""
    request = StunMessage(stun.BINDING, stun.REQUEST, tid)
    request.add_text(stun.USERNAME, username)
    request.add(0xC057, b"\x00\x01\x00\x0a")  # GOOG-NETWORK-INFO, comprehension-optional
    request.add_uint64(stun.ICE_CONTROLLING if controlling else stun.ICE_CONTROLLED, TIEBREAKER)
    if use_candidate:
        request.add(stun.USE_CANDIDATE, b"")
    if priority is not None:
        request.add_uint32(stun.PRIORITY, priority)
    return request.encode(password.encode() if integrity else None, fingerprint=fingerprint)


def check_response(data: bytes, password: str | None) -> StunMessage:
    """Parse a response and verify its integrity when ``password`` is given."""
    response = parse_message(data)
    assert response.has_fingerprint
    if password is not None:
        assert response.check_integrity(password.encode())
    else:
        assert response.integrity is None
    return response
