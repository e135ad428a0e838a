"""``wcs-inspect sip FILE…``: check SIP messages against RFC 3261 and report one JSON line each.

For each file (``-`` is standard input, read as one message) prints::

    {"file": …, "ok": true, "kind": "request"|"response", "method": …, "status": …,
     "request_uri": …, "call_id": …, "cseq": [n, "METHOD"], "vias": n,
     "content_length": n|null, "body_length": n}

(``method`` of a response is its CSeq method; ``status`` is null for requests and
``request_uri`` null for responses) or ``{"file": …, "ok": false, "status": 400,
"error": "<what is wrong>"}``.  Beyond the parser's checks the Contact, Route and
Record-Route lists are parsed.  Exit status 0 when every file is valid, 1 otherwise,
2 on a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from wcs.inspect import read_input
from wcs.sip.errors import SipParseError
from wcs.sip.message import Request, parse_message

USAGE = "usage: wcs-inspect sip FILE... (or - for standard input)"


def inspect_message(data: bytes) -> dict[str, Any]:
    """The report for one message (without the ``file`` key)."""
    try:
        msg = parse_message(data)
        if msg.headers.get("Contact") != "*":  # "Contact: *" un-REGISTERs everything (§10.2.2)
            msg.name_addrs("Contact")
        msg.name_addrs("Route")
        msg.name_addrs("Record-Route")
    except SipParseError as exc:
        return {"ok": False, "status": exc.status_code, "error": exc.reason}
    is_request = isinstance(msg, Request)
    return {
        "ok": True,
        "kind": "request" if is_request else "response",
        "method": msg.method if isinstance(msg, Request) else msg.cseq.method,
        "status": None if isinstance(msg, Request) else msg.status,
        "request_uri": msg.uri if isinstance(msg, Request) else None,
        "call_id": msg.call_id,
        "cseq": [msg.cseq.seq, msg.cseq.method],
        "vias": len(msg.vias),
        "content_length": msg.content_length,
        "body_length": len(msg.body),
    }


def run(argv: Sequence[str]) -> int:
    """Inspect each file named in ``argv``; print one JSON line per file."""
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    all_ok = True
    for name in argv:
        try:
            report = inspect_message(read_input(name))
        except OSError as exc:
            report = {"ok": False, "status": None, "error": f"cannot read file: {exc.strerror}"}
        all_ok = all_ok and bool(report["ok"])
        print(json.dumps({"file": name, **report}))
    return 0 if all_ok else 1
