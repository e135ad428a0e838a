"""ITU-T G.711 µ-law (PCMU) and A-law (PCMA), by table lookup in numpy.

Decoding maps each octet through a 256-entry table of 16-bit values; encoding maps
each 16-bit sample through a 65536-entry table, so a 20 ms frame is one numpy
``take`` either way.  The tables are computed at import from the G.711 segment rules:

* µ-law (G.711 Table 2): 14-bit magnitudes in 8 segments of 16 steps; reconstruction
  value ``((2m + 33) << s) - 33``; character signal all bits inverted, sign bit 1 for
  positive (``0xFF`` = +0).
* A-law (G.711 Table 1): 13-bit magnitudes; reconstruction ``2m + 1`` in segment 0
  and ``(2m + 33) << (s - 1)`` above; even bits inverted (``^ 0x55``), sign bit 1 for
  positive.

16-bit PCM carries these scaled by 4 (µ-law) and 8 (A-law).  The encoder quantises to
the nearest reconstruction value on the 14-bit grid (``sample >> 2``), which lies in the
decision interval of G.711's tables; ties at a decision value go to the lower
magnitude, as FFmpeg's ``pcm_mulaw``/``pcm_alaw`` do, so both produce the same octets.
"""

from __future__ import annotations

import numpy as np

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Pcm, PcmLike, RepeatConcealer, as_pcm
from wcs.rtp.codecs.errors import CodecUsageError

__all__ = [
    "PCMA",
    "PCMU",
    "G711Decoder",
    "G711Encoder",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

PCMU = CodecInfo("PCMU", 8000, 1, 8000, 20, 0, "numpy")
PCMA = CodecInfo("PCMA", 8000, 1, 8000, 20, 8, "numpy")


def _ulaw_magnitudes() -> np.ndarray:
    """16-bit reconstruction value of µ-law magnitude code 0 … 127 (increasing)."""
    code = np.arange(128)
    seg, mant = code >> 4, code & 0xF
    return 4 * (((2 * mant + 33) << seg) - 33)


def _alaw_magnitudes() -> np.ndarray:
    code = np.arange(128)
    seg, mant = code >> 4, code & 0xF
    val = np.where(seg == 0, 2 * mant + 1, (2 * mant + 33) << np.maximum(seg - 1, 0))
    return 8 * val


def _tables(mags: np.ndarray, invert: int) -> tuple[np.ndarray, np.ndarray]:
    """(decode: octet → int16, encode: uint16 view of the sample → octet)."""
    codes = np.arange(256)
    positive = (codes ^ invert) & 0x80 != 0
    value = mags[(codes ^ invert) & 0x7F]
    decode = np.where(positive, value, -value).astype(np.int16)
    # nearest reconstruction value on the 14-bit grid: level i covers
    # [t[i-1], t[i]) with t[i] the rounded midpoint of levels i and i+1.
    thresholds = (mags[:-1] + mags[1:] + 4) >> 3
    index = np.arange(-32768, 32768) >> 2
    level = np.searchsorted(thresholds, np.abs(index), side="right")
    octet = np.where(index >= 0, level | 0x80, level) ^ invert
    encode = np.empty(65536, np.uint8)
    encode[np.arange(-32768, 32768) & 0xFFFF] = octet
    return decode, encode


# On the wire bit 7 is 1 for positive values in both laws; µ-law inverts the seven
# magnitude bits (0x7F), A-law the even bits (0x55).
_ULAW_DEC, _ULAW_ENC = _tables(_ulaw_magnitudes(), 0x7F)
_ALAW_DEC, _ALAW_ENC = _tables(_alaw_magnitudes(), 0x55)


def ulaw_decode(payload: bytes | bytearray | memoryview) -> Pcm:
    """µ-law octets → int16 samples."""
    return _ULAW_DEC[np.frombuffer(payload, np.uint8)]


def alaw_decode(payload: bytes | bytearray | memoryview) -> Pcm:
    """A-law octets → int16 samples."""
    return _ALAW_DEC[np.frombuffer(payload, np.uint8)]


def ulaw_encode(pcm: Pcm) -> bytes:
    """int16 samples → µ-law octets."""
    return _ULAW_ENC[pcm.view(np.uint16)].tobytes()


def alaw_encode(pcm: Pcm) -> bytes:
    """int16 samples → A-law octets."""
    return _ALAW_ENC[pcm.view(np.uint16)].tobytes()


class G711Decoder(Decoder):
    """PCMU/PCMA decoder; every octet is one sample, any payload length is valid."""

    __slots__ = ("info", "sample_rate", "channels", "samples_per_frame", "_table", "_plc")

    def __init__(self, info: CodecInfo) -> None:
        if info not in (PCMU, PCMA):
            raise CodecUsageError(f"not a G.711 codec: {info.name}")
        self.info = info
        self.sample_rate = 8000
        self.channels = 1
        self.samples_per_frame = 160
        self._table = _ULAW_DEC if info is PCMU else _ALAW_DEC
        self._plc = RepeatConcealer(8000)

    def _decode(self, payload: bytes) -> Pcm:
        pcm: Pcm = self._table[np.frombuffer(payload, np.uint8)]
        self._plc.remember(pcm)
        return pcm

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        return self._plc.conceal(samples)

    def reset(self) -> None:
        self._plc.reset()


class G711Encoder(Encoder):
    """PCMU/PCMA encoder for ``ptime`` ms packets (any whole number of ms)."""

    __slots__ = ("info", "sample_rate", "channels", "ptime", "samples_per_frame", "_table")

    def __init__(self, info: CodecInfo, ptime: int = 20) -> None:
        if info not in (PCMU, PCMA):
            raise CodecUsageError(f"not a G.711 codec: {info.name}")
        if not 1 <= ptime <= 200:
            raise CodecUsageError(f"{info.name}: ptime {ptime} ms out of range")
        self.info = info
        self.sample_rate = 8000
        self.channels = 1
        self.ptime = ptime
        self.samples_per_frame = 8 * ptime
        self._table = _ULAW_ENC if info is PCMU else _ALAW_ENC

    def encode(self, pcm: PcmLike) -> bytes:
        arr = as_pcm(pcm, self.samples_per_frame, self.info.name)
        return self._table[arr.view(np.uint16)].tobytes()
