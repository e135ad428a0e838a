"""Audio codecs for the media engine, sans-I/O: one module per codec, each the only
importer of its native library (G.711 in numpy; G.722 via PyAV; Opus via opuslib;
G.729 via libbcg729 and Speex via libspeex with ctypes), plus a resampler.

Start with the registry::

    from wcs.rtp.codecs import codec_report, create_decoder, create_encoder
    log.info(codec_report())          # "audio codecs: PCMU/8000 …; unavailable: …"
    dec = create_decoder("opus", 48000, sample_rate=8000)   # opus decoded straight to 8 kHz
    enc = create_encoder("PCMU")
    payload = enc.encode(dec.decode(opus_payload))

Per-stream transcoding of RTP packets lives in :mod:`wcs.rtp.transcode`.
"""

from wcs.rtp.codecs.base import CodecInfo, Decoder, Encoder, Pcm, parse_fmtp
from wcs.rtp.codecs.errors import CodecError, CodecUnavailable, CodecUsageError
from wcs.rtp.codecs.registry import (
    CODECS,
    CodecRegistry,
    available_codecs,
    codec_report,
    create_decoder,
    create_encoder,
    default_registry,
    lookup,
    unavailable_codecs,
)
from wcs.rtp.codecs.resample import Resampler

__all__ = [
    "CODECS",
    "CodecError",
    "CodecInfo",
    "CodecRegistry",
    "CodecUnavailable",
    "CodecUsageError",
    "Decoder",
    "Encoder",
    "Pcm",
    "Resampler",
    "available_codecs",
    "codec_report",
    "create_decoder",
    "create_encoder",
    "default_registry",
    "lookup",
    "parse_fmtp",
    "unavailable_codecs",
]
