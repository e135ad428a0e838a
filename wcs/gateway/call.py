"""A gateway call: one browser leg joined to one SIP INVITE session, and its status frames.

Call statuses are the WebSDK's ``CALL_STATUS`` names.  They reach the SDK through five
interchangeable frame names (websdk-protocol.md §2.3); the mapping below follows API 1.x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..sdp.model import SessionDescription
from ..sdp.negotiate import VersionedOrigin
from ..sdp.plan import StreamPlan
from ..sip.invite import InviteSession
from .media import MediaAllocation

if TYPE_CHECKING:
    from .session import ClientSession

__all__ = ["Call", "STATUS_FRAME", "TERMINAL", "finish_status"]

#: the frame name that carries each status to the SDK
STATUS_FRAME = {
    "TRYING": "notifyTryingResponse",
    "RING": "ring",
    "RING_MEDIA": "ring",
    "SESSION_PROGRESS": "ring",
    "ESTABLISHED": "talk",
    "HOLD": "hold",
    "FINISH": "finish",
    "FAILED": "finish",
    "BUSY": "finish",
}
TERMINAL = frozenset({"FINISH", "FAILED", "BUSY"})

#: WCS reason strings (the SDK's CALL_STATUS_INFO)
NORMAL_CLEARING = "Normal call clearing"
REQUEST_TIMEOUT = "Failed by request timeout"
ICE_ERROR = "Failed by ICE error"
NO_COMMON_CODECS = "No common codecs"
RTP_ACTIVITY = "Failed by RTP activity"


def finish_status(status: int | None) -> str:
    """The terminal status for a SIP final failure: BUSY for 486/600, FAILED otherwise."""
    return "BUSY" if status in (486, 600) else "FAILED"


@dataclass(eq=False)
class Call:
    """Everything the gateway knows about one call."""

    id: str
    session: ClientSession
    incoming: bool
    caller: str
    callee: str
    visible_name: str | None
    has_audio: bool = True
    has_video: bool = False
    status: str = "PENDING"
    created: float = 0.0
    established_at: float | None = None
    #: the SIP INVITE session (None until the INVITE is sent / for a refused call)
    sip: InviteSession | None = None
    #: browser-side SDP: the browser's offer (outgoing) or our offer to it (incoming)
    webrtc_offer: SessionDescription | None = None
    #: SIP-side SDP: our INVITE offer (outgoing) or the caller's offer (incoming)
    sip_offer: SessionDescription | None = None
    media: MediaAllocation | None = None
    #: setRemoteSDP may reach the SDK exactly once per call (§2.9: no renegotiation)
    answer_sent: bool = False
    sip_status: int | None = None
    sip_message: str | None = None
    info: str | None = None
    #: the SDK's ``sipSDP`` lines for the SIP-side SDP
    extra_lines: list[str] = field(default_factory=list)
    custom: Any = None
    #: the negotiated streams (what the relay runs), and the browser's DTLS/ICE parameters
    plans: list[StreamPlan] = field(default_factory=list)
    fingerprints: list[tuple[str, str]] = field(default_factory=list)
    ice: tuple[str, str] | None = None
    #: our SIP-side o= numbering and the last SDP we sent on the SIP side (RFC 3264 §8)
    origin: VersionedOrigin | None = None
    sip_local: SessionDescription | None = None
    #: we hold the call (browser hold / REST); the SIP peer holds it
    held: bool = False
    remote_held: bool = False
    #: the hold state a re-INVITE of ours is asking for, while it is in flight
    pending_hold: bool | None = None
    #: a blind transfer of ours in progress (its target), and the socket the SDK call lives on
    transfer_target: str | None = None
    socket: str | None = None
    #: DTMF digits received from the SIP side (RFC 4733 events and INFO)
    dtmf_received: str = ""
    #: the INVITE session replacing ``sip`` while the SIP peer transfers us (REFER)
    replacing: InviteSession | None = None
    #: an incoming INVITE without SDP (delayed offer): our offer goes in the 200 OK, the SIP
    #: answer comes in the ACK; the browser's answer is kept until then
    delayed_offer: bool = False
    browser_answer: SessionDescription | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def describe(self) -> dict[str, Any]:
        """The Call object as status frames and the REST API show it (WCS field names)."""
        data: dict[str, Any] = {
            "callId": self.id,
            "status": self.status,
            "incoming": self.incoming,
            "caller": self.caller,
            "callee": self.callee,
            "visibleName": self.visible_name or self.caller,
            "hasAudio": self.has_audio,
            "hasVideo": self.has_video,
            "mediaProvider": "WebRTC",
            "sessionId": self.session.id,
            "appKey": self.session.app_key,
        }
        if self.sip_status is not None:
            data["sipStatus"] = self.sip_status
            data["sipMessage"] = self.sip_message or ""
        if self.info:
            data["info"] = self.info
        if self.custom is not None:
            data["custom"] = self.custom
        if self.dtmf_received:
            data["dtmfReceived"] = self.dtmf_received
        if self.transfer_target is not None:
            data["target"] = self.transfer_target
        return data
