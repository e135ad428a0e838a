"""Generated media toward the browser: black video and silence (``generate_av_for_ua``).

Theory of operation
-------------------
A stream the negotiation marked ``generate`` (:mod:`wcs.sdp.video`) gets, for its SIP →
browser direction, a :class:`Generating` processor wrapped around the usual one (the
*inner* processor: passthrough, or a video transcoder).  While the SIP side sends nothing
for ``timeout`` seconds — from the moment the stream is configured (:meth:`Generating.begin`)
or since its last packet — a generator from :mod:`wcs.rtp.generators` makes media in the
browser's codec: :class:`~wcs.rtp.generators.BlackVideoGenerator` (VP8, H.264) or
:class:`~wcs.rtp.generators.SilenceGenerator` (Opus, PCMU, PCMA, G.722).  The first real
packet stops it; a later silence of ``timeout`` starts it again.  A stream whose SIP side
refused it (``generated``) never gets a real packet: the generator runs for the whole call,
so the browser's ``<video>`` shows black and plays the call's audio.

Generated packets are numbered into the same outgoing stream as the relayed ones through
the inner processor's :meth:`~.processor.StreamProcessor.inject` (as ``sendDtmf`` events
are): same SSRC, gap-free sequence numbers, timestamps placed on the stream's timeline by
wall-clock time (RFC 3550 §5.1), so the browser sees one stream that changes source.  Each
generated frame is injected at its due time (the generator's cadence: ``t0 + k·interval``).

A keyframe request from the browser while black video runs restarts the cached group of
pictures (:meth:`Generating.keyframe_requested`); otherwise it goes on to the SIP peer.
Transcoded audio is not filled (its processor numbers only telephone events), nor a codec
no generator makes (VP9, AV1, G.729 …): those streams keep their plain processor.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...entropy import Entropy
from ...rtp.errors import RtpUsageError
from ...rtp.generators import SILENCE, BlackVideoGenerator, RtpGenerator, SilenceGenerator
from ...rtp.video.errors import VideoUsageError
from ...sdp.plan import StreamPlan
from .processor import ProcessorFactory, StreamProcessor

__all__ = ["Generating", "generator_factory", "make_generator"]


def make_generator(plan: StreamPlan, entropy: Entropy) -> RtpGenerator | None:
    """The generator for the browser's codec of ``plan``, or None when there is none."""
    pair = plan.codecs[0] if plan.codecs else None
    if pair is None or plan.transcoding is not None and plan.kind == "audio":
        return None
    name = pair.name.lower()
    try:
        if plan.kind == "video" and name in ("vp8", "h264"):
            return BlackVideoGenerator(name, pair.webrtc_pt, entropy=entropy)
        if plan.kind == "audio" and name in SILENCE:
            return SilenceGenerator(name, pair.webrtc_pt, entropy=entropy)
    except (RtpUsageError, VideoUsageError):   # an encoder FFmpeg cannot open here
        return None
    return None


class Generating:
    """A SIP → browser processor that fills the SIP side's silences (see the module docstring)."""

    __slots__ = ("inner", "generator", "timeout", "codec", "_last", "generated", "_clock")

    def __init__(self, inner: StreamProcessor, generator: RtpGenerator, timeout: float, codec: str) -> None:
        self.inner = inner
        self.generator = generator
        self.timeout = timeout
        self.codec = codec
        self._clock = generator.clock_rate
        #: when the SIP side was last heard (or the stream configured); None before begin()
        self._last: float | None = None
        #: packets generated and sent
        self.generated = 0

    @property
    def ssrc(self) -> int:
        return self.inner.ssrc

    @property
    def generating(self) -> bool:
        return self.generator.running

    def begin(self, now: float) -> None:
        """The stream was (re)configured at ``now``: count the silence from here if none began."""
        if self._last is None:
            self._last = now

    def update(self, plan: StreamPlan) -> None:
        self.inner.update(plan)

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        if self.generator.running:
            self.generator.stop()
        self._last = now
        return self.inner.process(packet, now)

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        return self.inner.inject(payload_type, payload, marker, start, offset)

    def source_changed(self) -> None:
        self.inner.source_changed()

    def keyframe_requested(self, now: float, full: bool) -> bool:
        """A browser keyframe request: True when answered here (black video is running)."""
        if self.generator.running and isinstance(self.generator, BlackVideoGenerator):
            self.generator.request_keyframe()
            return True
        request = getattr(self.inner, "keyframe_requested", None)
        return bool(request(now, full)) if request is not None else False

    def get_timer(self) -> float | None:
        inner = self.inner.get_timer()
        if self.generator.running:
            ours = self.generator.get_timer()
        elif self._last is not None:
            ours = self._last + self.timeout
        else:
            ours = None
        present = [t for t in (inner, ours) if t is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        out = list(self.inner.handle_timer(now))
        generator = self.generator
        if not generator.running:
            if self._last is None or now < self._last + self.timeout:
                return out
            generator.start(now)
        due, first_ts = generator.get_timer(), generator.timestamp
        generator.handle_timer(now)
        if due is None:
            return out
        for packet in generator.pop_packets():
            ts = int.from_bytes(packet[4:8], "big")
            start = due + ((ts - first_ts) & 0xFFFFFFFF) / self._clock
            made = self.inner.inject(packet[1] & 0x7F, packet[12:], bool(packet[1] & 0x80), start, 0)
            if made is not None:
                out.append(made)
                self.generated += 1
        return out


def generator_factory(entropy: Entropy, timeout: float, base: ProcessorFactory) -> ProcessorFactory:
    """Wrap ``base``: SIP → browser directions of ``generate`` plans get a :class:`Generating`."""

    def factory(plan: StreamPlan, toward_sip: bool, previous: StreamProcessor | None) -> StreamProcessor:
        wrapper = previous if isinstance(previous, Generating) else None
        inner = base(plan, toward_sip, wrapper.inner if wrapper is not None else previous)
        if toward_sip or not plan.generate:
            return inner
        codec = plan.codecs[0].name.lower() if plan.codecs else ""
        if wrapper is not None and wrapper.codec == codec and plan.transcoding is None:
            wrapper.inner = inner
            return wrapper
        generator = make_generator(plan, entropy)
        if generator is None:
            return inner
        return Generating(inner, generator, timeout, codec)

    return factory
