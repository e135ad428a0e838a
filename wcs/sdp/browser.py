"""Our SDP towards the browser: session header, ICE/DTLS media sections, rejected sections.

Every accepted section carries what JSEP (RFC 8829 §5.2/§5.3) and Chromium require:
``c=`` and port of our first (UDP) candidate, the candidates and
``a=end-of-candidates`` (the WebSDK never trickles), ``a=ice-ufrag``/``a=ice-pwd``,
``a=fingerprint``, ``a=setup``, ``a=mid``, the direction, ``a=msid`` when we send (so
the browser's ``track`` event carries a stream) and ``a=rtcp-mux``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wcs.sdp.build import candidate_address, connection, new_session, rejected_copy
from wcs.sdp.errors import SdpUsageError
from wcs.sdp.model import MediaDescription, SessionDescription

_ICE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


@dataclass
class WebRtcTransport:
    """Our ICE/DTLS parameters towards the browser."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str                      # "sha-256 AB:CD:…"
    candidates: list[str]                 # a=candidate values ("1 1 udp 2130706431 1.2.3.4 40000 typ host")
    ice_lite: bool = True
    session_id: str = "0"                 # o= session id of the SDP we send to the browser
    stream_id: str = "wcs"                # a=msid stream id

    def __post_init__(self) -> None:
        # RFC 8839 §5.4: ice-ufrag 4–256 and ice-pwd 22–256 ice-chars; browsers enforce it
        for name, value, low in (("ice_ufrag", self.ice_ufrag, 4), ("ice_pwd", self.ice_pwd, 22)):
            if not low <= len(value) <= 256 or any(c not in _ICE_CHARS for c in value):
                raise SdpUsageError(f"{name} must be {low}-256 ice-chars (RFC 8839 §5.4)")


def webrtc_session(transport: WebRtcTransport) -> SessionDescription:
    """``v= o= s= t=`` (+ ``a=ice-lite``) of an SDP for the browser."""
    address = (candidate_address(transport.candidates) or ("0.0.0.0", 9))[0]
    out = new_session("-", transport.session_id, address)
    out.lines = [("t", "0 0")]
    if transport.ice_lite:
        out.lines.append(("a", "ice-lite"))
    return out


def webrtc_section(kind: str, proto: str, mid: str | None, transport: WebRtcTransport, setup: str,
                   direction: str, pts: list[int]) -> MediaDescription:
    """An accepted media section up to ``a=rtcp-mux``; the caller appends the formats."""
    address, port = candidate_address(transport.candidates) or ("0.0.0.0", 9)
    md = MediaDescription(kind, port, None, proto, [str(pt) for pt in pts])
    md.lines = [("c", connection(address))]
    md.lines += [("a", f"candidate:{c.removeprefix('a=').removeprefix('candidate:')}")
                 for c in transport.candidates]
    if transport.candidates:
        md.lines.append(("a", "end-of-candidates"))
    md.lines += [("a", f"ice-ufrag:{transport.ice_ufrag}"), ("a", f"ice-pwd:{transport.ice_pwd}"),
                 ("a", f"fingerprint:{transport.fingerprint}"), ("a", f"setup:{setup}")]
    if mid is not None:
        md.lines.append(("a", f"mid:{mid}"))
    md.lines.append(("a", direction))
    if direction in ("sendrecv", "sendonly"):
        md.lines.append(("a", f"msid:{transport.stream_id} {transport.stream_id}-{kind}-{mid or 0}"))
    md.lines.append(("a", "rtcp-mux"))
    return md


def webrtc_rejected(bmd: MediaDescription, transport: WebRtcTransport) -> MediaDescription:
    """A port-0 answer section keeping the mid (JSEP §5.3.1, RFC 8843 §7.3.3)."""
    md = rejected_copy(bmd)
    md.lines = [("c", "IN IP4 0.0.0.0")]
    if bmd.mid is not None:
        md.lines.append(("a", f"mid:{bmd.mid}"))
    if "RTP/" in bmd.proto:
        md.lines += [("a", f"ice-ufrag:{transport.ice_ufrag}"), ("a", f"ice-pwd:{transport.ice_pwd}"),
                     ("a", f"fingerprint:{transport.fingerprint}"), ("a", "setup:passive"),
                     ("a", "inactive"), ("a", "rtcp-mux")]
    return md


def add_msid_semantic(out: SessionDescription, transport: WebRtcTransport) -> None:
    if any(md.has_attribute("msid") for md in out.media):
        out.lines.append(("a", f"msid-semantic: WMS {transport.stream_id}"))
