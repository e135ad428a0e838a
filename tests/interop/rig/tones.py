"""Tone WAVs: make them with sox, check them with numpy.

`analyze_wav` ports the loopback rig's verify_tone.py (see tests/data/interop/SOURCES.md): keep the
20 ms frames that are not silence (RMS > 0.01 full scale), FFT them under a Hann window, report the
peak frequency and the share of energy within ±50 Hz of the expected frequency.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import RigError


@dataclass
class ToneReport:
    file: str
    rate: int
    seconds: float
    non_silent_seconds: float
    peak_hz: float | None
    energy_in_band: float
    rms_dbfs: float | None
    expected_hz: float
    ok: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Samples of channel 0 as float64 in [-1, 1], and the sample rate.

    Reads the RIFF chunks itself so that a recording still being written (its header not yet
    updated: data size 0 or too large) yields every sample that is in the file."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise RigError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], int.from_bytes(raw[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            fmt = raw[body:body + size]
        elif cid == b"data":
            end = body + size if 0 < size <= len(raw) - body else len(raw)
            data = raw[body:end]
            break
        pos = body + size + (size & 1)
    if fmt is None or data is None:
        raise RigError(f"{path}: no fmt/data chunk")
    fmt_tag = int.from_bytes(fmt[0:2], "little")
    ch, rate = int.from_bytes(fmt[2:4], "little"), int.from_bytes(fmt[4:8], "little")
    sw = int.from_bytes(fmt[14:16], "little") // 8
    if fmt_tag not in (1, 0xFFFE):
        raise RigError(f"{path}: not PCM (format tag {fmt_tag})")
    data = data[: len(data) // (sw * ch) * (sw * ch)]
    if sw == 1:
        a = (np.frombuffer(data, np.uint8).astype(np.float64) - 128) / 128
    elif sw == 2:
        a = np.frombuffer(data, "<i2").astype(np.float64) / 32768
    elif sw == 4:
        a = np.frombuffer(data, "<i4").astype(np.float64) / 2**31
    else:
        raise RigError(f"{path}: unsupported sample width {sw}")
    return a.reshape(-1, ch)[:, 0], rate


def analyze(x: np.ndarray, rate: int, freq: float, *, tol: float = 15.0, min_seconds: float = 1.0,
            band: float = 50.0, min_band_ratio: float = 0.5, file: str = "") -> ToneReport:
    fl = max(1, rate // 50)                                  # 20 ms frames
    frames = x[: len(x) // fl * fl].reshape(-1, fl) if len(x) >= fl else np.zeros((0, fl))
    rms = np.sqrt((frames**2).mean(axis=1)) if len(frames) else np.array([])
    loud = frames[rms > 0.01] if len(frames) else frames
    voiced = len(loud) * fl / rate
    report = ToneReport(file=file, rate=rate, seconds=round(len(x) / rate, 2),
                        non_silent_seconds=round(voiced, 2), peak_hz=None, energy_in_band=0.0,
                        rms_dbfs=None, expected_hz=freq, ok=False)
    if len(loud) == 0:
        report.reason = "all silence"
        return report
    y = loud.reshape(-1) * np.hanning(loud.size)
    spec = np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(y.size, 1 / rate)
    peak = float(f[int(np.argmax(spec))])
    in_band = (f > freq - band) & (f < freq + band)
    ratio = float((spec[in_band] ** 2).sum() / (spec**2).sum())
    report.peak_hz = round(peak, 1)
    report.energy_in_band = round(ratio, 3)
    report.rms_dbfs = round(float(20 * np.log10(np.sqrt((loud**2).mean()))), 1)
    problems = []
    if abs(peak - freq) > tol:
        problems.append(f"peak {peak:.1f} Hz is not within ±{tol:g} Hz of {freq:g} Hz")
    if ratio <= min_band_ratio:
        problems.append(f"only {ratio:.0%} of the energy within ±{band:g} Hz")
    if voiced < min_seconds:
        problems.append(f"only {voiced:.2f} s not silent (< {min_seconds:g} s)")
    report.ok = not problems
    report.reason = "; ".join(problems)
    return report


def analyze_wav(path: Path | str, freq: float, *, tol: float = 15.0, min_seconds: float = 1.0,
                band: float = 50.0, min_band_ratio: float = 0.5) -> ToneReport:
    """Is there a steady tone at `freq` (peak within ±tol Hz, > 50 % energy in ±band Hz,
    ≥ min_seconds of non-silence)? Returns a ToneReport (`.ok`, `.reason`, figures)."""
    x, rate = load_wav(path)
    return analyze(x, rate, freq, tol=tol, min_seconds=min_seconds, band=band,
                   min_band_ratio=min_band_ratio, file=str(path))


def make_tone_wav(path: Path | str, freq: float, seconds: float = 30.0, rate: int = 48000,
                  volume: float = 0.5) -> Path:
    """A mono 16-bit sine WAV made with sox (for Chromium's --use-file-for-fake-audio-capture)."""
    if shutil.which("sox") is None:
        raise RigError("sox not found: run ./scripts/test.sh (it installs the Debian packages)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(path), "synth",
                        str(seconds), "sine", str(freq), "vol", str(volume)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RigError(f"sox could not make {path}: {r.stderr}")
    return path
