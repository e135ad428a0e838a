"""AudioTranscoder: tones through every browser ⇄ phone pair, RTP header continuity, loss,
reordering, silence, source changes and telephone events."""

from __future__ import annotations

import pathlib
import struct

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.entropy import SeededEntropy
from wcs.rtp.codecs import CodecUsageError, create_decoder, create_encoder, lookup
from wcs.rtp.dtmf import parse_events
from wcs.rtp.packet import RtpPacket
from wcs.rtp.transcode import AudioTranscoder

from .codecs.audio import peak_hz, requires, steady, tone, tone_snr_db

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "codecs"
HDR = struct.Struct("!BBHII")
SRC_SSRC = 0x11223344
OUT_SSRC = 0xA1B2C3D4


def packets(codec: str, pcm: np.ndarray, *, pt: int = 96, ptime: int = 20, seq: int = 1000, ts: int = 5000,
            ssrc: int = SRC_SSRC, channels: int = 1, **options: object) -> list[bytes]:
    """The RTP stream a peer sending ``pcm`` in ``codec`` would produce."""
    info = lookup(codec)
    enc = create_encoder(codec, channels=channels, ptime=ptime, **options)
    n = enc.samples_per_frame * channels
    ticks = info.ticks(enc.samples_per_frame, enc.sample_rate)
    out = []
    for k, i in enumerate(range(0, len(pcm) - n + 1, n)):
        marker = 0x80 if k == 0 else 0
        header = HDR.pack(0x80, marker | pt, (seq + k) & 0xFFFF, (ts + k * ticks) & 0xFFFFFFFF, ssrc)
        out.append(header + enc.encode(pcm[i : i + n]))
    return out


def transcoder(src: str, dst: str, pt: int = 0, **kw: object) -> AudioTranscoder:
    kw.setdefault("initial_sequence", 40000)
    kw.setdefault("initial_timestamp", 7000000)
    return AudioTranscoder(src, dst, payload_type=pt, ssrc=OUT_SSRC, entropy=SeededEntropy(3), **kw)  # type: ignore[arg-type]


def feed(tc: AudioTranscoder, stream: list[bytes], t0: float = 0.0, step: float = 0.02) -> list[bytes]:
    out: list[bytes] = []
    for i, p in enumerate(stream):
        out += tc.receive(p, t0 + i * step)
    return out


def headers(out: list[bytes]) -> list[tuple[int, int, int, int, int]]:
    """(marker, pt, seq, ts, ssrc) per packet."""
    fields = (HDR.unpack_from(p) for p in out)
    return [(b1 >> 7, b1 & 0x7F, seq, ts, ssrc) for _, b1, seq, ts, ssrc in fields]


def decode(codec: str, out: list[bytes]) -> np.ndarray:
    dec = create_decoder(codec)
    return np.concatenate([dec.decode(p[12:]) for p in out])


def assert_continuous(out: list[bytes], ticks: int, seq0: int = 40000, ts0: int = 7000000) -> None:
    hs = headers(out)
    assert [h[2] for h in hs] == [(seq0 + i) & 0xFFFF for i in range(len(hs))]
    assert [h[3] for h in hs] == [(ts0 + i * ticks) & 0xFFFFFFFF for i in range(len(hs))]
    assert {h[4] for h in hs} == {OUT_SSRC}
    assert [h[0] for h in hs] == [1] + [0] * (len(hs) - 1)


# ------------------------------------------------------------------ codec pairs

@requires("opus/48000")
def test_opus_48k_stereo_to_pcmu_and_back() -> None:
    src = packets("opus", tone(1000, 48000, 1.0, channels=2), pt=111, channels=2, bitrate=64000)
    tc = transcoder("opus", "PCMU", pt=0, src_payload_type=111)
    assert tc.resampler is None and tc.decoder.sample_rate == 8000  # Opus decodes straight to 8 kHz
    pcmu = feed(tc, src)
    assert len(pcmu) == 50 and {len(p) for p in pcmu} == {12 + 160}
    assert_continuous(pcmu, 160)
    assert {h[1] for h in headers(pcmu)} == {0}
    y = steady(decode("PCMU", pcmu), 8000)
    assert peak_hz(y, 8000) == 1000 and tone_snr_db(y, 8000, 1000) > 25

    back = transcoder("PCMU", "opus", pt=111)
    assert back.encoder.sample_rate == 8000  # … and encodes from 8 kHz, stamped at 48 kHz
    opus = feed(back, pcmu)
    assert len(opus) == 50
    assert_continuous(opus, 960)
    z = steady(decode("opus", opus), 48000)
    assert peak_hz(z, 48000) == 1000 and tone_snr_db(z, 48000, 1000) > 20
    assert (tc.sent, tc.lost, tc.late, back.received) == (50, 0, 0, 50)


@requires("opus/48000", "G729/8000")
def test_opus_to_g729_decodes_in_ffmpeg() -> None:
    out = feed(transcoder("opus", "G729", pt=18), packets("opus", tone(1000, 48000, 1.0)))
    assert len(out) == 50 and {len(p) for p in out} == {12 + 20}
    assert_continuous(out, 160)
    ctx = av.CodecContext.create("g729", "r")
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    y = np.concatenate([f.to_ndarray().reshape(-1) for p in out for f in ctx.decode(av.Packet(p[12:]))])
    assert peak_hz(steady(y, 8000), 8000) == 1000
    back = feed(transcoder("G729", "opus", pt=111), out)
    assert_continuous(back, 960)
    assert peak_hz(steady(decode("opus", back), 48000), 48000) == 1000


@requires("opus/48000", "speex/16000")
def test_opus_to_speex16() -> None:
    tc = transcoder("opus", "speex/16000", pt=97)
    assert tc.decoder.sample_rate == 16000 and tc.resampler is None
    out = feed(tc, packets("opus", tone(1000, 48000, 1.0)))
    assert len(out) == 50
    assert_continuous(out, 320)  # speex/16000: the clock is the sample rate
    y = steady(decode("speex/16000", out), 16000)
    assert peak_hz(y, 16000) == 1000 and tone_snr_db(y, 16000, 1000) > 20


@requires("G722/8000")
def test_g722_and_pcmu_through_the_resampler() -> None:
    tc = transcoder("G722", "PCMU")
    assert tc.resampler is not None and (tc.resampler.in_rate, tc.resampler.out_rate) == (16000, 8000)
    out = feed(tc, packets("G722", tone(1000, 16000, 1.0), pt=9))
    assert len(out) == 50
    assert_continuous(out, 160)
    y = steady(decode("PCMU", out), 8000)
    assert peak_hz(y, 8000) == 1000 and tone_snr_db(y, 8000, 1000) > 30
    back = feed(transcoder("PCMU", "G722", pt=9), out)
    assert len(back) == 50 and {len(p) for p in back} == {12 + 160}
    assert_continuous(back, 160)  # RFC 3551 §4.5.2: 320 samples, timestamp + 160
    assert peak_hz(steady(decode("G722", back), 16000), 16000) == 1000


@requires("opus/48000")
def test_reframing_between_ptimes() -> None:
    tc = transcoder("opus", "PCMU")
    src = packets("opus", tone(1000, 48000, 1.2), ptime=60)
    first = tc.receive(src[0], 0.0)
    assert len(first) == 3  # one 60 ms packet in, three 20 ms packets out
    out = first + feed(tc, src[1:], 0.06, 0.06)
    assert len(out) == 60
    assert_continuous(out, 160)

    tc = transcoder("PCMU", "opus", pt=111)
    src10 = packets("PCMU", tone(1000, 8000, 1.01), ptime=10)
    counts = [len(tc.receive(p, i * 0.01)) for i, p in enumerate(src10)]
    assert counts[:6] == [0, 1, 0, 1, 0, 1]  # two 10 ms packets make one 20 ms packet
    assert tc.sent == 50  # the 101st packet's 10 ms wait …
    tail = tc.flush(1.02)  # … until flushed, padded to a whole frame
    assert len(tail) == 1 and headers(tail)[0][2:4] == (40050, 7000000 + 50 * 960)
    assert tc.flush(1.03) == []


@requires("opus/48000")
def test_golden_browser_packet_with_header_extension() -> None:
    tc = transcoder("opus", "PCMU")
    out = tc.receive((DATA / "rtp_with_sdes_mid.bin").read_bytes(), 0.0)
    assert len(out) == 1
    packet = RtpPacket.parse(out[0])
    assert (packet.payload_type, packet.ssrc, packet.marker, len(packet.payload)) == (0, OUT_SSRC, True, 160)
    assert not packet.extension and not packet.csrc


# ------------------------------------------------------------------ loss, order, silence

def test_loss_is_concealed_and_the_output_stays_continuous() -> None:
    src = packets("PCMA", tone(1000, 8000, 1.0))
    tc = transcoder("PCMA", "PCMU")
    out = feed(tc, src[:10] + src[12:])  # packets 10 and 11 lost
    assert len(out) == 50  # the gap is filled: the receiver sees no loss
    assert_continuous(out, 160)
    assert (tc.lost, tc.concealed, tc.discontinuities) == (2, 320, 0)
    assert peak_hz(steady(decode("PCMU", out), 8000), 8000) == 1000


@requires("opus/48000")
def test_opus_in_band_fec_fills_a_single_loss() -> None:
    src = packets("opus", tone(700, 48000, 1.0), fmtp="useinbandfec=1", bitrate=32000)
    tc = transcoder("opus", "PCMU")
    out = feed(tc, src[:20] + src[21:])
    assert len(out) == 50 and (tc.lost, tc.concealed) == (1, 160)
    assert_continuous(out, 160)
    lost = decode("PCMU", out)[20 * 160 : 21 * 160]
    assert tone_snr_db(np.tile(lost, 4), 8000, 700) > 10  # recovered audio, not silence


def test_long_loss_becomes_a_discontinuity() -> None:
    src = packets("PCMU", tone(1000, 8000, 1.0))
    tc = transcoder("PCMU", "PCMA", max_conceal=0.1)
    out = feed(tc, src[:10] + src[20:])  # 200 ms missing: more than max_conceal
    assert len(out) == 40 and (tc.lost, tc.discontinuities, tc.concealed) == (10, 1, 0)
    hs = headers(out)
    assert [h[2] for h in hs] == [40000 + i for i in range(40)]  # sequence numbers stay continuous
    assert hs[10][3] - hs[9][3] == 11 * 160  # timestamps skip the lost time
    assert [h[0] for h in hs] == [1] + [0] * 9 + [1] + [0] * 29  # marker after the gap


def test_reordered_packet_is_concealed_then_dropped_as_late() -> None:
    src = packets("PCMU", tone(1000, 8000, 0.4))
    tc = transcoder("PCMU", "PCMA")
    order = src[:5] + [src[6], src[5]] + src[7:] + [src[7]]  # swap 5/6, duplicate 7 at the end
    out = feed(tc, order)
    assert len(out) == 20
    assert_continuous(out, 160)
    assert (tc.lost, tc.late, tc.received) == (1, 2, 21)


@requires("opus/48000")
def test_silence_suppression_gap_keeps_timing_and_marks_the_talkspurt() -> None:
    src = packets("opus", tone(1000, 48000, 0.4))
    talk2 = packets("opus", tone(1000, 48000, 0.2), seq=1020, ts=5000 + 20 * 960 + 48000)  # 1 s later
    tc = transcoder("opus", "PCMU")
    talk2[0] = talk2[0][:1] + bytes([talk2[0][1] & 0x7F]) + talk2[0][2:]  # even without the sender's marker
    out = feed(tc, src) + feed(tc, talk2, 1.4)
    hs = headers(out)
    assert len(out) == 30 and [h[2] for h in hs] == [40000 + i for i in range(30)]
    assert hs[20][3] - hs[19][3] == 160 + 8000  # 20 ms + the 1 s pause, in 8 kHz ticks
    assert hs[20][0] == 1 and tc.discontinuities == 1 and tc.lost == 0


def test_new_ssrc_mid_stream_continues_the_output() -> None:
    a = packets("PCMU", tone(1000, 8000, 0.5))
    b = packets("PCMU", tone(1000, 8000, 0.5), seq=60000, ts=123456789, ssrc=0x99)
    tc = transcoder("PCMU", "PCMA")
    out = feed(tc, a) + feed(tc, b, t0=0.48 + 0.3)  # 300 ms pause at the switch
    hs = headers(out)
    assert len(out) == 50 and {h[4] for h in hs} == {OUT_SSRC}
    assert [h[2] for h in hs] == [40000 + i for i in range(50)]
    assert hs[25][3] - hs[24][3] == 0.3 * 8000  # wall-clock time since the last packet
    assert hs[25][0] == 1 and tc.source_changes == 1
    assert peak_hz(steady(decode("PCMA", out[25:]), 8000, 0.05), 8000) == 1000


def test_sequence_restart_within_the_same_ssrc() -> None:
    a = packets("PCMU", tone(1000, 8000, 0.2))
    b = packets("PCMU", tone(1000, 8000, 0.2), seq=30000, ts=5000 + 10 * 160)
    tc = transcoder("PCMU", "PCMA")
    out = feed(tc, a) + feed(tc, b, t0=0.2)
    assert tc.dropped_jump == 1 and tc.source_changes == 1
    assert len(out) == 19 and [h[2] for h in headers(out)] == [40000 + i for i in range(19)]
    assert headers(out)[10][0] == 1


@requires("opus/48000")
def test_bad_packets_are_counted_never_raised() -> None:
    src = packets("opus", tone(1000, 48000, 0.2))
    corrupt = src[3][:12] + b"\x03"  # invalid Opus packet
    tc = transcoder("opus", "PCMU", src_payload_type=96)
    stream = src[:3] + [corrupt] + src[4:]
    out: list[bytes] = []
    for i, p in enumerate(stream):
        out += tc.receive(p, i * 0.02)
        out += tc.receive(b"\x80\x00", i * 0.02)  # too short
        out += tc.receive(b"\x40" + p[1:], i * 0.02)  # RTP version 1
        out += tc.receive(p[:1] + b"\x08" + p[2:], i * 0.02)  # PT 8: not ours
    assert (tc.malformed, tc.dropped_payload_type, tc.decode_errors) == (20, 10, 1)
    assert len(out) == 10 and tc.lost == 1 and tc.concealed == 160  # the corrupt one concealed
    assert_continuous(out, 160)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 3),
                          st.binary(max_size=200)), max_size=30))
def test_arbitrary_packet_sequences_never_raise(items: list[tuple[int, int, int, bytes]]) -> None:
    tc = transcoder("PCMU", "PCMA")
    for i, (seq, ts, ssrc, payload) in enumerate(items):
        for p in tc.receive(HDR.pack(0x80, 0, seq, ts, ssrc) + payload, i * 0.02):
            assert HDR.unpack_from(p)[4] == OUT_SSRC and len(p) == 172
    assert tc.sent <= tc.received * 30


# ------------------------------------------------------------------ telephone events

@requires("opus/48000")
def test_dtmf_event_is_restamped_into_the_output_stream() -> None:
    event = (DATA / "rtp_dtmf.bin").read_bytes()
    e_pt, e_seq, e_ts, e_ssrc = RtpPacket.parse(event).payload_type, *HDR.unpack_from(event)[2:]
    audio = packets("PCMU", tone(1000, 8000, 0.1), pt=0, seq=e_seq - 5, ts=e_ts - 5 * 160, ssrc=e_ssrc)
    after = packets("PCMU", tone(1000, 8000, 0.04), pt=0, seq=e_seq + 1, ts=e_ts + 960, ssrc=e_ssrc)
    tc = transcoder("PCMU", "opus", pt=111)
    out = feed(tc, audio)
    relayed = tc.relay_event(event, 0.1, payload_type=101, src_rate=8000, dst_rate=48000)
    assert len(relayed) == 1
    marker, pt, seq, ts, ssrc = headers(relayed)[0]
    assert (marker, pt, seq, ssrc) == (1, 101, 40005, OUT_SSRC)  # e_pt 101 → destination PT 101
    assert e_pt == 101
    assert ts == headers(out)[-1][3] + 960 == tc.map_timestamp(e_ts)  # where the 6th audio packet would be
    (ev,) = parse_events(relayed[0][12:])
    assert (ev.event, ev.end, ev.volume, ev.duration) == (1, True, 10, 960 * 6)  # 8 kHz → 48 kHz units
    rest = feed(tc, after, 0.12)
    assert tc.lost == 0 and headers(rest)[0][2] == 40006  # the event used source seq e_seq: no loss
    assert headers(rest)[0][3] == ts + 960 * 6 and headers(rest)[0][0] == 1


def test_event_before_any_audio_and_same_clock() -> None:
    event = (DATA / "rtp_dtmf.bin").read_bytes()
    tc = transcoder("PCMU", "PCMA", pt=8)
    assert tc.map_timestamp(12345) == 7000000
    (relayed,) = tc.relay_event(bytearray(event), 0.0, payload_type=96)
    assert headers([relayed])[0][1:4] == (96, 40000, 7000000)
    assert relayed[12:] == event[12:]  # same clock: durations untouched
    assert tc.events == 1 and tc.relay_event(b"\x80", 0.0, payload_type=96) == []


def test_arguments_and_determinism() -> None:
    with pytest.raises(CodecUsageError, match="payload type 128"):
        AudioTranscoder("PCMU", "PCMA", payload_type=128)
    with pytest.raises(CodecUsageError, match="unknown codec"):
        AudioTranscoder("GSM", "PCMA", payload_type=8)
    src = packets("PCMU", tone(1000, 8000, 0.1))
    runs = [feed(AudioTranscoder("PCMU", "PCMA", payload_type=8, entropy=SeededEntropy(9)), src)
            for _ in range(2)]
    assert runs[0] == runs[1]
    tc = AudioTranscoder("PCMU", "PCMA", payload_type=8, entropy=SeededEntropy(9))
    assert tc.next_sequence == headers(runs[0])[0][2] and tc.ssrc == headers(runs[0])[0][4]
    feed(tc, src)
    assert tc.counters() == {
        "received": 5, "sent": 5, "lost": 0, "late": 0, "concealed": 0, "decode_errors": 0, "malformed": 0,
        "dropped_payload_type": 0, "dropped_jump": 0, "discontinuities": 0, "source_changes": 0, "events": 0}


def test_timestamp_leap_far_ahead_falls_back_to_wall_clock() -> None:
    a = packets("PCMU", tone(1000, 8000, 0.1))
    b = packets("PCMU", tone(1000, 8000, 0.1), seq=1005, ts=5000 + 5 * 160 + 8000 * 3600)  # "1 h later"
    tc = transcoder("PCMU", "PCMA")
    out = feed(tc, a) + feed(tc, b, t0=0.1 + 0.5)
    hs = headers(out)
    assert hs[5][3] - hs[4][3] == (0.6 - 0.08) * 8000 and hs[5][0] == 1  # wall clock since packet 4
