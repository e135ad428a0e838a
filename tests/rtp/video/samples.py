"""Readers for the encoded samples in tests/data/video (see its SOURCES.md)."""

from __future__ import annotations

import pathlib
import struct

DATA = pathlib.Path(__file__).resolve().parent.parent.parent / "data" / "video"
SIZE = (160, 120)
KEYFRAMES = (0, 6)


def ivf_frames(name: str = "vp8_160x120.ivf") -> list[bytes]:
    """The frames of an IVF file (32-octet header, then 12-octet frame headers)."""
    data = (DATA / name).read_bytes()
    assert data[:4] == b"DKIF"
    pos, frames = 32, []
    while pos < len(data):
        size = struct.unpack_from("<I", data, pos)[0]
        frames.append(data[pos + 12 : pos + 12 + size])
        pos += 12 + size
    return frames


def h264_stream(name: str = "h264_160x120.h264") -> bytes:
    return (DATA / name).read_bytes()


def rtp_packets(name: str) -> list[bytes]:
    """Packets of a dump: each behind a 16-bit big-endian length."""
    data = (DATA / name).read_bytes()
    pos, out = 0, []
    while pos < len(data):
        size = struct.unpack_from("!H", data, pos)[0]
        out.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out
