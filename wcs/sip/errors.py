"""Errors of the SIP layer.

:class:`SipParseError` is what the parser raises for anything a peer sent wrong: its
``status_code`` is the response to answer with (400, 505 for an unknown SIP version,
513 for an oversize message, 416 for an unusable URI scheme) and its ``reason`` names
the defect, fit for a reason phrase ("Missing Call-ID header").

:class:`SipUsageError` is raised when code builds something the protocol does not allow
(a header value with a line break, an invalid header name …).
"""

from __future__ import annotations

from wcs.errors import LocalProtocolError, RemoteProtocolError


class SipParseError(RemoteProtocolError):
    """A SIP message, header or URI from the network is malformed.

    ``fatal`` is set by :class:`~wcs.sip.message.StreamParser` when the error broke the
    framing of a stream (the connection must be closed); per-message defects on a stream
    whose framing is intact leave it ``False`` and put the message's bytes in ``data``.
    """

    def __init__(self, reason: str, status_code: int = 400, *, fatal: bool = False,
                 data: bytes | None = None) -> None:
        super().__init__(reason, status_code)
        self.fatal = fatal
        self.data = data


class SipUsageError(LocalProtocolError):
    """The SIP API was used to build something invalid."""
