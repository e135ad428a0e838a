"""Errors of the video payload layer (RFC 7741 VP8, RFC 6184 H.264, the av codec boundary).

Malformed payloads from the network raise a :class:`VideoError` subclass (a
:class:`~wcs.rtp.errors.RtpError`, hence a ``RemoteProtocolError``); depacketizers count
and drop such packets rather than raise.  A request the caller cannot have us fulfil
(a NAL unit too large for packetization-mode 0, an unknown codec name) raises
:class:`VideoUsageError`.
"""

from __future__ import annotations

from wcs.rtp.errors import RtpError, RtpUsageError


class VideoError(RtpError):
    """A malformed video RTP payload or an undecodable frame."""


class Vp8Error(VideoError):
    """A malformed VP8 payload descriptor or frame (RFC 7741 §4)."""


class H264Error(VideoError):
    """A malformed H.264 RTP payload, NAL unit or parameter set (RFC 6184 §5)."""


class DecodeError(VideoError):
    """The decoder rejected a depacketized frame (corrupt or undecodable bitstream)."""


class VideoUsageError(RtpUsageError):
    """The video layer was asked for something it cannot do."""


class NalUnitTooLarge(VideoUsageError):
    """A NAL unit does not fit one packet and the packetization mode forbids FU-A (RFC 6184 §6.2)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"NAL unit of {size} octets exceeds {limit}; packetization-mode 0 cannot fragment")
        self.size = size
        self.limit = limit
