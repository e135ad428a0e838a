"""G.729 via libbcg729 (ctypes), checked against FFmpeg's independent G.729 decoder."""

from __future__ import annotations

import av
import numpy as np
import pytest

from wcs.rtp.codecs import CodecError, CodecUnavailable, CodecUsageError, create_decoder, create_encoder, g729

from .audio import peak_hz, requires, steady, tone, tone_snr_db

pytestmark = requires("G729/8000")


def _packets(x: np.ndarray, ptime: int = 20, **options: object) -> list[bytes]:
    enc = create_encoder("G729", ptime=ptime, **options)
    n = enc.samples_per_frame
    return [enc.encode(x[i : i + n]) for i in range(0, len(x) - n + 1, n)]


def test_tone_round_trip() -> None:
    packets = _packets(tone(1000, 8000, 1.0))
    assert {len(p) for p in packets} == {20}  # RFC 3551 §4.5.6: two 10-octet frames per 20 ms
    dec = create_decoder("G729")
    y = steady(np.concatenate([dec.decode(p) for p in packets]), 8000)
    assert peak_hz(y, 8000) == 1000
    assert tone_snr_db(y, 8000, 1000) > 25  # measured 31.6 dB


def test_ffmpeg_decodes_bcg729_frames_alike() -> None:
    """Two independent implementations: bcg729 encodes, FFmpeg's g729 decoder decodes."""
    packets = _packets(tone(1000, 8000, 1.0))
    ctx = av.CodecContext.create("g729", "r")
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    theirs = np.concatenate([f.to_ndarray().reshape(-1) for p in packets for f in ctx.decode(av.Packet(p))])
    dec = create_decoder("G729")
    ours = np.concatenate([dec.decode(p) for p in packets])
    assert len(theirs) == len(ours) == 8000
    assert peak_hz(steady(theirs, 8000), 8000) == 1000
    assert np.corrcoef(ours[1600:].astype(float), theirs[1600:].astype(float))[0, 1] > 0.99  # measured 0.9996


def test_payload_layouts() -> None:
    dec = create_decoder("G729")
    frames = b"".join(_packets(tone(500, 8000, 0.06), ptime=60))
    assert len(frames) == 60
    assert len(dec.decode(frames)) == 480
    assert len(dec.decode(frames[:10] + b"\x12\x34")) == 160  # speech frame + Annex B SID
    assert len(dec.decode(b"\x12\x34")) == 80  # SID alone
    for bad in (b"", b"\x00" * 9, b"\x00" * 11, b"\x00" * 13):
        with pytest.raises(CodecError, match=f"payload of {len(bad)} octets is not 10"):
            dec.decode(bad)
    with pytest.raises(CodecError, match="longer than 120 ms"):
        dec.decode(b"\x00" * 130)


def test_concealment_in_whole_frames() -> None:
    dec = create_decoder("G729")
    for p in _packets(tone(1000, 8000, 0.4)):
        dec.decode(p)
    plc = dec.decode(None)
    assert len(plc) == 160 and abs(peak_hz(plc, 8000) - 1000) <= 50  # 50 Hz bins
    assert len(dec.conceal(240)) == 240
    assert len(dec.conceal(100)) == 80  # rounded to whole 10 ms frames


def test_vad_and_annexb() -> None:
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(8000) * 200).astype(np.int16)
    packets = _packets(np.concatenate([tone(1000, 8000, 0.5), quiet]), vad=True)
    sizes = [len(p) for p in packets]
    assert sizes[:20] == [20] * 20
    # noise: mostly nothing to send, speech frames then a trailing SID frame now and then
    assert set(sizes) <= {0, 2, 10, 12, 20} and sizes.count(0) > 20 and 12 in sizes
    dec = create_decoder("G729")
    assert [len(dec.decode(p)) for p in packets if p] == [80 * (len(p) // 10 + len(p) % 10 // 2)
                                                          for p in packets if p]
    assert create_encoder("G729", vad=True, fmtp="annexb=no").vad is False
    assert create_encoder("G729", vad=True, fmtp="annexb=yes").vad is True


def test_parameters_and_reset() -> None:
    with pytest.raises(CodecUsageError, match="ptime 25 ms"):
        create_encoder("G729", ptime=25)
    x = tone(1000, 8000, 0.1)
    enc = create_encoder("G729")
    first = enc.encode(x[:160])
    enc.encode(x[160:320])
    enc.reset()
    assert enc.encode(x[:160]) == first
    dec = create_decoder("G729")
    a = dec.decode(first)
    dec.reset()
    assert np.array_equal(dec.decode(first), a)


def test_missing_library_is_reported() -> None:
    with pytest.raises(CodecUnavailable, match="libbcg729-missing.so.*cannot open shared object") as info:
        g729.load("/nonexistent/libbcg729-missing.so")
    assert info.value.codec == "G729"
    with pytest.raises(CodecUnavailable, match="undefined symbol: initBcg729EncoderChannel"):
        g729.load("libm.so.6")  # loads, but is not bcg729
