"""Errors of the WebRTC transport layer (STUN, ICE-lite, DTLS-SRTP, fingerprints).

Bad input from the network raises a :class:`WebRtcError` subclass whose ``reason``
names the defect (the endpoint counts and drops such packets, or fails the transport
with that reason).  Misuse by the caller raises :class:`WebRtcUsageError`.
"""

from __future__ import annotations

from wcs.errors import LocalProtocolError, RemoteProtocolError


class WebRtcError(RemoteProtocolError):
    """The WebRTC peer sent something this layer cannot accept."""


class StunError(WebRtcError):
    """A malformed STUN message (RFC 5389 §6, §15) or a request we must not answer."""


class DtlsError(WebRtcError):
    """The DTLS handshake or record layer failed, or the peer certificate is not the signalled one."""


class FingerprintError(WebRtcError):
    """An ``a=fingerprint`` value (RFC 8122 §5) that cannot be parsed."""


class WebRtcUsageError(LocalProtocolError):
    """The WebRTC layer was called in a way it does not allow."""
