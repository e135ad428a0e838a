"""Codec registry, media formats read from an m= section, and format matching.

* :data:`REGISTRY` lists the static payload types of RFC 3551 §6 (Tables 4 and 5)
  and the dynamic codecs the gateway deals with.  G722 is registered at 8000 Hz
  although it samples at 16 kHz: RFC 3551 §4.5.2 fixes its RTP clock at 8000.
* :class:`Format` is one payload type of an m= section with its rtpmap, fmtp and
  rtcp-fb values (:func:`media_formats`).
* :func:`formats_match` decides whether two formats are the same media format
  configuration: encoding name, clock rate and channels, plus the fmtp parameters
  that identify a configuration (RFC 6184 §8.2.2 for H.264: profile and
  packetization-mode; RFC 8741-style ``profile-id`` for VP9, ``profile`` for AV1).
  Receiver preferences (Opus ``useinbandfec``, VP8 ``max-fs``, H.264 level…) do not
  take part.  The H.264 rules live in :mod:`wcs.sdp.h264`.
"""

from __future__ import annotations

from dataclasses import dataclass

from wcs.sdp.h264 import h264_same_configuration
from wcs.sdp.model import MediaDescription, RtpMap, parse_fmtp, parse_rtpmap


@dataclass(frozen=True)
class CodecSpec:
    """A known encoding: SDP name, RTP clock rate, channels and static PT if any."""

    name: str
    clock_rate: int
    channels: int = 1
    static_pt: int | None = None
    kind: str = "audio"


_STATIC = [  # RFC 3551 §6, Tables 4 and 5
    CodecSpec("PCMU", 8000, 1, 0), CodecSpec("GSM", 8000, 1, 3), CodecSpec("G723", 8000, 1, 4),
    CodecSpec("DVI4", 8000, 1, 5), CodecSpec("DVI4", 16000, 1, 6), CodecSpec("LPC", 8000, 1, 7),
    CodecSpec("PCMA", 8000, 1, 8), CodecSpec("G722", 8000, 1, 9), CodecSpec("L16", 44100, 2, 10),
    CodecSpec("L16", 44100, 1, 11), CodecSpec("QCELP", 8000, 1, 12), CodecSpec("CN", 8000, 1, 13),
    CodecSpec("MPA", 90000, 1, 14), CodecSpec("G728", 8000, 1, 15), CodecSpec("DVI4", 11025, 1, 16),
    CodecSpec("DVI4", 22050, 1, 17), CodecSpec("G729", 8000, 1, 18),
    CodecSpec("CelB", 90000, 1, 25, "video"), CodecSpec("JPEG", 90000, 1, 26, "video"),
    CodecSpec("nv", 90000, 1, 28, "video"), CodecSpec("H261", 90000, 1, 31, "video"),
    CodecSpec("MPV", 90000, 1, 32, "video"), CodecSpec("MP2T", 90000, 1, 33, "video"),
    CodecSpec("H263", 90000, 1, 34, "video"),
]

_DYNAMIC = [
    CodecSpec("opus", 48000, 2),                      # RFC 7587 §7: always /48000/2
    CodecSpec("speex", 8000), CodecSpec("speex", 16000), CodecSpec("speex", 32000),
    CodecSpec("telephone-event", 8000), CodecSpec("telephone-event", 16000),
    CodecSpec("telephone-event", 48000),              # RFC 4733 §7.1.1: rate follows the audio codec
    CodecSpec("iLBC", 8000), CodecSpec("G726-32", 8000), CodecSpec("AMR", 8000), CodecSpec("AMR-WB", 16000),
    CodecSpec("CN", 16000), CodecSpec("CN", 32000), CodecSpec("CN", 48000),
    CodecSpec("red", 48000, 2), CodecSpec("red", 8000), CodecSpec("mpeg4-generic", 48000, 2),
    CodecSpec("VP8", 90000, kind="video"), CodecSpec("VP9", 90000, kind="video"),
    CodecSpec("AV1", 90000, kind="video"), CodecSpec("H264", 90000, kind="video"),
    CodecSpec("H265", 90000, kind="video"), CodecSpec("H263-1998", 90000, kind="video"),
    CodecSpec("red", 90000, kind="video"), CodecSpec("rtx", 90000, kind="video"),
    CodecSpec("ulpfec", 90000, kind="video"), CodecSpec("flexfec-03", 90000, kind="video"),
]

REGISTRY: tuple[CodecSpec, ...] = tuple(_STATIC + _DYNAMIC)
STATIC_PAYLOAD_TYPES: dict[int, CodecSpec] = {c.static_pt: c for c in _STATIC if c.static_pt is not None}
_BY_KEY = {(c.name.lower(), c.clock_rate): c for c in REGISTRY}

# Formats that only make sense inside a WebRTC transport (they repair or wrap other
# payloads by PT reference): never offered to a plain-RTP SIP peer.
WEBRTC_HELPERS = frozenset({"red", "rtx", "ulpfec", "flexfec-03", "flexfec"})
#: encodings a WebRTC browser decodes (RFC 7874 audio, RFC 7742 video, plus what Chrome ships);
#: a SIP peer's other codecs are never passed on to the browser
BROWSER_CODECS = frozenset({"opus", "g722", "pcmu", "pcma", "telephone-event", "cn",
                            "vp8", "vp9", "h264", "av1"})


def find_codec(name: str, clock_rate: int) -> CodecSpec | None:
    """The registry entry for ``name``/``clock_rate`` (name case-insensitive)."""
    return _BY_KEY.get((name.lower(), clock_rate))


@dataclass(frozen=True)
class Format:
    """One payload type of an m= section."""

    pt: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str = ""
    rtcp_fb: tuple[str, ...] = ()

    @property
    def encoding(self) -> str:
        """Lower-case encoding name, for comparisons."""
        return self.name.lower()

    @property
    def params(self) -> dict[str, str]:
        return parse_fmtp(self.fmtp)

    def rtpmap(self) -> str:
        """The ``a=rtpmap`` value, e.g. ``"111 opus/48000/2"``."""
        tail = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.pt} {self.name}/{self.clock_rate}{tail}"

    @property
    def is_static(self) -> bool:
        """True when the PT is static and means this very codec (rtpmap optional)."""
        spec = STATIC_PAYLOAD_TYPES.get(self.pt)
        return (spec is not None and spec.name.lower() == self.encoding
                and spec.clock_rate == self.clock_rate and spec.channels == self.channels)


def media_formats(md: MediaDescription) -> list[Format]:
    """The formats of an RTP m= section in m= order (duplicates and unknown PTs skipped).

    A dynamic PT without ``a=rtpmap`` is skipped: it cannot be interpreted (a
    client's ``stripCodecs`` can leave such PTs behind).  Static PTs without rtpmap
    take their RFC 3551 meaning.
    """
    if "RTP/" not in md.proto.upper():
        return []
    rtpmaps: dict[str, RtpMap] = {}
    fmtps: dict[str, str] = {}
    feedback: dict[str, list[str]] = {}
    ordered: list[tuple[str, str]] = []   # (format, feedback) in line order, for "*" interleaving
    for kind, value in md.lines:          # one pass over the section (hot with 20+ video PTs)
        if kind != "a":
            continue
        if value.startswith("rtpmap:"):
            parsed = parse_rtpmap(value[7:])
            if parsed is not None:
                rtpmaps.setdefault(parsed[0], parsed[1])
        elif value.startswith("fmtp:"):
            fmt, _, params = value[5:].lstrip(" ").partition(" ")
            fmtps.setdefault(fmt, params.strip())
        elif value.startswith("rtcp-fb:"):
            fmt, _, fb = value[8:].lstrip(" ").partition(" ")
            if fb.strip():
                feedback.setdefault(fmt, []).append(fb.strip())
                ordered.append((fmt, fb.strip()))
    wildcard = "*" in feedback
    out: list[Format] = []
    seen: set[str] = set()
    for pt in md.formats:
        if pt in seen:
            continue
        seen.add(pt)
        rtpmap = rtpmaps.get(pt)
        if rtpmap is not None:
            name, rate, channels = rtpmap
        else:
            spec = STATIC_PAYLOAD_TYPES.get(int(pt)) if pt.isdigit() else None
            if spec is None:
                continue
            name, rate, channels = spec.name, spec.clock_rate, spec.channels
        fbs = [x for f, x in ordered if f in (pt, "*")] if wildcard else feedback.get(pt, [])
        out.append(Format(int(pt), name, rate, channels, fmtps.get(pt, ""), tuple(fbs)))
    return out


def formats_match(a: Format, b: Format) -> bool:
    """Same media format configuration (PT numbers are not compared)."""
    if a.encoding != b.encoding or a.clock_rate != b.clock_rate:
        return False
    if a.channels != b.channels and a.encoding != "opus":  # RFC 7587 §7: opus is always /2; some send /1
        return False
    if a.encoding == "h264":
        return h264_same_configuration(a.fmtp, b.fmtp)
    if a.encoding == "vp9":
        return a.params.get("profile-id", "0") == b.params.get("profile-id", "0")
    if a.encoding == "av1":
        return a.params.get("profile", "0") == b.params.get("profile", "0")
    return True


def find_match(fmt: Format, candidates: list[Format]) -> Format | None:
    """The format of ``candidates`` matching ``fmt``: same PT preferred, else the first match."""
    first = None
    for cand in candidates:
        if formats_match(fmt, cand):
            if cand.pt == fmt.pt:
                return cand
            if first is None:
                first = cand
    return first
