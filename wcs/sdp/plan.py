"""The outcome of a WebRTC ⇄ SIP negotiation, as the relay needs it (sans-I/O data types).

* :class:`SipTransport` — our plain-RTP side: address, ports, SDES, what may be transcoded;
* :class:`PtPair` — one payload type as each leg numbers it (and the SIP codec when the relay
  transcodes);
* :class:`StreamPlan` — one media stream: its pairs, the SIP peer's addresses, the direction
  seen from the browser, SRTP keys, generated media.

The translations that produce them live in :mod:`wcs.sdp.webrtc`; the relay
(:mod:`wcs.gateway.relay`) consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wcs.sdp.codecs import Format
from wcs.sdp.crypto import SrtpKeys

__all__ = ["PtPair", "SipTransport", "StreamPlan"]


@dataclass
class SipTransport:
    """Our plain-RTP side: address and RTP port per SIP m-line index."""

    address: str
    ports: dict[int, int]                 # m-line index → RTP port; missing index → stream rejected
    session_id: str = "0"                 # o= session id (version starts at 1)
    username: str = "-"
    ptime: int | None = 20                # a=ptime on audio m-lines (None: omit)
    srtp: str = "off"                     # SDES toward SIP (wcs.sdp.sdes): "off" | "optional" | "mandatory"
    #: m-line index → fresh random SRTP key material (wcs.sdp.crypto.KEY_MATERIAL octets each),
    #: one per offered crypto suite; the first also answers
    srtp_keys: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    transcode_video: bool = False         # offer VP8/H.264 the browser lacks, for the relay to transcode


@dataclass(frozen=True)
class PtPair:
    """One payload type as the browser and the SIP side number it."""

    webrtc_pt: int
    sip_pt: int
    name: str
    clock_rate: int                       # the browser leg's clock rate
    sip_clock_rate: int | None = None     # set when the SIP leg differs (telephone-event 48000 ⇄ 8000)
    sip_name: str | None = None           # the SIP leg's codec when the relay transcodes (G729, speex …)

    @property
    def transcoded(self) -> bool:
        """The relay decodes and re-encodes this pair (``name`` on the browser leg, ``sip_name``)."""
        return self.sip_name is not None

    @property
    def sip_rate(self) -> int:
        """The SIP leg's clock rate."""
        return self.sip_clock_rate or self.clock_rate

    @property
    def sip_encoding(self) -> str:
        """The SIP leg's encoding name, lower case."""
        return (self.sip_name or self.name).lower()


@dataclass
class StreamPlan:
    """What the relay needs for one media stream (one per m-line)."""

    kind: str
    webrtc_mid: str | None
    codecs: list[PtPair]
    sip_remote: tuple[str, int] | None
    sip_remote_rtcp: tuple[str, int] | None
    direction: str                        # seen from the browser; "inactive" when rejected
    sip_index: int | None = None          # m-line index on the SIP side
    sip_rtcp_mux: bool = False            # RTCP shares the RTP port on the SIP side
    webrtc_index: int | None = None       # m-line index on the browser side
    sip_formats: list[Format] = field(default_factory=list)  # negotiated formats as OUR SIP SDP declared them
    webrtc_direction: str = "inactive"    # what the browser leg negotiated (fixed: no renegotiation)
    #: SIP formats (as our SIP SDP declared them) a later SIP offer may switch this stream to by
    #: transcoding the browser's codec (or back to passthrough); empty: no transcoding allowed
    sip_alternatives: list[Format] = field(default_factory=list)
    #: SDES keys of the SIP leg (wcs.sdp.sdes); None: plain RTP
    sip_srtp: SrtpKeys | None = None
    #: the relay fills the browser's side with generated media while the SIP side is silent
    generate: bool = False
    #: no SIP stream at all: the browser gets only generated media (wcs.sdp.video)
    generated: bool = False
    #: the SIP peer's a=rtcp-fb for the stream's codec when its SDP is the answer (keyframe requests
    #: toward it follow these); None: those of ``sip_formats``
    sip_feedback: tuple[str, ...] | None = None

    @property
    def transcoding(self) -> PtPair | None:
        """The pair the relay transcodes; None for a passthrough stream."""
        return next((pair for pair in self.codecs if pair.transcoded), None)

    def pair_for_sip_pt(self, pt: int) -> PtPair | None:
        """The pair for a PT arriving from the SIP side.

        A peer may send with the PT it declared (``sip_pt``) or the one we declared,
        which is always ``webrtc_pt`` (our SIP SDP reuses the browser's numbers and
        our browser SDP the SIP peer's); same-rate pairs come first.
        """
        for pair in self.codecs:
            if pair.sip_pt == pt and not pair.sip_clock_rate:
                return pair
        for pair in self.codecs:
            if pair.webrtc_pt == pt and not pair.sip_clock_rate:
                return pair
        return next((pair for pair in self.codecs if pair.sip_pt == pt), None)

    def pair_for_webrtc_pt(self, pt: int) -> PtPair | None:
        """The pair for a PT arriving from the browser."""
        return next((pair for pair in self.codecs if pair.webrtc_pt == pt), None)

    @property
    def accepted(self) -> bool:
        return bool(self.codecs)
