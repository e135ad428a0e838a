"""Opus via opuslib: round trips at every rate, FFmpeg's own decoder as a second opinion,
PLC and FEC, fmtp, corrupt payloads."""

from __future__ import annotations

import pathlib

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.codecs import CodecError, CodecUsageError, create_decoder, create_encoder, lookup
from wcs.rtp.codecs.opus import OPUS
from wcs.rtp.packet import RtpPacket

from .audio import peak_hz, requires, rms, steady, tone, tone_snr_db

pytestmark = requires("opus/48000")
DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "codecs"


def _round_trip(enc, dec, x: np.ndarray) -> np.ndarray:
    n = enc.samples_per_frame * enc.channels
    return np.concatenate([dec.decode(enc.encode(x[i : i + n])) for i in range(0, len(x) - n + 1, n)])


def test_rfc7587_sdp_facts() -> None:
    assert lookup("opus/48000/2") is OPUS
    assert (OPUS.clock_rate, OPUS.channels, OPUS.static_pt) == (48000, 2, None)
    assert OPUS.ticks(160, 8000) == OPUS.ticks(960, 48000) == 960  # always a 48 kHz clock


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_tone_round_trip_at_each_rate(rate: int) -> None:
    enc = create_encoder("opus", sample_rate=rate)
    dec = create_decoder("opus", sample_rate=rate)
    y = steady(_round_trip(enc, dec, tone(1000, rate, 1.0)), rate)
    assert peak_hz(y, rate) == 1000
    assert tone_snr_db(y, rate, 1000) > 30


def test_stereo_encode_decodes_as_stereo_or_downmixed() -> None:
    left = tone(1000, 48000, 1.0)
    stereo = np.column_stack((left, tone(2000, 48000, 1.0))).reshape(-1)
    enc = create_encoder("opus", channels=2, bitrate=64000)
    packets = [enc.encode(stereo[i : i + 1920]) for i in range(0, len(stereo), 1920)]
    both = np.concatenate([d for d in map(create_decoder("opus", channels=2).decode, packets)]).reshape(-1, 2)
    assert peak_hz(steady(both[:, 0], 48000), 48000) == 1000
    assert peak_hz(steady(both[:, 1], 48000), 48000) == 2000
    mono_dec = create_decoder("opus", sample_rate=8000)
    mono = steady(np.concatenate([mono_dec.decode(p) for p in packets]), 8000)
    # the downmix holds both tones at about equal power and little else
    assert abs(tone_snr_db(mono, 8000, 1000)) < 3 and abs(tone_snr_db(mono, 8000, 2000)) < 3


def test_ffmpeg_decodes_our_packets() -> None:
    """libopus (through opuslib) encodes, FFmpeg's native Opus decoder decodes."""
    enc = create_encoder("opus", sample_rate=48000)
    x = tone(1000, 48000, 1.0)
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate = 48000
    ctx.layout = "mono"
    out = []
    for i in range(0, len(x), 960):
        for frame in ctx.decode(av.Packet(enc.encode(x[i : i + 960]))):
            out.append(frame.to_ndarray().reshape(-1))
    y = steady(np.concatenate(out), 48000)
    assert peak_hz(y, 48000) == 1000
    assert tone_snr_db(y, 48000, 1000) > 25


def test_golden_browser_packet() -> None:
    packet = RtpPacket.parse((DATA / "rtp_with_sdes_mid.bin").read_bytes())
    assert packet.payload_type == 111
    pcm = create_decoder("opus").decode(packet.payload)
    assert len(pcm) == 960 and rms(pcm) > 100
    assert len(create_decoder("opus", sample_rate=8000).decode(packet.payload)) == 160


def test_packet_loss_concealment() -> None:
    enc, dec = create_encoder("opus"), create_decoder("opus")
    x = tone(1000, 48000, 0.5)
    for i in range(0, 24000, 960):
        dec.decode(enc.encode(x[i : i + 960]))
    plc = dec.decode(None)
    assert len(plc) == 960 and peak_hz(plc, 48000) == 1000
    assert len(dec.conceal(2000)) == 1920  # whole 2.5 ms steps
    assert len(dec.conceal(7000)) == 6960  # longer than one 120 ms buffer is fine too


def test_in_band_fec_recovers_a_lost_packet() -> None:
    x = tone(700, 16000, 1.0)
    enc = create_encoder("opus", sample_rate=16000, fmtp="useinbandfec=1")
    assert enc.fec
    packets = [enc.encode(x[i : i + 320]) for i in range(0, 16000, 320)]
    truth = [create_decoder("opus", sample_rate=16000)]
    expected = [truth[0].decode(p) for p in packets[:31]][30]
    guesses = {}
    for mode in ("fec", "plc"):
        dec = create_decoder("opus", sample_rate=16000)
        for p in packets[:30]:
            dec.decode(p)
        guesses[mode] = dec.conceal(320, packets[31] if mode == "fec" else None)  # packet 30 lost
        assert len(guesses[mode]) == 320
        assert len(dec.decode(packets[31])) == 320

    def error(x: np.ndarray) -> float:
        return rms(x.astype(np.int32) - expected) / rms(expected)

    assert error(guesses["fec"]) < 0.2 < error(guesses["plc"])  # measured 0.02 vs 0.49


@pytest.mark.parametrize("payload", [b"\x03", b"\x03\x00", b"\xff"])
def test_corrupt_payload_is_a_codec_error(payload: bytes) -> None:
    with pytest.raises(CodecError, match="Opus payload rejected: invalid packet"):
        create_decoder("opus").decode(payload)
    with pytest.raises(CodecError, match="empty Opus payload"):
        create_decoder("opus").decode(b"")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_random_payloads_decode_or_raise_codec_error(payload: bytes) -> None:
    try:
        pcm = create_decoder("opus", sample_rate=8000).decode(payload)
    except CodecError:
        return
    assert pcm.dtype == np.int16 and len(pcm) % 20 == 0


def test_fmtp_shapes_the_encoder() -> None:
    enc = create_encoder("opus", fmtp="maxaveragebitrate=12000; useinbandfec=0; cbr=1; maxplaybackrate=8000")
    assert enc.bitrate == 12000 and not enc.fec
    x = tone(1000, 48000, 0.2)
    sizes = {len(enc.encode(x[i : i + 960])) for i in range(0, len(x), 960)}
    assert sizes == {30}  # CBR 12 kb/s = 30 octets per 20 ms
    assert create_encoder("opus", bitrate=64000, fmtp={"maxaveragebitrate": "40000"}).bitrate == 40000


def test_dtx_sends_nothing_for_silence() -> None:
    enc = create_encoder("opus", dtx=True)
    silence = np.zeros(960, np.int16)
    payloads = [enc.encode(silence) for _ in range(50)]
    assert payloads.count(b"") > 30
    assert create_encoder("opus", dtx=True, fmtp="usedtx=0").dtx is False


def test_parameters_are_checked() -> None:
    with pytest.raises(CodecUsageError, match="cannot run at 44100 Hz"):
        create_decoder("opus", sample_rate=44100)
    with pytest.raises(CodecUsageError, match="ptime 30 ms"):
        create_encoder("opus", ptime=30)
    with pytest.raises(CodecUsageError, match="complexity 11"):
        create_encoder("opus", complexity=11)
    with pytest.raises(CodecUsageError, match="3 channels"):
        create_decoder("opus", channels=3)
    for ptime, samples in ((10, 480), (40, 1920), (60, 2880)):
        enc = create_encoder("opus", ptime=ptime)
        assert enc.samples_per_frame == samples
        assert len(create_decoder("opus").decode(enc.encode(np.zeros(samples, np.int16)))) == samples


def test_reset_starts_a_fresh_stream() -> None:
    enc, dec = create_encoder("opus"), create_decoder("opus")
    x = tone(1000, 48000, 0.1)
    first = [enc.encode(x[i : i + 960]) for i in range(0, 4800, 960)]
    enc.reset()
    again = [enc.encode(x[i : i + 960]) for i in range(0, 4800, 960)]
    assert first == again
    a = [dec.decode(p) for p in first]
    dec.reset()
    b = [dec.decode(p) for p in first]
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
