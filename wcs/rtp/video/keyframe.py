"""Keyframe requests between the two legs of a video relay.

Theory of operation
-------------------
A receiver that lost its decoder reference asks the sender for a keyframe.  Between a
browser and a SIP device the gateway forwards such requests: a PLI (RFC 4585 §6.3.1) or
FIR (RFC 5104 §4.3.1) from one side, or a SIP INFO ``picture_fast_update`` (RFC 5168)
from a SIP device, becomes a request toward the other side's sender, in the form that
side understands:

* RTCP PLI when it advertised ``a=rtcp-fb:<pt> nack pli``;
* RTCP FIR when it advertised ``a=rtcp-fb:<pt> ccm fir``;
* otherwise a SIP INFO with an ``application/media_control+xml`` body (RFC 5168 §3),
  which most SIP video phones honour.

A picture-loss request prefers PLI: RFC 5104 §4.3.1.2 says FIR "SHALL NOT be sent as a
reaction to picture losses".  A full request (the other side sent FIR, or the relay
switched sources) prefers FIR.  Each side falls back to what the peer supports.

FIR carries a command sequence number per (our SSRC, target SSRC) pair: it increases by
one (mod 256) for each new command and stays the same for repetitions (RFC 5104
§4.3.1.1); a FIR is outstanding until :meth:`KeyframeRequester.keyframe_received` (§3.5.1.1:
no more than one outstanding command per media sender), so requests made meanwhile
repeat it.

Requests are rate-limited: at most one per ``min_interval`` seconds.  A request that
arrives too soon is held and sent when the interval ends (:meth:`get_timer` /
:meth:`handle_timer`), coalesced with any others; a keyframe arriving meanwhile cancels it.
Output is collected with :meth:`KeyframeRequester.pop_requests`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass

from wcs.entropy import Entropy, SystemEntropy, random_uint
from wcs.rtp.rtcp import Fir, Pli, RtcpPacket

__all__ = [
    "MEDIA_CONTROL_CONTENT_TYPE",
    "PICTURE_FAST_UPDATE",
    "FeedbackSupport",
    "KeyframeRequest",
    "KeyframeRequester",
    "is_picture_fast_update",
]

MEDIA_CONTROL_CONTENT_TYPE = "application/media_control+xml"

#: The RFC 5168 §3 request for a full intra picture, as SIP devices expect it.
PICTURE_FAST_UPDATE = (
    b'<?xml version="1.0" encoding="utf-8" ?>\r\n'
    b"<media_control>\r\n"
    b"  <vc_primitive>\r\n"
    b"    <to_encoder>\r\n"
    b"      <picture_fast_update/>\r\n"
    b"    </to_encoder>\r\n"
    b"  </vc_primitive>\r\n"
    b"</media_control>\r\n"
)

_MAX_BODY = 8192


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def is_picture_fast_update(body: bytes | str) -> bool:
    """Whether a SIP INFO body is an RFC 5168 ``picture_fast_update`` request.

    Tolerates namespaces, whitespace and a missing XML declaration; refuses bodies with
    a DTD (entity expansion) or over 8 KiB.  Never raises.
    """
    data = body.encode() if isinstance(body, str) else body
    if len(data) > _MAX_BODY or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return False
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, ValueError):
        return False
    if _local(root.tag) != "media_control":
        return False
    for prim in root:
        if _local(prim.tag) != "vc_primitive":
            continue
        for enc in prim:
            if _local(enc.tag) == "to_encoder" and any(_local(e.tag) == "picture_fast_update" for e in enc):
                return True
    return False


@dataclass(frozen=True, slots=True)
class FeedbackSupport:
    """Which keyframe requests a peer accepts: RTCP PLI, RTCP FIR, SIP INFO (RFC 5168)."""

    pli: bool = False
    fir: bool = False
    info: bool = True

    @classmethod
    def from_rtcp_fb(cls, values: Iterable[str], *, info: bool = True) -> FeedbackSupport:
        """From ``a=rtcp-fb`` values sans PT, e.g. ``["nack", "nack pli", "ccm fir"]`` (RFC 4585 §4.2)."""
        pli = fir = False
        for value in values:
            words = value.lower().split()
            if words[:2] == ["nack", "pli"]:
                pli = True
            elif words[:2] == ["ccm", "fir"]:
                fir = True
        return cls(pli=pli, fir=fir, info=info)


@dataclass(frozen=True, slots=True)
class KeyframeRequest:
    """One request to send: ``kind`` is ``"pli"`` or ``"fir"`` (``rtcp`` set; put it in a compound
    RTCP packet, RFC 4585 §3.1) or ``"info"`` (send a SIP INFO with ``content_type`` and ``body``)."""

    kind: str
    rtcp: Pli | Fir | None = None
    content_type: str = ""
    body: bytes = b""


class KeyframeRequester:
    """Asks one media sender for keyframes, rate-limited (see the module docstring).

    ``sender_ssrc`` is our SSRC toward that sender (the RTCP packet sender);
    ``media_ssrc`` the sender's SSRC, settable later when first seen (until then only
    INFO can be used).
    """

    def __init__(
        self,
        support: FeedbackSupport,
        *,
        sender_ssrc: int,
        media_ssrc: int | None = None,
        min_interval: float = 0.5,
        fir_sequence: int | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        self.support = support
        self.sender_ssrc = sender_ssrc
        self.media_ssrc = media_ssrc
        self.min_interval = min_interval
        if fir_sequence is None:
            fir_sequence = random_uint(entropy or SystemEntropy(), 8)
        self._fir_next = fir_sequence & 0xFF
        self._fir_outstanding: int | None = None
        self._last_sent: float | None = None
        self._pending: bool | None = None  # None: nothing held; else the held request's "full"
        self._out: list[KeyframeRequest] = []
        self.requests_sent = 0
        self.requests_coalesced = 0
        self.requests_unsupported = 0

    # -- inputs -----------------------------------------------------------------------------------

    def request(self, now: float, *, full: bool = False) -> None:
        """Ask for a keyframe: ``full`` for a decoder refresh (FIR-worthy), else a picture loss."""
        if self._last_sent is not None and now < self._last_sent + self.min_interval:
            self.requests_coalesced += 1
            self._pending = full or bool(self._pending)
            return
        self._send(now, full)

    def handle_feedback(self, packet: RtcpPacket, now: float) -> None:
        """Forward a PLI or FIR received from the other side; other RTCP packets are ignored."""
        if isinstance(packet, Pli):
            self.request(now)
        elif isinstance(packet, Fir):
            self.request(now, full=True)

    def handle_info(self, body: bytes | str, now: float) -> bool:
        """Forward a SIP INFO body from the other side; returns whether it was a picture_fast_update."""
        if not is_picture_fast_update(body):
            return False
        self.request(now)
        return True

    def keyframe_received(self, now: float) -> None:
        """The sender delivered a keyframe: the FIR command is done and held requests are dropped."""
        if self._fir_outstanding is not None:
            self._fir_next = (self._fir_outstanding + 1) & 0xFF
            self._fir_outstanding = None
        self._pending = None

    # -- timers -----------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When a held request may be sent."""
        if self._pending is None or self._last_sent is None:
            return None
        return self._last_sent + self.min_interval

    def handle_timer(self, now: float) -> None:
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            full = bool(self._pending)
            self._pending = None
            self._send(now, full)

    # -- output -----------------------------------------------------------------------------------

    def pop_requests(self) -> list[KeyframeRequest]:
        """The requests to send now, oldest first."""
        out, self._out = self._out, []
        return out

    def _send(self, now: float, full: bool) -> None:
        s = self.support
        rtcp_ok = self.media_ssrc is not None
        if rtcp_ok and s.fir and (full or not s.pli):
            kind = "fir"
        elif rtcp_ok and s.pli:
            kind = "pli"
        elif s.info:
            kind = "info"
        else:
            self.requests_unsupported += 1
            return
        self._pending = None
        self._last_sent = now
        self.requests_sent += 1
        if kind == "info":
            self._out.append(KeyframeRequest("info", None, MEDIA_CONTROL_CONTENT_TYPE, PICTURE_FAST_UPDATE))
            return
        assert self.media_ssrc is not None
        if kind == "pli":
            self._out.append(KeyframeRequest("pli", Pli(self.sender_ssrc, self.media_ssrc)))
            return
        if self._fir_outstanding is None:  # a new command; otherwise a repetition (RFC 5104 §4.3.1.1)
            self._fir_outstanding = self._fir_next
        fir = Fir(self.sender_ssrc, [(self.media_ssrc, self._fir_outstanding)])
        self._out.append(KeyframeRequest("fir", fir))
