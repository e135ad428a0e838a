"""Negotiating a transcoded audio stream when the browser and the SIP side share no codec.

Theory of operation
-------------------
The relay forwards payloads unchanged whenever it can (passthrough always wins).  Only
when an audio stream would otherwise be refused does the negotiation pair the browser's
best codec with a SIP codec and mark the pair for the relay to transcode
(``PtPair.sip_name``; ``StreamPlan.transcoding``).  What the media engine can decode and
encode here is not known to this package (``wcs.sdp`` does not import ``wcs.rtp``): the
gateway puts it into the :class:`~wcs.sdp.policy.CodecPolicy` (``transcodable``, from its
codec registry — a codec whose library is missing is never offered) together with the
``allow_transcoding`` setting (``transcoding``).  Translation functions called without a
policy assume :data:`ENGINE_CODECS`.

* **Outgoing call** (the browser offers): the SIP offer lists the browser's codecs the
  policy allows, then — when transcoding is allowed and the browser offered a codec the
  engine handles — the SIP-only codecs of the ``codecs`` setting the engine can transcode
  (:func:`sip_only_formats`: G.729, Speex, and G.711/G.722 when the browser did not offer
  them; never Opus, the costliest to encode, which browsers offer themselves), plus
  ``telephone-event/8000`` if the browser's events do not cover them.  If the
  SIP answer picks a browser codec, the stream is passthrough as before; if it picks a
  SIP-only codec, the browser's answer names the browser's best codec (:func:`best_codec`,
  normally Opus) and the plan transcodes.
* **Incoming call** (the SIP side offers): when no offered audio codec is one the browser
  decodes, but one the engine can transcode (:func:`sip_target`), our WebRTC offer lists
  the browser codecs the engine handles (:func:`browser_formats`: Opus, G.722, G.711) and
  the SIP answer keeps the SIP codec; the plan transcodes.
* **Events**: RFC 4733 telephone-events are relayed, not transcoded.  The browser's event
  format is the one at its codec's clock (RFC 4733 §2.1: same timestamp space as the
  audio); the SIP one preferably at the SIP codec's clock, else 8000 Hz
  (:func:`event_formats`); the relay rescales durations between the two clocks.
* **Refusals**: no codec either way → :class:`~wcs.sdp.errors.NoCommonCodec` ("No common
  codecs"); a transcode would have worked but the setting forbids it →
  :class:`TranscodingDisabled`, a NoCommonCodec whose reason is the WCS wording
  "Transcoding required, but disabled" (488 + Warning toward SIP, FAILED for the browser).
* **Re-offers** (:mod:`wcs.sdp.reoffer`): ``StreamPlan.sip_alternatives`` keeps the SIP
  formats the stream may switch to later (what we offered, or what the peer offered and
  the engine can transcode), so a SIP peer's codec change within them re-fits the stream
  (transcoding ⇄ passthrough, or another SIP codec) while the browser leg stays fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from wcs.sdp.codecs import WEBRTC_HELPERS, Format, formats_match
from wcs.sdp.errors import NoCommonCodec
from wcs.sdp.policy import WCS_CODEC_NAMES, CodecPolicy

__all__ = ["ENGINE_CODECS", "TRANSCODING_DISABLED", "TranscodingDisabled", "best_codec", "browser_formats",
           "codec_key", "engine_codecs", "event_formats", "is_codec", "is_event", "sip_only_events",
           "sip_only_formats", "sip_target", "would_transcode"]

#: the browser's FAILED info / the 488 Warning text when only a transcode would have worked (WCS wording)
TRANSCODING_DISABLED = "Transcoding required, but disabled"

#: (encoding, clock rate) of every codec the gateway's transcoder implements
ENGINE_CODECS: frozenset[tuple[str, int]] = frozenset({
    ("pcmu", 8000), ("pcma", 8000), ("g722", 8000), ("opus", 48000), ("g729", 8000),
    ("speex", 8000), ("speex", 16000),
})

# how we write each codec into an SDP we make up (PT: static, or a preferred dynamic one)
_CANONICAL: dict[tuple[str, int], Format] = {
    ("opus", 48000): Format(111, "opus", 48000, 2, "minptime=10;useinbandfec=1"),
    ("g722", 8000): Format(9, "G722", 8000),
    ("pcmu", 8000): Format(0, "PCMU", 8000),
    ("pcma", 8000): Format(8, "PCMA", 8000),
    ("g729", 8000): Format(18, "G729", 8000, 1, "annexb=no"),   # we send no Annex B SID frames
    ("speex", 8000): Format(97, "speex", 8000),
    ("speex", 16000): Format(98, "speex", 16000),
}
#: the codecs a browser decodes, in the order we offer them for a transcoded incoming call
_BROWSER = (("opus", 48000), ("g722", 8000), ("pcmu", 8000), ("pcma", 8000))
_BROWSER_EVENTS = (Format(110, "telephone-event", 48000, 1, "0-15"),
                   Format(126, "telephone-event", 8000, 1, "0-15"))
_DYNAMIC = (*range(96, 128), *range(35, 64))


class TranscodingDisabled(NoCommonCodec):
    """Only a transcoded stream would have worked, and ``allow_transcoding`` is off (488)."""

    def __init__(self, reason: str = TRANSCODING_DISABLED, status_code: int = 488) -> None:
        super().__init__(reason, status_code)


def codec_key(fmt: Format) -> tuple[str, int]:
    return fmt.encoding, fmt.clock_rate


def is_event(fmt: Format) -> bool:
    return fmt.encoding == "telephone-event"


def is_codec(fmt: Format) -> bool:
    """A real audio/video codec (not telephone-event, comfort noise or a WebRTC helper)."""
    return fmt.encoding not in ("telephone-event", "cn") and fmt.encoding not in WEBRTC_HELPERS


def engine_codecs(policy: CodecPolicy | None) -> frozenset[tuple[str, int]]:
    """What may be transcoded: the policy's ``transcodable`` when transcoding is allowed (empty
    when not), :data:`ENGINE_CODECS` without a policy."""
    if policy is None:
        return ENGINE_CODECS
    return frozenset(policy.transcodable) if policy.transcoding else frozenset()


def best_codec(formats: Iterable[Format], codecs: frozenset[tuple[str, int]]) -> Format | None:
    """The first real format (in the given order: the browser's preference) the engine handles."""
    return next((f for f in formats if is_codec(f) and codec_key(f) in codecs), None)


def _free_pt(preferred: int, used: set[int]) -> int | None:
    if preferred not in used:
        return preferred
    return next((pt for pt in _DYNAMIC if pt not in used), None)


def _policy_keys(policy: CodecPolicy, codecs: frozenset[tuple[str, int]]) -> list[tuple[str, int]]:
    """The engine codecs named by ``policy.codecs``, in its order."""
    out: list[tuple[str, int]] = []
    for name in policy.codecs:
        encoding, rate = WCS_CODEC_NAMES.get(name, (name, None))
        for key in sorted(codecs):
            if key[0] == encoding and (rate is None or key[1] == rate) and key not in out:
                out.append(key)
    return out


def sip_only_formats(browser: Sequence[Format], kept: Sequence[Format], policy: CodecPolicy,
                     codecs: frozenset[tuple[str, int]]) -> list[Format]:
    """The codecs an outgoing SIP offer adds for transcoding (see the module docstring).

    ``browser`` is every format of the browser's m-line, ``kept`` those offered to SIP as they
    are.  Empty when the browser offered no codec the engine handles.  PTs are static, or
    dynamic ones the browser's m-line does not use.
    """
    if not codecs or best_codec(browser, codecs) is None:
        return []
    used = {f.pt for f in browser} | {f.pt for f in kept}
    out: list[Format] = []
    for key in _policy_keys(policy, codecs):
        canonical = _CANONICAL.get(key) if key != ("opus", 48000) else None   # costly; a browser codec
        if canonical is None or any(formats_match(canonical, f) for f in kept):
            continue
        if not policy.offer_to_sip(canonical):
            continue
        static = canonical.is_static and canonical.pt not in used
        pt = canonical.pt if static else _free_pt(canonical.pt, used)
        if pt is None:
            break
        used.add(pt)
        out.append(replace(canonical, pt=pt))
    return out


def sip_only_events(kept: Sequence[Format], added: Sequence[Format], policy: CodecPolicy) -> list[Format]:
    """``telephone-event/8000`` for the SIP-only codecs when no kept event format covers them."""
    if not added:
        return []
    rates = {f.clock_rate for f in added} | {8000}
    if any(is_event(f) and f.clock_rate in rates for f in kept):
        return []
    used = {f.pt for f in kept} | {f.pt for f in added}
    pt = _free_pt(101, used)
    event = Format(pt if pt is not None else 101, "telephone-event", 8000, 1, "0-15")
    return [event] if pt is not None and policy.offer_to_sip(event) else []


def sip_target(sip: Sequence[Format], codecs: frozenset[tuple[str, int]],
               policy: CodecPolicy | None) -> Format | None:
    """The SIP peer's codec to transcode to: the first offered one (its preference) the engine
    handles and the policy accepts from SIP."""
    return next((f for f in sip if is_codec(f) and codec_key(f) in codecs
                 and (policy is None or policy.accept_from_sip(f))), None)


def browser_formats(codecs: frozenset[tuple[str, int]], policy: CodecPolicy, events: bool,
                    reserved: set[int]) -> list[Format]:
    """Our WebRTC offer's formats for a SIP stream the relay transcodes: the browser codecs the
    engine handles (policy order, unnamed ones last), and their telephone-events when the SIP
    side offered events.  Dynamic PTs avoid ``reserved`` (the SIP offer's numbers)."""
    formats = policy.order([_CANONICAL[key] for key in _BROWSER if key in codecs])
    if events:
        rates = {f.clock_rate for f in formats}
        formats += [f for f in _BROWSER_EVENTS if f.clock_rate in rates]
    used = set(reserved)
    out: list[Format] = []
    for fmt in formats:
        pt = fmt.pt if fmt.is_static else _free_pt(fmt.pt, used)
        if pt is None:
            continue
        used.add(pt)
        out.append(replace(fmt, pt=pt))
    return out


def event_formats(browser: Sequence[Format], sip: Sequence[Format], browser_rate: int,
                  sip_rate: int) -> tuple[Format, Format] | None:
    """The (browser, SIP) telephone-event formats of a transcoded stream (see the module
    docstring), or None when either side has none."""
    b = next((f for f in browser if is_event(f) and f.clock_rate == browser_rate), None)
    events = [f for f in sip if is_event(f)]
    s = next((f for f in events if f.clock_rate == sip_rate),
             next((f for f in events if f.clock_rate == 8000), events[0] if events else None))
    return (b, s) if b is not None and s is not None else None


def would_transcode(policy: CodecPolicy, browser: Sequence[Format], sip: Sequence[Format] | None = None
                    ) -> bool:
    """Would a transcode have worked if ``allow_transcoding`` were on?  (For the refusal reason.)

    Outgoing (``sip`` None): the SIP offer would have gained SIP-only codecs.  Incoming: the SIP
    offer has a codec the engine handles and a browser codec exists to pair it with."""
    if policy.transcoding or not policy.transcodable:
        return False
    codecs = frozenset(policy.transcodable)
    if sip is None:
        kept = [f for f in browser if policy.offer_to_sip(f)]
        return bool(sip_only_formats(browser, kept, policy, codecs))
    return sip_target(sip, codecs, policy) is not None and any(key in codecs for key in _BROWSER)
