"""Codec registry: SDP names, lazy loading, unavailable codecs reported and never offered."""

from __future__ import annotations

import sys

import pytest

from wcs.rtp.codecs import (
    CODECS,
    CodecRegistry,
    CodecUnavailable,
    CodecUsageError,
    available_codecs,
    codec_report,
    create_decoder,
    lookup,
    parse_fmtp,
)

from .audio import requires

# name, clock rate, SDP channels, PCM rate, frame ms, static PT (RFC 3551 §6 table 4)
FACTS = [
    ("PCMU", 8000, 1, 8000, 20, 0),
    ("PCMA", 8000, 1, 8000, 20, 8),
    ("G722", 8000, 1, 16000, 20, 9),
    ("opus", 48000, 2, 48000, 20, None),
    ("G729", 8000, 1, 8000, 10, 18),
    ("speex", 8000, 1, 8000, 20, None),
    ("speex", 16000, 1, 16000, 20, None),
]


def test_codec_table() -> None:
    got = [(c.name, c.clock_rate, c.channels, c.sample_rate, c.frame_ms, c.static_pt)
           for c in CODECS.values()]
    assert got == FACTS
    assert list(CODECS) == ["pcmu/8000", "pcma/8000", "g722/8000", "opus/48000", "g729/8000", "speex/8000",
                            "speex/16000"]


@pytest.mark.parametrize("name,clock,key", [
    ("PCMU", None, "pcmu/8000"), ("pcma", 8000, "pcma/8000"), ("g722/8000", None, "g722/8000"),
    ("OPUS", None, "opus/48000"), ("opus/48000/2", None, "opus/48000"), ("G729", None, "g729/8000"),
    ("speex", None, "speex/8000"), ("SPEEX", 16000, "speex/16000"), ("speex/16000", None, "speex/16000"),
])
def test_lookup(name: str, clock: int | None, key: str) -> None:
    assert lookup(name, clock).key == key


@pytest.mark.parametrize("name,clock,message", [
    ("GSM", None, "unknown codec GSM/0"), ("speex", 32000, "unknown codec speex/32000"),
    ("opus/abc", None, "unknown codec 'opus/abc'"), ("speex/8000", 16000, "with clock rate 16000"),
    ("PCMU", 16000, "unknown codec PCMU/16000"),
])
def test_lookup_rejects(name: str, clock: int | None, message: str) -> None:
    with pytest.raises(CodecUsageError, match=message):
        lookup(name, clock)


def test_fmtp_parsing() -> None:
    assert parse_fmtp("minptime=10; useinbandfec=1") == {"minptime": "10", "useinbandfec": "1"}
    assert parse_fmtp("annexb=no") == {"annexb": "no"}
    assert parse_fmtp({"Stereo": " 1 "}) == {"stereo": "1"}
    assert parse_fmtp(None) == parse_fmtp("") == parse_fmtp(" ; ") == {}


@requires("PCMU/8000", "PCMA/8000", "G722/8000", "opus/48000", "G729/8000", "speex/8000", "speex/16000")
def test_everything_loads_on_the_reference_host() -> None:
    assert [c.key for c in available_codecs()] == list(CODECS)
    assert codec_report() == ("audio codecs: PCMU/8000 PCMA/8000 G722/8000 opus/48000 G729/8000 speex/8000 "
                              "speex/16000")


def test_missing_libraries_are_reported_not_offered() -> None:
    reg = CodecRegistry(libraries={"libbcg729": "/nonexistent/libbcg729.so.0",
                                   "libspeex": "/nonexistent/libspeex.so.1"})
    missing = reg.unavailable_codecs()
    assert list(missing) == ["G729/8000", "speex/8000", "speex/16000"]
    assert "cannot open shared object file" in missing["G729/8000"]
    assert [c.name for c in reg.available_codecs()][:2] == ["PCMU", "PCMA"]
    assert not reg.is_available("G729") and not reg.is_available("nonsense")
    assert reg.report().startswith("audio codecs: PCMU/8000 PCMA/8000")
    assert ("; unavailable: G729/8000 (/nonexistent/libbcg729.so.0: cannot open shared object file"
            in reg.report())
    with pytest.raises(CodecUnavailable, match="G729 unavailable: /nonexistent") as info:
        reg.create_decoder("G729")
    assert info.value.codec == "G729"
    with pytest.raises(CodecUnavailable):  # the failure is remembered, not retried per call
        reg.create_encoder("speex", 16000)


def test_disabled_codecs() -> None:
    reg = CodecRegistry(disabled={"G729", "speex/16000"})
    assert reg.unavailable_codecs() == {"G729/8000": "disabled by configuration",
                                        "speex/16000": "disabled by configuration"}
    assert reg.is_available("PCMU")


def test_missing_python_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opuslib", None)
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.setitem(sys.modules, "wcs.rtp.ffmpeg", None)  # the av boundary cannot load without av
    missing = CodecRegistry().unavailable_codecs()
    assert missing["opus/48000"].startswith("opuslib: import of opuslib halted")
    assert missing["G722/8000"].startswith("av: import of wcs.rtp.ffmpeg halted")


def test_factory_checks_arguments() -> None:
    with pytest.raises(CodecUsageError, match="PCMU cannot run at 16000 Hz"):
        create_decoder("PCMU", sample_rate=16000)
    with pytest.raises(CodecUsageError, match="PCMA: 2 channels"):
        create_decoder("PCMA", channels=2)
    reg = CodecRegistry()
    with pytest.raises(CodecUsageError, match="PCMU: .*unexpected keyword argument 'bitrate'"):
        reg.create_encoder("PCMU", bitrate=8000)
    dec = reg.create_decoder("PCMU")
    assert (dec.info.name, dec.sample_rate, dec.channels, dec.samples_per_frame) == ("PCMU", 8000, 1, 160)
