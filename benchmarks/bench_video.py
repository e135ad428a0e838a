"""Costs of wcs.rtp.video and the media generators on this machine.

Run:  .venv/bin/python benchmarks/bench_video.py [--quick]

Prints one line per case and, last, one JSON line ``{"bench": "video", ...}``:
packetize / depacketize throughput (packets per second, 640x480 ~1 Mbit/s streams cut at
1200 octets), transcoding cost (milliseconds of CPU per 640x480 frame, the whole
depacketize → decode → encode → packetize chain, single-threaded), and generator cost.
A 30 fps video call direction carries ~100-300 packets/s, so packet figures read as
"streams per core"; transcoding at 30 fps needs ``ms_per_frame * 30`` ms per second.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import av
import numpy as np

from wcs.entropy import SeededEntropy
from wcs.rtp.ffmpeg import Picture, VideoEncoder
from wcs.rtp.generators import BlackVideoGenerator, SilenceGenerator, black_frames
from wcs.rtp.video.common import RtpWriter, VideoPacket
from wcs.rtp.video.h264 import H264Depacketizer, H264Packetizer, split_annex_b
from wcs.rtp.video.transcode import VideoTranscoder
from wcs.rtp.video.vp8 import Vp8Depacketizer, Vp8Packetizer

W, H, FPS = 640, 480, 30


_TEXTURE = np.random.default_rng(1).integers(16, 236, size=(H, 2 * W), dtype=np.uint8)
_TEXTURE = ((_TEXTURE.astype(np.uint16) + np.roll(_TEXTURE, 1, 1) + np.roll(_TEXTURE, 1, 0)) // 3).astype(
    np.uint8
)


def _picture(i: int) -> Picture:
    """A panning textured scene (smoothed noise) with a bright square crossing it."""
    luma = _TEXTURE[:, 2 * i % W : 2 * i % W + W].copy()
    luma[100:200, (5 * i) % (W - 100) : (5 * i) % (W - 100) + 100] = 235
    return Picture(av.VideoFrame.from_ndarray(luma, format="gray").reformat(format="yuv420p"))


def _source(codec: str, frames: int) -> tuple[list[bytes], list[bytes]]:
    """(encoded frames, RTP packets) of a 640x480 clip at ~1 Mbit/s."""
    enc = VideoEncoder(codec, W, H, bitrate=1_000_000, fps=FPS, keyframe_interval=10 * FPS)
    data = [e.data for i in range(frames) for e in enc.encode(_picture(i), i * 3000)]
    writer = RtpWriter(96, ssrc=1, sequence_number=0)
    if codec == "vp8":
        vp8 = Vp8Packetizer(1200, picture_id=0)
        pkts = [p for i, d in enumerate(data) for p in vp8.packetize(d, i * 3000)]
    else:
        h264 = H264Packetizer(1200)
        pkts = [p for i, d in enumerate(data) for p in h264.packetize(split_annex_b(d), i * 3000)]
    return data, [writer.write_packet(p) for p in pkts]


def _best(fn: Callable[[], object], repeat: int = 3, clock: Callable[[], float] = time.perf_counter) -> float:
    """Best time of ``fn()`` over ``repeat`` runs (wall clock unless ``clock`` says otherwise)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def _bench_codec(codec: str, frames: int, quick: bool, results: dict[str, float]) -> None:
    data, packets = _source(codec, frames)
    kbps = sum(map(len, data)) * 8 * FPS / frames / 1000
    print(f"# {codec}: {frames} frames, {len(packets)} packets, {kbps:.0f} kbit/s, key {len(data[0])} B")
    nals = [split_annex_b(d) for d in data] if codec == "h264" else []
    reps = 5 if quick else 20

    def packetize() -> None:
        for _ in range(reps):
            out: list[VideoPacket] = []
            if codec == "vp8":
                pk = Vp8Packetizer(1200, picture_id=0)
                for i, d in enumerate(data):
                    out += pk.packetize(d, i)
            else:
                hp = H264Packetizer(1200)
                for i, n in enumerate(nals):
                    out += hp.packetize(n, i)
            assert len(out) == len(packets)

    def depacketize() -> None:
        for _ in range(reps):
            dep = Vp8Depacketizer() if codec == "vp8" else H264Depacketizer()
            n = 0
            for p in packets:
                n += len(dep.push_packet(p))
            assert n == len(data)

    target = "h264" if codec == "vp8" else "vp8"

    def transcode() -> None:
        tr = VideoTranscoder(codec, target, bitrate=1_000_000, fps=FPS)
        for p in packets:
            tr.receive(p)
        assert tr.frames_encoded == len(data)

    results[f"{codec}_packetize_packets_per_s"] = len(packets) * reps / _best(packetize)
    results[f"{codec}_depacketize_packets_per_s"] = len(packets) * reps / _best(depacketize)
    cpu = _best(transcode, 1 if quick else 2, time.process_time)
    results[f"transcode_{codec}_to_{target}_ms_per_frame"] = 1000 * cpu / len(data)


def main() -> None:
    quick = "--quick" in sys.argv
    results: dict[str, float] = {}
    for codec in ("vp8", "h264"):
        _bench_codec(codec, 30 if quick else 90, quick, results)

    t0 = time.perf_counter()
    black_frames("vp8", 320, 240, 10, 20)
    black_frames("h264", 320, 240, 10, 20)
    results["black_frames_encode_once_ms"] = 1000 * (time.perf_counter() - t0)
    for codec in ("vp8", "h264"):
        gen = BlackVideoGenerator(codec, 96, entropy=SeededEntropy(1), max_burst=10**9)
        gen.start(0.0)
        n = 2000 if quick else 20000
        t0 = time.perf_counter()
        gen.handle_timer(n / 10 - 0.05)
        sent = len(gen.pop_packets())
        results[f"black_{codec}_frames_per_s"] = n / (time.perf_counter() - t0)
        assert sent >= n
    silence = SilenceGenerator("opus", 111, entropy=SeededEntropy(2), max_burst=10**9)
    silence.start(0.0)
    n = 20000 if quick else 200000
    t0 = time.perf_counter()
    silence.handle_timer(n * 0.02 - 0.01)
    assert len(silence.pop_packets()) == n
    results["silence_packets_per_s"] = n / (time.perf_counter() - t0)

    for name, value in results.items():
        print(f"{name:42s} {value:12,.1f}")
    line: dict[str, object] = {"bench": "video", "python": sys.version.split()[0], "av": av.__version__}
    line.update({k: round(v, 2) if v < 100 else round(v) for k, v in results.items()})
    print(json.dumps(line))


if __name__ == "__main__":
    main()
