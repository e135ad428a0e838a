"""G.722 via PyAV: both sub-bands round-trip, the RFC 3551 8000 Hz clock quirk, concealment."""

from __future__ import annotations

import numpy as np
import pytest

from wcs.rtp.codecs import CodecError, CodecUsageError, create_decoder, create_encoder
from wcs.rtp.codecs.g722 import G722

from .audio import peak_hz, requires, steady, tone, tone_snr_db

pytestmark = requires("G722/8000")


@pytest.mark.parametrize("freq,min_snr", [(1000, 40), (6000, 22)])  # lower and upper sub-band
def test_tone_round_trip(freq: int, min_snr: float) -> None:
    enc, dec = create_encoder("G722"), create_decoder("G722")
    assert (enc.sample_rate, enc.samples_per_frame) == (16000, 320)
    x = tone(freq, 16000, 1.0)
    packets = [enc.encode(x[i : i + 320]) for i in range(0, 16000, 320)]
    assert {len(p) for p in packets} == {160}
    y = steady(np.concatenate([dec.decode(p) for p in packets]), 16000)
    assert peak_hz(y, 16000) == freq
    assert tone_snr_db(y, 16000, freq) > min_snr  # measured 47.4 / 27.2 dB


def test_rtp_clock_is_8000_for_16khz_audio() -> None:
    """RFC 3551 §4.5.2: 20 ms = 320 samples = 160 octets, timestamp + 160."""
    assert (G722.clock_rate, G722.sample_rate, G722.static_pt) == (8000, 16000, 9)
    assert G722.ticks(320) == 160


@pytest.mark.parametrize("ptime", [10, 30, 40])
def test_other_ptimes(ptime: int) -> None:
    enc, dec = create_encoder("G722", ptime=ptime), create_decoder("G722")
    payload = enc.encode(tone(1000, 16000, ptime / 1000))
    assert len(payload) == 8 * ptime and len(dec.decode(payload)) == 16 * ptime


def test_concealment_and_errors() -> None:
    enc, dec = create_encoder("G722"), create_decoder("G722")
    x = tone(1000, 16000, 0.2)
    for i in range(0, len(x), 320):
        dec.decode(enc.encode(x[i : i + 320]))
    plc = dec.decode(None)
    assert len(plc) == 320 and peak_hz(plc, 16000) == 1000
    assert not dec.conceal(2000)[-200:].any()  # faded out 60 ms into the loss
    with pytest.raises(CodecError, match="empty G.722 payload"):
        dec.decode(b"")
    assert len(dec.decode(bytes(range(256)) * 2)) == 1024  # every octet string is valid
    with pytest.raises(CodecUsageError, match="expected 320 samples"):
        enc.encode(x[:100])


def test_reset() -> None:
    enc, dec = create_encoder("G722"), create_decoder("G722")
    x = tone(1000, 16000, 0.04)
    first = enc.encode(x[:320])
    enc.encode(x[320:])
    enc.reset()
    assert enc.encode(x[:320]) == first
    a = dec.decode(first)
    dec.reset()
    assert np.array_equal(dec.decode(first), a)
