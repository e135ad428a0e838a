"""Regenerate the encoded video samples in this directory (see SOURCES.md).

Run from the repository root:  .venv/bin/python tests/data/video/make_samples.py
The tests only read the files; they never run this script.
"""

from __future__ import annotations

import pathlib
import struct

import av
import numpy as np

from wcs.rtp.ffmpeg import Picture, VideoEncoder
from wcs.rtp.video.common import RtpWriter
from wcs.rtp.video.h264 import H264Packetizer, split_annex_b
from wcs.rtp.video.vp8 import Vp8Packetizer

HERE = pathlib.Path(__file__).resolve().parent
W, H, FRAMES, KEYFRAMES = 160, 120, 12, (0, 6)
STEP = 3000  # 30 fps at 90 kHz


def picture(i: int) -> Picture:
    """A diagonal gradient with a bright square moving right by 4 pixels per frame."""
    y, x = np.indices((H, W))
    luma = ((x + y + 3 * i) % 200 + 16).astype(np.uint8)
    luma[40:72, 8 + 4 * i : 40 + 4 * i] = 235
    frame = av.VideoFrame.from_ndarray(luma, format="gray").reformat(format="yuv420p")
    return Picture(frame)


def encode(codec: str) -> list[bytes]:
    enc = VideoEncoder(codec, W, H, bitrate=300_000, fps=30, keyframe_interval=300)
    out = []
    for i in range(FRAMES):
        out += [e.data for e in enc.encode(picture(i), i * STEP, keyframe=i in KEYFRAMES)]
    return out


def ivf(frames: list[bytes]) -> bytes:
    head = b"DKIF" + struct.pack("<HHIHHIIII", 0, 32, 0x30385056, W, H, 30, 1, len(frames), 0)
    return head + b"".join(struct.pack("<IQ", len(f), i) + f for i, f in enumerate(frames))


def rtp_dump(packets: list[bytes]) -> bytes:
    return b"".join(struct.pack("!H", len(p)) + p for p in packets)


def main() -> None:
    vp8 = encode("vp8")
    h264 = encode("h264")
    (HERE / "vp8_160x120.ivf").write_bytes(ivf(vp8))
    (HERE / "h264_160x120.h264").write_bytes(b"".join(h264))
    vp8_pk = Vp8Packetizer(400, picture_id=0x7FF8)
    w = RtpWriter(96, ssrc=0x11223344, sequence_number=65530)
    (HERE / "vp8_160x120.rtp").write_bytes(
        rtp_dump([w.write_packet(p) for i, f in enumerate(vp8) for p in vp8_pk.packetize(f, 1000 + i * STEP)])
    )
    h264_pk = H264Packetizer(400, 1)
    w = RtpWriter(102, ssrc=0x55667788, sequence_number=65530)
    packets = [p for i, f in enumerate(h264) for p in h264_pk.packetize(split_annex_b(f), i * STEP)]
    (HERE / "h264_160x120.rtp").write_bytes(rtp_dump([w.write_packet(p) for p in packets]))


if __name__ == "__main__":
    main()
