"""Small builders shared by the translation code: origins, connection lines, format
lines, extra (``sipSDP``) lines and candidate addresses."""

from __future__ import annotations

from collections.abc import Iterable

from wcs.sdp.codecs import Format
from wcs.sdp.errors import SdpError
from wcs.sdp.model import Line, MediaDescription, Origin, SessionDescription

# Letters a caller may add at session level and where they go (RFC 8866 §5 order:
# v o s i u e p c b t r z k a m): "before" the session c= line, right "after" it
# (before t=), or at the "end" (after t=).
_EXTRA_PLACE = {"i": "before", "u": "before", "e": "before", "p": "before", "b": "after",
                "k": "end", "a": "end"}
_STRUCTURAL = frozenset("vosctrzm")


def addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def connection(address: str) -> str:
    """The value of a ``c=`` line for a unicast address."""
    return f"IN {addrtype(address)} {address}"


def new_session(username: str, session_id: str, address: str, version: int = 1) -> SessionDescription:
    """``v=0 / o=… / s=-`` with no other lines yet."""
    return SessionDescription(Origin(username, session_id, version, "IN", addrtype(address), address), "-")


def validate_extra_lines(extra_lines: Iterable[str]) -> list[Line]:
    """Check the SDK's ``sipSDP`` lines; raises :class:`SdpError` (400) naming the defect."""
    out: list[Line] = []
    for raw in extra_lines:
        line = raw.strip() if isinstance(raw, str) else raw
        if not isinstance(line, str):
            raise SdpError(f"sipSDP line {raw!r}: not a string", 400)
        if "\r" in line or "\n" in line or "\x00" in line:
            raise SdpError(f"sipSDP line {line!r}: contains a line break", 400)
        if len(line) < 3 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"sipSDP line {line!r}: not an SDP line (expected x=value)", 400)
        kind, value = line[0], line[2:]
        if kind in _STRUCTURAL:
            raise SdpError(f"sipSDP line {line!r}: {kind}= lines are not allowed", 400)
        if kind not in _EXTRA_PLACE:
            raise SdpError(f"sipSDP line {line!r}: unknown SDP type letter {kind!r}", 400)
        if kind == "b":
            bwtype, colon, amount = value.partition(":")
            if not colon or not bwtype or not amount.isdigit() or not amount.isascii():
                raise SdpError(f"sipSDP line {line!r}: malformed b= line (expected b=<type>:<number>)", 400)
        out.append((kind, value))
    return out


def session_lines(address: str, extra: list[Line]) -> list[Line]:
    """Session lines after ``s=``: extras in RFC 8866 order around ``c=`` and ``t=0 0``."""
    before = [ln for ln in extra if _EXTRA_PLACE[ln[0]] == "before"]
    after = [ln for ln in extra if _EXTRA_PLACE[ln[0]] == "after"]
    end = [ln for ln in extra if _EXTRA_PLACE[ln[0]] == "end"]
    return [*before, ("c", connection(address)), *after, ("t", "0 0"), *end]


def format_lines(fmt: Format, fmtp: str, rtcp_fb: Iterable[str] = (), *, static_rtpmap: bool = True
                 ) -> list[Line]:
    """``a=rtpmap`` (omitted for a static PT when ``static_rtpmap`` is False),
    ``a=fmtp`` when ``fmtp`` is not empty, then ``a=rtcp-fb`` lines."""
    out: list[Line] = []
    if static_rtpmap or not fmt.is_static:
        out.append(("a", f"rtpmap:{fmt.rtpmap()}"))
    if fmtp:
        out.append(("a", f"fmtp:{fmt.pt} {fmtp}"))
    out.extend(("a", f"rtcp-fb:{fmt.pt} {fb}") for fb in rtcp_fb)
    return out


def rejected_copy(md: MediaDescription, proto: str | None = None) -> MediaDescription:
    """A port-0 m= line for ``md`` keeping its kind and one format (RFC 3264 §6)."""
    return MediaDescription(md.kind, 0, None, proto or md.proto, md.formats[:1] or ["0"])


def candidate_address(candidates: list[str]) -> tuple[str, int] | None:
    """Connection address and port of the first UDP candidate (else the first one)."""
    best: tuple[str, int] | None = None
    for cand in candidates:
        text = cand.removeprefix("a=").removeprefix("candidate:")
        parts = text.split()
        if len(parts) < 8 or not parts[5].isdigit():
            continue
        found = (parts[4], int(parts[5]))
        if parts[2].lower() == "udp":
            return found
        best = best or found
    return best


def remote_rtp(sd: SessionDescription, md: MediaDescription) -> tuple[str, int] | None:
    """Where to send RTP for ``md``; None when the port is 0 or the address unspecified."""
    address = sd.media_connection_address(md)
    if md.port == 0 or address is None or address in ("0.0.0.0", "::"):
        return None
    return address, md.port


def remote_rtcp(sd: SessionDescription, md: MediaDescription) -> tuple[str, int] | None:
    """Where to send RTCP: the RTP address with rtcp-mux, ``a=rtcp`` (RFC 3605), else port+1."""
    rtp = remote_rtp(sd, md)
    if rtp is None:
        return None
    if md.has_attribute("rtcp-mux"):
        return rtp
    value = md.attribute("rtcp")
    if value:
        parts = value.split()
        if parts and parts[0].isdigit():
            address = parts[3] if len(parts) >= 4 and parts[0] else rtp[0]
            return address, int(parts[0])
    return rtp[0], rtp[1] + 1
