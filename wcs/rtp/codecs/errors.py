"""Errors of the audio codec layer.

* :class:`CodecError` — a payload from the network could not be decoded (the peer's
  fault); the transcoder counts it and conceals the gap instead of raising.
* :class:`CodecUsageError` — the caller asked for something impossible (an unknown
  codec, a PCM block of the wrong length, an unsupported sample rate).
* :class:`CodecUnavailable` — the codec is known but its native library does not load
  on this host; ``reason`` says why (for the start-up log line).
"""

from __future__ import annotations

from wcs.rtp.errors import RtpError, RtpUsageError

__all__ = ["CodecError", "CodecUnavailable", "CodecUsageError"]


class CodecError(RtpError):
    """A corrupt or undecodable audio payload."""


class CodecUsageError(RtpUsageError):
    """A codec was created or called with arguments it cannot accept."""


class CodecUnavailable(CodecUsageError):
    """The codec's native library is missing or unusable on this host."""

    def __init__(self, codec: str, reason: str) -> None:
        super().__init__(f"{codec} unavailable: {reason}")
        self.codec = codec
        self.reason = reason
