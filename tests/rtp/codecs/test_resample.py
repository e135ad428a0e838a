"""Resampler: tones stay clean tones, nothing aliases, blocks join seamlessly."""

from __future__ import annotations

import numpy as np
import pytest

from wcs.rtp.codecs import CodecUsageError, Resampler
from wcs.rtp.codecs.resample import lowpass

from .audio import peak_hz, rms, steady, tone, tone_snr_db

PAIRS = [(8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000)]


def _blocks(r: Resampler, x: np.ndarray, block: int) -> np.ndarray:
    return np.concatenate([r.process(x[i : i + block]) for i in range(0, len(x), block)])


@pytest.mark.parametrize("src,dst", PAIRS)
def test_1khz_tone_stays_a_clean_1khz_tone(src: int, dst: int) -> None:
    y = _blocks(Resampler(src, dst), tone(1000, src, 1.0), src // 50)
    assert len(y) == dst
    y = steady(y, dst)
    assert peak_hz(y, dst) == 1000
    assert tone_snr_db(y, dst, 1000) > 75  # measured 83 … 98 dB


@pytest.mark.parametrize("src,dst", [(16000, 8000), (48000, 8000), (48000, 16000)])
def test_no_aliasing_from_above_the_new_nyquist(src: int, dst: int) -> None:
    for freq in (0.55 * dst, 0.7 * dst, 0.95 * dst):  # would fold to 0.45, 0.3, 0.05 × dst
        y = steady(Resampler(src, dst).process(tone(freq, src, 0.5)), dst, 0.05)
        assert rms(y) < 8000 / 1000, freq  # ≥ 60 dB down (the tone has rms 5657)


@pytest.mark.parametrize("src,dst", [(8000, 16000), (8000, 48000)])
def test_no_images_when_going_up(src: int, dst: int) -> None:
    y = steady(Resampler(src, dst).process(tone(1000, src, 0.5)), dst, 0.05).astype(np.float64)
    sp = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    bins = np.fft.rfftfreq(len(y), 1 / dst)
    image = sp[np.abs(bins - (src - 1000)) <= 20].sum()
    assert 10 * np.log10(sp.max() / image) > 70


@pytest.mark.parametrize("src,dst", PAIRS)
def test_block_size_does_not_matter(src: int, dst: int) -> None:
    x = tone(440, src, 0.3) + tone(2500, src, 0.3, 3000)
    whole = Resampler(src, dst).process(x)
    assert np.array_equal(_blocks(Resampler(src, dst), x, src // 50), whole)
    odd = _blocks(Resampler(src, dst), x, 77)
    assert np.array_equal(odd, whole[: len(odd)]) and len(whole) - len(odd) < 6


def test_passband_is_flat_for_telephone_speech() -> None:
    for freq in (300, 1000, 2000, 3000, 3400):
        y = steady(Resampler(8000, 48000).process(tone(freq, 8000, 0.5)), 48000, 0.05)
        assert abs(20 * np.log10(rms(y) / rms(tone(freq, 8000, 0.5)))) < 0.1, freq


def test_geometry_and_errors() -> None:
    up, down = Resampler(8000, 48000), Resampler(48000, 8000)
    assert len(up.process(np.zeros(160, np.int16))) == 960
    assert len(down.process(np.zeros(960, np.int16))) == 160
    assert 0 < up.delay < 48000 // 100 and 0 < down.delay < 8000 // 100  # under 10 ms
    same = Resampler(16000, 16000)
    x = tone(1000, 16000, 0.02)
    assert same.process(x) is x
    with pytest.raises(CodecUsageError, match="not an integer ratio"):
        Resampler(44100, 48000)
    with pytest.raises(CodecUsageError):
        Resampler(0, 8000)
    assert abs(float(lowpass(6).sum()) - 1.0) < 1e-5


def test_full_scale_input_does_not_wrap() -> None:
    x = np.tile(np.array([32767, -32768], np.int16), 400)
    y = Resampler(16000, 8000).process(x)  # Nyquist: filtered out, no overflow
    assert np.abs(y[40:]).max() < 100
    square = np.repeat(np.array([32767, -32768] * 20, np.int16), 20)
    z = Resampler(8000, 16000).process(square)  # Gibbs overshoot is clipped, not wrapped
    assert z.max() == 32767 and z.min() == -32768
