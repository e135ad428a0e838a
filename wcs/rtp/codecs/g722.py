"""ITU-T G.722 (64 kb/s sub-band ADPCM) through FFmpeg (:mod:`wcs.rtp.ffmpeg`).

16 kHz audio, one octet per two samples, but an RTP clock of 8000 Hz: RFC 3551
§4.5.2 keeps the rate G.722 was first (wrongly) registered with, so a 20 ms packet is
160 octets, 320 samples, and advances the timestamp by 160 (``CodecInfo.ticks``).

FFmpeg's ``g722`` encoder/decoder do the work.  G.722 has no concealment of its own
here, so lost packets get pitch repetition (``RepeatConcealer``).  A host whose FFmpeg
lacks either coder reports G.722 unavailable.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Pcm, PcmLike, RepeatConcealer, as_pcm
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError

__all__ = ["G722", "G722Decoder", "G722Encoder", "load"]

G722 = CodecInfo("G722", 8000, 1, 16000, 20, 9, "av")


def load() -> ModuleType:
    """The FFmpeg boundary, once it proved to have both G.722 coders; else :class:`CodecUnavailable`.

    Imported here, not at module level, so a host without PyAV still starts (without G.722)."""
    try:
        ffmpeg = importlib.import_module("wcs.rtp.ffmpeg")
    except ImportError as exc:
        raise CodecUnavailable("G722", f"av: {exc}") from None
    reason = ffmpeg.audio_codec_unavailable("g722")
    if reason is not None:
        raise CodecUnavailable("G722", reason)
    return ffmpeg


class G722Decoder(Decoder):
    """G.722 payloads → 16 kHz PCM (any payload length: two samples per octet)."""

    def __init__(self, ffmpeg: ModuleType) -> None:
        self.info = G722
        self.sample_rate = 16000
        self.channels = 1
        self.samples_per_frame = 320
        self._ffmpeg = ffmpeg
        self._ctx = ffmpeg.AudioCodec("g722", "r", 16000)
        self._plc = RepeatConcealer(16000)

    def _decode(self, payload: bytes) -> Pcm:
        if not payload:
            raise CodecError("empty G.722 payload")
        try:
            pcm: Pcm = self._ctx.decode(payload)
        except self._ffmpeg.FfmpegError as exc:  # never expected: every octet string decodes
            raise CodecError(f"G.722 payload rejected: {exc}") from None
        self._plc.remember(pcm)
        return pcm

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        return self._plc.conceal(samples)

    def reset(self) -> None:
        self._ctx = self._ffmpeg.AudioCodec("g722", "r", 16000)
        self._plc.reset()


class G722Encoder(Encoder):
    """16 kHz PCM → G.722 payloads of ``ptime`` ms."""

    def __init__(self, ffmpeg: ModuleType, ptime: int = 20) -> None:
        if not 1 <= ptime <= 200:
            raise CodecUsageError(f"G722: ptime {ptime} ms out of range")
        self.info = G722
        self.sample_rate = 16000
        self.channels = 1
        self.ptime = ptime
        self.samples_per_frame = 16 * ptime
        self._ffmpeg = ffmpeg
        self._ctx = ffmpeg.AudioCodec("g722", "w", 16000, self.samples_per_frame)

    def encode(self, pcm: PcmLike) -> bytes:
        payload: bytes = self._ctx.encode(as_pcm(pcm, self.samples_per_frame, "G722"))
        return payload

    def reset(self) -> None:
        self._ctx = self._ffmpeg.AudioCodec("g722", "w", 16000, self.samples_per_frame)
