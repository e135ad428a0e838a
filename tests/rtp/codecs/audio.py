"""Test signals and their analysis: tones in, FFT peak and tone-to-rest ratio out."""

from __future__ import annotations

import numpy as np
import pytest

from wcs.rtp.codecs import default_registry


def tone(freq: float, rate: int, seconds: float, amplitude: float = 8000.0, channels: int = 1) -> np.ndarray:
    """A sine at ``freq`` Hz as int16 (interleaved copies when ``channels`` is 2)."""
    t = np.arange(int(rate * seconds)) / rate
    x = np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return np.repeat(x, channels) if channels > 1 else x


def _spectrum(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2


def steady(x: np.ndarray, rate: int, skip: float = 0.2) -> np.ndarray:
    """The signal after ``skip`` seconds of codec start-up, cut to whole 10 ms."""
    x = x[int(skip * rate) :]
    return x[: len(x) // (rate // 100) * (rate // 100)]


def peak_hz(x: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT bin (Hann window)."""
    return float(np.argmax(_spectrum(x)) * rate / len(x))


def tone_snr_db(x: np.ndarray, rate: int, freq: float) -> float:
    """Power within ±20 Hz of ``freq`` over the power everywhere else, in dB."""
    sp = _spectrum(x)
    bins = np.fft.rfftfreq(len(x), 1 / rate)
    near = np.abs(bins - freq) <= 20
    return float(10 * np.log10(sp[near].sum() / max(sp[~near].sum(), 1e-9)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def requires(*codecs: str) -> pytest.MarkDecorator:
    """Skip unless every codec loads on this host (its reason is shown)."""
    missing = {c: r for c, r in default_registry.unavailable_codecs().items()
               if c.lower() in {k.lower() for k in codecs}}
    return pytest.mark.skipif(bool(missing), reason=f"codec unavailable: {missing}")
