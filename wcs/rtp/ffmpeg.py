"""The FFmpeg (PyAV) boundary: the one module of wcs that imports ``av``.

Audio (G.722) crosses it as ``bytes`` payloads and int16 numpy arrays (:class:`AudioCodec`).
Encoded video frames cross it as ``bytes`` (VP8 frames; H.264 access units in Annex B form);
decoded pictures as the opaque :class:`Picture`, which keeps PyAV's frame inside so a
transcoder passes it from decoder to encoder without copying planes.

* :class:`VideoDecoder` — ``vp8`` (FFmpeg's native decoder) or ``h264``; single-threaded
  so each frame comes out of the call that fed it (no frame-threading delay).
* :class:`VideoEncoder` — ``vp8`` through libvpx (realtime deadline, no lag, error
  resilient) or ``h264`` through libx264 (baseline profile, i.e. Constrained Baseline,
  ``zerolatency`` tune, no B-frames, SPS/PPS repeated before every IDR, forced keyframes
  are IDRs, x264's informational SEI removed).  Time base 1/90000: pictures carry RTP
  timestamps (unwrapped) as pts.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple, cast

import av
import av.error
import numpy as np
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from wcs.rtp.video.common import VIDEO_CLOCK_RATE
from wcs.rtp.video.errors import DecodeError, VideoUsageError
from wcs.rtp.video.h264 import SEI, join_annex_b, split_annex_b

__all__ = ["CODECS", "AudioCodec", "EncodedFrame", "FfmpegError", "Picture", "VideoDecoder", "VideoEncoder",
           "audio_codec_unavailable"]

#: codec name → (FFmpeg decoder, FFmpeg encoder)
CODECS = {"vp8": ("vp8", "libvpx"), "h264": ("h264", "libx264")}
_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)


class FfmpegError(RuntimeError):
    """FFmpeg refused a payload or a codec could not be opened."""


def audio_codec_unavailable(name: str) -> str | None:
    """Why FFmpeg cannot both decode and encode ``name`` here, or None when it can."""
    try:
        av.codec.Codec(name, "r")
        av.codec.Codec(name, "w")
    except Exception as exc:
        return f"av: {exc}"
    return None


class AudioCodec:
    """One FFmpeg audio decoder (``mode="r"``) or encoder (``"w"``) of 16-bit mono PCM.

    The encoder reuses one frame, writing each block of samples into its plane; the
    decoder reads planes with ``numpy.frombuffer`` — cheaper than building frames.
    """

    def __init__(self, name: str, mode: str, sample_rate: int, frame_size: int = 0) -> None:
        self._ctx = ctx = cast(Any, av.CodecContext).create(name, mode)
        ctx.sample_rate = sample_rate
        ctx.layout = "mono"
        if mode == "w":
            ctx.format = "s16"
            ctx.options = {"frame_size": str(frame_size)}  # FFmpeg's encoder fixes it at open
            self._frame = av.AudioFrame(format="s16", layout="mono", samples=frame_size)
            self._frame.sample_rate = sample_rate
            self._plane = self._frame.planes[0]
            self._frame_size = frame_size
            self._pts = 0
        ctx.open()

    def decode(self, payload: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
        """One payload → a fresh int16 array."""
        try:
            frames = self._ctx.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:
            raise FfmpegError(str(exc)) from None
        if len(frames) == 1:
            return np.frombuffer(frames[0].planes[0], np.int16, frames[0].samples).copy()
        return np.concatenate([np.frombuffer(f.planes[0], np.int16, f.samples) for f in frames])

    def encode(self, pcm: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
        """``frame_size`` samples → the encoded bytes."""
        self._plane.update(cast(bytes, pcm))  # any buffer: the plane copies from it
        self._frame.pts = self._pts
        self._pts += self._frame_size
        packets = self._ctx.encode(self._frame)
        return b"".join(bytes(p) for p in packets) if len(packets) != 1 else bytes(packets[0])


def _codec(name: str) -> tuple[str, str]:
    try:
        return CODECS[name.lower()]
    except KeyError:
        raise VideoUsageError(f"unsupported video codec {name!r} (have {', '.join(CODECS)})") from None


class Picture:
    """A decoded picture (planar YUV 4:2:0) with its pts in 90 kHz units."""

    __slots__ = ("_frame",)

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    @classmethod
    def black(cls, width: int, height: int, pts: int = 0) -> Picture:
        """A black picture (video-range Y=16, U=V=128)."""
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise VideoUsageError(f"picture size {width}x{height} must be even and at least 2x2")
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, value in zip(frame.planes, (16, 128, 128), strict=True):
            plane.update(bytes((value,)) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = _TIME_BASE
        return cls(frame)

    @property
    def width(self) -> int:
        return int(self._frame.width)

    @property
    def height(self) -> int:
        return int(self._frame.height)

    @property
    def pts(self) -> int | None:
        pts = self._frame.pts
        return None if pts is None else int(pts)

    def with_pts(self, pts: int) -> Picture:
        """This picture stamped with ``pts`` (in place; returns self)."""
        self._frame.pts = pts
        self._frame.time_base = _TIME_BASE
        return self

    def scaled(self, width: int, height: int) -> Picture:
        """This picture in yuv420p at ``width`` x ``height`` (self if already so)."""
        f = self._frame
        if f.width == width and f.height == height and f.format.name == "yuv420p":
            return self
        out = f.reformat(width=width, height=height, format="yuv420p")
        out.pts = f.pts
        out.time_base = _TIME_BASE
        return Picture(out)

    def to_yuv420p(self) -> bytes:
        """The picture's Y, U and V planes, packed (for tests and inspection)."""
        return bytes(self.scaled(self.width, self.height)._frame.to_ndarray(format="yuv420p").tobytes())


class EncodedFrame(NamedTuple):
    """One frame out of an encoder."""

    data: bytes
    pts: int
    keyframe: bool


class VideoDecoder:
    """Decodes VP8 frames or H.264 Annex B access units to :class:`Picture` objects."""

    def __init__(self, codec: str) -> None:
        self.codec = codec.lower()
        self._ctx = cast(VideoCodecContext, av.CodecContext.create(_codec(codec)[0], "r"))
        self._ctx.thread_count = 1

    def decode(self, data: bytes, pts: int) -> list[Picture]:
        """Feed one frame; returns the pictures it completed.  Raises :class:`DecodeError` on corrupt data."""
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = _TIME_BASE
        try:
            frames = self._ctx.decode(packet)
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self.codec} decoder rejected the frame: {exc.strerror or exc}") from None
        return [Picture(f) for f in frames]


class VideoEncoder:
    """Encodes :class:`Picture` objects of one size to VP8 frames or H.264 access units (Annex B).

    ``keyframe_interval`` is in frames at the nominal ``fps``; ``max_slice_size`` (H.264)
    caps NAL units so packetization-mode 0 can carry them (x264 ``slice-max-size``).
    """

    def __init__(
        self,
        codec: str,
        width: int,
        height: int,
        *,
        bitrate: int = 600_000,
        fps: float = 30.0,
        keyframe_interval: int = 90,
        max_slice_size: int | None = None,
        threads: int = 1,
    ) -> None:
        self.codec = codec.lower()
        name = _codec(codec)[1]
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise VideoUsageError(f"encoder size {width}x{height} must be even and at least 2x2")
        ctx = cast(VideoCodecContext, av.CodecContext.create(name, "w"))
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = _TIME_BASE
        ctx.framerate = Fraction(fps).limit_denominator(1000)
        ctx.bit_rate = bitrate
        ctx.gop_size = keyframe_interval
        ctx.thread_count = threads
        kbps = max(1, bitrate // 1000)
        if self.codec == "vp8":
            ctx.options = {
                "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "error-resilient": "1",
                "auto-alt-ref": "0", "static-thresh": "0", "max-intra-rate": "300",
                "minrate": str(bitrate), "maxrate": str(bitrate), "bufsize": str(bitrate),
            }
        else:
            params = f"keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0:bframes=0"
            params += f":vbv-maxrate={kbps}:vbv-bufsize={kbps}:repeat-headers=1:aud=0"
            if max_slice_size:
                params += f":slice-max-size={max_slice_size}"
            ctx.options = {
                "profile": "baseline", "preset": "veryfast", "tune": "zerolatency", "forced-idr": "1",
                "x264-params": params,
            }
        try:
            ctx.open()
        except av.error.FFmpegError as exc:
            raise VideoUsageError(f"cannot open {name} encoder: {exc}") from None
        self._ctx = ctx
        self.width, self.height = width, height

    def encode(self, picture: Picture, pts: int, *, keyframe: bool = False) -> list[EncodedFrame]:
        """Encode one picture (scaled to the encoder's size) at ``pts``; ``keyframe`` forces one."""
        frame = picture.scaled(self.width, self.height).with_pts(pts)._frame
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        out = []
        for p in self._ctx.encode(frame):
            data = bytes(p)
            if self.codec == "h264":  # x264 writes its version and settings in an SEI: not for the wire
                data = join_annex_b(n for n in split_annex_b(data) if n[0] & 0x1F != SEI)
            out.append(EncodedFrame(data, pts if p.pts is None else int(p.pts), bool(p.is_keyframe)))
        return out
