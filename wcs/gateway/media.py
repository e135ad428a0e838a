"""What the gateway core asks of the media plane, and what the media plane reports back.

The core decides *when* media is needed and *how* it is negotiated; an adapter owns the
sockets (``wcs.aio.media``).  Tests give the core a fake :class:`MediaController`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import WcsError
from ..sdp.browser import WebRtcTransport
from ..sdp.model import SessionDescription
from ..sdp.plan import SipTransport, StreamPlan

__all__ = ["DtmfDetected", "KeyframeNeeded", "MediaAllocation", "MediaController", "MediaError",
           "MediaEvent", "MediaStateChanged", "MediaTimeout", "remote_fingerprints",
           "remote_ice_credentials"]


class MediaError(WcsError):
    """The media plane could not do what was asked (e.g. no free ports)."""


@dataclass(frozen=True)
class MediaAllocation:
    """Local transport parameters of a call: what our SDP on each side must say."""

    webrtc: WebRtcTransport
    sip: SipTransport


@dataclass(frozen=True)
class MediaStateChanged:
    """The browser transport of ``call_id`` changed state ("connected", "failed", "closed")."""

    call_id: str
    state: str
    error: str | None = None


@dataclass(frozen=True)
class DtmfDetected:
    """A DTMF digit arrived as RFC 4733 events on one leg (``leg``: "sip" or "browser")."""

    call_id: str
    digit: str
    leg: str
    duration: float


@dataclass(frozen=True)
class MediaTimeout:
    """No RTP arrived from ``leg`` for ``seconds`` (RTP activity detection)."""

    call_id: str
    leg: str
    seconds: float


@dataclass(frozen=True)
class KeyframeNeeded:
    """The browser asked for a keyframe the SIP peer can only be asked for over SIP (INFO)."""

    call_id: str


MediaEvent = MediaStateChanged | DtmfDetected | MediaTimeout | KeyframeNeeded


class MediaController(Protocol):
    """The media plane as the gateway core sees it."""

    def allocate(self, call_id: str, sip_streams: int, now: float) -> MediaAllocation:
        """Reserve a WebRTC transport and ``sip_streams`` RTP ports; raise MediaError."""
        ...

    def connect(self, call_id: str, plans: Sequence[StreamPlan], *,
                fingerprints: Sequence[tuple[str, str]], ice: tuple[str, str] | None,
                now: float) -> None:
        """Start relaying with the negotiated ``plans`` and the browser's DTLS/ICE parameters;
        called again after a renegotiation, it keeps each SIP stream's outgoing RTP continuous."""
        ...

    def set_held(self, call_id: str, held: bool) -> None:
        """Stop or resume forwarding media of a call."""
        ...

    def send_dtmf(self, call_id: str, digits: str, now: float, *, duration: float = 0.1) -> bool:
        """Play ``digits`` (``0-9 * # A-D``) to the SIP peer as RFC 4733 events, one after the
        other; False when the call negotiated no telephone-event or media does not flow
        toward SIP (held): send SIP INFO instead.  Other characters raise MediaError."""
        ...

    def release(self, call_id: str) -> None:
        """Stop the call's media and free its ports (unknown ids are ignored)."""
        ...

    def stats(self, call_id: str) -> dict[str, object] | None:
        """Per-leg packets/bytes/lost/jitter/RTT of a call's media (JSON-ready); None if unknown."""
        ...


def _attribute_values(sdp: SessionDescription, name: str) -> list[str]:
    values = list(sdp.attributes(name))
    for media in sdp.media:
        values.extend(media.attributes(name))
    return values


def remote_fingerprints(sdp: SessionDescription) -> list[tuple[str, str]]:
    """Every ``a=fingerprint`` (session and media level) as (algorithm, value), deduplicated."""
    seen: list[tuple[str, str]] = []
    for value in _attribute_values(sdp, "fingerprint"):
        algorithm, _, digest = value.strip().partition(" ")
        pair = (algorithm.lower(), digest.strip().upper())
        if digest and pair not in seen:
            seen.append(pair)
    return seen


def remote_ice_credentials(sdp: SessionDescription) -> tuple[str, str] | None:
    """The first ``a=ice-ufrag``/``a=ice-pwd`` pair (BUNDLE: all m-lines share one)."""
    ufrags = _attribute_values(sdp, "ice-ufrag")
    pwds = _attribute_values(sdp, "ice-pwd")
    if ufrags and pwds:
        return ufrags[0].strip(), pwds[0].strip()
    return None
