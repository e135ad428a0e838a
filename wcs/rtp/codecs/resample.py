"""Streaming sample-rate conversion by integer ratios (8 ⇄ 16 ⇄ 48 kHz …), in numpy.

One linear-phase FIR low-pass, a Kaiser-windowed sinc designed at the higher rate, does
both jobs: interpolation after zero-stuffing (up) and anti-aliasing before decimation
(down).  Its cut-off sits at 0.475 × the lower rate with a transition band from 0.425
to 0.525 of it and about 80 dB of stop-band attenuation, so telephone band audio
(≤ 3.4 kHz at 8 kHz) passes flat and nothing above the new Nyquist folds back audibly.

Both directions are polyphase and block-wise: up by L is one ``(n, K) @ (K, L)`` matrix
product over a sliding window of the input (K = taps per phase), down by M one
convolution kept at every M-th output.  The filter history carries across
calls, so 20 ms blocks resample exactly like one long signal.  The group delay is
``delay`` output samples (about 3 ms).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from wcs.rtp.codecs.base import Pcm
from wcs.rtp.codecs.errors import CodecUsageError

__all__ = ["Resampler", "lowpass"]

_TAPS_PER_PHASE = 52  # ≈ (A - 8) / (2.285 · 2π · 0.1) for A = 80 dB
_BETA = 7.857  # Kaiser β for 80 dB (0.1102 · (A - 8.7))

F32 = npt.NDArray[np.float32]


@lru_cache(maxsize=16)
def lowpass(ratio: int) -> F32:
    """The prototype filter at the higher rate for a conversion by ``ratio`` (unit DC gain)."""
    n = _TAPS_PER_PHASE * ratio
    t = np.arange(n) - (n - 1) / 2
    cutoff = 0.475 / ratio  # cycles per high-rate sample (0.5 = high-rate Nyquist)
    h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, _BETA)
    h /= h.sum()
    out: F32 = h.astype(np.float32)
    return out


class Resampler:
    """Converts a mono int16 stream from ``in_rate`` to ``out_rate``.

    The rates must divide one another (8000 → 48000 is 6 up, 16000 → 8000 is 2 down).
    ``process`` takes any block length when going up; going down, input that does not
    fill a whole output sample waits for the next call.
    """

    __slots__ = ("in_rate", "out_rate", "up", "down", "delay", "_bank", "_h", "_hist", "_taps")

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise CodecUsageError("sample rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.up = out_rate // in_rate if out_rate % in_rate == 0 else 0
        self.down = in_rate // out_rate if in_rate % out_rate == 0 else 0
        if not (self.up or self.down):
            raise CodecUsageError(f"cannot resample {in_rate} Hz to {out_rate} Hz (not an integer ratio)")
        ratio = max(self.up, self.down)
        h = lowpass(ratio) if ratio > 1 else np.ones(1, np.float32)
        if self.up > 1:
            k = _TAPS_PER_PHASE
            # bank[i, p] = L · h[L (K-1-i) + p]: row i meets input sample n-(K-1-i)
            self._bank = (h[::-1].reshape(k, self.up)[:, ::-1] * self.up).astype(np.float32)
            self._taps = k
            self.delay = (len(h) - 1) // 2
        else:
            self._bank = np.zeros((0, 0), np.float32)
            self._taps = len(h)
            self.delay = (len(h) - 1) // 2 // max(self.down, 1)
        self._h = h[::-1].copy()
        self._hist: F32 = np.zeros(self._taps - 1, np.float32)

    def reset(self) -> None:
        """Clear the filter history (a new, unrelated signal follows)."""
        self._hist = np.zeros(self._taps - 1, np.float32)

    def process(self, pcm: Pcm) -> Pcm:
        """Resample one block; returns ``len(pcm) * up`` or about ``len(pcm) / down`` samples."""
        if self.up == 1:
            return pcm
        buf = np.concatenate((self._hist, pcm.astype(np.float32)))
        if self.up:
            win = np.lib.stride_tricks.sliding_window_view(buf, self._taps)
            out = (np.ascontiguousarray(win) @ self._bank).reshape(-1)
            self._hist = buf[len(buf) - self._taps + 1 :]
        else:
            count = (len(buf) - self._taps) // self.down + 1 if len(buf) >= self._taps else 0
            out = np.convolve(buf, self._h, "valid")[:: self.down][:count]
            self._hist = buf[count * self.down :]
        return _to_int16(out)


def _to_int16(x: F32) -> Pcm:
    return np.rint(x, out=x).clip(-32768, 32767, out=x).astype(np.int16)
