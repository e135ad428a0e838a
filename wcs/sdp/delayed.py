"""Incoming INVITE without SDP (delayed offer, RFC 3261 §13.2.1 / RFC 3264 §4).

The SIP side then expects our offer in the 2xx and its answer in the ACK, while the
browser still needs an offer first.  :func:`webrtc_offer_from_policy` writes that
browser offer from the codec policy alone; the rest reuses the other translations::

    offer  = webrtc_offer_from_policy(transport, policy, ("audio", "video"))
    # … the browser answers (browser_answer) …
    sip_offer = sip_offer_from_webrtc(browser_answer, sip, policy)     # goes in the 2xx
    # … the ACK carries ack_sdp …
    _, plans = webrtc_answer_from_sip(ack_sdp, browser_answer, transport)   # SDP unused

Reading the browser's answer as if it were an offer is sound here: it lists the
codecs the browser accepted (with our PT numbers) and its own direction, which is
exactly what the SIP offer and the relay plan need.
"""

from __future__ import annotations

from collections.abc import Sequence

from wcs.sdp.browser import WebRtcTransport, add_msid_semantic, webrtc_section, webrtc_session
from wcs.sdp.build import format_lines
from wcs.sdp.codecs import Format
from wcs.sdp.errors import NoCommonCodec
from wcs.sdp.h264 import h264_profile
from wcs.sdp.model import SessionDescription
from wcs.sdp.policy import CodecPolicy

# What browsers decode, with the PT numbers Chromium uses.
_AUDIO = (
    Format(111, "opus", 48000, 2, "minptime=10;useinbandfec=1"),
    Format(9, "G722", 8000), Format(0, "PCMU", 8000), Format(8, "PCMA", 8000),
)
_EVENTS = (Format(110, "telephone-event", 48000, 1, "0-15"), Format(101, "telephone-event", 8000, 1, "0-15"))
_VIDEO = (
    Format(96, "VP8", 90000),
    Format(102, "H264", 90000, 1, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    Format(104, "H264", 90000, 1, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
    Format(106, "H264", 90000, 1, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
    Format(108, "H264", 90000, 1, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"),
    Format(98, "VP9", 90000, 1, "profile-id=0"),
    Format(45, "AV1", 90000, 1, "level-idx=5;profile=0;tier=0"),
)
_FEEDBACK = ("nack pli", "ccm fir")


def _audio(policy: CodecPolicy) -> list[Format]:
    codecs = [f for f in _AUDIO if policy.offer_to_sip(f)]
    if not codecs:
        return []
    rates = {f.clock_rate for f in codecs}
    return codecs + [f for f in _EVENTS if f.clock_rate in rates and policy.offer_to_sip(f)]


def _video(policy: CodecPolicy) -> list[Format]:
    out = []
    for fmt in _VIDEO:
        if fmt.encoding == "h264" and not policy.h264_profiles:
            # without a profile list offer the widely decodable constrained baseline only
            if h264_profile(fmt.params["profile-level-id"]) != "constrained-baseline":
                continue
        if policy.offer_to_sip(fmt):
            out.append(fmt)
    return out


def webrtc_offer_from_policy(transport: WebRtcTransport, policy: CodecPolicy,
                             kinds: Sequence[str] = ("audio",)) -> SessionDescription:
    """A browser offer with one m-line per entry of ``kinds`` (mids "0", "1" …).

    Codecs are those of :data:`_AUDIO`/:data:`_VIDEO` the policy may send to SIP, in
    the policy's order when ``keep_remote_order`` is False.  Kinds left without a codec
    are skipped; :class:`NoCommonCodec` when none is left.
    """
    out = webrtc_session(transport)
    for index, kind in enumerate(kinds):
        candidates = _audio(policy) if kind == "audio" else _video(policy) if kind == "video" else []
        formats = policy.order(candidates)
        if not formats:
            continue
        section = webrtc_section(kind, "UDP/TLS/RTP/SAVPF", str(index), transport, "actpass", "sendrecv",
                                  [f.pt for f in formats])
        for fmt in formats:
            fb = _FEEDBACK if kind == "video" else ()
            section.lines += format_lines(fmt, fmt.fmtp, fb)
        out.media.append(section)
    if not out.media:
        raise NoCommonCodec()
    out.lines.append(("a", "group:BUNDLE " + " ".join(md.mid or "" for md in out.media)))
    add_msid_semantic(out, transport)
    return out
