"""INFO inside a session (RFC 6086) and the DTMF bodies it usually carries.

An INFO we send goes in the session's dialog with the owner's Content-Type and body
(and ``Info-Package`` when given; without one it is the "legacy" usage RFC 6086 §2
keeps allowed, as SIP INFO DTMF and ``picture_fast_update`` are).  An INFO from the
peer is answered 200 and reported (InfoReceived) whatever its package; the owner reads
the body (:func:`parse_dtmf` for ``application/dtmf-relay`` and ``application/dtmf``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wcs.errors import LocalProtocolError
from wcs.sip.dialog import TERMINATED
from wcs.sip.errors import SipParseError
from wcs.sip.events import InfoReceived
from wcs.sip.message import Request, make_response
from wcs.sip.requester import ClientRequest, OutgoingRequest, in_dialog, reporter
from wcs.sip.transaction import ServerTransaction
from wcs.sip.uacore import UaCore

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"
#: RFC 4733 §3.2 event codes 0-15 as characters
DTMF_EVENTS = "0123456789*#ABCD"


def send_info(core: UaCore, session: InviteSession, handle: OutgoingRequest, content_type: str, body: bytes,
              now: float, info_package: str | None = None) -> None:
    dialog = session.dialog
    if session.ended or dialog is None or dialog.state == TERMINATED:
        raise LocalProtocolError("an INFO needs a call with a dialog")
    headers = [("Content-Type", content_type)] if body or content_type else []
    if info_package is not None:
        headers.append(("Info-Package", info_package))
    build = in_dialog(core, session, "INFO", headers, body)
    ClientRequest(core, build, session._digest, reporter(core, handle)).send(now)


def on_info(core: UaCore, session: InviteSession, request: Request, txn: ServerTransaction,
            now: float) -> None:
    core.layer.respond(txn, make_response(request, 200), now)
    package = request.headers.get("Info-Package")
    core.emit(InfoReceived(session, request.content_type or "", request.body,
                           package.strip() if package else None, request))


def dtmf_relay_body(digit: str, duration_ms: int = 160) -> bytes:
    """``Signal=5\\r\\nDuration=160\\r\\n`` (application/dtmf-relay)."""
    return f"Signal={_check_digit(digit)}\r\nDuration={int(duration_ms)}\r\n".encode()


def dtmf_body(digit: str) -> bytes:
    """The bare event character (application/dtmf)."""
    return _check_digit(digit).encode()


def parse_dtmf(content_type: str, body: bytes) -> tuple[str, int | None]:
    """(digit, duration in ms or None) from an application/dtmf-relay or application/dtmf body.

    ``Signal`` may be the character or its RFC 4733 event number (10 = ``*`` …).  Raises
    SipParseError("Malformed dtmf-relay body") / ("Malformed dtmf body").
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    what = "dtmf body" if kind == DTMF else "dtmf-relay body"
    text = body.decode("utf-8", "replace").strip()
    fields: dict[str, str] = {}
    if "=" in text:
        for line in text.splitlines():
            if line.strip():
                key, sep, value = line.partition("=")
                if not sep:
                    raise SipParseError(f"Malformed {what}")
                fields[key.strip().lower()] = value.strip()
    elif kind == DTMF:
        fields["signal"] = text
    digit = _digit(fields.get("signal", ""))
    duration = fields.get("duration")
    if digit is None or (duration is not None and not (duration.isdigit() and len(duration) <= 6)):
        raise SipParseError(f"Malformed {what}")
    return digit, int(duration) if duration is not None else None


def _digit(value: str) -> str | None:
    if len(value) == 1 and value.upper() in DTMF_EVENTS:
        return value.upper()
    if value.isdigit() and len(value) <= 2 and int(value) < 16:
        return DTMF_EVENTS[int(value)]
    return None


def _check_digit(digit: str) -> str:
    value = _digit(digit)
    if value is None:
        raise LocalProtocolError(f"{digit!r} is not a DTMF digit (0-9 * # A-D)")
    return value
