"""What every audio codec shares: :class:`CodecInfo`, the :class:`Decoder` / :class:`Encoder`
interface, PCM and fmtp helpers, and a pitch-repetition concealer for codecs whose
library has no packet loss concealment of its own.

PCM is a 1-D ``numpy.int16`` array (interleaved when stereo) at the coder's
``sample_rate``.  Encoders also accept the same samples as little-endian ``bytes``.
Decoders return a fresh array on every call, so callers may keep it.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from wcs.rtp.codecs.errors import CodecUsageError

__all__ = [
    "CodecInfo",
    "Decoder",
    "Encoder",
    "Fmtp",
    "Pcm",
    "PcmLike",
    "RepeatConcealer",
    "as_pcm",
    "parse_fmtp",
]

Pcm: TypeAlias = npt.NDArray[np.int16]
PcmLike: TypeAlias = "Pcm | bytes | bytearray | memoryview"
Fmtp: TypeAlias = "str | Mapping[str, str] | None"

_LITTLE = sys.byteorder == "little"


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """Static facts about one codec as SDP names it (``a=rtpmap:<pt> <name>/<clock>[/<ch>]``)."""

    name: str  # canonical SDP encoding name ("PCMU", "G722", "opus", "speex")
    clock_rate: int  # RTP timestamp clock
    channels: int  # SDP channel count (opus always says 2, RFC 7587 §7)
    sample_rate: int  # native PCM rate of decode()/encode()
    frame_ms: float  # one codec frame; packets hold whole frames
    static_pt: int | None  # RFC 3551 §6 static payload type, if any
    backend: str  # what does the work: "numpy", "av", "opuslib", "libbcg729", "libspeex"
    rates: tuple[int, ...] = ()  # PCM rates the codec can also run at (opus: 8k … 48k)

    @property
    def key(self) -> str:
        """Registry key, ``"<name lower>/<clock>"`` (``"speex/16000"``)."""
        return f"{self.name.lower()}/{self.clock_rate}"

    def ticks(self, samples: int, sample_rate: int | None = None) -> int:
        """RTP timestamp increment for ``samples`` PCM samples (per channel).

        G.722 ticks at 8000 Hz for 16 kHz audio (RFC 3551 §4.5.2); opus at 48000 Hz
        whatever rate it runs at (RFC 7587 §4.1).
        """
        rate = sample_rate or self.sample_rate
        return samples * self.clock_rate // rate


def parse_fmtp(fmtp: Fmtp) -> dict[str, str]:
    """``"useinbandfec=1; stereo=0"`` → ``{"useinbandfec": "1", "stereo": "0"}`` (keys lower-case)."""
    if fmtp is None:
        return {}
    if isinstance(fmtp, Mapping):
        return {str(k).strip().lower(): str(v).strip() for k, v in fmtp.items()}
    params: dict[str, str] = {}
    for item in fmtp.split(";"):
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key:
            params[key] = value.strip()
    return params


def as_pcm(pcm: PcmLike, count: int, codec: str) -> Pcm:
    """``pcm`` as a C-contiguous int16 array of exactly ``count`` values; else CodecUsageError."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16:
            raise CodecUsageError(f"{codec}: PCM must be int16, not {pcm.dtype}")
        arr: Pcm = pcm if pcm.flags.c_contiguous else np.ascontiguousarray(pcm)
        arr = arr.reshape(-1)
    else:
        if len(pcm) % 2:
            raise CodecUsageError(f"{codec}: PCM byte string has an odd length")
        arr = np.frombuffer(pcm, dtype="<i2")
        if not _LITTLE:  # pragma: no cover - big-endian hosts
            arr = arr.astype(np.int16)
    if arr.shape[0] != count:
        raise CodecUsageError(f"{codec}: expected {count} samples, got {arr.shape[0]}")
    return arr


class Decoder(ABC):
    """One direction of one stream: payloads in, PCM out.

    ``samples_per_frame`` is what ``decode(None)`` conceals: one 20 ms packet (per
    channel, at ``sample_rate``).  ``conceal(samples)`` fills a longer gap; codecs with
    frames round it to whole frames, so use the length of what it returns.
    """

    info: CodecInfo
    sample_rate: int
    channels: int
    samples_per_frame: int

    def decode(self, payload: bytes | None) -> Pcm:
        """Decode every frame in ``payload``; ``None`` conceals one lost packet.

        Raises :class:`~wcs.rtp.codecs.errors.CodecError` for a corrupt payload.
        """
        if payload is None:
            return self.conceal(self.samples_per_frame)
        return self._decode(payload)

    @abstractmethod
    def _decode(self, payload: bytes) -> Pcm: ...

    @abstractmethod
    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        """About ``samples`` samples (per channel) standing in for lost packets.

        ``next_payload``, the packet that follows the gap, lets Opus use its in-band
        FEC; other codecs ignore it (and do not decode it: call ``decode`` next).
        """

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget the stream (a new source starts)."""


class Encoder(ABC):
    """PCM in, one payload per call: ``encode`` takes exactly ``samples_per_frame``
    samples per channel (one packet of ``ptime`` ms) and returns the payload.  An empty
    payload means "nothing to send" (discontinuous transmission)."""

    info: CodecInfo
    sample_rate: int
    channels: int
    ptime: int
    samples_per_frame: int

    @abstractmethod
    def encode(self, pcm: PcmLike) -> bytes: ...

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Start a new stream (codec state back to its initial values)."""


class RepeatConcealer:
    """Packet loss concealment for codecs without their own (G.711, G.722).

    In the spirit of ITU-T G.711 Appendix I, much simplified: the last pitch period
    (found by normalised autocorrelation over 2.5–15 ms) is repeated, at full level for
    10 ms, then faded linearly to silence 60 ms into the loss.  ``remember`` each good
    block (a reference is kept, not a copy); ``conceal`` continues from there.
    """

    __slots__ = ("rate", "_last", "_prev", "_period", "_phase", "_lost")

    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self._last: Pcm | None = None
        self._prev: Pcm | None = None
        self._period: Pcm | None = None
        self._phase = 0
        self._lost = 0

    def remember(self, pcm: Pcm) -> None:
        self._prev, self._last = self._last, pcm
        self._lost = 0

    def reset(self) -> None:
        self._last = self._prev = self._period = None
        self._lost = 0

    def conceal(self, samples: int) -> Pcm:
        if samples <= 0:
            return np.zeros(0, np.int16)
        if self._lost == 0:
            self._period = self._pitch_period()
            self._phase = 0
        start, self._lost = self._lost, self._lost + samples
        period = self._period
        if period is None:
            return np.zeros(samples, np.int16)
        idx = (self._phase + np.arange(samples)) % len(period)
        self._phase = int(idx[-1] + 1)
        full, end = self.rate // 100, self.rate * 6 // 100  # 10 ms, 60 ms
        t = np.arange(start, start + samples, dtype=np.float32)
        gain = np.clip((end - t) / (end - full), 0.0, 1.0)
        return (period[idx] * gain).astype(np.int16)

    def _pitch_period(self) -> Pcm | None:
        parts = [p for p in (self._prev, self._last) if p is not None]
        if not parts:
            return None
        hist = np.concatenate(parts).astype(np.float32) if len(parts) > 1 else parts[0].astype(np.float32)
        lo, hi = self.rate // 400, self.rate * 15 // 1000
        win = min(self.rate // 100, len(hist) - hi)
        if win < lo:  # too little history: repeat what there is
            return hist.astype(np.int16) if len(hist) else None
        ref = hist[-win:]
        cands = np.lib.stride_tricks.sliding_window_view(hist[len(hist) - win - hi : len(hist) - lo], win)
        corr = cands @ ref
        energy = np.einsum("ij,ij->i", cands, cands) * float(ref @ ref) + 1e-9
        best = int(np.argmax(corr * np.abs(corr) / energy))  # sign-aware normalised correlation
        lag = hi - best
        return hist[-lag:].astype(np.int16)
