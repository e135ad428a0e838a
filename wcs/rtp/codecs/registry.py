"""Which audio codecs exist, which load on this host, and factories for their coders.

Codecs are named as SDP names them (``a=rtpmap``): PCMU, PCMA, G722, opus, G729,
speex/8000, speex/16000.  A :class:`CodecRegistry` loads each native backend the first
time a codec needs it (or when asked what is available) and remembers why one failed,
so the gateway can log one line at start-up and simply not offer what is missing —
``create_decoder`` for such a codec raises :class:`CodecUnavailable` instead of
crashing mid-call.  Library paths can be injected (``libraries={"libbcg729": path}``)
and codecs switched off (``disabled={"G729"}``), which is also how tests make a codec
unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wcs.rtp.codecs import g711, g722, g729, opus, speex
from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Fmtp
from wcs.rtp.codecs.errors import CodecUnavailable, CodecUsageError
from wcs.rtp.codecs.g711 import PCMA, PCMU
from wcs.rtp.codecs.g722 import G722
from wcs.rtp.codecs.g729 import G729
from wcs.rtp.codecs.opus import OPUS
from wcs.rtp.codecs.speex import SPEEX_NB, SPEEX_WB

__all__ = [
    "CODECS",
    "CodecRegistry",
    "available_codecs",
    "codec_report",
    "create_decoder",
    "create_encoder",
    "default_registry",
    "lookup",
    "unavailable_codecs",
]

#: Every codec this package knows, by ``CodecInfo.key`` ("pcmu/8000", "speex/16000" …).
CODECS: dict[str, CodecInfo] = {c.key: c for c in (PCMU, PCMA, G722, OPUS, G729, SPEEX_NB, SPEEX_WB)}
_DEFAULT_CLOCK = {"pcmu": 8000, "pcma": 8000, "g722": 8000, "opus": 48000, "g729": 8000, "speex": 8000}


def lookup(name: str, clock_rate: int | None = None) -> CodecInfo:
    """The codec called ``name`` (case-insensitive; ``"speex/16000"`` or ``"opus/48000/2"``
    carry the clock).  Raises :class:`CodecUsageError` for an unknown codec."""
    base, _, rest = name.strip().lower().partition("/")
    if rest:
        try:
            clock = int(rest.split("/")[0])
        except ValueError:
            raise CodecUsageError(f"unknown codec {name!r}") from None
        if clock_rate is not None and clock_rate != clock:
            raise CodecUsageError(f"codec {name!r} with clock rate {clock_rate}")
        clock_rate = clock
    if clock_rate is None:
        clock_rate = _DEFAULT_CLOCK.get(base, 0)
    info = CODECS.get(f"{base}/{clock_rate}")
    if info is None:
        raise CodecUsageError(f"unknown codec {name}/{clock_rate}")
    return info


def _loaders(libraries: Mapping[str, str]) -> dict[str, Callable[[], Any]]:
    return {
        "numpy": lambda: None,
        "av": g722.load,
        "opuslib": opus.load,
        "libbcg729": lambda: g729.load(libraries.get("libbcg729")),
        "libspeex": lambda: speex.load(libraries.get("libspeex")),
    }


class CodecRegistry:
    """Loads codec backends lazily and builds decoders/encoders.

    ``libraries`` maps a backend (``"libbcg729"``, ``"libspeex"``) to the shared library
    to load instead of the system one; ``disabled`` lists codec names or keys not to
    offer ("G729", "speex/16000").
    """

    def __init__(self, *, libraries: Mapping[str, str] | None = None, disabled: Iterable[str] = ()) -> None:
        self._loaders = _loaders(dict(libraries or {}))
        self._backends: dict[str, Any] = {}
        self._failures: dict[str, str] = {}
        self._disabled = {d.lower() for d in disabled}

    def _backend(self, info: CodecInfo) -> Any:
        if info.key in self._disabled or info.name.lower() in self._disabled:
            raise CodecUnavailable(info.name, "disabled by configuration")
        name = info.backend
        if name in self._backends:
            return self._backends[name]
        if name in self._failures:
            raise CodecUnavailable(info.name, self._failures[name])
        try:
            backend = self._loaders[name]()
        except CodecUnavailable as exc:
            self._failures[name] = exc.reason
            raise CodecUnavailable(info.name, exc.reason) from None
        self._backends[name] = backend
        return backend

    def is_available(self, name: str, clock_rate: int | None = None) -> bool:
        """True if the codec is known and its backend loads."""
        try:
            self._backend(lookup(name, clock_rate))
        except CodecUsageError:
            return False
        return True

    def available_codecs(self) -> list[CodecInfo]:
        """The codecs that can be used here, in preference order of :data:`CODECS`."""
        return [c for c in CODECS.values() if self.is_available(c.name, c.clock_rate)]

    def unavailable_codecs(self) -> dict[str, str]:
        """``{"G729/8000": "libbcg729.so.0: cannot open shared object file …"}``."""
        out: dict[str, str] = {}
        for c in CODECS.values():
            try:
                self._backend(c)
            except CodecUnavailable as exc:
                out[f"{c.name}/{c.clock_rate}"] = exc.reason
        return out

    def report(self) -> str:
        """One line for the start-up log."""
        ok = " ".join(f"{c.name}/{c.clock_rate}" for c in self.available_codecs())
        missing = self.unavailable_codecs()
        line = f"audio codecs: {ok or 'none'}"
        if missing:
            line += "; unavailable: " + ", ".join(f"{k} ({v})" for k, v in missing.items())
        return line

    def create_decoder(self, name: str, clock_rate: int | None = None, channels: int = 1, fmtp: Fmtp = None,
                       *, sample_rate: int | None = None) -> Decoder:
        """A decoder producing ``channels``-channel PCM at ``sample_rate`` (default: the
        codec's native rate; only opus runs at others).  ``fmtp`` is the sender's."""
        info = lookup(name, clock_rate)
        rate = _rate(info, sample_rate)
        _channels(info, channels)
        backend = self._backend(info)
        if info in (PCMU, PCMA):
            return g711.G711Decoder(info)
        if info is G722:
            return g722.G722Decoder(backend)
        if info is OPUS:
            return opus.OpusDecoder(backend, rate, channels)
        if info is G729:
            return g729.G729Decoder(backend)
        return speex.SpeexDecoder(backend, info.sample_rate)

    def create_encoder(self, name: str, clock_rate: int | None = None, channels: int = 1, fmtp: Fmtp = None,
                       *, sample_rate: int | None = None, ptime: int = 20, **options: Any) -> Encoder:
        """An encoder taking ``ptime`` ms of ``channels``-channel PCM at ``sample_rate``.

        ``fmtp`` is the receiver's (what it asked for); ``options`` go to the codec
        (opus: bitrate, complexity, fec, packet_loss, dtx, cbr; G729: vad;
        speex: quality, complexity, vbr)."""
        info = lookup(name, clock_rate)
        rate = _rate(info, sample_rate)
        _channels(info, channels)
        backend = self._backend(info)
        try:
            if info in (PCMU, PCMA):
                return g711.G711Encoder(info, ptime, **options)
            if info is G722:
                return g722.G722Encoder(backend, ptime, **options)
            if info is OPUS:
                return opus.OpusEncoder(backend, rate, channels, ptime, fmtp=fmtp, **options)
            if info is G729:
                return g729.G729Encoder(backend, ptime, fmtp=fmtp, **options)
            return speex.SpeexEncoder(backend, info.sample_rate, ptime, fmtp=fmtp, **options)
        except TypeError as exc:  # an option this codec does not have
            raise CodecUsageError(f"{info.name}: {exc}") from None


def _rate(info: CodecInfo, sample_rate: int | None) -> int:
    rate = sample_rate or info.sample_rate
    if rate != info.sample_rate and rate not in info.rates:
        raise CodecUsageError(f"{info.name} cannot run at {rate} Hz")
    return rate


def _channels(info: CodecInfo, channels: int) -> None:
    if channels != 1 and not (info is OPUS and channels == 2):
        raise CodecUsageError(f"{info.name}: {channels} channels (mono only)")


#: The process-wide registry the module-level helpers use.
default_registry = CodecRegistry()


def available_codecs() -> list[CodecInfo]:
    """Codecs usable on this host (see :meth:`CodecRegistry.available_codecs`)."""
    return default_registry.available_codecs()


def unavailable_codecs() -> dict[str, str]:
    """Codecs that do not load here, with the reason."""
    return default_registry.unavailable_codecs()


def codec_report() -> str:
    """The start-up log line of :data:`default_registry`."""
    return default_registry.report()


def create_decoder(name: str, clock_rate: int | None = None, channels: int = 1, fmtp: Fmtp = None,
                   *, sample_rate: int | None = None) -> Decoder:
    """:meth:`CodecRegistry.create_decoder` on :data:`default_registry`."""
    return default_registry.create_decoder(name, clock_rate, channels, fmtp, sample_rate=sample_rate)


def create_encoder(name: str, clock_rate: int | None = None, channels: int = 1, fmtp: Fmtp = None,
                   *, sample_rate: int | None = None, ptime: int = 20, **options: Any) -> Encoder:
    """:meth:`CodecRegistry.create_encoder` on :data:`default_registry`."""
    return default_registry.create_encoder(name, clock_rate, channels, fmtp, sample_rate=sample_rate,
                                           ptime=ptime, **options)
