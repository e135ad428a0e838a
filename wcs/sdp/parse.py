"""SDP parser (RFC 8866 §5, §9).

``parse_sdp`` accepts CRLF, bare LF and mixed line ends (RFC 8866 §5 asks parsers to
accept LF), skips blank lines and keeps everything else in order so that
``str(parse_sdp(x))`` reproduces ``x`` with CRLF line ends.

Structure is always checked: ``v=0`` first, then ``o=`` with six fields, ``m=``
lines with a numeric port and, for RTP profiles, payload types 0–127; ``c=``,
``b=``, ``a=rtpmap`` and ``a=rtcp`` lines must be well formed because the
offer/answer code reads them.  Other defects are tolerated in the default lenient
mode, as real devices emit them (a bare ``mid:1`` line, unknown type letters, a
missing ``s=``): such lines are kept verbatim.  ``strict=True`` rejects them too.
Every rejection is an :class:`SdpParseError` whose reason starts with the line
number.
"""

from __future__ import annotations

from wcs.sdp.errors import SdpParseError
from wcs.sdp.model import Line, MediaDescription, Origin, SessionDescription, parse_rtpmap

KNOWN_TYPES = frozenset("vosiuepcbtrzkam")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")


def parse_sdp(text: str | bytes, *, strict: bool = False) -> SessionDescription:
    """Parse an SDP body; raises :class:`SdpParseError` naming the line and defect."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = _decode(bytes(text))
    numbered = _split(text)
    if not numbered:
        raise SdpParseError("empty SDP body")
    origin, session_name, rest = _header(numbered, strict)
    session = SessionDescription(origin=origin, session_name=session_name)
    target: list[Line] = session.lines
    for number, line in rest:
        kind = line[0]
        if kind == "a" and line[1:2] == "=":           # the common case, kept tight
            value = line[2:]
            if value[:1] in ("r", "f"):
                _check_attribute(number, value)
            target.append(("a", value))
            continue
        kind, value = _line(number, line, strict)
        if kind == "m":
            media = _media(number, value)
            session.media.append(media)
            target = media.lines
            continue
        if kind in _CHECKS:
            _CHECKS[kind](number, value)
        elif strict and kind in ("v", "o", "s"):
            raise SdpParseError(f"line {number}: unexpected {kind}= line")
        target.append((kind, value))
    return session


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        raise SdpParseError(f"line {number}: invalid UTF-8") from None


def _split(text: str) -> list[tuple[int, str]]:
    out = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        if "\x00" in line:
            raise SdpParseError(f"line {number}: NUL character")
        if "\r" in line:
            raise SdpParseError(f"line {number}: stray CR inside a line")
        out.append((number, line))
    return out


def _header(lines: list[tuple[int, str]], strict: bool) -> tuple[Origin, str, list[tuple[int, str]]]:
    number, first = lines[0]
    if not first.startswith("v="):
        raise SdpParseError(f"line {number}: SDP must start with v=0")
    if first[2:].strip() != "0":
        raise SdpParseError(f"line {number}: unsupported SDP version {first[2:].strip()!r}")
    if len(lines) < 2 or not lines[1][1].startswith("o="):
        at = lines[1][0] if len(lines) > 1 else number + 1
        raise SdpParseError(f"line {at}: expected o= line")
    number, line = lines[1]
    fields = line[2:].split()
    if len(fields) != 6:
        raise SdpParseError(f"line {number}: malformed o= line (expected 6 fields)")
    if not fields[2].isdigit() or not fields[2].isascii():
        raise SdpParseError(f"line {number}: o= session version is not a number")
    origin = Origin(fields[0], fields[1], int(fields[2]), fields[3], fields[4], fields[5])
    if len(lines) > 2 and lines[2][1].startswith("s="):
        return origin, lines[2][1][2:], lines[3:]
    if strict:
        at = lines[2][0] if len(lines) > 2 else number + 1
        raise SdpParseError(f"line {at}: expected s= line")
    return origin, "-", lines[2:]


def _line(number: int, line: str, strict: bool) -> Line:
    if len(line) < 2 or line[1] != "=" or line[0] not in _LOWER:
        if strict:
            raise SdpParseError(f"line {number}: not a <type>=<value> line")
        return "", line
    kind = line[0]
    if strict and kind not in KNOWN_TYPES:
        raise SdpParseError(f"line {number}: unknown line type {kind!r}")
    return kind, line[2:]


def _port(number: int, text: str, what: str) -> int:
    if not text.isdigit() or not text.isascii() or int(text) > 65535:
        raise SdpParseError(f"line {number}: bad port in {what}")
    return int(text)


def _media(number: int, value: str) -> MediaDescription:
    fields = value.split()
    if len(fields) < 3:
        raise SdpParseError(f"line {number}: malformed m= line (expected media, port and proto)")
    port_text, slash, count_text = fields[1].partition("/")
    port = _port(number, port_text, "m= line")
    count = None
    if slash:
        if not count_text.isdigit() or not count_text.isascii() or int(count_text) == 0:
            raise SdpParseError(f"line {number}: bad port count in m= line")
        count = int(count_text)
    formats = fields[3:]
    if "RTP/" in fields[2].upper():
        for fmt in formats:
            if not fmt.isdigit() or not fmt.isascii() or int(fmt) > 127:
                raise SdpParseError(f"line {number}: bad payload type {fmt!r} in m= line")
    return MediaDescription(fields[0], port, count, fields[2], formats)


def _check_connection(number: int, value: str) -> None:
    if len(value.split()) != 3:
        raise SdpParseError(f"line {number}: malformed c= line (expected 3 fields)")


def _check_bandwidth(number: int, value: str) -> None:
    bwtype, colon, amount = value.partition(":")
    if not colon or not bwtype.strip() or not amount.strip().isdigit() or not amount.strip().isascii():
        raise SdpParseError(f"line {number}: malformed b= line (expected <type>:<number>)")


def _check_attribute(number: int, value: str) -> None:
    if value.startswith("rtpmap:") and parse_rtpmap(value[7:]) is None:
        raise SdpParseError(f"line {number}: malformed a=rtpmap (expected <pt> <name>/<rate>[/<channels>])")
    if value.startswith("rtcp:"):
        port = value[5:].strip().split(" ")[0]
        _port(number, port, "a=rtcp")
    elif value.startswith("fmtp:") and not value[5:].strip():
        raise SdpParseError(f"line {number}: malformed a=fmtp (no format)")


_CHECKS = {"c": _check_connection, "b": _check_bandwidth}
