"""Video (and generated media) details of the translations: generated streams, VP8 ⇄ H.264.

Theory of operation
-------------------
**Generated streams** (``generate_av_for_ua``).  When the SIP side answers an audio+video
call with audio only, the browser's video m-line would be refused (port 0); a browser whose
remote ``<video>`` then holds an audio track it never starts playing, or a phone that sends
no audio for a while, leaves the user with a frozen page.  With generation applying to the
SIP peer, :func:`generated_plan` accepts such a browser m-line anyway with a format the
relay can make itself (VP8, H.264 packetization-mode 1; Opus, PCMU, PCMA, G.722 for audio):
the plan has no SIP side (``sip_remote`` None, ``generated``), we only send (our answer says
``sendonly``, the plan's direction ``recvonly``), and the relay's generator sends black
frames or silence (:mod:`wcs.gateway.relay.generators`).  Streams the SIP side did accept
are marked ``generate`` too: the relay fills the browser's side of them while the SIP peer
sends nothing for ``rtp_generator_start_timeout``.  Re-offers on the SIP side leave a
generated stream refused (port 0) and unchanged (:mod:`wcs.sdp.reoffer`).

**Video transcoding** (``video_transcoding``, default off: it costs a decoder and an encoder
per direction).  Our SIP offer's video m-line lists, after the browser's formats, the one of
VP8 and H.264 (Constrained Baseline, packetization-mode 1) the browser did not offer
(:func:`transcoding_formats`) — passthrough is always preferred.  A SIP answer that picks
it (:func:`transcoded_plan`) pairs the browser's other codec with it (``PtPair.sip_name``),
and the relay runs a :class:`~wcs.rtp.video.transcode.VideoTranscoder` per direction.  For
an incoming call the browser's offer gets the codec the SIP offer lacks the same way, and a
browser answer with only that codec pairs it with the SIP offer's (:func:`transcoded_pairs`).
"""

from __future__ import annotations

from dataclasses import replace

from wcs.sdp.browser import WebRtcTransport, webrtc_section
from wcs.sdp.build import format_lines, remote_rtcp, remote_rtp
from wcs.sdp.codecs import Format, find_match, media_formats
from wcs.sdp.h264 import h264_profile, packetization_mode, profile_level_id
from wcs.sdp.model import MediaDescription, SessionDescription
from wcs.sdp.negotiate import answer_direction, effective_direction, intersect_directions, reverse_direction
from wcs.sdp.plan import PtPair, StreamPlan

__all__ = ["GENERATED_AUDIO", "H264_FOR_SIP", "VP8_FOR_SIP", "generated_plan", "generated_section",
           "transcoded_pairs", "transcoded_plan", "transcoding_formats", "with_generation",
           "with_peer_feedback"]

#: audio the relay can generate silence in (wcs.rtp.generators.SILENCE), in no particular order
GENERATED_AUDIO = ("opus", "pcmu", "pcma", "g722")
_FEEDBACK = ("nack pli", "ccm fir")
#: what we add to a SIP offer for transcoding (PT assigned when offered)
H264_FOR_SIP = Format(0, "H264", 90000, 1, "profile-level-id=42e01f;packetization-mode=1", _FEEDBACK)
VP8_FOR_SIP = Format(0, "VP8", 90000, 1, "", _FEEDBACK)
_DYNAMIC = range(96, 128)


def _h264_mode_1(fmt: Format) -> bool:
    return (fmt.encoding == "h264" and packetization_mode(fmt.fmtp) == "1"
            and h264_profile(profile_level_id(fmt.fmtp)) == "constrained-baseline")


def _generatable(fmt: Format, kind: str) -> bool:
    if kind == "video":
        return fmt.encoding == "vp8" or _h264_mode_1(fmt)
    return fmt.encoding in GENERATED_AUDIO


def with_peer_feedback(plan: StreamPlan, answer: MediaDescription | None) -> StreamPlan:
    """A video ``plan`` noting the SIP answer's a=rtcp-fb for its codec (keyframe requests toward
    the peer: RTCP PLI/FIR only when it declared them, else SIP INFO)."""
    if plan.kind != "video" or not plan.accepted or answer is None or plan.generated:
        return plan
    fmt = next((f for f in media_formats(answer) if f.pt == plan.codecs[0].sip_pt), None)
    return replace(plan, sip_feedback=fmt.rtcp_fb if fmt is not None else ())


# ---------------------------------------------------------------- generated streams


def generated_plan(bmd: MediaDescription, webrtc_offer: SessionDescription, index: int) -> StreamPlan | None:
    """A plan that feeds browser m-line ``index`` from a generator, or None when we cannot."""
    if bmd.rejected or bmd.kind not in ("audio", "video") or "RTP/" not in bmd.proto.upper():
        return None
    if webrtc_offer.media_direction(bmd) not in ("sendrecv", "recvonly"):
        return None   # the browser does not want to receive on it
    formats = [f for f in media_formats(bmd) if _generatable(f, bmd.kind)]
    vp8 = [f for f in formats if f.encoding == "vp8"]
    chosen = (vp8 or formats)[:1]
    if not chosen:
        return None
    fmt = chosen[0]
    return StreamPlan(bmd.kind, bmd.mid, [PtPair(fmt.pt, fmt.pt, fmt.name, fmt.clock_rate)], None, None,
                      "recvonly", sip_index=index, webrtc_index=index, webrtc_direction="recvonly",
                      generate=True, generated=True)


def with_generation(plan: StreamPlan, bmd: MediaDescription, webrtc_offer: SessionDescription,
                    index: int) -> StreamPlan:
    """``plan`` when generation applies: accepted streams filled after a timeout, refused
    browser m-lines fed by a generator when possible."""
    if plan.accepted:
        return replace(plan, generate=True)
    return generated_plan(bmd, webrtc_offer, index) or plan


def generated_section(plan: StreamPlan, bmd: MediaDescription,
                      transport: WebRtcTransport) -> MediaDescription:
    """Our answer's m-line toward the browser for a generated plan: we only send."""
    setup = "passive" if bmd.attribute("setup") != "passive" else "active"
    pair = plan.codecs[0]
    section = webrtc_section(bmd.kind, bmd.proto, bmd.mid, transport, setup, "sendonly", [pair.webrtc_pt])
    fmt = next(f for f in media_formats(bmd) if f.pt == pair.webrtc_pt)
    feedback = [fb for fb in fmt.rtcp_fb if fb in _FEEDBACK] if bmd.kind == "video" else []
    section.lines += format_lines(fmt, fmt.fmtp, feedback)
    return section


# ---------------------------------------------------------------- VP8 ⇄ H.264


def transcoding_formats(kept: list[Format], taken: set[int]) -> list[Format]:
    """What our SIP offer's video m-line adds for transcoding: the codec the browser lacks."""
    real = [f for f in kept if f.encoding in ("vp8", "h264")]
    has_vp8 = any(f.encoding == "vp8" for f in real)
    has_h264 = any(_h264_mode_1(f) for f in real)
    if has_vp8 == has_h264:
        return []   # both (passthrough either way) or neither (nothing to transcode from)
    pt = next((p for p in _DYNAMIC if p not in taken), None)
    if pt is None:
        return []
    return [replace(H264_FOR_SIP if has_vp8 else VP8_FOR_SIP, pt=pt)]


def transcoded_plan(sip_answer: SessionDescription, smd: MediaDescription | None,
                    offered: MediaDescription | None, webrtc_offer: SessionDescription,
                    bmd: MediaDescription, index: int) -> StreamPlan | None:
    """The plan for a SIP answer that chose the codec :func:`transcoding_formats` added."""
    if smd is None or offered is None or smd.rejected or bmd.rejected or smd.kind != "video" \
            or bmd.kind != "video":
        return None
    browser = [f for f in media_formats(bmd) if f.encoding == "vp8" or _h264_mode_1(f)]
    ours = media_formats(offered)
    for s in media_formats(smd):
        declared = find_match(s, ours)
        if declared is None or s.encoding not in ("vp8", "h264") or find_match(s, browser) is not None:
            continue
        if s.encoding == "h264" and not _h264_mode_1(s):
            continue
        other = next((b for b in browser if b.encoding != s.encoding), None)
        if other is None:
            continue
        direction = reverse_direction(intersect_directions(
            answer_direction(webrtc_offer.media_direction(bmd)), effective_direction(sip_answer, smd)))
        return StreamPlan("video", bmd.mid, [PtPair(other.pt, s.pt, other.name, 90000, sip_name=s.name)],
                          remote_rtp(sip_answer, smd), remote_rtcp(sip_answer, smd), direction, index,
                          smd.has_attribute("rtcp-mux"), index, [declared], direction)
    return None


def transcoded_pairs(offered: list[Format], answered: list[Format]) -> list[PtPair]:
    """An incoming stream the browser answered only with the codec we added: browser VP8 ⇄ SIP
    H.264 or browser H.264 ⇄ SIP VP8, the browser's first such format with the SIP offer's first."""
    sip = [f for f in offered if f.encoding == "vp8" or _h264_mode_1(f)]
    for b in answered:
        if b.encoding != "vp8" and not _h264_mode_1(b):
            continue
        s = next((f for f in sip if f.encoding != b.encoding), None)
        if s is not None:
            return [PtPair(b.pt, s.pt, b.name, 90000, sip_name=s.name)]
    return []
