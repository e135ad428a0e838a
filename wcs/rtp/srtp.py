"""SRTP/SRTCP contexts (RFC 3711, RFC 7714) — the only module that imports pylibsrtp.

A :class:`SrtpSession` holds two libsrtp sessions: one for what we send (any outbound
SSRC) and one for what we receive (any inbound SSRC, with libsrtp's replay window).
It is keyed either from DTLS-SRTP keying material (RFC 5764 §4.2) or from SDES inline
keys (RFC 4568 §6.1, ``key||salt``).

libsrtp failures become :class:`~wcs.rtp.errors.SrtpError` with a short reason; bad
arguments (unknown profile, wrong key length) become
:class:`~wcs.rtp.errors.RtpUsageError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import pylibsrtp

from wcs.rtp.errors import RtpUsageError, SrtpError

__all__ = ["PROFILES", "SrtpProfile", "SrtpSession"]

Buffer: TypeAlias = bytes | bytearray | memoryview


class SrtpProfile(NamedTuple):
    """Master key and salt lengths (octets) and auth-tag length of a protection profile."""

    name: str
    key_length: int
    salt_length: int
    tag_length: int
    libsrtp_id: int


def _profile(name: str, key: int, salt: int, tag: int, attr: str) -> SrtpProfile:
    return SrtpProfile(name, key, salt, tag, int(getattr(pylibsrtp.Policy, attr)))


#: DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2) as OpenSSL spells them.
PROFILES: dict[str, SrtpProfile] = {
    p.name: p
    for p in (
        _profile("SRTP_AES128_CM_SHA1_80", 16, 14, 10, "SRTP_PROFILE_AES128_CM_SHA1_80"),
        _profile("SRTP_AES128_CM_SHA1_32", 16, 14, 4, "SRTP_PROFILE_AES128_CM_SHA1_32"),
        _profile("SRTP_AEAD_AES_128_GCM", 16, 12, 16, "SRTP_PROFILE_AEAD_AES_128_GCM"),
        _profile("SRTP_AEAD_AES_256_GCM", 32, 12, 16, "SRTP_PROFILE_AEAD_AES_256_GCM"),
    )
}

# libsrtp's error strings (as pylibsrtp reports them) → our reasons.
_REASONS = {
    "authentication failure": "SRTP authentication failed",
    "replay check failed (bad index)": "SRTP replayed packet",
    "replay check failed (index too old)": "SRTP packet too old for the replay window",
    "packet index is too old to consider": "SRTP packet too old for the replay window",
    "unsupported parameter": "SRTP malformed packet",
    "error parsing data": "SRTP malformed packet",
    "cipher failure": "SRTP cipher failure",
}


def _lookup(profile: str) -> SrtpProfile:
    try:
        return PROFILES[profile]
    except KeyError:
        raise RtpUsageError(f"unknown SRTP profile {profile!r}") from None


class SrtpSession:
    """One direction pair of SRTP/SRTCP contexts for a media transport.

    ``protect``/``protect_rtcp`` encrypt what we send; ``unprotect``/``unprotect_rtcp``
    authenticate and decrypt what we receive, rejecting replays (RFC 3711 §3.3.2).
    Repeated transmission of the same sequence number is allowed on the sending side
    (retransmissions, as libwebrtc does).
    """

    __slots__ = ("profile", "_tx", "_rx")

    def __init__(self, profile: str, tx_key_salt: bytes, rx_key_salt: bytes) -> None:
        info = _lookup(profile)
        want = info.key_length + info.salt_length
        for label, key in (("tx", tx_key_salt), ("rx", rx_key_salt)):
            if len(key) != want:
                raise RtpUsageError(
                    f"{profile} {label} key||salt must be {want} octets, got {len(key)}"
                )
        self.profile = profile
        tx_policy = pylibsrtp.Policy(
            key=bytes(tx_key_salt),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=info.libsrtp_id,
        )
        tx_policy.allow_repeat_tx = True
        rx_policy = pylibsrtp.Policy(
            key=bytes(rx_key_salt),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=info.libsrtp_id,
        )
        self._tx = pylibsrtp.Session(tx_policy)
        self._rx = pylibsrtp.Session(rx_policy)

    @classmethod
    def from_dtls(cls, profile: str, keying_material: bytes, is_server: bool) -> SrtpSession:
        """Key from the DTLS exporter output (label "EXTRACTOR-dtls_srtp").

        RFC 5764 §4.2: the material is client_write_key | server_write_key |
        client_write_salt | server_write_salt; each side sends with its own write key.
        """
        info = _lookup(profile)
        k, s = info.key_length, info.salt_length
        if len(keying_material) != 2 * (k + s):
            raise RtpUsageError(
                f"{profile} keying material must be {2 * (k + s)} octets, got {len(keying_material)}"
            )
        km = bytes(keying_material)
        client = km[0:k] + km[2 * k : 2 * k + s]
        server = km[k : 2 * k] + km[2 * k + s :]
        if is_server:
            return cls(profile, server, client)
        return cls(profile, client, server)

    @classmethod
    def from_keys(cls, profile: str, tx_key_salt: bytes, rx_key_salt: bytes) -> SrtpSession:
        """Key from SDES (RFC 4568 §6.1 inline ``key||salt``, base64-decoded by the caller)."""
        return cls(profile, tx_key_salt, rx_key_salt)

    def protect(self, rtp: Buffer) -> bytes:
        """Encrypt and authenticate an outgoing RTP packet."""
        return _run(self._tx.protect, rtp)

    def unprotect(self, srtp: Buffer) -> bytes:
        """Authenticate, replay-check and decrypt an incoming SRTP packet."""
        return _run(self._rx.unprotect, srtp)

    def protect_rtcp(self, rtcp: Buffer) -> bytes:
        """Encrypt and authenticate an outgoing (compound) RTCP packet."""
        return _run(self._tx.protect_rtcp, rtcp)

    def unprotect_rtcp(self, srtcp: Buffer) -> bytes:
        """Authenticate, replay-check and decrypt an incoming SRTCP packet."""
        return _run(self._rx.unprotect_rtcp, srtcp)


def _run(func: Callable[[bytes], bytes], data: Buffer) -> bytes:
    if type(data) is not bytes:
        data = bytes(data)
    try:
        out = func(data)
    except pylibsrtp.Error as exc:
        msg = str(exc)
        raise SrtpError(_REASONS.get(msg, f"SRTP error: {msg}")) from None
    except ValueError:
        # pylibsrtp's fixed 1500-octet working buffer
        raise SrtpError("SRTP packet too long") from None
    return out
