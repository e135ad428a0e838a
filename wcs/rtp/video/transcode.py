"""VP8 ⇄ H.264 transcoding for a relay whose two sides share no video codec.

Theory of operation
-------------------
:class:`VideoTranscoder` is fed the RTP packets of one source stream and returns
:class:`~wcs.rtp.video.common.VideoPacket` payloads for the target stream::

    RTP packets ─▶ depacketizer ─▶ frames ─▶ decoder ─▶ pictures ─▶ encoder ─▶ packetizer ─▶ payloads

* Depacketizing (RFC 7741 / RFC 6184) detects loss: a frame after a gap, or a frame the
  decoder rejects, means the decoder lost its reference.  Frames are then skipped until
  a keyframe arrives, and :meth:`pop_keyframe_request` turns true so that the relay asks
  the source for one (PLI/FIR/INFO through :class:`~wcs.rtp.video.keyframe.KeyframeRequester`).
  The first frame must be a keyframe too.
* Encoding follows the decoded size (the encoder is reopened when it changes; its first
  frame is a keyframe) unless ``width``/``height`` fix the output size.  A keyframe
  request from the target (:meth:`request_keyframe`) forces the next encoded frame to be
  a keyframe; the source is not bothered.
* Timing: both codecs use the 90 kHz clock (RFC 7741 §4.1, RFC 6184 §5.1), so each output
  frame keeps its source frame's RTP timestamp (after :meth:`reset`, shifted so the
  output timeline continues).  The output carries no sequence numbers
  or SSRC: the relay writes the RTP header (e.g. :class:`~wcs.rtp.video.common.RtpWriter`,
  with its own SSRC and sequence numbering; marker as given).

Decoding and encoding cost milliseconds per frame (see ``benchmarks/bench_video.py``):
the caller may run :meth:`receive` in a worker thread, one transcoder per thread at a
time — the object is not thread-safe.  It reads no clock and does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from wcs.entropy import Entropy
from wcs.rtp.errors import RtpError
from wcs.rtp.ffmpeg import Picture, VideoDecoder, VideoEncoder
from wcs.rtp.packet import payload_offset
from wcs.rtp.video.common import VIDEO_CLOCK_RATE, VideoFrame, VideoPacket
from wcs.rtp.video.errors import DecodeError, VideoUsageError
from wcs.rtp.video.h264 import H264Depacketizer, H264Packetizer, split_annex_b
from wcs.rtp.video.vp8 import Vp8Depacketizer, Vp8Packetizer

__all__ = ["VideoTranscoder"]


class VideoTranscoder:
    """Transcodes one RTP video stream from ``source`` to ``target`` codec (``"vp8"`` or ``"h264"``).

    ``max_payload`` bounds each output payload (RTP header, extensions and SRTP tag not
    included); ``packetization_mode`` applies to H.264 output (mode 0 makes the encoder
    cut slices that fit one packet).  ``parameter_sets`` are H.264 SPS/PPS from the
    source's ``sprop-parameter-sets``.  ``keyframe_interval`` is in seconds.
    """

    def __init__(
        self,
        source: str,
        target: str,
        *,
        width: int | None = None,
        height: int | None = None,
        bitrate: int = 600_000,
        fps: float = 30.0,
        keyframe_interval: float = 4.0,
        max_payload: int = 1200,
        packetization_mode: int = 1,
        parameter_sets: Iterable[bytes] = (),
        entropy: Entropy | None = None,
        threads: int = 1,
    ) -> None:
        self.source, self.target = source.lower(), target.lower()
        if {self.source, self.target} - {"vp8", "h264"}:
            raise VideoUsageError(f"cannot transcode {source} to {target}")
        if (width is None) != (height is None):
            raise VideoUsageError("give both width and height, or neither")
        self._depacketizer: Vp8Depacketizer | H264Depacketizer = (
            Vp8Depacketizer() if self.source == "vp8" else H264Depacketizer(parameter_sets)
        )
        self._decoder = VideoDecoder(self.source)
        self._vp8_out: Vp8Packetizer | None = None
        self._h264_out: H264Packetizer | None = None
        if self.target == "vp8":
            self._vp8_out = Vp8Packetizer(max_payload, entropy=entropy)
        else:
            self._h264_out = H264Packetizer(max_payload, packetization_mode)
        self._size = (width, height) if width is not None and height is not None else None
        self._encoder: VideoEncoder | None = None
        self._bitrate = bitrate
        self._fps = fps
        self._gop = max(1, round(keyframe_interval * fps))
        self._slice = max_payload if self.target == "h264" and packetization_mode == 0 else None
        self._threads = threads
        self._synced = False
        self._ask_source = False
        self._force_keyframe = False
        self._ext: int | None = None
        self._offset = 0
        self._step = max(1, round(VIDEO_CLOCK_RATE / fps))
        self._last_pts = -1
        self.frames_in = 0
        self.frames_skipped = 0
        self.frames_decoded = 0
        self.frames_encoded = 0
        self.decode_errors = 0
        self.keyframes_encoded = 0

    @property
    def depacketizer(self) -> Vp8Depacketizer | H264Depacketizer:
        """The input depacketizer (its counters report loss and malformed packets)."""
        return self._depacketizer

    # -- inputs -----------------------------------------------------------------------------------

    def receive(self, packet: bytes | bytearray | memoryview) -> list[VideoPacket]:
        """Feed one RTP packet of the source stream; returns the target payloads it produced."""
        try:
            start, end = payload_offset(packet)
        except RtpError:
            self._depacketizer.packets_malformed += 1
            return []
        seq = packet[2] << 8 | packet[3]
        ts = int.from_bytes(packet[4:8], "big")
        return self.receive_payload(bytes(packet[start:end]), seq, ts, bool(packet[1] & 0x80))

    def receive_payload(
        self, payload: bytes, sequence_number: int, timestamp: int, marker: bool
    ) -> list[VideoPacket]:
        """:meth:`receive` with the RTP header already taken apart."""
        out: list[VideoPacket] = []
        for frame in self._depacketizer.push(payload, sequence_number, timestamp, marker):
            out.extend(self._transcode(frame))
        return out

    def request_keyframe(self) -> None:
        """The target asked for a keyframe (PLI, FIR or INFO): the next encoded frame is one."""
        self._force_keyframe = True

    def pop_keyframe_request(self) -> bool:
        """Whether the source should be asked for a keyframe (cleared by this call)."""
        ask, self._ask_source = self._ask_source, False
        return ask

    def reset(self) -> None:
        """The source changed (new SSRC): wait for its next keyframe."""
        self._depacketizer.reset()
        self._synced = False
        self._ext = None

    # -- pipeline ---------------------------------------------------------------------------------

    def _unwrap(self, ts: int) -> int:
        """The encoder's pts for source timestamp ``ts``: unwrapped, strictly increasing.

        The output RTP timestamp is ``pts mod 2^32``: the source's own timestamps for the
        first source; after :meth:`reset` the timeline continues one nominal frame after
        the last output, whatever the new source's timestamps are.
        """
        if self._ext is None:
            self._ext = ts
            if self._last_pts >= 0:
                self._offset = self._last_pts + self._step - ts
        else:
            self._ext += ((ts - self._ext + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        pts = max(self._ext + self._offset, self._last_pts + 1)  # encoders need increasing pts
        self._last_pts = pts
        return pts

    def _transcode(self, frame: VideoFrame) -> list[VideoPacket]:
        self.frames_in += 1
        if frame.discontinuity or not self._synced:
            if not frame.keyframe:
                self._synced = False
                self._ask_source = True
                self.frames_skipped += 1
                return []
        pts = self._unwrap(frame.timestamp)
        try:
            pictures = self._decoder.decode(frame.data, pts)
        except DecodeError:
            self.decode_errors += 1
            self._synced = False
            self._ask_source = True
            return []
        self._synced = True
        out: list[VideoPacket] = []
        for picture in pictures:
            self.frames_decoded += 1
            out.extend(self._encode(picture, pts if picture.pts is None else picture.pts))
        return out

    def _encoder_for(self, picture: Picture) -> VideoEncoder:
        w, h = self._size if self._size is not None else (picture.width & ~1, picture.height & ~1)
        enc = self._encoder
        if enc is None or (enc.width, enc.height) != (w, h):
            enc = self._encoder = VideoEncoder(
                self.target, max(2, w), max(2, h), bitrate=self._bitrate, fps=self._fps,
                keyframe_interval=self._gop, max_slice_size=self._slice, threads=self._threads,
            )
        return enc

    def _encode(self, picture: Picture, pts: int) -> list[VideoPacket]:
        encoder = self._encoder_for(picture)
        force, self._force_keyframe = self._force_keyframe, False
        out: list[VideoPacket] = []
        for enc in encoder.encode(picture, pts, keyframe=force):
            self.frames_encoded += 1
            self.keyframes_encoded += enc.keyframe
            ts = enc.pts & 0xFFFFFFFF
            if self._vp8_out is not None:
                out.extend(self._vp8_out.packetize(enc.data, ts))
            elif self._h264_out is not None:
                out.extend(self._h264_out.packetize(split_annex_b(enc.data), ts))
        return out
