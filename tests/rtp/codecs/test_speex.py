"""Speex narrowband / wideband via libspeex (ctypes), checked against FFmpeg's native decoder."""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.codecs import (
    CodecError,
    CodecUnavailable,
    CodecUsageError,
    create_decoder,
    create_encoder,
    speex,
)

from .audio import peak_hz, requires, steady, tone, tone_snr_db

pytestmark = requires("speex/8000", "speex/16000")
RATES = [8000, 16000]


def _packets(rate: int, x: np.ndarray, ptime: int = 20, **options: object) -> list[bytes]:
    enc = create_encoder(f"speex/{rate}", ptime=ptime, **options)
    n = enc.samples_per_frame
    return [enc.encode(x[i : i + n]) for i in range(0, len(x) - n + 1, n)]


@pytest.mark.parametrize("rate", RATES)
def test_tone_round_trip(rate: int) -> None:
    packets = _packets(rate, tone(1000, rate, 1.0))
    assert {len(p) for p in packets} == {38 if rate == 8000 else 70}  # quality 8: 15 / 27.8 kb/s
    dec = create_decoder(f"speex/{rate}")
    y = steady(np.concatenate([dec.decode(p) for p in packets]), rate)
    assert peak_hz(y, rate) == 1000
    assert tone_snr_db(y, rate, 1000) > 30  # measured 36.5 / 40.8 dB


@pytest.mark.parametrize("rate", RATES)
def test_ffmpeg_decodes_our_multi_frame_packets(rate: int) -> None:
    """libspeex encodes three frames per packet (RFC 5574 §3.3); FFmpeg's own decoder reads them."""
    packets = _packets(rate, tone(1000, rate, 1.2), ptime=60)
    ctx = av.CodecContext.create("speex", "r")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    frames = [f.to_ndarray().reshape(-1) for p in packets for f in ctx.decode(av.Packet(p))]
    y = np.concatenate(frames)
    assert len(y) == len(packets) * 3 * rate // 50
    y = steady(np.rint(y * 32767).astype(np.int16), rate)
    assert peak_hz(y, rate) == 1000
    assert tone_snr_db(y, rate, 1000) > 30
    dec = create_decoder(f"speex/{rate}")
    assert all(len(dec.decode(p)) == 3 * rate // 50 for p in packets)


def test_wideband_decoder_reads_narrowband_frames_and_vbr() -> None:
    x = np.concatenate([tone(800, 8000, 0.4), np.zeros(1600, np.int16)])
    packets = _packets(8000, x, vbr=True)
    assert len({len(p) for p in packets}) > 1  # VBR: silence costs less
    assert {len(p) for p in _packets(8000, x, fmtp="vbr=on")} == {len(p) for p in packets}
    nb = create_decoder("speex/8000")
    assert all(len(nb.decode(p)) == 160 for p in packets)
    wb = create_decoder("speex/16000")  # a wideband decoder plays the narrowband layer alone
    y = np.concatenate([wb.decode(p) for p in packets[:20]])
    assert len(y) == 20 * 320 and peak_hz(steady(y, 16000), 16000) == 800


def test_concealment() -> None:
    dec = create_decoder("speex/16000")
    for p in _packets(16000, tone(1000, 16000, 0.4)):
        dec.decode(p)
    plc = dec.decode(None)
    assert len(plc) == 320 and abs(peak_hz(plc, 16000) - 1000) <= 50
    assert len(dec.conceal(700)) == 640  # whole 20 ms frames


@pytest.mark.parametrize("rate", RATES)
def test_corrupt_payloads(rate: int) -> None:
    dec = create_decoder(f"speex/{rate}")
    with pytest.raises(CodecError, match="Speex payload of 0 octets"):
        dec.decode(b"")
    with pytest.raises(CodecError, match="no frame"):
        dec.decode(b"\x7f")  # narrowband mode 15: the terminator, nothing before it
    with pytest.raises(CodecError, match="corrupt"):
        dec.decode(b"\x48" * 20)  # mode 9: invalid (speex_decode_int returns -2)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.sampled_from(RATES))
def test_random_payloads_decode_or_raise_codec_error(payload: bytes, rate: int) -> None:
    try:
        pcm = create_decoder(f"speex/{rate}").decode(payload)
    except CodecError:
        return
    assert pcm.dtype == np.int16 and len(pcm) % (rate // 50) == 0


def test_parameters_and_missing_library() -> None:
    with pytest.raises(CodecUsageError, match="ptime 30 ms"):
        create_encoder("speex/8000", ptime=30)
    with pytest.raises(CodecUsageError, match="quality 11"):
        create_encoder("speex/8000", quality=11)
    with pytest.raises(CodecUnavailable, match="cannot open shared object"):
        speex.load("/nonexistent/libspeex.so.1")
    with pytest.raises(CodecUnavailable, match="undefined symbol: speex_lib_get_mode"):
        speex.load("libm.so.6")
    enc = create_encoder("speex/8000")
    x = tone(1000, 8000, 0.04)
    first = enc.encode(x[:160])
    enc.encode(x[160:])
    enc.reset()
    assert enc.encode(x[:160]) == first
