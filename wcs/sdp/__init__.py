"""wcs.sdp — SDP model, parser, codecs, offer/answer and WebRTC ⇄ SIP translation (sans-I/O).

Modules: :mod:`~wcs.sdp.model` (session model, serializer), :mod:`~wcs.sdp.parse`,
:mod:`~wcs.sdp.codecs` (registry, formats, matching), :mod:`~wcs.sdp.h264`
(RFC 6184 profile/level rules), :mod:`~wcs.sdp.policy` (:class:`CodecPolicy`),
:mod:`~wcs.sdp.negotiate` (RFC 3264 directions, hold, versions),
:mod:`~wcs.sdp.webrtc` (the four translations), :mod:`~wcs.sdp.browser` (our ICE/DTLS
sections), :mod:`~wcs.sdp.reoffer` (SIP re-INVITEs against the fixed browser leg),
:mod:`~wcs.sdp.delayed` (INVITE without SDP), :mod:`~wcs.sdp.build` (helpers).
"""

from wcs.sdp.codecs import REGISTRY, CodecSpec, Format, find_codec, formats_match, media_formats
from wcs.sdp.delayed import webrtc_offer_from_policy
from wcs.sdp.errors import NoCommonCodec, SdpError, SdpParseError, SdpUsageError
from wcs.sdp.model import MediaDescription, Origin, RtpMap, SessionDescription
from wcs.sdp.negotiate import VersionedOrigin, effective_direction, is_hold, remote_changed
from wcs.sdp.parse import parse_sdp
from wcs.sdp.policy import CodecPolicy
from wcs.sdp.reoffer import answer_sip_reoffer, apply_sip_answer, sip_offer_from_plans
from wcs.sdp.webrtc import (
    PtPair,
    SipTransport,
    StreamPlan,
    WebRtcTransport,
    sip_answer_from_webrtc,
    sip_offer_from_webrtc,
    webrtc_answer_from_sip,
    webrtc_offer_from_sip,
)

__all__ = [
    "REGISTRY", "CodecPolicy", "CodecSpec", "Format", "MediaDescription", "NoCommonCodec", "Origin",
    "PtPair", "RtpMap", "SdpError", "SdpParseError", "SdpUsageError", "SessionDescription", "SipTransport",
    "StreamPlan", "VersionedOrigin", "WebRtcTransport", "answer_sip_reoffer", "apply_sip_answer",
    "effective_direction", "find_codec", "formats_match", "is_hold", "media_formats", "parse_sdp",
    "remote_changed", "sip_answer_from_webrtc", "sip_offer_from_plans", "sip_offer_from_webrtc",
    "webrtc_answer_from_sip", "webrtc_offer_from_policy", "webrtc_offer_from_sip",
]
