"""sippy (PyPI ``sippy``, the Sippy B2BUA's RFC 3261 stack): ``sippy.SipRequest`` / ``SipResponse``.

sippy parses text, not bytes: its transaction manager decodes each datagram with
``data.decode()`` before building the message, so the adapter does the same.  Header
bodies are parsed on first ``getHFBody``; the SDP body is kept as text until used.
"""

from __future__ import annotations

from typing import Any

from sippy.SipRequest import SipRequest
from sippy.SipResponse import SipResponse


class SippyAdapter:
    name = "sippy"

    def parse(self, data: bytes) -> Any:
        text = data.decode()
        if text.startswith("SIP/2.0 "):
            return SipResponse(text)
        return SipRequest(text)

    def access(self, message: Any) -> tuple[Any, ...]:
        seq, method = message.getHFBody("cseq").getCSeq()
        return (str(message.getHFBody("call-id")), seq, method,
                message.getHFBody("via").getBranch(), message.getHFBody("from").getTag())

    def serialize(self, message: Any) -> bytes:
        return str(message).encode()
