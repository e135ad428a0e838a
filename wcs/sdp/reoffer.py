"""SIP-side renegotiation on an established call (RFC 3264 §8, RFC 6337).

The browser leg cannot be renegotiated (the WebSDK leaves its peer connection stuck
on a second remote description), so every later SIP offer or answer is fitted to the
codecs and directions the browser leg already agreed, kept in the
:class:`~wcs.sdp.plan.StreamPlan` list:

* :func:`answer_sip_reoffer` answers a SIP re-INVITE / UPDATE offer: hold and
  resume (RFC 6337 §5: ``sendonly``/``inactive``, legacy ``c=0.0.0.0``), a new
  remote address or PT numbering, streams removed (port 0) or added (refused with
  port 0: the browser leg has no m-line for them).  An existing stream left without
  a common codec raises :class:`NoCommonCodec` so that the re-INVITE gets a 488
  and the session continues unchanged (RFC 3261 §14.2) — unless it was negotiated with
  transcoding allowed and the offer names one of its ``sip_alternatives``: then the
  stream is re-fitted (:func:`_refit`), transcoding the browser's fixed codec to the new
  SIP codec, or passthrough when the new codec is the browser's.
* :func:`sip_offer_from_plans` writes our own re-offer (browser hold/resume, a
  re-INVITE without SDP, a session refresh) from the plans, keeping the PT mapping
  of the session (RFC 3264 §8.3.2).
* :func:`apply_sip_answer` updates the plans from the answer to such an offer, or
  from a 2xx SDP that differs from the 18x one.

Our ``o=`` goes through a :class:`~wcs.sdp.negotiate.VersionedOrigin`: the version
rises by one exactly when our SDP changes (RFC 3264 §8).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from wcs.sdp.build import (
    format_lines,
    rejected_copy,
    remote_rtcp,
    remote_rtp,
    session_lines,
    validate_extra_lines,
)
from wcs.sdp.codecs import Format, find_match, media_formats
from wcs.sdp.crypto import CryptoError
from wcs.sdp.errors import NoCommonCodec
from wcs.sdp.h264 import h264_answer_fmtp
from wcs.sdp.model import MediaDescription, Origin, SessionDescription
from wcs.sdp.negotiate import (
    VersionedOrigin,
    answer_direction,
    effective_direction,
    intersect_directions,
    reverse_direction,
)
from wcs.sdp.plan import PtPair, SipTransport, StreamPlan
from wcs.sdp.sdes import answer_lines, plain_or_secure, rekeyed, reoffer_lines
from wcs.sdp.transcoding import event_formats, is_codec


def _ours(plan: StreamPlan, pair: PtPair) -> Format | None:
    """Our declared SIP format for ``pair`` (same PT as the browser's, else same codec)."""
    rate = pair.sip_rate
    cands = [f for f in plan.sip_formats if f.encoding == pair.sip_encoding and f.clock_rate == rate]
    return next((f for f in cands if f.pt == pair.webrtc_pt), cands[0] if cands else None)


def _remap(plan: StreamPlan, remote: list[Format]) -> tuple[list[PtPair], list[tuple[Format, Format]]]:
    """The plan's pairs re-pointed at the PTs ``remote`` uses for the same formats, and
    the (ours, theirs) format pairs still in common."""
    pairs: list[PtPair] = []
    common: list[tuple[Format, Format]] = []
    for pair in plan.codecs:
        ours = _ours(plan, pair)
        theirs = find_match(ours, remote) if ours is not None else None
        if ours is not None and theirs is not None:
            pairs.append(replace(pair, sip_pt=theirs.pt))
            if all(t.pt != theirs.pt for _, t in common):
                common.append((ours, theirs))
    return pairs, common


def _has_codec(pairs: list[PtPair]) -> bool:
    return any(p.name.lower() not in ("telephone-event", "cn") for p in pairs)


def _refit(plan: StreamPlan, remote: list[Format]
           ) -> tuple[list[PtPair], list[tuple[Format, Format]], list[Format]] | None:
    """Pairs for a SIP offer that changed codec within ``plan.sip_alternatives``.

    The browser keeps the codec of the plan's first pair; the offer's most preferred codec
    among the alternatives becomes its partner: passthrough when it is that same codec,
    transcoded otherwise.  Returns the pairs, the (ours, theirs) formats in common and our
    declared formats, or None.
    """
    first = next((p for p in plan.codecs if _has_codec([p])), None)
    if first is None or not plan.sip_alternatives:
        return None
    for theirs in remote:
        ours = find_match(theirs, plan.sip_alternatives) if is_codec(theirs) else None
        if ours is None:
            continue
        same = ours.encoding == first.name.lower() and ours.clock_rate == first.clock_rate
        pairs = [PtPair(first.webrtc_pt, theirs.pt, first.name, first.clock_rate,
                        None if same else theirs.clock_rate, None if same else theirs.name)]
        common = [(ours, theirs)]
        browser_events = [Format(p.webrtc_pt, p.name, p.clock_rate) for p in plan.codecs
                          if p.name.lower() == "telephone-event"]
        events = event_formats(browser_events, remote, first.clock_rate, theirs.clock_rate)
        if events is not None:
            be, te = events
            pairs.append(PtPair(be.pt, te.pt, be.name, be.clock_rate,
                                te.clock_rate if te.clock_rate != be.clock_rate else None))
            common.append((find_match(te, plan.sip_formats) or te, te))
        return pairs, common, [o for o, _ in common]
    return None


def _sip_section(kind: str, port: int, proto: str, formats: list[Format], direction: str,
                 sip: SipTransport, rtcp_mux: bool) -> MediaDescription:
    md = MediaDescription(kind, port, None, proto, [str(f.pt) for f in formats])
    for fmt in formats:
        md.lines += format_lines(fmt, fmt.fmtp, static_rtpmap=False)
    if kind == "audio" and sip.ptime:
        md.lines.append(("a", f"ptime:{sip.ptime}"))
    if rtcp_mux:
        md.lines.append(("a", "rtcp-mux"))
    md.lines.append(("a", direction))
    return md


def _empty(sip: SipTransport, extra_lines: Iterable[str]) -> SessionDescription:
    extra = validate_extra_lines(extra_lines)
    return SessionDescription(Origin("-", "0", 0), "-", session_lines(sip.address, extra))


def answer_sip_reoffer(reoffer: SessionDescription, plans: list[StreamPlan], sip: SipTransport,
                       origin: VersionedOrigin, extra_lines: Iterable[str] = (), *, hold: bool = False
                       ) -> tuple[SessionDescription, list[StreamPlan]]:
    """Answer a SIP re-offer within the browser leg's fixed capabilities.

    ``hold`` is set while our side holds the call: the answer then does not ask to
    receive (RFC 6337 §5.3: sendonly answered to sendrecv, inactive to sendonly).
    """
    out = _empty(sip, extra_lines)
    new_plans: list[StreamPlan] = []
    for index, smd in enumerate(reoffer.media):
        plan = plans[index] if index < len(plans) else None
        port = sip.ports.get(index)
        if plan is not None and plan.generated:   # no SIP stream behind it (wcs.sdp.video): stays refused
            out.media.append(rejected_copy(smd))
            new_plans.append(plan)
            continue
        if plan is None or not plan.accepted or smd.rejected or smd.kind != plan.kind or not port:
            out.media.append(rejected_copy(smd))
            new_plans.append(_rejected(plan, smd.kind, index))
            continue
        pairs, common = _remap(plan, media_formats(smd))
        if not _has_codec(pairs):
            refit = _refit(plan, media_formats(smd))
            if refit is None:
                raise NoCommonCodec()
            pairs, common, declared = refit
            plan = replace(plan, sip_formats=declared)
        wanted = intersect_directions(plan.webrtc_direction, "sendonly") if hold else plan.webrtc_direction
        direction = answer_direction(effective_direction(reoffer, smd), wanted)
        # RFC 3264 §6.1: the answer uses the offer's PT numbers; the fmtp stay ours
        answered = [replace(ours, pt=theirs.pt, fmtp=_fmtp(theirs, ours)) for ours, theirs in common]
        mux = smd.has_attribute("rtcp-mux")
        keys = plain_or_secure(smd, sip, index, plan.sip_srtp)   # SDES (wcs.sdp.sdes); CryptoError: 488
        out.media.append(_sip_section(smd.kind, port, smd.proto, answered, direction, sip, mux))
        out.media[-1].lines += answer_lines(keys)
        new_plans.append(replace(plan, codecs=pairs, direction=direction, sip_index=index, sip_rtcp_mux=mux,
                                 sip_remote=remote_rtp(reoffer, smd),
                                 sip_remote_rtcp=remote_rtcp(reoffer, smd)))
        new_plans[-1].sip_srtp = keys
    if not any(p.accepted and not p.generated for p in new_plans):
        raise NoCommonCodec()
    return origin.stamp(out), new_plans


def _fmtp(offered: Format, ours: Format) -> str:
    if offered.encoding == "h264":
        return h264_answer_fmtp(offered.fmtp, ours.fmtp or offered.fmtp)
    return ours.fmtp


def _rejected(plan: StreamPlan | None, kind: str, index: int) -> StreamPlan:
    if plan is None:
        return StreamPlan(kind, None, [], None, None, "inactive", index)
    return replace(plan, codecs=[], sip_remote=None, sip_remote_rtcp=None, direction="inactive",
                   sip_index=index)


def sip_offer_from_plans(plans: list[StreamPlan], sip: SipTransport, origin: VersionedOrigin, *,
                         hold: bool = False, extra_lines: Iterable[str] = (),
                         previous: SessionDescription | None = None) -> SessionDescription:
    """Our SIP re-offer for the current plans; ``hold`` offers sendonly/inactive (RFC 6337 §5).

    Rejected streams stay as port-0 m-lines (RFC 3264 §8.2); ``previous`` (our last
    SIP SDP) supplies their kind, proto and format so they read as before.
    """
    out = _empty(sip, extra_lines)
    for index, plan in enumerate(plans):
        port = sip.ports.get(index)
        if not plan.accepted or plan.generated or not port:
            if previous is not None and index < len(previous.media):
                out.media.append(rejected_copy(previous.media[index]))
            else:
                pts = [str(plan.sip_formats[0].pt)] if plan.sip_formats else ["0"]
                out.media.append(MediaDescription(plan.kind, 0, None, "RTP/AVP", pts))
            continue
        direction = plan.webrtc_direction
        if hold:
            direction = intersect_directions(direction, "sendonly")
        declared = [f for f in plan.sip_formats if any(_ours(plan, p) == f for p in plan.codecs)]
        proto, crypto = reoffer_lines(plan)   # SDES: the same suite and key (wcs.sdp.sdes)
        out.media.append(_sip_section(plan.kind, port, proto, declared, direction, sip,
                                      plan.sip_rtcp_mux))
        out.media[-1].lines += crypto
    return origin.stamp(out)


def apply_sip_answer(sip_answer: SessionDescription, plans: list[StreamPlan]) -> list[StreamPlan]:
    """Plans after a SIP answer to our re-offer (or a 2xx SDP differing from the 18x one).

    Streams the answer rejects or leaves without a common codec become rejected;
    :class:`NoCommonCodec` when none is left (the gateway then ends the call).
    """
    new_plans: list[StreamPlan] = []
    for index, plan in enumerate(plans):
        smd = sip_answer.media[index] if index < len(sip_answer.media) else None
        if plan.generated:   # no SIP stream behind it (wcs.sdp.video)
            new_plans.append(plan)
            continue
        if smd is None or smd.rejected or not plan.accepted or smd.kind != plan.kind:
            new_plans.append(_rejected(plan, plan.kind, index))
            continue
        pairs, _ = _remap(plan, media_formats(smd))
        if not _has_codec(pairs):
            new_plans.append(_rejected(plan, plan.kind, index))
            continue
        try:
            keys = rekeyed(plan, smd)   # SDES: the peer's (new) key (wcs.sdp.sdes)
        except CryptoError:
            new_plans.append(_rejected(plan, plan.kind, index))
            continue
        direction = intersect_directions(reverse_direction(effective_direction(sip_answer, smd)),
                                         plan.webrtc_direction)
        new_plans.append(replace(plan, codecs=pairs, direction=direction,
                                 sip_remote=remote_rtp(sip_answer, smd),
                                 sip_remote_rtcp=remote_rtcp(sip_answer, smd),
                                 sip_rtcp_mux=smd.has_attribute("rtcp-mux"), sip_srtp=keys))
    if not any(p.accepted and not p.generated for p in new_plans):
        raise NoCommonCodec()
    return new_plans
