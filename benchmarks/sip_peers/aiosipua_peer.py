"""aiosipua (PyPI ``aiosipua``, "Asyncio SIP micro-library"): ``aiosipua.SipMessage.parse``.

``SipMessage.parse(bytes)`` splits the head into a case-insensitive multimap (list
headers such as Allow are split per element) and keeps the body as bytes; Via, From and
CSeq are parsed on access.  Only the top Via is parsed here (``msg.via`` would parse
them all).  ``bytes(message)`` serializes.
"""

from __future__ import annotations

from typing import Any

from aiosipua import SipMessage
from aiosipua.header_codec import parse_address, parse_cseq, parse_via


class AiosipuaAdapter:
    name = "aiosipua"

    def parse(self, data: bytes) -> Any:
        return SipMessage.parse(data)

    def access(self, message: Any) -> tuple[Any, ...]:
        headers = message.headers
        cseq = parse_cseq(headers.get_first("cseq"))
        return (headers.get_first("call-id"), cseq.seq, cseq.method,
                parse_via(headers.get_first("via")).branch,
                parse_address(headers.get_first("from")).tag)

    def serialize(self, message: Any) -> bytes:
        return bytes(message)
