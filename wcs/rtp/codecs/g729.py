"""ITU-T G.729 (Annex A bitstream, Annex B SID frames) through libbcg729, loaded with ctypes.

RTP payload (RFC 3551 §4.5.6): zero or more 10-octet frames of 10 ms each, optionally
followed by one 2-octet Annex B SID (comfort noise) frame; any other length is
malformed.  The clock is 8000 Hz; a 20 ms packet holds two frames (20 octets).

bcg729's C API (``bcg729/encoder.h``, ``decoder.h``):

* ``initBcg729EncoderChannel(uint8 enableVAD)`` / ``closeBcg729EncoderChannel(ctx)``;
  ``bcg729Encoder(ctx, int16 in[80], uint8 out[10], uint8 *len)`` — ``len`` is 10, or 2
  (SID) / 0 (nothing to send) when VAD is on.
* ``initBcg729DecoderChannel()`` / ``closeBcg729DecoderChannel(ctx)``;
  ``bcg729Decoder(ctx, uint8 in[], uint8 len, uint8 erased, uint8 sid, uint8 rfc3389,
  int16 out[80])`` — ``erased=1`` runs its concealment (G.729 §4.4).

VAD is off by default: a receiver need not support Annex B (``annexb=no``), while every
G.729 decoder accepts plain speech frames.  With VAD on, a packet keeps its speech
frames and a trailing SID frame; frames bcg729 marks "not transmitted" are left out,
and a packet of nothing but those is ``b""`` (send nothing).
"""

from __future__ import annotations

import ctypes
import weakref

import numpy as np

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Fmtp, Pcm, PcmLike, as_pcm, parse_fmtp
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError

__all__ = ["DEFAULT_LIBRARY", "G729", "Bcg729", "G729Decoder", "G729Encoder", "load"]

G729 = CodecInfo("G729", 8000, 1, 8000, 10, 18, "libbcg729")
DEFAULT_LIBRARY = "libbcg729.so.0"
_FRAME = 80  # samples per 10 ms frame
_BYTES = 10  # octets per speech frame
_SID = 2  # octets per Annex B SID frame

_u8 = ctypes.c_uint8
_vp = ctypes.c_void_p


class Bcg729:
    """The loaded library with its prototypes declared."""

    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.path = path
        self.enc_init = lib.initBcg729EncoderChannel
        self.enc_init.argtypes, self.enc_init.restype = (_u8,), _vp
        self.enc_close = lib.closeBcg729EncoderChannel
        self.enc_close.argtypes, self.enc_close.restype = (_vp,), None
        self.encode = lib.bcg729Encoder
        self.encode.argtypes, self.encode.restype = (_vp, _vp, _vp, _vp), None
        self.dec_init = lib.initBcg729DecoderChannel
        self.dec_init.argtypes, self.dec_init.restype = (), _vp
        self.dec_close = lib.closeBcg729DecoderChannel
        self.dec_close.argtypes, self.dec_close.restype = (_vp,), None
        self.decode = lib.bcg729Decoder
        self.decode.argtypes, self.decode.restype = (_vp, ctypes.c_char_p, _u8, _u8, _u8, _u8, _vp), None


def load(path: str | None = None) -> Bcg729:
    """Load libbcg729 (``path`` or the system's ``libbcg729.so.0``); raises :class:`CodecUnavailable`."""
    name = path or DEFAULT_LIBRARY
    try:
        return Bcg729(ctypes.CDLL(name), name)
    except OSError as exc:  # the message names the file
        raise CodecUnavailable("G729", str(exc)) from None
    except AttributeError as exc:
        raise CodecUnavailable("G729", f"{name}: {exc}") from None


class G729Decoder(Decoder):
    """G.729/G.729A payloads (speech frames and Annex B SID frames) → 8 kHz PCM."""

    def __init__(self, lib: Bcg729) -> None:
        self.info = G729
        self.sample_rate = 8000
        self.channels = 1
        self.samples_per_frame = 160
        self._lib = lib
        self._ctx = lib.dec_init()
        if not self._ctx:  # pragma: no cover - allocation failure
            raise CodecUsageError("G729: decoder allocation failed")
        self._finalizer = weakref.finalize(self, lib.dec_close, self._ctx)
        self._out = np.zeros(_FRAME * 12, np.int16)  # room for a 120 ms payload
        self._addr = self._out.ctypes.data

    def _decode(self, payload: bytes) -> Pcm:
        size = len(payload)
        speech, rest = divmod(size, _BYTES)
        if size == 0 or rest not in (0, _SID):
            raise CodecError(f"G.729 payload of {size} octets is not 10·n (+2)")
        frames = speech + (rest == _SID)
        if frames > 12:
            raise CodecError(f"G.729 payload of {size} octets is longer than 120 ms")
        data = payload if type(payload) is bytes else bytes(payload)
        decode, ctx, addr = self._lib.decode, self._ctx, self._addr
        for i in range(speech):
            decode(ctx, data[i * _BYTES : (i + 1) * _BYTES], _BYTES, 0, 0, 0, addr + i * 2 * _FRAME)
        if rest:
            decode(ctx, data[-_SID:], _SID, 0, 1, 0, addr + speech * 2 * _FRAME)
        return self._out[: frames * _FRAME].copy()

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        frames = max(1, round(samples / _FRAME))
        out = np.empty(frames * _FRAME, np.int16)
        addr = self._addr
        for i in range(frames):
            self._lib.decode(self._ctx, None, 0, 1, 0, 0, addr)
            out[i * _FRAME : (i + 1) * _FRAME] = self._out[:_FRAME]
        return out

    def reset(self) -> None:
        self._finalizer()
        self._ctx = self._lib.dec_init()
        self._finalizer = weakref.finalize(self, self._lib.dec_close, self._ctx)


class G729Encoder(Encoder):
    """8 kHz PCM → G.729 payloads of ``ptime`` ms (a multiple of 10)."""

    def __init__(self, lib: Bcg729, ptime: int = 20, *, fmtp: Fmtp = None, vad: bool = False) -> None:
        if ptime % 10 or not 10 <= ptime <= 120:
            raise CodecUsageError(f"G729: ptime {ptime} ms is not a multiple of 10 up to 120")
        self.info = G729
        self.sample_rate = 8000
        self.channels = 1
        self.ptime = ptime
        self.samples_per_frame = 8 * ptime
        # RFC 4856 / RFC 3551 §4.5.6: annexb defaults to yes; "no" forbids SID frames
        self.vad = vad and parse_fmtp(fmtp).get("annexb", "yes").lower() != "no"
        self._lib = lib
        self._ctx = lib.enc_init(1 if self.vad else 0)
        if not self._ctx:  # pragma: no cover - allocation failure
            raise CodecUsageError("G729: encoder allocation failed")
        self._finalizer = weakref.finalize(self, lib.enc_close, self._ctx)
        self._in = np.zeros(self.samples_per_frame, np.int16)
        self._in_addr = self._in.ctypes.data
        self._frames = ptime // 10
        self._out = ctypes.create_string_buffer(_BYTES * self._frames)
        self._out_addr = ctypes.addressof(self._out)
        self._len = _u8()
        self._len_addr = ctypes.addressof(self._len)

    def encode(self, pcm: PcmLike) -> bytes:
        self._in[:] = as_pcm(pcm, self.samples_per_frame, "G729")
        encode, ctx, length = self._lib.encode, self._ctx, self._len
        out, addr = self._out_addr, self._in_addr
        if not self.vad:
            for i in range(self._frames):
                encode(ctx, addr + i * 2 * _FRAME, out + i * _BYTES, self._len_addr)
            return ctypes.string_at(out, self._frames * _BYTES)
        # VAD/DTX: keep the speech frames, then a SID frame only if it came last
        # (RFC 3551 §4.5.6 allows SID only at the end); silent frames send nothing.
        frames = []
        for i in range(self._frames):
            encode(ctx, addr + i * 2 * _FRAME, out, self._len_addr)
            frames.append(ctypes.string_at(out, length.value))
        payload = b"".join(f for f in frames if len(f) == _BYTES)
        return payload + frames[-1] if len(frames[-1]) == _SID else payload

    def reset(self) -> None:
        self._finalizer()
        self._ctx = self._lib.enc_init(1 if self.vad else 0)
        self._finalizer = weakref.finalize(self, self._lib.enc_close, self._ctx)
