"""pyVoIP (PyPI ``pyVoIP``): ``pyVoIP.SIP.SIPMessage``.

``SIPMessage(data)`` parses the head and the SDP body eagerly into dicts.  It has no
serializer (pyVoIP builds its outgoing messages from string templates), so
``serialize`` is not available.
"""

from __future__ import annotations

from typing import Any

import pyVoIP.VoIP  # noqa: F401  (importing pyVoIP.SIP first hits a circular import)
from pyVoIP.SIP import SIPMessage


class PyVoIPAdapter:
    name = "pyVoIP"
    serialize = None  # no serializer in the library

    def parse(self, data: bytes) -> Any:
        return SIPMessage(data)

    def access(self, message: Any) -> tuple[Any, ...]:
        headers = message.headers
        cseq = headers["CSeq"]
        return (headers["Call-ID"], int(cseq["check"]), cseq["method"],
                headers["Via"][0].get("branch"), headers["From"]["tag"])
