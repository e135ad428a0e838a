"""The SDP session model (RFC 8866) and its serializer.

A :class:`SessionDescription` keeps every line it was parsed from, in order, as
``(type, value)`` pairs: ``v=``, ``o=`` and ``s=`` are fields, everything between
``s=`` and the first ``m=`` is in ``SessionDescription.lines`` and everything after
an ``m=`` line belongs to that :class:`MediaDescription`.  ``str()`` writes the
description back with CRLF line ends (RFC 8866 §5), so a parsed body round-trips
byte for byte apart from line ends and the spacing of the ``o=``/``m=`` fields.
A line that is not ``<letter>=<value>`` (tolerated by the lenient parser) is kept
with type ``""`` and written back verbatim.

Attribute helpers look at ``a=`` lines: ``attribute("rtpmap")`` matches
``a=rtpmap:...``; a property attribute such as ``a=rtcp-mux`` has the value ``""``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

from wcs.sdp.errors import SdpUsageError

Line = tuple[str, str]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def attribute_value(value: str, name: str) -> str | None:
    """The value of the ``a=`` line text ``value`` if its name is ``name``, else None."""
    if not value.startswith(name):
        return None
    rest = value[len(name):]
    if not rest:
        return ""
    if rest[0] == ":":
        return rest[1:].lstrip(" ")
    return None


class _Lines:
    """Attribute and bandwidth helpers over a ``lines`` list (session or media level)."""

    lines: list[Line]

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name[:value]`` line ("" for a flag), or None."""
        for kind, value in self.lines:
            if kind == "a":
                found = attribute_value(value, name)
                if found is not None:
                    return found
        return None

    def attributes(self, name: str) -> list[str]:
        """Values of every ``a=name[:value]`` line, in order."""
        out = []
        for kind, value in self.lines:
            if kind == "a":
                found = attribute_value(value, name)
                if found is not None:
                    out.append(found)
        return out

    def has_attribute(self, name: str) -> bool:
        return self.attribute(name) is not None

    def add_attribute(self, name: str, value: str | None = None) -> None:
        """Append ``a=name`` (flag) or ``a=name:value`` at the end of this level."""
        self.lines.append(("a", name if value is None else f"{name}:{value}"))

    def remove_attribute(self, name: str) -> int:
        """Remove every ``a=name`` line; returns how many were removed."""
        keep = [ln for ln in self.lines if not (ln[0] == "a" and attribute_value(ln[1], name) is not None)]
        removed = len(self.lines) - len(keep)
        self.lines[:] = keep
        return removed

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace the first ``a=name`` line (dropping later ones) or append one."""
        text = name if value is None else f"{name}:{value}"
        for i, (kind, line) in enumerate(self.lines):
            if kind == "a" and attribute_value(line, name) is not None:
                self.lines[i] = ("a", text)
                rest = self.lines[i + 1:]
                self.lines[i + 1:] = [
                    ln for ln in rest if not (ln[0] == "a" and attribute_value(ln[1], name) is not None)]
                return
        self.lines.append(("a", text))

    def values(self, kind: str) -> list[str]:
        """Values of every line of type ``kind`` (e.g. "b") at this level."""
        return [value for k, value in self.lines if k == kind]

    @property
    def bandwidths(self) -> list[tuple[str, int]]:
        """``b=<type>:<kbps>`` lines as (type, value); malformed ones are skipped."""
        out = []
        for value in self.values("b"):
            bwtype, _, amount = value.partition(":")
            if amount.strip().isdigit():
                out.append((bwtype.strip(), int(amount)))
        return out

    @property
    def connection_address(self) -> str | None:
        """Address of the first ``c=`` line at this level (TTL/count suffix removed)."""
        for value in self.values("c"):
            parts = value.split()
            if len(parts) == 3:
                return parts[2].split("/")[0]
        return None

    @property
    def direction_attribute(self) -> str | None:
        """The last direction attribute at this level (RFC 3264 §5.1), or None."""
        found = None
        for kind, value in self.lines:
            if kind == "a" and value in DIRECTIONS:
                found = value
        return found

    def set_direction(self, direction: str) -> None:
        """Replace the direction attributes at this level with ``a=<direction>``."""
        if direction not in DIRECTIONS:
            raise SdpUsageError(f"not an SDP direction: {direction!r}")
        for i, (kind, value) in enumerate(self.lines):
            if kind == "a" and value in DIRECTIONS:
                self.lines[i] = ("a", direction)
                self.lines[i + 1:] = [ln for ln in self.lines[i + 1:]
                                      if not (ln[0] == "a" and ln[1] in DIRECTIONS)]
                return
        self.lines.append(("a", direction))


class RtpMap(NamedTuple):
    """``a=rtpmap:<pt> <name>/<clock_rate>[/<channels>]`` (RFC 8866 §6.6)."""

    name: str
    clock_rate: int
    channels: int = 1

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_rate}{tail}"


def parse_rtpmap(value: str) -> tuple[str, RtpMap] | None:
    """``"111 opus/48000/2"`` → ("111", RtpMap("opus", 48000, 2)); None if malformed."""
    pt, _, encoding = value.strip().partition(" ")
    parts = encoding.strip().split("/")
    if not pt.isdigit() or len(parts) not in (2, 3) or not parts[0]:
        return None
    if not parts[1].isdigit() or (len(parts) == 3 and not parts[2].isdigit()):
        return None
    channels = int(parts[2]) if len(parts) == 3 else 1
    return pt, RtpMap(parts[0], int(parts[1]), channels)


def parse_fmtp(fmtp: str) -> dict[str, str]:
    """``"a=1; B=2;flag"`` → {"a": "1", "b": "2", "flag": ""} (keys lower-cased, first wins).

    Values like telephone-event's ``0-15`` (no ``=``) become keys with an empty value.
    """
    out: dict[str, str] = {}
    for item in fmtp.split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            out.setdefault(key.strip().lower(), value.strip())
    return out


@dataclass
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (§5.2)."""

    username: str
    session_id: str
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass
class MediaDescription(_Lines):
    """One ``m=`` section: the m= fields plus every following line in order."""

    kind: str
    port: int
    port_count: int | None
    proto: str
    formats: list[str]
    lines: list[Line] = field(default_factory=list)

    @property
    def direction(self) -> str:
        """Media-level direction, "sendrecv" when absent (session level is not consulted)."""
        return self.direction_attribute or "sendrecv"

    @property
    def mid(self) -> str | None:
        return self.attribute("mid")

    @property
    def rejected(self) -> bool:
        """Port 0 marks a rejected or disabled stream (RFC 3264 §6, §8.2) — unless the
        section is ``a=bundle-only``, which rides on the BUNDLE transport (RFC 8843 §6)."""
        return self.port == 0 and not self.has_attribute("bundle-only")

    def rtpmaps(self) -> dict[str, RtpMap]:
        """PT → RtpMap for every well-formed ``a=rtpmap`` (the first one wins)."""
        out: dict[str, RtpMap] = {}
        for value in self.attributes("rtpmap"):
            parsed = parse_rtpmap(value)
            if parsed is not None and parsed[0] not in out:
                out[parsed[0]] = parsed[1]
        return out

    def fmtp(self, pt: str) -> str | None:
        """Parameters of the first ``a=fmtp:<pt> ...`` line, or None."""
        for value in self.attributes("fmtp"):
            fmt, _, params = value.partition(" ")
            if fmt == pt:
                return params.strip()
        return None

    def rtcp_fb(self, pt: str) -> list[str]:
        """``a=rtcp-fb`` values for ``pt``, including the ``*`` wildcard (RFC 4585 §4.2)."""
        out = []
        for value in self.attributes("rtcp-fb"):
            fmt, _, fb = value.partition(" ")
            if fmt in (pt, "*") and fb.strip():
                out.append(fb.strip())
        return out

    def m_line(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join([self.kind, port, self.proto, *self.formats])

    def __str__(self) -> str:
        return _join([("m", self.m_line()), *self.lines])


@dataclass
class SessionDescription(_Lines):
    """A whole SDP body.  ``lines`` are the session-level lines after ``s=``."""

    origin: Origin
    session_name: str = "-"
    lines: list[Line] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    def __str__(self) -> str:
        head: list[Line] = [("v", "0"), ("o", str(self.origin)), ("s", self.session_name), *self.lines]
        return _join(head) + "".join(_join([("m", md.m_line()), *md.lines]) for md in self.media)

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def copy(self) -> SessionDescription:
        """A deep copy that can be edited without touching this one."""
        return copy.deepcopy(self)

    def groups(self, semantics: str) -> list[list[str]]:
        """Identification tags of each ``a=group:<semantics>`` (RFC 5888), e.g. BUNDLE."""
        out = []
        for value in self.attributes("group"):
            parts = value.split()
            if parts and parts[0] == semantics:
                out.append(parts[1:])
        return out

    def media_connection_address(self, md: MediaDescription) -> str | None:
        """The c= address in force for ``md``: media level, else session level."""
        return md.connection_address or self.connection_address

    def media_direction(self, md: MediaDescription) -> str:
        """``md``'s direction attribute, else the session-level one, else sendrecv."""
        return md.direction_attribute or self.direction_attribute or "sendrecv"


def _join(lines: list[Line]) -> str:
    return "".join(f"{kind}={value}\r\n" if kind else f"{value}\r\n" for kind, value in lines)
