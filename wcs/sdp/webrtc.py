"""WebRTC ⇄ plain-RTP SDP translation for a relaying gateway.

The gateway terminates ICE/DTLS-SRTP towards the browser and relays RTP payloads
unchanged to the SIP side, so both legs normally agree on the same codecs; only payload
type numbers (and telephone-event clock rates) may differ and are mapped by the
relay.  When an audio stream would otherwise fail and the policy allows it, the relay
transcodes instead (:mod:`wcs.sdp.transcoding`: the pair names the SIP codec in
``PtPair.sip_name``).  Four translations cover both call directions:

outgoing call (browser offers)::

    browser offer ──sip_offer_from_webrtc──▶ SIP offer (INVITE)
    browser answer ◀──webrtc_answer_from_sip── SIP answer (2xx/18x)

incoming call (SIP offers)::

    SIP offer ──webrtc_offer_from_sip──▶ browser offer
    SIP answer (2xx) ◀──sip_answer_from_webrtc── browser answer

The SIP side is plain ``RTP/AVP`` (or SDES ``RTP/SAVP``, :mod:`wcs.sdp.sdes`): no ICE, DTLS,
mid, msid, ssrc, rid, extmap, rtcp-mux, rtcp-rsize, BUNDLE or browser-only rtcp-fb.  M-line i
of the SIP offer is m-line i of the browser offer (streams we cannot carry get port 0, RFC 3264 §6 keeps
the count).  Towards the browser every stream carries ICE credentials, the DTLS
fingerprint, ``a=rtcp-mux`` and our candidates; for an incoming call the ``a=mid``
of each m-line is the index of the SIP m-line it stands for, so the answer maps
back without extra state.

Directions: each SDP speaks for the party it proxies (the SIP answer's direction
becomes the browser answer's, and vice versa), restricted by RFC 3264 §6.1.
``StreamPlan.direction`` is always seen from the browser: ``sendonly`` = the browser
sends and the SIP side only receives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from wcs.sdp.browser import (
    WebRtcTransport,
    add_msid_semantic,
    webrtc_rejected,
    webrtc_section,
    webrtc_session,
)
from wcs.sdp.build import (
    format_lines,
    new_session,
    rejected_copy,
    remote_rtcp,
    remote_rtp,
    session_lines,
    validate_extra_lines,
)
from wcs.sdp.codecs import BROWSER_CODECS, WEBRTC_HELPERS, Format, find_match, media_formats
from wcs.sdp.crypto import CryptoError
from wcs.sdp.errors import NoCommonCodec
from wcs.sdp.h264 import h264_answer_fmtp
from wcs.sdp.model import Line, MediaDescription, SessionDescription
from wcs.sdp.negotiate import answer_direction, effective_direction, intersect_directions, reverse_direction
from wcs.sdp.plan import PtPair, SipTransport, StreamPlan
from wcs.sdp.policy import CodecPolicy
from wcs.sdp.sdes import (
    answer_lines,
    offer_lines,
    offer_proto,
    plain_or_secure,
    translatable,
    with_answer_keys,
)
from wcs.sdp.transcoding import (
    TranscodingDisabled,
    best_codec,
    browser_formats,
    codec_key,
    engine_codecs,
    event_formats,
    sip_only_events,
    sip_only_formats,
    sip_target,
    would_transcode,
)
from wcs.sdp.video import (
    generated_section,
    transcoded_pairs,
    transcoded_plan,
    transcoding_formats,
    with_generation,
    with_peer_feedback,
)

__all__ = ["PtPair", "SipTransport", "StreamPlan", "WebRtcTransport", "sip_answer_from_webrtc",
           "sip_offer_from_webrtc", "webrtc_answer_from_sip", "webrtc_offer_from_sip"]

SIP_PROTOS = ("RTP/AVP", "RTP/AVPF")
_MEDIA = ("audio", "video")
_PASSIVE_FB = ("nack pli", "ccm fir")  # keyframe requests: the relay forwards them end to end


def _rejected_plan(kind: str, mid: str | None, sip_index: int | None, webrtc_index: int | None) -> StreamPlan:
    return StreamPlan(kind, mid, [], None, None, "inactive", sip_index, False, webrtc_index)


def _is_event(fmt: Format) -> bool:
    return fmt.encoding == "telephone-event"


def _is_real(fmt: Format) -> bool:
    return fmt.encoding not in ("telephone-event", "cn") and fmt.encoding not in WEBRTC_HELPERS


# ---------------------------------------------------------------- outgoing call


def sip_offer_from_webrtc(offer: SessionDescription, sip: SipTransport, policy: CodecPolicy,
                          extra_lines: Iterable[str] = ()) -> SessionDescription:
    """The INVITE's SDP for a browser offer (see module docstring).

    With transcoding allowed, audio m-lines also list the SIP-only codecs the relay can
    transcode to (:func:`wcs.sdp.transcoding.sip_only_formats`) after the browser's.
    """
    extra = validate_extra_lines(extra_lines)
    out = new_session(sip.username, sip.session_id, sip.address)
    out.lines = session_lines(sip.address, extra)
    usable = disabled = False
    codecs = engine_codecs(policy)
    for index, md in enumerate(offer.media):
        port = sip.ports.get(index)
        kept: list[Format] = []
        added: list[Format] = []
        if md.kind in _MEDIA and not md.rejected and port:
            formats = media_formats(md)
            kept = policy.order([f for f in formats if policy.offer_to_sip(f)])
            if md.kind == "audio":
                added = sip_only_formats(formats, kept, policy, codecs)
                disabled |= not any(_is_real(f) for f in kept) and would_transcode(policy, formats)
        rates = {f.clock_rate for f in kept + added if _is_real(f)}
        kept = [f for f in kept if not _is_event(f) or f.clock_rate in rates]
        if added:
            kept = ([f for f in kept if _is_real(f)] + added + [f for f in kept if not _is_real(f)]
                    + sip_only_events(kept, added, policy))
        if md.kind == "video" and sip.transcode_video and rates:   # VP8 ⇄ H.264 (wcs.sdp.video)
            kept += transcoding_formats(kept, {int(p) for m in offer.media for p in m.formats if p.isdigit()})
        if not rates or port is None:
            out.media.append(rejected_copy(md, "RTP/AVP" if "RTP/" in md.proto else md.proto))
            continue
        usable = True
        section = MediaDescription(md.kind, port, None, offer_proto(sip), [str(f.pt) for f in kept])
        for fmt in kept:
            section.lines += format_lines(fmt, _sip_offer_fmtp(fmt), static_rtpmap=False)
        if md.kind == "video":
            section.lines += _wildcard_fb(kept)
        if md.kind == "audio" and sip.ptime:
            section.lines.append(("a", f"ptime:{sip.ptime}"))
        section.lines += offer_lines(sip, index)   # SDES (wcs.sdp.sdes)
        section.lines.append(("a", offer.media_direction(md)))
        out.media.append(section)
    if not usable:
        raise TranscodingDisabled() if disabled else NoCommonCodec()
    return out


def _sip_offer_fmtp(fmt: Format) -> str:
    """The browser's fmtp, slimmed for a SIP INVITE.

    ``x-google-*`` parameters are dropped; so is H.264 ``level-asymmetry-allowed``
    (SIP peers rarely use it, and without it RFC 6184 §8.2.2 falls back to the lower
    common level, which :func:`h264_answer_fmtp` honours).  telephone-event at
    8000 Hz gets the customary ``0-15`` (the RFC 4733 §2.4.1 default, spelled out).
    """
    if _is_event(fmt) and not fmt.fmtp:
        return "0-15" if fmt.clock_rate == 8000 else ""
    drop = ("x-google-", "level-asymmetry-allowed") if fmt.encoding == "h264" else ("x-google-",)
    items = [item.strip() for item in fmt.fmtp.split(";") if item.strip()]
    return ";".join(item for item in items if not item.lower().startswith(drop))


def _wildcard_fb(formats: list[Format]) -> list[Line]:
    """``a=rtcp-fb:* …`` for the keyframe requests every kept video format offered."""
    real = [f for f in formats if _is_real(f)]
    return [("a", f"rtcp-fb:* {fb}") for fb in _PASSIVE_FB if real and all(fb in f.rtcp_fb for f in real)]


def webrtc_answer_from_sip(sip_answer: SessionDescription, webrtc_offer: SessionDescription,
                           transport: WebRtcTransport, *, sip_offer: SessionDescription | None = None,
                           generate: bool = False,
                           policy: CodecPolicy | None = None,
                           ) -> tuple[SessionDescription, list[StreamPlan]]:
    """The browser's answer for a SIP answer to :func:`sip_offer_from_webrtc`.

    ``sip_offer`` (optional) limits the SIP answer to what was offered.  A SIP answer that
    picked a SIP-only codec of our offer makes a transcoded stream with the browser's best
    codec that ``policy`` says the engine handles (without a policy: :data:`~wcs.sdp.
    transcoding.ENGINE_CODECS`; with neither ``policy`` nor ``sip_offer``: no transcoding).
    Raises :class:`NoCommonCodec` when no stream survives.
    """
    out = webrtc_session(transport)
    plans: list[StreamPlan] = []
    # a transcode needs proof we offered the SIP-only codec: the policy, or our SIP offer
    codecs = engine_codecs(policy) if policy is not None or sip_offer is not None else frozenset()
    for index, bmd in enumerate(webrtc_offer.media):
        smd = sip_answer.media[index] if index < len(sip_answer.media) else None
        offered = sip_offer.media[index] if sip_offer and index < len(sip_offer.media) else None
        plan = _answer_stream(sip_answer, smd, offered, webrtc_offer, bmd, index, codecs, policy)
        if not plan.accepted and bmd.kind == "video":   # VP8 ⇄ H.264 (wcs.sdp.video)
            plan = transcoded_plan(sip_answer, smd, offered, webrtc_offer, bmd, index) or plan
        plan = with_answer_keys(plan, offered, smd) or _rejected_plan(bmd.kind, bmd.mid, index, index)
        plan = with_peer_feedback(plan, smd)
        if generate:   # generate_av_for_ua applies to the SIP peer (wcs.sdp.video)
            plan = with_generation(plan, bmd, webrtc_offer, index)
        plans.append(plan)
        if not plan.accepted:
            out.media.append(webrtc_rejected(bmd, transport))
            continue
        if plan.generated:
            out.media.append(generated_section(plan, bmd, transport))
            continue
        assert smd is not None
        bf = {f.pt: f for f in media_formats(bmd)}
        sf = {f.pt: f for f in media_formats(smd)}
        section = webrtc_section(bmd.kind, bmd.proto, bmd.mid, transport, "passive"
                                  if bmd.attribute("setup") != "passive" else "active",
                                  reverse_direction(plan.direction), [p.webrtc_pt for p in plan.codecs])
        for pair in plan.codecs:
            b, s = bf[pair.webrtc_pt], sf[pair.sip_pt]
            fb = [x for x in b.rtcp_fb if x in _PASSIVE_FB or (x == "nack" and x in s.rtcp_fb)]
            fmtp = b.fmtp if pair.transcoded else _answer_fmtp(b, s)   # transcoded: the legs are independent
            section.lines += format_lines(b, fmtp, fb if bmd.kind == "video" else ())
        if plan.transcoding is None:
            section.lines += _ptime_lines(smd)
        out.media.append(section)
    if not any(p.accepted and not p.generated for p in plans):
        raise NoCommonCodec()   # generated media alone is no call
    _finish_webrtc(out, webrtc_offer, plans, transport)
    return out, plans


def _answer_stream(sip_answer: SessionDescription, smd: MediaDescription | None,
                   offered: MediaDescription | None, webrtc_offer: SessionDescription,
                   bmd: MediaDescription, index: int, codecs: frozenset[tuple[str, int]],
                   policy: CodecPolicy | None) -> StreamPlan:
    """Match one SIP answer m-line against the browser's offered formats."""
    if smd is None or smd.rejected or smd.kind != bmd.kind or bmd.rejected or bmd.kind not in _MEDIA:
        return _rejected_plan(bmd.kind, bmd.mid, index, index)
    browser = [f for f in media_formats(bmd) if f.encoding not in WEBRTC_HELPERS]
    answered = media_formats(smd)
    allowed: list[Format] = []
    if offered is not None:
        allowed = media_formats(offered)
        answered = [f for f in answered if find_match(f, allowed) is not None]
    pairs: list[PtPair] = []
    used: set[int] = set()
    for s in answered:
        if not _is_real(s):
            continue
        b = find_match(s, [f for f in browser if f.pt not in used])
        if b is not None:
            used.add(b.pt)
            pairs.append(PtPair(b.pt, s.pt, b.name, b.clock_rate))
    declared: list[Format] = []
    if pairs:
        pairs += _event_pairs([f for f in browser if _is_event(f)], [f for f in answered if _is_event(f)],
                              pairs[0].clock_rate)
        declared = _declared([b for b in browser if any(p.webrtc_pt == b.pt and not p.sip_clock_rate
                                                        for p in pairs)])
    elif bmd.kind == "audio":
        pairs, declared = _transcoded_pairs(browser, answered, allowed, codecs)
    if not pairs:
        return _rejected_plan(bmd.kind, bmd.mid, index, index)
    offer_dir = webrtc_offer.media_direction(bmd)
    sip_dir = effective_direction(sip_answer, smd)
    browser_dir = reverse_direction(intersect_directions(answer_direction(offer_dir), sip_dir))
    alternatives: list[Format] = []
    if bmd.kind == "audio" and (policy is not None or pairs[0].transcoded):
        alternatives = [f for f in allowed if _is_real(f) and codec_key(f) in codecs]
    return StreamPlan(bmd.kind, bmd.mid, pairs, remote_rtp(sip_answer, smd), remote_rtcp(sip_answer, smd),
                      browser_dir, index, smd.has_attribute("rtcp-mux"), index, declared, browser_dir,
                      alternatives)


def _transcoded_pairs(browser: list[Format], answered: list[Format], offered: list[Format],
                      codecs: frozenset[tuple[str, int]]) -> tuple[list[PtPair], list[Format]]:
    """An outgoing stream whose SIP answer picked a SIP-only codec: the browser's best codec
    paired with it for transcoding, and the events; plus our declared SIP formats."""
    b = best_codec(browser, codecs)
    s = best_codec(answered, codecs)
    if b is None or s is None:
        return [], []
    pairs = [PtPair(b.pt, s.pt, b.name, b.clock_rate, s.clock_rate, sip_name=s.name)]
    declared = [find_match(s, offered) or s]
    events = event_formats(browser, answered, b.clock_rate, s.clock_rate)
    if events is not None:
        be, se = events
        pairs.append(PtPair(be.pt, se.pt, be.name, be.clock_rate,
                            se.clock_rate if se.clock_rate != be.clock_rate else None))
        declared.append(find_match(se, offered) or se)
    return pairs, declared


def _declared(browser: list[Format]) -> list[Format]:
    """The formats as our SIP offer declared them (browser PTs, slimmed fmtp)."""
    return [replace(b, fmtp=_sip_offer_fmtp(b)) for b in browser]


def _event_pairs(browser: list[Format], sip: list[Format], codec_rate: int) -> list[PtPair]:
    """telephone-event pairs: same rate where both have it, plus the browser's event
    format at the audio codec's rate mapped to a SIP one of another rate (the relay
    rescales) so the browser can send DTMF with its codec (RFC 4733 §2.1)."""
    pairs: list[PtPair] = []
    for s in sip:
        b = next((f for f in browser if f.clock_rate == s.clock_rate), None)
        if b is not None and all(p.webrtc_pt != b.pt for p in pairs):
            pairs.append(PtPair(b.pt, s.pt, b.name, b.clock_rate))
    if sip and all(p.clock_rate != codec_rate for p in pairs):
        b = next((f for f in browser if f.clock_rate == codec_rate), None)
        if b is not None:
            s = next((f for f in sip if f.clock_rate == 8000), sip[0])
            # first, so that a {sip_pt: webrtc_pt} dict built in order keeps the same-rate pair
            pairs.insert(0, PtPair(b.pt, s.pt, b.name, b.clock_rate, s.clock_rate))
    return pairs


def _answer_fmtp(offer: Format, answer: Format) -> str:
    """fmtp for ``answer``'s configuration written on ``offer``'s PT."""
    if offer.encoding == "h264":
        return h264_answer_fmtp(offer.fmtp, answer.fmtp or offer.fmtp)
    if _is_event(offer):
        if answer.clock_rate == offer.clock_rate and answer.fmtp:
            return answer.fmtp
        return offer.fmtp or "0-15"
    return answer.fmtp


# ---------------------------------------------------------------- incoming call


def webrtc_offer_from_sip(sip_offer: SessionDescription, transport: WebRtcTransport,
                          policy: CodecPolicy, *, sip: SipTransport | None = None) -> SessionDescription:
    """The browser's offer for an incoming SIP offer; mids are the SIP m-line indexes.

    ``sip`` (our SIP side for the call): its ``srtp`` mode decides which RTP/SAVP and a=crypto
    m-lines are translated (:mod:`wcs.sdp.sdes`; without it only plain RTP/AVP), its
    ``transcode_video`` adds the VP8 or H.264 the SIP offer lacks (:mod:`wcs.sdp.video`).

    An audio m-line without a codec the browser decodes but with one the relay can transcode
    (policy permitting) is offered with the browser codecs the engine handles instead.
    """
    out = webrtc_session(transport)
    reserved = {int(pt) for md in sip_offer.media for pt in md.formats if pt.isdigit()}
    taken: set[int] = set()
    codecs = engine_codecs(policy)
    disabled = False
    for index, smd in enumerate(sip_offer.media):
        if smd.kind not in _MEDIA or smd.rejected or not translatable(smd, sip.srtp if sip else "off"):
            continue   # RTP/SAVP: wcs.sdp.sdes
        formats = media_formats(smd)
        kept = policy.order([f for f in formats
                             if f.encoding in BROWSER_CODECS and policy.accept_from_sip(f)])
        if not any(_is_real(f) for f in kept) and smd.kind == "audio":
            if sip_target(formats, codecs, policy) is not None:
                events = any(_is_event(f) and policy.accept_from_sip(f) for f in formats)
                kept = browser_formats(codecs, policy, events, reserved | taken)
            else:
                disabled |= would_transcode(policy, [], formats)
        if smd.kind == "video" and sip is not None and sip.transcode_video:   # VP8 ⇄ H.264 (wcs.sdp.video)
            kept += transcoding_formats(kept, reserved | taken | {f.pt for f in kept})
        if not any(_is_real(f) for f in kept):
            continue
        kept = _unique_pts(kept, taken, reserved)
        section = webrtc_section(smd.kind, "UDP/TLS/RTP/SAVPF", str(index), transport, "actpass",
                                  effective_direction(sip_offer, smd), [f.pt for f in kept])
        for fmt in kept:
            fb = _PASSIVE_FB if smd.kind == "video" and _is_real(fmt) else ()
            if fmt.encoding == "opus":
                fmt = replace(fmt, channels=2)   # RFC 7587 §7; browsers insist on opus/48000/2
            section.lines += format_lines(fmt, fmt.fmtp, fb)
        if any(_is_real(f) and find_match(f, formats) is not None for f in kept):
            section.lines += _ptime_lines(smd)   # not for a transcoded stream: the legs are independent
        out.media.append(section)
    if not out.media:
        raise TranscodingDisabled() if disabled else NoCommonCodec()
    mids = [md.mid for md in out.media if md.mid is not None]
    out.lines.append(("a", "group:BUNDLE " + " ".join(mids)))
    add_msid_semantic(out, transport)
    return out


def _unique_pts(formats: list[Format], taken: set[int], reserved: set[int]) -> list[Format]:
    """Renumber PTs an earlier m-line already uses: under BUNDLE the browser tells
    streams without signalled SSRCs apart by PT (RFC 8843 §9.2), while SIP allows
    the same number in two m-lines.  The answer maps back by format."""
    out = []
    for fmt in formats:
        if fmt.pt in taken:
            pool = [pt for pt in (*range(96, 128), *range(35, 64)) if pt not in taken and pt not in reserved]
            if not pool:
                continue
            fmt = replace(fmt, pt=pool[0])
        out.append(fmt)
    taken.update(f.pt for f in out)
    return out


def _ptime_lines(md: MediaDescription) -> list[Line]:
    """``a=ptime``/``a=maxptime`` of an audio section, to pass on to the other leg."""
    if md.kind != "audio":
        return []
    return [("a", f"{name}:{value}") for name in ("ptime", "maxptime") if (value := md.attribute(name))]


def sip_answer_from_webrtc(webrtc_answer: SessionDescription, sip_offer: SessionDescription,
                           sip: SipTransport, extra_lines: Iterable[str] = (), *,
                           policy: CodecPolicy | None = None, generate: bool = False,
                           ) -> tuple[SessionDescription, list[StreamPlan]]:
    """The 2xx SDP for the SIP offer, from the browser's answer to :func:`webrtc_offer_from_sip`.

    ``generate`` (generate_av_for_ua applies to the calling SIP peer): the relay fills the
    browser's side of each stream while the peer sends nothing (:mod:`wcs.sdp.video`).

    An audio m-line the browser answered with none of the SIP offer's formats is the one
    :func:`webrtc_offer_from_sip` offered for transcoding: the SIP codec is the SIP offer's
    first one the engine handles (``policy``: what it says; None: :data:`~wcs.sdp.transcoding.
    ENGINE_CODECS`, the same choice when every codec library loads).
    """
    extra = validate_extra_lines(extra_lines)
    codecs = engine_codecs(policy)
    out = new_session(sip.username, sip.session_id, sip.address)
    out.lines = session_lines(sip.address, extra)
    by_mid = {md.mid: (i, md) for i, md in enumerate(webrtc_answer.media) if md.mid is not None}
    plans: list[StreamPlan] = []
    for index, smd in enumerate(sip_offer.media):
        webrtc_index, bmd = by_mid.get(str(index), (None, None))
        port = sip.ports.get(index)
        pairs: list[PtPair] = []
        if bmd is not None and not bmd.rejected and not smd.rejected and port:
            pairs = _sip_pairs(media_formats(smd), media_formats(bmd))
            if not pairs and smd.kind == "audio":
                pairs = _transcoded_sip_pairs(media_formats(smd), media_formats(bmd), codecs, policy)
            if not pairs and smd.kind == "video" and sip.transcode_video:   # VP8 ⇄ H.264 (wcs.sdp.video)
                pairs = transcoded_pairs(media_formats(smd), media_formats(bmd))
        try:   # SDES (wcs.sdp.sdes): the keys we answer with, or the stream is refused
            keys = plain_or_secure(smd, sip, index) if pairs else None
        except CryptoError:
            keys, pairs = None, []
        if not pairs or bmd is None or port is None:
            out.media.append(rejected_copy(smd))
            plans.append(_rejected_plan(smd.kind, bmd.mid if bmd else None, index, webrtc_index))
            continue
        direction = intersect_directions(answer_direction(effective_direction(sip_offer, smd)),
                                         webrtc_answer.media_direction(bmd))
        section = MediaDescription(smd.kind, port, None, smd.proto, [str(p.sip_pt) for p in pairs])
        sf = {f.pt: f for f in media_formats(smd)}
        bf = {f.pt: f for f in media_formats(bmd)}
        for pair in pairs:
            s, b = sf[pair.sip_pt], bf[pair.webrtc_pt]
            # keyframe requests also on RTP/AVP: SIP video phones (baresip …) offer them there and
            # fall back to RFC 2032 FIR without them (RFC 5104 §7: rtcp-fb is AVPF's, used widely)
            fb = [x for x in b.rtcp_fb if x in s.rtcp_fb
                  and (smd.proto.upper() == "RTP/AVPF" or (smd.kind == "video" and x in _PASSIVE_FB))]
            fmtp = s.fmtp if pair.transcoded else _answer_fmtp(s, b)
            section.lines += format_lines(s, fmtp, fb, static_rtpmap=False)
        if smd.kind == "audio" and sip.ptime:
            section.lines.append(("a", f"ptime:{sip.ptime}"))
        mux = smd.has_attribute("rtcp-mux")
        if mux:
            section.lines.append(("a", "rtcp-mux"))
        section.lines += answer_lines(keys)
        section.lines.append(("a", direction))
        out.media.append(section)
        alternatives: list[Format] = []
        if smd.kind == "audio" and (policy is not None or pairs[0].transcoded):
            alternatives = [f for f in sf.values() if _is_real(f) and codec_key(f) in codecs
                            and (policy is None or policy.accept_from_sip(f))]
        plans.append(StreamPlan(smd.kind, bmd.mid, pairs, remote_rtp(sip_offer, smd),
                                remote_rtcp(sip_offer, smd), direction, index, mux, webrtc_index,
                                [replace(sf[p.sip_pt], fmtp=sf[p.sip_pt].fmtp if p.transcoded
                                         else _answer_fmtp(sf[p.sip_pt], bf[p.webrtc_pt])) for p in pairs],
                                webrtc_answer.media_direction(bmd), alternatives))
        plans[-1].sip_srtp = keys
        plans[-1].generate = generate
    if not any(p.accepted for p in plans):
        raise NoCommonCodec()
    return out, plans


def _sip_pairs(offered: list[Format], answered: list[Format]) -> list[PtPair]:
    """Browser-answered formats mapped onto the SIP offer's PTs (same PT preferred)."""
    pairs: list[PtPair] = []
    used: set[int] = set()
    for b in answered:
        if b.encoding in WEBRTC_HELPERS:
            continue
        s = find_match(b, [f for f in offered if f.pt not in used])
        if s is not None:
            used.add(s.pt)
            pairs.append(PtPair(b.pt, s.pt, b.name, b.clock_rate))
    return pairs if any(p.name.lower() not in ("telephone-event", "cn") for p in pairs) else []


def _transcoded_sip_pairs(offered: list[Format], answered: list[Format], codecs: frozenset[tuple[str, int]],
                          policy: CodecPolicy | None) -> list[PtPair]:
    """An incoming stream offered to the browser for transcoding: the browser's answered codec
    paired with the SIP offer's first codec the engine handles, and the events."""
    s = sip_target(offered, codecs, policy)
    b = best_codec(answered, codecs)
    if s is None or b is None:
        return []
    pairs = [PtPair(b.pt, s.pt, b.name, b.clock_rate, s.clock_rate, sip_name=s.name)]
    sip_events = [f for f in offered if policy is None or policy.accept_from_sip(f)]
    events = event_formats(answered, sip_events, b.clock_rate, s.clock_rate)
    if events is not None:
        be, se = events
        pairs.append(PtPair(be.pt, se.pt, be.name, be.clock_rate,
                            se.clock_rate if se.clock_rate != be.clock_rate else None))
    return pairs


def _finish_webrtc(out: SessionDescription, offer: SessionDescription, plans: list[StreamPlan],
                   transport: WebRtcTransport) -> None:
    """BUNDLE group of the accepted offered mids (RFC 8843 §7.3); NoCommonCodec if none."""
    if not any(p.accepted for p in plans):
        raise NoCommonCodec()
    accepted = {p.webrtc_mid for p in plans if p.accepted and p.webrtc_mid is not None}
    groups = offer.groups("BUNDLE")
    if groups:
        mids = [mid for mid in groups[0] if mid in accepted]
        if mids:
            out.lines.append(("a", "group:BUNDLE " + " ".join(mids)))
    add_msid_semantic(out, transport)
