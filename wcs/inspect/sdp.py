"""``wcs-inspect sdp [--canonical] FILE…``: check SDP bodies (RFC 8866) and report one JSON line each.

For each file (``-`` is standard input) prints::

    {"file": …, "ok": true, "origin": {username, session_id, session_version, nettype,
     addrtype, address}, "session_name": …, "connection": …, "bandwidth": ["AS:64", …],
     "groups": [["BUNDLE", "0", "1"], …], "ice_lite": bool, "warnings": [...],
     "media": [{"kind", "port", "proto", "direction", "mid", "connection",
                "codecs": [{"pt", "name", "rate", "channels", "fmtp"}],
                "ice": bool, "fingerprint": …|null, "setup": …|null, "rtcp_mux": bool,
                "bandwidth": [...]}]}

``direction`` is the effective one (media level, else session level, legacy
``c=0.0.0.0`` hold folded in); ``warnings`` holds what only the strict parser
rejects (malformed or unknown lines the lenient parser kept).  With ``--canonical``
the canonical (CRLF) SDP is printed instead of the report.  Unparsable input gives
``{"file": …, "ok": false, "status": 400, "error": "line N: …"}``.  Exit status 0 when
every file is valid, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from wcs.inspect import read_input
from wcs.sdp.codecs import media_formats
from wcs.sdp.errors import SdpParseError
from wcs.sdp.model import MediaDescription, SessionDescription
from wcs.sdp.negotiate import effective_direction
from wcs.sdp.parse import parse_sdp

USAGE = "usage: wcs-inspect sdp [--canonical] FILE... (or - for standard input)"


def _media(sd: SessionDescription, md: MediaDescription) -> dict[str, Any]:
    return {
        "kind": md.kind,
        "port": md.port,
        "proto": md.proto,
        "direction": effective_direction(sd, md),
        "mid": md.mid,
        "connection": sd.media_connection_address(md),
        "codecs": [{"pt": f.pt, "name": f.name, "rate": f.clock_rate, "channels": f.channels,
                    "fmtp": f.fmtp or None} for f in media_formats(md)],
        "ice": bool((md.attribute("ice-ufrag") or sd.attribute("ice-ufrag"))
                    and (md.attribute("ice-pwd") or sd.attribute("ice-pwd"))),
        "fingerprint": md.attribute("fingerprint") or sd.attribute("fingerprint"),
        "setup": md.attribute("setup") or sd.attribute("setup"),
        "rtcp_mux": md.has_attribute("rtcp-mux"),
        "bandwidth": md.values("b"),
    }


def inspect_sdp(data: bytes) -> dict[str, Any]:
    """The report for one SDP body (without the ``file`` key)."""
    try:
        sd = parse_sdp(data)
    except SdpParseError as exc:
        return {"ok": False, "status": exc.status_code, "error": exc.reason}
    warnings = []
    try:
        parse_sdp(data, strict=True)
    except SdpParseError as exc:
        warnings.append(exc.reason)
    o = sd.origin
    return {
        "ok": True,
        "origin": {"username": o.username, "session_id": o.session_id, "session_version": o.session_version,
                   "nettype": o.nettype, "addrtype": o.addrtype, "address": o.address},
        "session_name": sd.session_name,
        "connection": sd.connection_address,
        "bandwidth": sd.values("b"),
        "groups": [value.split() for value in sd.attributes("group")],
        "ice_lite": sd.has_attribute("ice-lite"),
        "warnings": warnings,
        "media": [_media(sd, md) for md in sd.media],
    }


def run(argv: Sequence[str]) -> int:
    """Inspect each file named in ``argv``; print one JSON line (or canonical SDP) per file."""
    args = list(argv)
    canonical = "--canonical" in args
    files = [a for a in args if a != "--canonical"]
    if not files or any(a.startswith("--") for a in files):
        print(USAGE, file=sys.stderr)
        return 2
    all_ok = True
    for name in files:
        try:
            data = read_input(name)
        except OSError as exc:
            all_ok = False
            print(json.dumps({"file": name, "ok": False, "status": None,
                              "error": f"cannot read file: {exc.strerror}"}))
            continue
        if canonical:
            try:
                sys.stdout.write(str(parse_sdp(data)))
            except SdpParseError as exc:
                all_ok = False
                print(json.dumps({"file": name, "ok": False, "status": exc.status_code, "error": exc.reason}))
            continue
        report = inspect_sdp(data)
        all_ok = all_ok and bool(report["ok"])
        print(json.dumps({"file": name, **report}))
    return 0 if all_ok else 1
