"""Errors of the RTP layer (RTP, RTCP, SRTP, RFC 4733 events).

Bad input from the network raises a :class:`RtpError` subclass whose ``reason`` names
the defect; the media relay counts and drops such packets.  Misuse by the caller
(an unknown SRTP profile, a key of the wrong length) raises :class:`RtpUsageError`.
"""

from __future__ import annotations

from wcs.errors import LocalProtocolError, RemoteProtocolError


class RtpError(RemoteProtocolError):
    """A malformed RTP packet (RFC 3550 §5.1)."""


class RtcpError(RtpError):
    """A malformed RTCP packet or compound packet (RFC 3550 §6)."""


class SrtpError(RtpError):
    """SRTP/SRTCP processing failed: authentication failure, replay, malformed packet."""


class DtmfError(RtpError):
    """A malformed RFC 4733 telephone-event payload."""


class RtpUsageError(LocalProtocolError):
    """The RTP layer was called with arguments it cannot accept."""
