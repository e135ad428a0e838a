"""ITU-T G.722 (64 kb/s sub-band ADPCM) through PyAV — the only module that imports ``av``.

16 kHz audio, one octet per two samples, but an RTP clock of 8000 Hz: RFC 3551
§4.5.2 keeps the rate G.722 was first (wrongly) registered with, so a 20 ms packet is
160 octets, 320 samples, and advances the timestamp by 160 (``CodecInfo.ticks``).

FFmpeg's ``g722`` encoder/decoder do the work.  Per packet we reuse one ``AudioFrame``
(writing the samples into its plane) and read decoded planes with ``numpy.frombuffer``
— cheaper than building frames from arrays.  G.722 has no concealment of its own here,
so lost packets get pitch repetition (``RepeatConcealer``).  ``av`` is imported lazily:
a host without it reports G.722 unavailable.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Pcm, PcmLike, RepeatConcealer, as_pcm
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError

__all__ = ["G722", "G722Decoder", "G722Encoder", "load"]

G722 = CodecInfo("G722", 8000, 1, 16000, 20, 9, "av")


def load() -> ModuleType:
    """Import PyAV and check FFmpeg has both G.722 coders; raises :class:`CodecUnavailable`."""
    try:
        import av

        av.codec.Codec("g722", "r")
        av.codec.Codec("g722", "w")
    except Exception as exc:
        raise CodecUnavailable("G722", f"av: {exc}") from None
    return av


def _context(av: ModuleType, mode: str, frame_size: int = 0) -> Any:
    ctx = av.CodecContext.create("g722", mode)
    ctx.sample_rate = 16000
    ctx.layout = "mono"
    if mode == "w":
        ctx.format = "s16"
        ctx.options = {"frame_size": str(frame_size)}  # FFmpeg's encoder fixes it at open
    ctx.open()
    return ctx


class G722Decoder(Decoder):
    """G.722 payloads → 16 kHz PCM (any payload length: two samples per octet)."""

    def __init__(self, av: ModuleType) -> None:
        self.info = G722
        self.sample_rate = 16000
        self.channels = 1
        self.samples_per_frame = 320
        self._av = av
        self._packet = av.Packet
        self._ctx = _context(av, "r")
        self._plc = RepeatConcealer(16000)

    def _decode(self, payload: bytes) -> Pcm:
        if not payload:
            raise CodecError("empty G.722 payload")
        try:
            frames = self._ctx.decode(self._packet(payload))
        except Exception as exc:  # FFmpeg errors surface as av.error.* (never expected for G.722)
            raise CodecError(f"G.722 payload rejected: {exc}") from None
        if len(frames) == 1:
            pcm = np.frombuffer(frames[0].planes[0], np.int16, frames[0].samples).copy()
        else:
            pcm = np.concatenate([np.frombuffer(f.planes[0], np.int16, f.samples) for f in frames])
        self._plc.remember(pcm)
        return pcm

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        return self._plc.conceal(samples)

    def reset(self) -> None:
        self._ctx = _context(self._av, "r")
        self._plc.reset()


class G722Encoder(Encoder):
    """16 kHz PCM → G.722 payloads of ``ptime`` ms."""

    def __init__(self, av: ModuleType, ptime: int = 20) -> None:
        if not 1 <= ptime <= 200:
            raise CodecUsageError(f"G722: ptime {ptime} ms out of range")
        self.info = G722
        self.sample_rate = 16000
        self.channels = 1
        self.ptime = ptime
        self.samples_per_frame = 16 * ptime
        self._av = av
        self._open()

    def _open(self) -> None:
        self._ctx = _context(self._av, "w", self.samples_per_frame)
        self._frame = self._av.AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        self._frame.sample_rate = 16000
        self._plane = self._frame.planes[0]
        self._pts = 0

    def encode(self, pcm: PcmLike) -> bytes:
        arr = as_pcm(pcm, self.samples_per_frame, "G722")
        self._plane.update(arr)
        self._frame.pts = self._pts
        self._pts += self.samples_per_frame
        packets = self._ctx.encode(self._frame)
        return b"".join(bytes(p) for p in packets) if len(packets) != 1 else bytes(packets[0])

    def reset(self) -> None:
        self._open()
