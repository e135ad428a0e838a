"""Speex narrowband (8 kHz) and wideband (16 kHz) through libspeex, loaded with ctypes.

RTP payload (RFC 5574 §3.3): one or more whole Speex frames of 20 ms, oldest first,
the last octet padded by the Speex terminator (a 0 bit, then 1 bits:
``speex_bits_insert_terminator``).  The clock equals the sample rate (``speex/8000``,
``speex/16000``); the bit rate may change at any frame since each frame names its mode.

libspeex calls used: ``speex_lib_get_mode`` (0 = NB, 1 = WB), ``speex_encoder_init`` /
``speex_encoder_ctl`` / ``speex_encode_int``, ``speex_decoder_init`` /
``speex_decode_int`` (returns 0 for a frame, -1 at the end of the payload, -2 for a
corrupt stream; ``bits = NULL`` runs its packet loss concealment) and the
``speex_bits_*`` bit-packer over a ``SpeexBits`` struct we allocate.
"""

from __future__ import annotations

import ctypes
import weakref

import numpy as np

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Fmtp, Pcm, PcmLike, as_pcm, parse_fmtp
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError

__all__ = ["DEFAULT_LIBRARY", "SPEEX_NB", "SPEEX_WB", "LibSpeex", "SpeexDecoder", "SpeexEncoder", "load"]

SPEEX_NB = CodecInfo("speex", 8000, 1, 8000, 20, None, "libspeex")
SPEEX_WB = CodecInfo("speex", 16000, 1, 16000, 20, None, "libspeex")
DEFAULT_LIBRARY = "libspeex.so.1"

# speex.h request codes
_SET_ENH, _SET_QUALITY, _SET_VBR, _SET_COMPLEXITY = 0, 4, 12, 16
_MAX_FRAMES = 6  # 120 ms
_MAX_PAYLOAD = 1500

_vp, _int = ctypes.c_void_p, ctypes.c_int


class _SpeexBits(ctypes.Structure):
    """``SpeexBits`` from speex_bits.h (we only allocate it; libspeex fills it)."""

    _fields_ = [("chars", _vp), ("nbBits", _int), ("charPtr", _int), ("bitPtr", _int), ("owner", _int),
                ("overflow", _int), ("buf_size", _int), ("reserved1", _int), ("reserved2", _vp)]


class LibSpeex:
    """The loaded library with its prototypes declared."""

    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.path = path

        def fn(name: str, args: tuple[type, ...], res: type | None) -> ctypes._NamedFuncPointer:
            f: ctypes._NamedFuncPointer = getattr(lib, name)
            f.argtypes, f.restype = args, res
            return f

        bits_p = ctypes.POINTER(_SpeexBits)
        self.get_mode = fn("speex_lib_get_mode", (_int,), _vp)
        self.enc_init = fn("speex_encoder_init", (_vp,), _vp)
        self.enc_destroy = fn("speex_encoder_destroy", (_vp,), None)
        self.enc_ctl = fn("speex_encoder_ctl", (_vp, _int, _vp), _int)
        self.encode = fn("speex_encode_int", (_vp, _vp, bits_p), _int)
        self.dec_init = fn("speex_decoder_init", (_vp,), _vp)
        self.dec_destroy = fn("speex_decoder_destroy", (_vp,), None)
        self.dec_ctl = fn("speex_decoder_ctl", (_vp, _int, _vp), _int)
        self.decode = fn("speex_decode_int", (_vp, bits_p, _vp), _int)
        self.bits_init = fn("speex_bits_init", (bits_p,), None)
        self.bits_destroy = fn("speex_bits_destroy", (bits_p,), None)
        self.bits_reset = fn("speex_bits_reset", (bits_p,), None)
        self.bits_read_from = fn("speex_bits_read_from", (bits_p, ctypes.c_char_p, _int), None)
        self.bits_write = fn("speex_bits_write", (bits_p, _vp, _int), _int)
        self.bits_terminate = fn("speex_bits_insert_terminator", (bits_p,), None)
        self.bits_remaining = fn("speex_bits_remaining", (bits_p,), _int)
        for mode in (0, 1):
            if not self.get_mode(mode):
                raise AttributeError(f"speex_lib_get_mode({mode}) returned NULL")


def load(path: str | None = None) -> LibSpeex:
    """Load libspeex (``path`` or the system's ``libspeex.so.1``); raises :class:`CodecUnavailable`."""
    name = path or DEFAULT_LIBRARY
    try:
        return LibSpeex(ctypes.CDLL(name), name)
    except OSError as exc:  # the message names the file
        raise CodecUnavailable("speex", str(exc)) from None
    except AttributeError as exc:
        raise CodecUnavailable("speex", f"{name}: {exc}") from None


def _info(sample_rate: int) -> CodecInfo:
    if sample_rate == 8000:
        return SPEEX_NB
    if sample_rate == 16000:
        return SPEEX_WB
    raise CodecUsageError(f"speex: clock rate {sample_rate} (8000 or 16000)")


def _set(ctl: ctypes._NamedFuncPointer, state: int, request: int, value: int) -> None:
    v = _int(value)
    ctl(state, request, ctypes.byref(v))


class _Bits:
    """A ``SpeexBits`` owned by one coder, released with it."""

    def __init__(self, lib: LibSpeex) -> None:
        self.bits = _SpeexBits()
        lib.bits_init(self.bits)
        self._finalizer = weakref.finalize(self, lib.bits_destroy, self.bits)


class SpeexDecoder(Decoder):
    """Speex payloads → PCM at 8000 (narrowband) or 16000 Hz (wideband)."""

    def __init__(self, lib: LibSpeex, sample_rate: int = 8000, *, enhancer: bool = True) -> None:
        self.info = _info(sample_rate)
        self.sample_rate = sample_rate
        self.channels = 1
        self.samples_per_frame = sample_rate // 50
        self._lib = lib
        self._mode = lib.get_mode(0 if sample_rate == 8000 else 1)
        self._enhancer = enhancer
        self._bits = _Bits(lib)
        self._out = np.zeros(self.samples_per_frame * _MAX_FRAMES, np.int16)
        self._addr = self._out.ctypes.data
        self._open()

    def _open(self) -> None:
        self._state = self._lib.dec_init(self._mode)
        if not self._state:  # pragma: no cover - allocation failure
            raise CodecUsageError("speex: decoder allocation failed")
        self._finalizer = weakref.finalize(self, self._lib.dec_destroy, self._state)
        _set(self._lib.dec_ctl, self._state, _SET_ENH, 1 if self._enhancer else 0)

    def _decode(self, payload: bytes) -> Pcm:
        if not payload or len(payload) > _MAX_PAYLOAD:
            raise CodecError(f"Speex payload of {len(payload)} octets")
        lib, bits, step = self._lib, self._bits.bits, self.samples_per_frame
        lib.bits_read_from(bits, payload if type(payload) is bytes else bytes(payload), len(payload))
        frames = 0
        while frames < _MAX_FRAMES:
            ret = lib.decode(self._state, bits, self._addr + frames * step * 2)
            if ret == -1:
                break
            if ret != 0 or lib.bits_remaining(bits) < 0:
                raise CodecError("Speex payload corrupt")
            frames += 1
        if not frames:
            raise CodecError("Speex payload holds no frame")
        return self._out[: frames * step].copy()

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        step = self.samples_per_frame
        frames = max(1, round(samples / step))
        out = np.empty(frames * step, np.int16)
        for i in range(frames):
            self._lib.decode(self._state, None, self._addr)
            out[i * step : (i + 1) * step] = self._out[:step]
        return out

    def reset(self) -> None:
        self._finalizer()
        self._open()


class SpeexEncoder(Encoder):
    """PCM → Speex payloads of ``ptime`` ms (a multiple of 20).

    ``quality`` 0–10 picks the sub-mode (8: 15 kb/s narrowband, 23.8 kb/s wideband);
    ``vbr`` follows the receiver's fmtp ``vbr=on`` unless given.
    """

    def __init__(self, lib: LibSpeex, sample_rate: int = 8000, ptime: int = 20, *, fmtp: Fmtp = None,
                 quality: int = 8, complexity: int = 3, vbr: bool | None = None) -> None:
        self.info = _info(sample_rate)
        if ptime % 20 or not 20 <= ptime <= 20 * _MAX_FRAMES:
            raise CodecUsageError(f"speex: ptime {ptime} ms is not a multiple of 20 up to 120")
        if not 0 <= quality <= 10:
            raise CodecUsageError(f"speex: quality {quality} (0 … 10)")
        self.sample_rate = sample_rate
        self.channels = 1
        self.ptime = ptime
        self.samples_per_frame = sample_rate * ptime // 1000
        self._frame = sample_rate // 50
        self._lib = lib
        self._mode = lib.get_mode(0 if sample_rate == 8000 else 1)
        if vbr is None:
            vbr = parse_fmtp(fmtp).get("vbr", "off").lower() == "on"
        self._settings = ((_SET_QUALITY, quality), (_SET_COMPLEXITY, complexity), (_SET_VBR, 1 if vbr else 0))
        self._bits = _Bits(lib)
        self._in = np.zeros(self.samples_per_frame, np.int16)
        self._in_addr = self._in.ctypes.data
        self._out = ctypes.create_string_buffer(_MAX_PAYLOAD)
        self._out_addr = ctypes.addressof(self._out)
        self._open()

    def _open(self) -> None:
        self._state = self._lib.enc_init(self._mode)
        if not self._state:  # pragma: no cover - allocation failure
            raise CodecUsageError("speex: encoder allocation failed")
        self._finalizer = weakref.finalize(self, self._lib.enc_destroy, self._state)
        for request, value in self._settings:
            _set(self._lib.enc_ctl, self._state, request, value)

    def encode(self, pcm: PcmLike) -> bytes:
        self._in[:] = as_pcm(pcm, self.samples_per_frame, "speex")
        lib, bits, step = self._lib, self._bits.bits, self._frame
        lib.bits_reset(bits)
        for i in range(self.samples_per_frame // step):
            lib.encode(self._state, self._in_addr + i * step * 2, bits)
        lib.bits_terminate(bits)
        n = lib.bits_write(bits, self._out_addr, _MAX_PAYLOAD)
        return ctypes.string_at(self._out_addr, n)

    def reset(self) -> None:
        self._finalizer()
        self._open()
