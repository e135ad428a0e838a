"""SRTP/SRTCP contexts (RFC 3711, RFC 7714) — the only module that imports pylibsrtp.

A :class:`SrtpSession` holds two libsrtp sessions: one for what we send (any outbound
SSRC) and one for what we receive (any inbound SSRC, with libsrtp's replay window).
It is keyed either from DTLS-SRTP keying material (RFC 5764 §4.2) or from SDES inline
keys (RFC 4568 §6.1, ``key||salt``).

libsrtp failures become :class:`~wcs.rtp.errors.SrtpError` with a short reason; bad
arguments (unknown profile, wrong key length) become
:class:`~wcs.rtp.errors.RtpUsageError`.

Per-packet path
---------------
Every relayed packet is protected or unprotected once, so this is on the relay's hot path.
libsrtp is called through pylibsrtp's cffi binding (``pylibsrtp._binding``: libsrtp's own C
API, ``srtp_create``/``srtp_protect``/…) rather than through ``pylibsrtp.Session``, whose
wrapper allocates an ``int *`` and type-checks on every call (~0.6 µs of a ~1.5 µs
protect).  Each direction owns one working buffer and one ``int *`` allocated here, once:
the packet is copied in, transformed in place by libsrtp, and copied out as ``bytes``.  The
buffer is as large as pylibsrtp's (1500 octets, with room for the longest trailer libsrtp
may append), so the size limits are unchanged.  A session is not thread-safe (cffi releases
the GIL during the call); one direction per thread at a time, as with pylibsrtp.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

import pylibsrtp
from pylibsrtp._binding import ffi, lib

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

# libsrtp's error strings (as pylibsrtp names the srtp_err_status_t codes) → our reasons.
_REASONS = {
    "authentication failure": "SRTP authentication failed",
    "replay check failed (bad index)": "SRTP replayed packet",
    "replay check failed (index too old)": "SRTP packet too old for the replay window",
    "packet index is too old to consider": "SRTP packet too old for the replay window",
    "unsupported parameter": "SRTP malformed packet",
    "error parsing data": "SRTP malformed packet",
    "cipher failure": "SRTP cipher failure",
}
#: srtp_err_status_t code → reason
_BY_CODE = [_REASONS.get(text, f"SRTP error: {text}") for text in pylibsrtp.ERRORS]

#: octets of each direction's working buffer (pylibsrtp's size, so the same packets fit)
_BUFFER = 1500
#: room libsrtp may need after an RTP / RTCP packet it protects (tag + MKI; + SRTCP index)
_RTP_TRAILER = 16 + 128
_RTCP_TRAILER = 4 + 16 + 128
_TOO_LONG = "SRTP packet too long"

_protect = lib.srtp_protect
_unprotect = lib.srtp_unprotect
_protect_rtcp = lib.srtp_protect_rtcp
_unprotect_rtcp = lib.srtp_unprotect_rtcp


def _reason(status: int) -> str:
    return _BY_CODE[status] if 0 <= status < len(_BY_CODE) else f"SRTP error: status {status}"


def _check(status: int) -> None:
    if status != lib.srtp_err_status_ok:
        raise SrtpError(_reason(status))


def _lookup(profile: str) -> SrtpProfile:
    try:
        return PROFILES[profile]
    except KeyError:
        raise RtpUsageError(f"unknown SRTP profile {profile!r}") from None


def _dealloc(holder: Any) -> None:
    lib.srtp_dealloc(holder[0])


def _create(key: bytes, ssrc_type: int, profile_id: int, allow_repeat_tx: bool) -> tuple[Any, Any]:
    """A libsrtp session for one direction: (srtp_t, the owner that deallocates it)."""
    policy = ffi.new("srtp_policy_t *")
    _check(lib.srtp_crypto_policy_set_from_profile_for_rtp(ffi.addressof(policy.rtp), profile_id))
    _check(lib.srtp_crypto_policy_set_from_profile_for_rtcp(ffi.addressof(policy.rtcp), profile_id))
    key_data = ffi.new("unsigned char[]", key)   # read by srtp_create only (it derives the session keys)
    policy.key = key_data
    policy.ssrc.type = ssrc_type
    policy.allow_repeat_tx = 1 if allow_repeat_tx else 0
    holder = ffi.new("srtp_t *")
    _check(lib.srtp_create(holder, policy))
    owner = ffi.gc(holder, _dealloc)
    return owner[0], owner


class SrtpSession:
    """One direction pair of SRTP/SRTCP contexts for a media transport.

    ``protect``/``protect_rtcp`` encrypt what we send; ``unprotect``/``unprotect_rtcp``
    authenticate and decrypt what we receive, rejecting replays (RFC 3711 §3.3.2).
    Repeated transmission of the same sequence number is allowed on the sending side
    (retransmissions, as libwebrtc does).
    """

    __slots__ = ("_tx", "_tx_buf", "_tx_view", "_tx_len", "_rx", "_rx_buf", "_rx_view", "_rx_len",
                 "profile", "_owners")

    def __init__(self, profile: str, tx_key_salt: bytes, rx_key_salt: bytes) -> None:
        info = _lookup(profile)
        want = info.key_length + info.salt_length
        for label, key in (("tx", tx_key_salt), ("rx", rx_key_salt)):
            if len(key) != want:
                raise RtpUsageError(
                    f"{profile} {label} key||salt must be {want} octets, got {len(key)}"
                )
        self.profile = profile
        self._tx, tx_owner = _create(bytes(tx_key_salt), lib.ssrc_any_outbound, info.libsrtp_id, True)
        self._rx, rx_owner = _create(bytes(rx_key_salt), lib.ssrc_any_inbound, info.libsrtp_id, False)
        self._owners = (tx_owner, rx_owner)
        # one working buffer and length cell per direction, reused by every packet
        self._tx_buf = ffi.new("unsigned char[]", _BUFFER)
        self._tx_view = ffi.buffer(self._tx_buf)
        self._tx_len = ffi.new("int *")
        self._rx_buf = ffi.new("unsigned char[]", _BUFFER)
        self._rx_view = ffi.buffer(self._rx_buf)
        self._rx_len = ffi.new("int *")

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

    # The four methods below are the per-packet path: one copy in, libsrtp in place, one copy
    # out; deliberately unrolled (no shared helper: a Python call is a sizeable share of it).

    def protect(self, rtp: Buffer) -> bytes:
        """Encrypt and authenticate an outgoing RTP packet."""
        size = len(rtp)
        if size > _BUFFER - _RTP_TRAILER:
            raise SrtpError(_TOO_LONG)
        view, length = self._tx_view, self._tx_len
        view[0:size] = rtp
        length[0] = size
        status = _protect(self._tx, self._tx_buf, length)
        if status:
            raise SrtpError(_reason(status))
        out: bytes = view[0:length[0]]
        return out

    def unprotect(self, srtp: Buffer) -> bytes:
        """Authenticate, replay-check and decrypt an incoming SRTP packet."""
        size = len(srtp)
        if size > _BUFFER:
            raise SrtpError(_TOO_LONG)
        view, length = self._rx_view, self._rx_len
        view[0:size] = srtp
        length[0] = size
        status = _unprotect(self._rx, self._rx_buf, length)
        if status:
            raise SrtpError(_reason(status))
        out: bytes = view[0:length[0]]
        return out

    def protect_rtcp(self, rtcp: Buffer) -> bytes:
        """Encrypt and authenticate an outgoing (compound) RTCP packet."""
        size = len(rtcp)
        if size > _BUFFER - _RTCP_TRAILER:
            raise SrtpError(_TOO_LONG)
        view, length = self._tx_view, self._tx_len
        view[0:size] = rtcp
        length[0] = size
        status = _protect_rtcp(self._tx, self._tx_buf, length)
        if status:
            raise SrtpError(_reason(status))
        out: bytes = view[0:length[0]]
        return out

    def unprotect_rtcp(self, srtcp: Buffer) -> bytes:
        """Authenticate, replay-check and decrypt an incoming SRTCP packet."""
        size = len(srtcp)
        if size > _BUFFER:
            raise SrtpError(_TOO_LONG)
        view, length = self._rx_view, self._rx_len
        view[0:size] = srtcp
        length[0] = size
        status = _unprotect_rtcp(self._rx, self._rx_buf, length)
        if status:
            raise SrtpError(_reason(status))
        out: bytes = view[0:length[0]]
        return out
