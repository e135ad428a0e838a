"""H.264 RTP payload format (RFC 6184): NAL units, STAP-A, FU-A, packetizer, depacketizer.

The first octet of every payload is a NAL unit header ``|F|NRI|Type|`` (§5.3).  Type
1–23 is a single NAL unit packet (§5.6), 24 a STAP-A aggregating NAL units of one
timestamp, each behind a 16-bit size (§5.7.1), and 28 an FU-A carrying one fragment of a
NAL unit behind an FU header ``|S|E|R|Type|`` (§5.8).  Types 25–27 and 29 exist only in
the interleaved mode (§6.4), which is not supported; types 0, 30 and 31 are ignored
(§5.2, Table 3).  Packetization-mode 0 allows only single NAL unit packets (§6.2); mode 1
adds STAP-A and FU-A (§6.3).

The depacketizer produces access units in Annex B byte-stream form (start codes), which
is what decoders take; the packetizer takes NAL unit lists (split Annex B or AVC
length-prefixed streams with :func:`split_annex_b` / :func:`split_avc`).  Parameter sets
announced out of band in ``sprop-parameter-sets`` (§8.1) are parsed by
:func:`parse_sprop_parameter_sets`, and re-inserted before IDR pictures that arrive
without them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from wcs.rtp.video.assembler import FrameAssembler
from wcs.rtp.video.common import VideoPacket, split_evenly
from wcs.rtp.video.errors import H264Error, NalUnitTooLarge, VideoUsageError

__all__ = [
    "FU_A",
    "IDR",
    "PPS",
    "SPS",
    "STAP_A",
    "FuFragment",
    "H264Depacketizer",
    "H264Packetizer",
    "ProfileLevelId",
    "build_fu_a",
    "build_sprop_parameter_sets",
    "build_stap_a",
    "is_keyframe",
    "join_annex_b",
    "nal_type",
    "parse_payload",
    "parse_sprop_parameter_sets",
    "payload_is_keyframe",
    "payload_nal_types",
    "split_annex_b",
    "split_avc",
]

NON_IDR, IDR, SEI, SPS, PPS, AUD = 1, 5, 6, 7, 8, 9
STAP_A, STAP_B, MTAP16, MTAP24, FU_A, FU_B = 24, 25, 26, 27, 28, 29
_IGNORED = frozenset((0, 30, 31))
_INTERLEAVED = frozenset((STAP_B, MTAP16, MTAP24, FU_B))
#: NAL unit types that open an access unit when they precede its first slice (H.264 §7.4.1.2.3)
_AU_OPENERS = frozenset((SEI, SPS, PPS, AUD, 14, 15, 16, 17, 18))
_START_CODE = b"\x00\x00\x00\x01"


def nal_type(nal: bytes | bytearray | memoryview) -> int:
    """``nal_unit_type`` of a NAL unit (low 5 bits of its header octet)."""
    return nal[0] & 0x1F


class FuFragment(NamedTuple):
    """One FU-A fragment: the reconstructed NAL header octet, the S/E bits and the payload."""

    header: int
    start: bool
    end: bool
    data: bytes


# -- NAL unit streams ----------------------------------------------------------------------------


def split_annex_b(data: bytes | bytearray | memoryview) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-octet start codes; trailing zeros dropped)."""
    buf = bytes(data)
    pos = buf.find(b"\x00\x00\x01")
    if pos < 0 or buf[:pos].strip(b"\x00"):
        raise H264Error("Annex B stream does not begin with a start code")
    nals: list[bytes] = []
    start = pos + 3
    while True:
        nxt = buf.find(b"\x00\x00\x01", start)
        end = len(buf) if nxt < 0 else nxt
        nal = buf[start:end].rstrip(b"\x00")  # a NAL unit never ends in 0x00 (rbsp_trailing_bits)
        if nal:
            nals.append(nal)
        if nxt < 0:
            return nals
        start = nxt + 3


def split_avc(data: bytes | bytearray | memoryview, length_size: int = 4) -> list[bytes]:
    """NAL units of an AVC (ISO 14496-15) sample, each behind a big-endian ``length_size``-octet length."""
    if length_size not in (1, 2, 4):
        raise VideoUsageError("AVC NAL length size is 1, 2 or 4")
    buf = bytes(data)
    nals: list[bytes] = []
    pos = 0
    while pos < len(buf):
        if pos + length_size > len(buf):
            raise H264Error("AVC NAL unit length truncated")
        size = int.from_bytes(buf[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(buf):
            raise H264Error("AVC NAL unit length out of range")
        nals.append(buf[pos : pos + size])
        pos += size
    return nals


def join_annex_b(nals: Iterable[bytes]) -> bytes:
    """An Annex B byte stream of ``nals``, each behind a 4-octet start code."""
    return b"".join(_START_CODE + nal for nal in nals)


def is_keyframe(nals: Iterable[bytes]) -> bool:
    """Whether an access unit holds an IDR picture (NAL type 5)."""
    return any(nal and nal[0] & 0x1F == IDR for nal in nals)


# -- payload structures --------------------------------------------------------------------------


def _check_nal_header(b: int, where: str) -> int:
    if b & 0x80:
        raise H264Error(f"H.264 {where} has the forbidden bit set")
    return b & 0x1F


def parse_payload(payload: bytes | bytearray | memoryview) -> list[bytes | FuFragment]:
    """The NAL units (or FU-A fragment) of one RTP payload, in order; raises :class:`H264Error`.

    A single NAL unit packet gives ``[nal]``, a STAP-A ``[nal, ...]``, an FU-A
    ``[FuFragment]``; reserved types 0/30/31 give ``[]`` (ignored, §5.2).  NAL units with
    the F bit set are rejected: §5.3 advises discarding them.
    """
    n = len(payload)
    if n == 0:
        raise H264Error("H.264 payload is empty")
    t = _check_nal_header(payload[0], "payload header")
    if 1 <= t <= 23:
        return [bytes(payload)]
    if t == STAP_A:
        out: list[bytes | FuFragment] = []
        pos = 1
        while pos < n:
            if pos + 2 > n:
                raise H264Error("H.264 STAP-A NAL unit size truncated")
            size = payload[pos] << 8 | payload[pos + 1]
            pos += 2
            if size == 0:
                raise H264Error("H.264 STAP-A aggregation unit is empty")
            if pos + size > n:
                raise H264Error("H.264 STAP-A NAL unit overruns the packet")
            inner = _check_nal_header(payload[pos], "STAP-A NAL unit")
            if 24 <= inner <= 29:
                raise H264Error("H.264 STAP-A nests an aggregation or fragmentation unit")
            if inner not in _IGNORED:
                out.append(bytes(payload[pos : pos + size]))
            pos += size
        if pos == 1:
            raise H264Error("H.264 STAP-A carries no NAL unit")
        return out
    if t == FU_A:
        if n < 2:
            raise H264Error("H.264 FU-A lacks its FU header")
        fu = payload[1]
        start, end, inner = bool(fu & 0x80), bool(fu & 0x40), fu & 0x1F
        if start and end:
            raise H264Error("H.264 FU-A has both start and end bits set")
        if 24 <= inner <= 29:
            raise H264Error("H.264 FU-A fragments an aggregation or fragmentation unit")
        if inner in _IGNORED:
            return []
        return [FuFragment((payload[0] & 0xE0) | inner, start, end, bytes(payload[2:]))]
    if t in _INTERLEAVED:
        raise H264Error(f"H.264 payload type {t} needs the interleaved mode, which is not supported")
    return []  # 0, 30, 31: ignored


def payload_nal_types(payload: bytes | bytearray | memoryview) -> list[int]:
    """NAL unit types in a payload (an FU-A counts only on its first fragment); ``[]`` if malformed."""
    try:
        items = parse_payload(payload)
    except H264Error:
        return []
    return [
        (i.header & 0x1F) if isinstance(i, FuFragment) else i[0] & 0x1F
        for i in items
        if not isinstance(i, FuFragment) or i.start
    ]


def payload_is_keyframe(payload: bytes | bytearray | memoryview) -> bool:
    """Whether a payload carries (the start of) an IDR slice."""
    return IDR in payload_nal_types(payload)


def build_stap_a(nals: Sequence[bytes]) -> bytes:
    """A STAP-A: F is the OR and NRI the maximum of the aggregated units' (RFC 6184 §5.7.1)."""
    if not nals:
        raise VideoUsageError("a STAP-A needs at least one NAL unit")
    f = 0
    nri = 0
    parts = [b""]
    for nal in nals:
        if not 1 <= len(nal) <= 0xFFFF:
            raise VideoUsageError(f"NAL unit of {len(nal)} octets cannot be aggregated")
        f |= nal[0] & 0x80
        nri = max(nri, nal[0] & 0x60)
        parts.append(len(nal).to_bytes(2, "big") + nal)
    parts[0] = bytes((f | nri | STAP_A,))
    return b"".join(parts)


def build_fu_a(nal: bytes, max_payload: int) -> list[bytes]:
    """FU-A payloads of at most ``max_payload`` octets carrying ``nal`` (RFC 6184 §5.8).

    The NAL header is conveyed by the FU indicator (F, NRI) and FU header (type); the
    pieces are near-equal and at least two (S and E never share a header).
    """
    body = len(nal) - 1
    room = max_payload - 2
    if room < 1:
        raise VideoUsageError(f"max_payload {max_payload} leaves no room for an FU-A fragment")
    if body < 2:
        raise VideoUsageError("a NAL unit of fewer than 3 octets cannot be fragmented")
    count = max(2, -(-body // room))
    indicator = bytes(((nal[0] & 0xE0) | FU_A,))
    t = nal[0] & 0x1F
    out = []
    for i, (a, b) in enumerate(split_evenly(body, count, 1)):
        fu = t | (0x80 if i == 0 else 0) | (0x40 if i == count - 1 else 0)
        out.append(indicator + bytes((fu,)) + nal[a:b])
    return out


# -- packetizer ----------------------------------------------------------------------------------


class H264Packetizer:
    """Turns access units (lists of NAL units) into RTP payloads of at most ``max_payload`` octets.

    Mode 1 (RFC 6184 §6.3) aggregates consecutive small NAL units into STAP-As (e.g. SPS,
    PPS and a small IDR slice) and fragments large ones into FU-As.  Mode 0 (§6.2) sends
    one NAL unit per packet and raises :class:`NalUnitTooLarge` when one does not fit (the
    encoder must then be told to cut smaller slices).  ``max_payload`` excludes the RTP
    header, extensions and SRTP tag.
    """

    def __init__(
        self, max_payload: int = 1200, packetization_mode: int = 1, *, aggregate: bool = True
    ) -> None:
        if packetization_mode not in (0, 1):
            raise VideoUsageError(f"H.264 packetization-mode {packetization_mode} is not supported")
        if max_payload < 8:
            raise VideoUsageError(f"max_payload {max_payload} is too small")
        self.max_payload = max_payload
        self.packetization_mode = packetization_mode
        self.aggregate = aggregate

    def packetize_annex_b(self, data: bytes, timestamp: int) -> list[VideoPacket]:
        """:meth:`packetize` for an Annex B access unit."""
        return self.packetize(split_annex_b(data), timestamp)

    def packetize(self, nals: Sequence[bytes], timestamp: int) -> list[VideoPacket]:
        """The packets of one access unit; the marker bit is set on the last (RFC 6184 §5.1)."""
        nals = [nal for nal in nals if nal]
        for nal in nals:
            t = nal[0] & 0x1F
            if t == 0 or t >= 24:
                raise VideoUsageError(f"NAL unit type {t} cannot be sent (RFC 6184 Table 3)")
        payloads: list[bytes] = []
        limit = self.max_payload
        if self.packetization_mode == 0:
            for nal in nals:
                if len(nal) > limit:
                    raise NalUnitTooLarge(len(nal), limit)
            payloads = list(nals)
        else:
            group: list[bytes] = []
            size = 1
            for nal in nals:
                if len(nal) > limit:
                    self._flush(group, payloads)
                    group, size = [], 1
                    payloads.extend(build_fu_a(nal, limit))
                    continue
                if group and (not self.aggregate or size + 2 + len(nal) > limit):
                    self._flush(group, payloads)
                    group, size = [], 1
                group.append(nal)
                size += 2 + len(nal)
            self._flush(group, payloads)
        last = len(payloads) - 1
        return [VideoPacket(p, timestamp, i == last) for i, p in enumerate(payloads)]

    @staticmethod
    def _flush(group: list[bytes], payloads: list[bytes]) -> None:
        if len(group) == 1:
            payloads.append(group[0])
        elif group:
            payloads.append(build_stap_a(group))


# -- depacketizer --------------------------------------------------------------------------------


def _opens_access_unit(item: bytes | FuFragment) -> bool:
    if isinstance(item, FuFragment):
        if not item.start:
            return False
        header, first = item.header, item.data[:1]
    else:
        header, first = item[0], item[1:2]
    t = header & 0x1F
    if t in _AU_OPENERS:
        return True
    # a slice whose first_mb_in_slice is 0: ue(v) of 0 is the single bit '1'
    return t in (NON_IDR, IDR) and bool(first) and bool(first[0] & 0x80)


class H264Depacketizer(FrameAssembler[list[bytes | FuFragment]]):
    """Reassembles access units (Annex B, 4-octet start codes) from RTP payloads.

    Accepts single NAL unit packets, STAP-A and FU-A in any mix (a mode-1 receiver
    understands mode 0).  FU-A fragments must run start..end without a gap (§5.8: a
    NAL unit with a lost fragment is discarded, here with its whole access unit).  The
    latest SPS and PPS seen — in band, or from ``parameter_sets`` (sprop-parameter-sets)
    — are inserted before an IDR picture that arrives without them.
    """

    def __init__(self, parameter_sets: Iterable[bytes] = ()) -> None:
        super().__init__()
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        for nal in parameter_sets:
            self._remember(nal)
        self.parameter_sets_inserted = 0

    def _remember(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == SPS:
            self._sps = nal
        elif t == PPS:
            self._pps = nal

    def _parse(self, payload: bytes) -> list[bytes | FuFragment]:
        return parse_payload(payload)

    def _is_start(self, item: list[bytes | FuFragment]) -> bool:
        return bool(item) and _opens_access_unit(item[0])

    def _assemble(self, items: list[list[bytes | FuFragment]]) -> tuple[bytes, bool]:
        nals: list[bytes] = []
        frag: list[bytes] | None = None
        for packet in items:
            for item in packet:
                if isinstance(item, FuFragment):
                    if item.start:
                        if frag is not None:
                            raise H264Error("H.264 FU-A starts before the previous one ended")
                        frag = [bytes((item.header,)), item.data]
                    elif frag is None:
                        raise H264Error("H.264 FU-A fragment without a start")
                    else:
                        frag.append(item.data)
                    if item.end:
                        nals.append(b"".join(frag))
                        frag = None
                elif frag is not None:
                    raise H264Error("H.264 FU-A interrupted by another NAL unit")
                else:
                    nals.append(item)
        if frag is not None:
            raise H264Error("H.264 FU-A never ended")
        if not nals:
            raise H264Error("H.264 access unit has no NAL units")
        types = {nal[0] & 0x1F for nal in nals}
        for nal in nals:
            if nal[0] & 0x1F in (SPS, PPS):
                self._remember(nal)
        keyframe = IDR in types
        if keyframe:
            missing = [ps for t, ps in ((SPS, self._sps), (PPS, self._pps)) if t not in types and ps]
            if missing:
                at = 1 if nals[0][0] & 0x1F == AUD else 0
                nals[at:at] = missing
                self.parameter_sets_inserted += 1
        return join_annex_b(nals), keyframe


# -- SDP parameters ------------------------------------------------------------------------------


def parse_sprop_parameter_sets(value: str) -> list[bytes]:
    """NAL units of an fmtp ``sprop-parameter-sets`` value (comma-separated base64, RFC 6184 §8.1)."""
    out: list[bytes] = []
    for part in value.strip().split(","):
        if not part:
            continue
        try:
            nal = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            raise H264Error("sprop-parameter-sets is not base64") from None
        if not nal:
            raise H264Error("sprop-parameter-sets has an empty NAL unit")
        t = _check_nal_header(nal[0], "sprop-parameter-sets NAL unit")
        if t not in (SPS, PPS, 13, 15):  # SPS, PPS, SPS extension, subset SPS
            raise H264Error(f"sprop-parameter-sets holds NAL unit type {t}, not a parameter set")
        out.append(nal)
    return out


def build_sprop_parameter_sets(nals: Iterable[bytes]) -> str:
    """The ``sprop-parameter-sets`` value for the SPS/PPS among ``nals``."""
    return ",".join(base64.b64encode(n).decode() for n in nals if n and n[0] & 0x1F in (SPS, PPS))


class ProfileLevelId(NamedTuple):
    """``profile-level-id`` (RFC 6184 §8.1): profile_idc, profile-iop (constraint flags), level_idc."""

    profile_idc: int
    profile_iop: int
    level_idc: int

    @classmethod
    def from_hex(cls, value: str) -> ProfileLevelId:
        """Parse the 6 hex digits of the fmtp parameter."""
        if len(value) != 6:
            raise H264Error("profile-level-id is not 6 hex digits")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise H264Error("profile-level-id is not 6 hex digits") from None
        return cls(raw[0], raw[1], raw[2])

    @classmethod
    def from_sps(cls, sps: bytes) -> ProfileLevelId:
        """From an SPS NAL unit (header, then profile_idc, constraint flags, level_idc: H.264 §7.3.2.1)."""
        if len(sps) < 4 or sps[0] & 0x1F != SPS:
            raise H264Error("not a sequence parameter set")
        return cls(sps[1], sps[2], sps[3])

    def __str__(self) -> str:
        return f"{self.profile_idc:02x}{self.profile_iop:02x}{self.level_idc:02x}"

    def constraint_set(self, n: int) -> bool:
        """constraint_set``n``_flag (n = 0..5, most significant bit first)."""
        return bool(self.profile_iop & (0x80 >> n))

    @property
    def constrained_baseline(self) -> bool:
        """Whether the stream is Constrained Baseline (RFC 6184 §8.1, Table 5)."""
        p, iop = self.profile_idc, self.profile_iop
        if p == 66:
            return bool(iop & 0x40)
        if p == 77:
            return bool(iop & 0x80)
        return p == 88 and iop & 0xC0 == 0xC0
