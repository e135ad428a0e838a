"""CPU cost of wcs.rtp.transcode per 20 ms packet, and calls per core.

Run:  .venv/bin/python benchmarks/bench_transcode.py [--quick] [--profile]

One "call" is both directions of one stream at 50 packets/s each (e.g. browser Opus →
phone PCMU and phone PCMU → browser Opus).  For each direction the benchmark feeds a
fresh :class:`AudioTranscoder` 30 s of speech-like audio (voiced harmonics with a
moving pitch, syllable envelope and noise), measures process CPU time, and reports µs
per packet (best of three).  Calls per core = 1 s / (50 × (µs one way + µs other way)).
Pairs: Opus⇄PCMU (the goal: ≥ 150 calls per core), Opus⇄G.729, Opus⇄G.722,
Opus⇄Speex/16000, and G.722⇄PCMU (the resampler path), then PCMU → Opus at Opus
encoder complexity 0 … 10 (default 5).  ``--profile`` prints the
top of a cProfile of Opus → PCMU and PCMU → Opus.  Last line: one JSON object.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import struct
import sys
import time

import numpy as np

from wcs.entropy import SeededEntropy
from wcs.rtp.codecs import available_codecs, create_encoder, lookup
from wcs.rtp.transcode import AudioTranscoder

SECONDS = 30
PTS = {"opus": 111, "PCMU": 0, "G729": 18, "G722": 9, "speex/16000": 97}


def speech_like(rate: int, seconds: float, seed: int = 7) -> np.ndarray:
    """Deterministic voiced-speech-like signal at ``rate`` (int16)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12) if k * 180 < rate / 2)
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    x = 6000 * voiced * envelope + 300 * rng.standard_normal(n)
    return np.clip(x, -32768, 32767).astype(np.int16)


def packets(codec: str, seconds: float) -> list[bytes]:
    """RTP packets of ``codec`` carrying the speech-like signal, 20 ms each."""
    info = lookup(codec)
    enc = create_encoder(codec, complexity=10) if info.name == "opus" else create_encoder(codec)
    pcm = speech_like(enc.sample_rate, seconds)
    step = enc.samples_per_frame
    ticks = info.ticks(step, enc.sample_rate)
    out = []
    for i in range(len(pcm) // step):
        payload = enc.encode(pcm[i * step : (i + 1) * step])
        out.append(struct.pack("!BBHII", 0x80, PTS[codec], (1000 + i) & 0xFFFF, 12345 + i * ticks, 0xCAFE)
                   + payload)
    return out


def run(src: str, dst: str, stream: list[bytes], **options: object) -> float:
    tc = AudioTranscoder(src, dst, payload_type=PTS[dst], entropy=SeededEntropy(1), encoder_options=options)
    t0 = time.process_time()
    for i, p in enumerate(stream):
        tc.receive(p, i * 0.02)
    elapsed = time.process_time() - t0
    assert tc.sent >= len(stream) - 2, (src, dst, tc.sent)
    return elapsed / len(stream) * 1e6


def best_us(src: str, dst: str, stream: list[bytes], **options: object) -> float:
    return min(run(src, dst, stream, **options) for _ in range(3))


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 5 if quick else SECONDS
    have = {c.key for c in available_codecs()}
    pairs = [("opus", "PCMU"), ("opus", "G729"), ("opus", "G722"), ("opus", "speex/16000"), ("G722", "PCMU")]
    streams: dict[str, list[bytes]] = {}
    opus_to_pcmu = 0.0
    results: dict[str, object] = {"bench": "transcode", "seconds_per_direction": seconds}
    for a, b in pairs:
        if lookup(a).key not in have or lookup(b).key not in have:
            print(f"{a} <-> {b}: skipped (codec unavailable)")
            continue
        for c in (a, b):
            if c not in streams:
                streams[c] = packets(c, seconds)
        ab = best_us(a, b, streams[a])
        ba = best_us(b, a, streams[b])
        calls = 1e6 / (50 * (ab + ba))
        name = f"{lookup(a).name}-{lookup(b).name}".replace("/", "")
        if b == "speex/16000":
            name = "opus-speex16"
        print(f"{a:>6} -> {b:<12} {ab:7.1f} us/packet   {b:>12} -> {a:<6} {ba:7.1f} us/packet   "
              f"{calls:6.0f} calls/core")
        if (a, b) == ("opus", "PCMU"):
            opus_to_pcmu = ab
        results[f"{name}_us"] = round(ab, 1)
        results[f"{name}_reverse_us"] = round(ba, 1)
        results[f"{name}_calls_per_core"] = int(calls)
    if "opus" in streams and "PCMU" in streams:  # the Opus encoder dominates: its complexity knob
        sweep = {cx: best_us("PCMU", "opus", streams["PCMU"], complexity=cx) for cx in (0, 3, 5, 8, 10)}
        print("PCMU -> opus by Opus complexity: "
              + "  ".join(f"{cx}: {us:.1f} us ({1e6 / (50 * (us + opus_to_pcmu)):.0f} calls)"
                          for cx, us in sweep.items()))
        results["pcmu-opus_us_by_complexity"] = {str(cx): round(us, 1) for cx, us in sweep.items()}
    if "--profile" in sys.argv and "opus" in streams and "PCMU" in streams:
        for src, dst in (("opus", "PCMU"), ("PCMU", "opus")):
            prof = cProfile.Profile()
            prof.enable()
            run(src, dst, streams[src])
            prof.disable()
            print(f"--- profile {src} -> {dst}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
