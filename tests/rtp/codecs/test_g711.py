"""G.711 µ-law / A-law: ITU tables, bit-exactness against FFmpeg (PyAV), tone round trips."""

from __future__ import annotations

import pathlib

import av
import numpy as np
import pytest

from wcs.rtp.codecs import CodecUsageError, create_decoder, create_encoder
from wcs.rtp.codecs.g711 import PCMA, PCMU, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from wcs.rtp.packet import RtpPacket

from .audio import peak_hz, tone, tone_snr_db

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "codecs"
ALL16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)

# ITU-T G.711 Table 2 (µ-law), positive half: per segment the first decoder output
# value and the step between outputs, in the 14-bit scale where the peak is 8159.
ULAW_SEGMENTS = [(0, 2), (33, 4), (99, 8), (231, 16), (495, 32), (1023, 64), (2079, 128), (4191, 256)]
# ITU-T G.711 Table 1 (A-law), positive half, 13-bit scale (peak 4096).
ALAW_SEGMENTS = [(1, 2), (33, 2), (66, 4), (132, 8), (264, 16), (528, 32), (1056, 64), (2112, 128)]


def _itu_values(segments: list[tuple[int, int]]) -> list[int]:
    """Decoder outputs for magnitude codes 0 … 127 (segment << 4 | step)."""
    return [first + step * m for first, step in segments for m in range(16)]


def _av(name: str, mode: str, data: bytes | np.ndarray) -> np.ndarray:
    ctx = av.CodecContext.create(name, mode)
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    if mode == "w":
        assert isinstance(data, np.ndarray)
        ctx.format = "s16"
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        return np.frombuffer(b"".join(bytes(p) for p in packets), np.uint8)
    assert isinstance(data, bytes)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in ctx.decode(av.Packet(data))])


def test_ulaw_decoder_outputs_are_itu_table_2_scaled_by_4() -> None:
    values = _itu_values(ULAW_SEGMENTS)
    assert values[-1] == 8031
    decoded = ulaw_decode(bytes(range(256)))
    for octet in range(256):
        magnitude = values[(octet ^ 0x7F) & 0x7F]  # all bits sent inverted; bit 7 = 1 is positive
        expected = 4 * magnitude if octet & 0x80 else -4 * magnitude
        assert decoded[octet] == expected, hex(octet)
    assert ulaw_decode(b"\xff\x7f").tolist() == [0, 0]  # +0 and -0


def test_alaw_decoder_outputs_are_itu_table_1_scaled_by_8() -> None:
    values = _itu_values(ALAW_SEGMENTS)
    assert values[-1] == 4032
    decoded = alaw_decode(bytes(range(256)))
    for octet in range(256):
        magnitude = values[(octet ^ 0x55) & 0x7F]  # even bits inverted; bit 7 = 1 is positive
        expected = 8 * magnitude if octet & 0x80 else -8 * magnitude
        assert decoded[octet] == expected, hex(octet)
    assert alaw_decode(b"\xd5\x55").tolist() == [8, -8]


@pytest.mark.parametrize("encode,decode,segments,scale", [
    (ulaw_encode, ulaw_decode, ULAW_SEGMENTS, 4),
    (alaw_encode, alaw_decode, ALAW_SEGMENTS, 8),
])
def test_every_input_lands_in_its_itu_decision_interval(encode, decode, segments, scale) -> None:
    """Decision values lie halfway between outputs (G.711 tables); allow the tie at a
    decision value and the 16 → 14-bit truncation (one grid step of 4)."""
    out = decode(encode(ALL16)).astype(np.int64)
    steps = np.array([step for _, step in segments for _ in range(16)]) * scale
    mags = np.array(_itu_values(segments)) * scale
    level = np.searchsorted(mags, np.abs(out))
    half = steps[np.minimum(level + 1, 127)] // 2 + 4
    clipped = np.abs(ALL16.astype(np.int64)) > mags[-1]
    assert np.all((np.abs(out - ALL16) <= half) | clipped)
    # re-encoding a decoder output gives it back (the quantiser is idempotent)
    levels = decode(bytes(range(256)))
    assert np.array_equal(decode(encode(levels)), levels)


@pytest.mark.parametrize("name,encode,decode", [("pcm_mulaw", ulaw_encode, ulaw_decode),
                                                ("pcm_alaw", alaw_encode, alaw_decode)])
def test_bit_exact_with_ffmpeg(name, encode, decode) -> None:
    assert np.array_equal(np.frombuffer(encode(ALL16), np.uint8), _av(name, "w", ALL16))
    assert np.array_equal(decode(bytes(range(256))), _av(name, "r", bytes(range(256))))


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_tone_round_trip(codec: str) -> None:
    enc, dec = create_encoder(codec), create_decoder(codec)
    assert (enc.sample_rate, enc.samples_per_frame, dec.samples_per_frame) == (8000, 160, 160)
    x = tone(1000, 8000, 1.0)
    y = np.concatenate([dec.decode(enc.encode(x[i : i + 160])) for i in range(0, 8000, 160)])
    assert peak_hz(y, 8000) == 1000
    assert tone_snr_db(y, 8000, 1000) > 40


def test_encoder_takes_bytes_and_ptime() -> None:
    enc = create_encoder("PCMU", ptime=30)
    assert enc.samples_per_frame == 240
    x = tone(1000, 8000, 0.03)
    assert enc.encode(x.tobytes()) == enc.encode(x) == ulaw_encode(x)
    with pytest.raises(CodecUsageError, match="expected 240 samples, got 160"):
        enc.encode(x[:160])
    with pytest.raises(CodecUsageError, match="PCM must be int16"):
        enc.encode(x.astype(np.int32))
    with pytest.raises(CodecUsageError, match="odd length"):
        enc.encode(b"\x00" * 3)


def test_any_payload_length_decodes() -> None:
    dec = create_decoder("PCMA")
    assert len(dec.decode(b"")) == 0
    assert len(dec.decode(b"\xd5" * 37)) == 37


def test_golden_captured_packet_is_silence() -> None:
    packet = RtpPacket.parse((DATA / "rtp.bin").read_bytes())
    assert packet.payload_type == PCMU.static_pt == 0
    assert not create_decoder("PCMU").decode(packet.payload).any()


def test_concealment_repeats_the_pitch_and_fades() -> None:
    dec = create_decoder("PCMU")
    x = tone(1000, 8000, 0.1)
    for i in range(0, 800, 160):
        dec.decode(ulaw_encode(x[i : i + 160]))
    first = dec.decode(None)
    assert len(first) == 160
    assert peak_hz(first, 8000) == 1000
    assert np.abs(first[:80]).max() > 7000  # the first 10 ms at full level
    tail = dec.conceal(480)
    assert len(tail) == 480 and not tail[-80:].any()  # silent 60 ms into the loss
    assert PCMA.static_pt == 8
