"""Error hierarchy shared by every layer.

Following h11, errors say who is at fault:

* :class:`LocalProtocolError` — the caller misused the library (a bug on our side).
* :class:`RemoteProtocolError` — the peer sent something invalid.  It carries the
  status code a protocol that can answer should answer with (SIP 400, 488, 513 …) and
  a short reason that names the defect, fit to be used as a reason phrase.

Each layer subclasses these (``SipParseError``, ``SdpError``, ``StunError`` …) so that
callers can catch one layer's problems without swallowing another's.
"""

from __future__ import annotations


class WcsError(Exception):
    """Base class of every error raised by wcs."""


class LocalProtocolError(WcsError):
    """The library was used in a way the protocol does not allow."""


class RemoteProtocolError(WcsError):
    """The remote peer violated the protocol.

    ``status_code`` is the response a protocol with responses should send back (SIP
    uses it directly); ``reason`` is a one-line description naming the defect.
    """

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
