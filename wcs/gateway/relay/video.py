"""Transcoded directions of a relayed video stream (VP8 ⇄ H.264) and keyframe plumbing.

Theory of operation
-------------------
When the SIP side answered our offer with the codec the browser lacks (``video_transcoding``,
:mod:`wcs.sdp.video`: the stream's pair has ``sip_name``), each direction gets a
:class:`VideoTranscoding` processor around a :class:`~wcs.rtp.video.transcode.VideoTranscoder`:
RTP packets of the source codec are depacketized (RFC 7741 / RFC 6184), decoded, re-encoded
and packetized for the destination (H.264 in packetization-mode 1: STAP-A and FU-A), and
an :class:`~wcs.rtp.video.common.RtpWriter` numbers the outgoing stream (its own SSRC and
sequence numbers; the source frame's timestamp, both codecs being 90 kHz).

Keyframes, per direction (the relay asks through :class:`KeyframeSink` / the transcoder's
:meth:`VideoTranscoding.pop_keyframe_request`):

* a keyframe request from the *destination* (PLI/FIR) is answered by the encoder: the next
  frame is a keyframe; the source is not bothered (:meth:`VideoTranscoding.keyframe_requested`);
* the decoder lost its reference (loss, a new source, a frame it rejected): the *source* is
  asked, through the stream's keyframe requester toward that leg (RTCP PLI/FIR, or SIP INFO
  ``picture_fast_update`` toward a SIP peer without rtcp-fb).

Decoding and encoding take milliseconds per frame on the event loop (one call: ~2-5 ms at
320x240 for both directions on this rig), which is why the setting is off by default.
A stream whose SSRC changes is a new source: the transcoder waits for its keyframe.

Passthrough video keeps the source's marker bit: the :class:`~wcs.rtp.rewrite.StreamRewriter`
marks the first packet after a source change for audio (RFC 3551 §4.1: a talkspurt begins),
but in video the marker means "last packet of a frame" (RFC 7741 §4.1, RFC 6184 §5.1) —
marking the STAP-A with the SPS and PPS of Chrome's first frame would make a receiver that
trusts it lose that keyframe — so video rewriters are built with ``mark_source_changes=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ...entropy import Entropy
from ...rtp.video.common import RtpWriter
from ...rtp.video.errors import VideoUsageError
from ...rtp.video.transcode import VideoTranscoder
from ...sdp.plan import StreamPlan
from .processor import Passthrough, ProcessorFactory, StreamProcessor

__all__ = ["KeyframeSink", "VideoTranscoding", "video_factory"]


class KeyframeSink(Protocol):
    """A processor that answers the destination's keyframe requests itself."""

    def keyframe_requested(self, now: float, full: bool) -> bool:
        """True when the request was answered here (not to be forwarded to the source)."""
        ...


class VideoTranscoding:
    """One direction of a transcoded video stream (see the module docstring)."""

    __slots__ = ("toward_sip", "source", "target", "transcoder", "writer", "_pts", "_ssrc", "dropped")

    def __init__(self, plan: StreamPlan, toward_sip: bool, entropy: Entropy, *, max_payload: int = 1200,
                 fps: float = 30.0, bitrate: int = 600_000) -> None:
        pair = plan.transcoding
        if pair is None or pair.sip_name is None:
            raise VideoUsageError("the plan has no transcoded video pair")
        browser, sip = pair.name.lower(), pair.sip_name.lower()
        self.toward_sip = toward_sip
        self.source, self.target = (browser, sip) if toward_sip else (sip, browser)
        self.transcoder = VideoTranscoder(self.source, self.target, max_payload=max_payload, fps=fps,
                                          bitrate=bitrate, packetization_mode=1, entropy=entropy)
        self.writer = RtpWriter(pair.sip_pt if toward_sip else pair.webrtc_pt, entropy=entropy)
        self._pts: frozenset[int] = frozenset()
        self._ssrc: int | None = None
        #: packets of a payload type this direction does not carry
        self.dropped = 0
        self.update(plan)

    @property
    def ssrc(self) -> int:
        return self.writer.ssrc

    def update(self, plan: StreamPlan) -> None:
        pair = plan.transcoding
        assert pair is not None
        if self.toward_sip:
            self.writer.payload_type = pair.sip_pt
            self._pts = frozenset({pair.webrtc_pt})
        else:
            self.writer.payload_type = pair.webrtc_pt
            declared = {f.pt for f in plan.sip_formats if f.encoding == pair.sip_encoding}
            self._pts = frozenset({pair.sip_pt, *declared})

    def process(self, packet: bytearray, now: float) -> Sequence[bytes | bytearray]:
        if packet[1] & 0x7F not in self._pts:
            self.dropped += 1
            return ()
        ssrc = int.from_bytes(packet[8:12], "big")
        if ssrc != self._ssrc:
            if self._ssrc is not None:
                self.transcoder.reset()
            self._ssrc = ssrc
        return [self.writer.write_packet(p) for p in self.transcoder.receive(packet)]

    def pop_keyframe_request(self) -> bool:
        """Whether the source must be asked for a keyframe (cleared by this call)."""
        return self.transcoder.pop_keyframe_request()

    def keyframe_requested(self, now: float, full: bool) -> bool:
        self.transcoder.request_keyframe()
        return True

    def inject(self, payload_type: int, payload: bytes, marker: bool, start: float,
               offset: int) -> bytes | bytearray | None:
        return None

    def source_changed(self) -> None:
        self.transcoder.reset()
        self._ssrc = None

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> Sequence[bytes | bytearray]:
        return ()


def video_factory(entropy: Entropy, base: ProcessorFactory) -> ProcessorFactory:
    """Wrap ``base``: transcoded video plans get :class:`VideoTranscoding` (kept while the
    codecs stay), other video plans a :class:`Passthrough`; audio goes to ``base``."""

    def factory(plan: StreamPlan, toward_sip: bool, previous: StreamProcessor | None) -> StreamProcessor:
        pair = plan.transcoding
        if plan.kind != "video":
            return base(plan, toward_sip, previous)
        if pair is None or pair.sip_name is None:
            if isinstance(previous, Passthrough):
                previous.update(plan)
                return previous
            return Passthrough(plan, toward_sip, entropy)
        if isinstance(previous, VideoTranscoding):
            browser, sip = pair.name.lower(), pair.sip_name.lower()
            if (previous.source, previous.target) == ((browser, sip) if toward_sip else (sip, browser)):
                previous.update(plan)
                return previous
        return VideoTranscoding(plan, toward_sip, entropy)

    return factory
