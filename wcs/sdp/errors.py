"""Errors of the SDP layer.

Bad SDP from a peer raises an :class:`SdpError` subclass whose ``reason`` names the
defect (with the 1-based line number for syntax errors) and whose ``status_code`` is
the SIP response to send: 400 for unparsable bodies, 488 (Not Acceptable Here) for
well-formed SDP we cannot accept.  Misuse by the caller raises :class:`SdpUsageError`.
"""

from __future__ import annotations

from wcs.errors import LocalProtocolError, RemoteProtocolError


class SdpError(RemoteProtocolError):
    """SDP from the peer that cannot be accepted (default status 488)."""

    def __init__(self, reason: str, status_code: int = 488) -> None:
        super().__init__(reason, status_code)


class SdpParseError(SdpError):
    """SDP that does not parse (RFC 8866 §5/§9 grammar); status 400."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason, status_code)


class NoCommonCodec(SdpError):
    """Offer/answer left no usable media stream (RFC 3264 §6); status 488."""

    def __init__(self, reason: str = "No common codecs", status_code: int = 488) -> None:
        super().__init__(reason, status_code)


class SdpUsageError(LocalProtocolError):
    """The SDP layer was called with arguments it cannot accept."""
