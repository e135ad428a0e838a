"""Opus (RFC 6716) through ``opuslib`` — the only module that imports it.

RTP facts (RFC 7587): the clock is always 48000 Hz and SDP always says
``opus/48000/2`` (§7), whatever the audio bandwidth or channel count; one packet may
hold 2.5 … 120 ms.  libopus decodes to, and encodes from, any of 8, 12, 16, 24 or
48 kHz, mono or stereo, so the transcoder runs Opus at the other codec's rate and
needs no resampler.  A decoder with ``channels=1`` downmixes stereo packets.

opuslib's convenience wrappers allocate per call and copy PCM through Python lists,
so this module calls its ctypes bindings (``libopus_decode``, ``libopus_encode``) on
preallocated numpy buffers instead.  opuslib is imported lazily: a host without
libopus reports the codec unavailable instead of failing to import.

Loss: ``conceal`` runs libopus PLC (``data = NULL``) and, given the packet after the
gap, decodes its in-band FEC (LBRR) for the last lost frame (RFC 6716 §2.1.7,
frame size exactly the missing duration as the libopus API requires).

Encoder parameters follow the receiver's fmtp (RFC 7587 §6.1): ``maxplaybackrate``
caps the bandwidth, ``maxaveragebitrate`` the bitrate, ``useinbandfec=1`` turns FEC on,
``usedtx=1`` allows DTX when asked for, ``cbr=1`` turns VBR off.
"""

from __future__ import annotations

import ctypes
import weakref
from types import ModuleType
from typing import Any

import numpy as np

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Fmtp, Pcm, PcmLike, as_pcm, parse_fmtp
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError

__all__ = ["OPUS", "OpusBackend", "OpusDecoder", "OpusEncoder", "load"]

OPUS = CodecInfo("opus", 48000, 2, 48000, 20, None, "opuslib", rates=(8000, 12000, 16000, 24000, 48000))

_ERRORS = {-1: "bad argument", -2: "buffer too small", -3: "internal error", -4: "invalid packet",
           -5: "unimplemented", -6: "invalid state", -7: "allocation failed"}
# OPUS_BANDWIDTH_* for maxplaybackrate (RFC 7587 §6.1 → opus_defines.h)
_BANDWIDTH = ((8000, 1101), (12000, 1102), (16000, 1103), (24000, 1104))
_DEFAULT_BITRATE = {8000: 20000, 12000: 20000, 16000: 28000, 24000: 32000, 48000: 32000}
_MAX_PACKET = 1500


class OpusBackend:
    """The loaded opuslib bindings (``load()`` builds it)."""

    def __init__(self, api: ModuleType, decoder: ModuleType, encoder: ModuleType, ctl: ModuleType,
                 application_voip: int) -> None:
        self.api = api
        self.dec = decoder
        self.enc = encoder
        self.ctl = ctl
        self.application_voip = application_voip


def load() -> OpusBackend:
    """Import opuslib (which loads libopus); raises :class:`CodecUnavailable`."""
    try:
        import opuslib
        import opuslib.api
        import opuslib.api.ctl
        import opuslib.api.decoder
        import opuslib.api.encoder
    except Exception as exc:  # opuslib raises a bare Exception when libopus is missing
        raise CodecUnavailable("opus", f"opuslib: {exc}") from None
    return OpusBackend(opuslib.api, opuslib.api.decoder, opuslib.api.encoder, opuslib.api.ctl,
                       int(opuslib.APPLICATION_VOIP))


def _check_rate(rate: int, channels: int) -> None:
    if rate not in OPUS.rates:
        raise CodecUsageError(f"opus: sample rate {rate} not one of {OPUS.rates}")
    if channels not in (1, 2):
        raise CodecUsageError(f"opus: {channels} channels (1 or 2)")


def _int16_ptr(backend: OpusBackend, buf: Pcm) -> Any:
    return buf.ctypes.data_as(backend.api.c_int16_pointer)


class OpusDecoder(Decoder):
    """Opus payloads → PCM at ``sample_rate`` with ``channels`` channels."""

    def __init__(self, backend: OpusBackend, sample_rate: int = 48000, channels: int = 1) -> None:
        _check_rate(sample_rate, channels)
        self.info = OPUS
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples_per_frame = sample_rate // 50
        self._b = backend
        self._decode_fn = backend.dec.libopus_decode
        self._state = backend.dec.create_state(sample_rate, channels)
        self._max = sample_rate * 120 // 1000  # longest packet: 120 ms
        self._buf = np.zeros(self._max * channels, np.int16)
        self._ptr = _int16_ptr(backend, self._buf)
        self._finalizer = weakref.finalize(self, backend.dec.destroy, self._state)

    def _decode(self, payload: bytes) -> Pcm:
        if not payload:
            raise CodecError("empty Opus payload")
        data = payload if type(payload) is bytes else bytes(payload)
        n = self._decode_fn(self._state, data, len(data), self._ptr, self._max, 0)
        if n < 0:
            raise CodecError(f"Opus payload rejected: {_ERRORS.get(n, n)}")
        return self._buf[: n * self.channels].copy()

    def conceal(self, samples: int, next_payload: bytes | None = None) -> Pcm:
        step = self.sample_rate // 400  # libopus wants multiples of 2.5 ms
        total = max(step, samples // step * step)
        fec = 0
        if next_payload:
            data = bytes(next_payload)
            fec = self._b.dec.libopus_get_nb_samples(self._state, data, len(data))
            if not 0 < fec <= total:
                fec = 0
        parts = []
        plc = total - fec
        while plc > 0:
            chunk = min(plc, self._max)
            n = self._decode_fn(self._state, None, 0, self._ptr, chunk, 0)
            if n < 0:  # pragma: no cover - PLC does not fail on a valid state
                break
            parts.append(self._buf[: n * self.channels].copy())
            plc -= chunk
        if fec:
            n = self._decode_fn(self._state, data, len(data), self._ptr, fec, 1)
            if n > 0:
                parts.append(self._buf[: n * self.channels].copy())
        if not parts:
            return np.zeros(total * self.channels, np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def reset(self) -> None:
        self._b.dec.decoder_ctl(self._state, self._b.ctl.reset_state)


class OpusEncoder(Encoder):
    """PCM at ``sample_rate`` → one Opus packet of ``ptime`` ms (application VOIP).

    ``bitrate`` defaults by sample rate (20 kb/s narrowband … 32 kb/s fullband) and is
    capped by ``maxaveragebitrate``; ``complexity`` 0–10 trades CPU for quality
    (``benchmarks/bench_transcode.py`` shows the cost); ``fec`` adds in-band FEC sized
    for ``packet_loss`` percent; ``dtx`` returns ``b""`` for silent frames.
    """

    def __init__(
        self,
        backend: OpusBackend,
        sample_rate: int = 48000,
        channels: int = 1,
        ptime: int = 20,
        *,
        fmtp: Fmtp = None,
        bitrate: int | None = None,
        complexity: int = 5,
        fec: bool | None = None,
        packet_loss: int = 10,
        dtx: bool = False,
        cbr: bool | None = None,
    ) -> None:
        _check_rate(sample_rate, channels)
        if ptime * 2 not in (5, 10, 20, 40, 80, 120):
            raise CodecUsageError(f"opus: ptime {ptime} ms (10, 20, 40 or 60)")
        if not 0 <= complexity <= 10:
            raise CodecUsageError(f"opus: complexity {complexity} (0 … 10)")
        params = parse_fmtp(fmtp)
        self.info = OPUS
        self.sample_rate = sample_rate
        self.channels = channels
        self.ptime = ptime
        self.samples_per_frame = sample_rate * ptime // 1000
        rate = bitrate or _DEFAULT_BITRATE[sample_rate] * channels
        cap = _int(params.get("maxaveragebitrate"))
        if cap:
            rate = min(rate, max(6000, cap))
        if fec is None:
            fec = params.get("useinbandfec") == "1"
        if cbr is None:
            cbr = params.get("cbr") == "1"
        dtx = dtx and params.get("usedtx", "1") == "1"
        self._b = backend
        self._encode_fn = backend.enc.libopus_encode
        self._state = backend.enc.create_state(sample_rate, channels, backend.application_voip)
        self._finalizer = weakref.finalize(self, backend.enc.destroy, self._state)
        ctl, enc_ctl = backend.ctl, backend.enc.encoder_ctl
        enc_ctl(self._state, ctl.set_bitrate, rate)
        enc_ctl(self._state, ctl.set_complexity, complexity)
        enc_ctl(self._state, ctl.set_vbr, 0 if cbr else 1)
        enc_ctl(self._state, ctl.set_inband_fec, 1 if fec else 0)
        enc_ctl(self._state, ctl.set_packet_loss_perc, packet_loss if fec else 0)
        enc_ctl(self._state, ctl.set_dtx, 1 if dtx else 0)
        playback = _int(params.get("maxplaybackrate"))
        if playback:
            for limit, bandwidth in _BANDWIDTH:
                if playback <= limit:
                    enc_ctl(self._state, ctl.set_max_bandwidth, bandwidth)
                    break
        self.bitrate = rate
        self.fec = fec
        self.dtx = dtx
        self._in = np.zeros(self.samples_per_frame * channels, np.int16)
        self._in_ptr = _int16_ptr(backend, self._in)
        self._out = ctypes.create_string_buffer(_MAX_PACKET)
        self._out_addr = ctypes.addressof(self._out)

    def encode(self, pcm: PcmLike) -> bytes:
        self._in[:] = as_pcm(pcm, self.samples_per_frame * self.channels, "opus")
        n = self._encode_fn(self._state, self._in_ptr, self.samples_per_frame, self._out, _MAX_PACKET)
        if n < 0:  # pragma: no cover - only on misuse of the C API
            raise CodecUsageError(f"opus encoder failed: {_ERRORS.get(n, n)}")
        if self.dtx and n <= 2:  # RFC 7587 §3.1.3: a DTX frame need not be sent
            return b""
        return ctypes.string_at(self._out_addr, n)

    def reset(self) -> None:
        self._b.enc.encoder_ctl(self._state, self._b.ctl.reset_state)


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0
