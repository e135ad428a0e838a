"""``wcs-inspect sdp``: JSON report, canonical output, errors."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from wcs.inspect import main
from wcs.inspect.sdp import run

from .helpers import DATA, corpus_files


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_report_for_chromium_offer(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "chromium156-websdk-audio-video-offer.sdp")
    assert run([path]) == 0
    (report,) = _lines(capsys.readouterr().out)
    assert report["file"] == path and report["ok"] is True and report["warnings"] == []
    assert report["origin"] == {"username": "-", "session_id": "4721274667905841413", "session_version": 2,
                                "nettype": "IN", "addrtype": "IP4", "address": "127.0.0.1"}
    assert report["groups"] == [["BUNDLE", "0", "1"]] and report["bandwidth"] == []
    audio, video = report["media"]  # type: ignore[misc]
    assert audio["kind"] == "audio" and audio["port"] == 9 and audio["proto"] == "UDP/TLS/RTP/SAVPF"
    assert audio["direction"] == "sendrecv" and audio["mid"] == "0" and audio["ice"] is True
    assert audio["setup"] == "actpass" and audio["fingerprint"].startswith("sha-256 71:2C")
    assert audio["codecs"][0] == {"pt": 111, "name": "opus", "rate": 48000, "channels": 2,
                                  "fmtp": "minptime=10;useinbandfec=1"}
    assert audio["codecs"][2] == {"pt": 9, "name": "G722", "rate": 8000, "channels": 1, "fmtp": None}
    assert len(video["codecs"]) == 23 and video["rtcp_mux"] is True


def test_report_sip_sdp_with_bandwidth_and_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(DATA / "bria4-audio-video-text.sipsorcery.sdp")]) == 0
    (report,) = _lines(capsys.readouterr().out)
    assert report["bandwidth"] == ["AS:2064"]
    assert report["warnings"] == ["line 15: not a <type>=<value> line"]
    media = report["media"]
    assert [m["kind"] for m in media] == ["audio", "video", "text"]  # type: ignore[index]
    assert media[1]["bandwidth"] == ["TIAS:2000000"] and media[0]["ice"] is False  # type: ignore[index]
    assert media[0]["connection"] == "10.1.1.2"  # type: ignore[index]


def test_every_corpus_file_reports_ok(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in corpus_files()]
    assert run(files) == 0
    reports = _lines(capsys.readouterr().out)
    assert [r["file"] for r in reports] == files and all(r["ok"] for r in reports)


def test_errors_and_exit_status(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sdp"
    bad.write_bytes(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio x RTP/AVP 0\r\n")
    good = str(DATA / "microsip-3.19.22-invite.sipsorcery.sdp")
    assert run([good, str(bad), str(tmp_path / "missing.sdp")]) == 1
    ok, err, missing = _lines(capsys.readouterr().out)
    assert ok["ok"] is True
    assert err == {"file": str(bad), "ok": False, "status": 400, "error": "line 4: bad port in m= line"}
    assert missing["ok"] is False and str(missing["error"]).startswith("cannot read file")


def test_canonical_output(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    lf = tmp_path / "lf.sdp"
    lf.write_bytes(b"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 5 RTP/AVP 0\n")
    assert run(["--canonical", str(lf)]) == 0
    expected = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\n"
    assert capsys.readouterr().out == expected
    lf.write_bytes(b"x=0\n")
    assert run(["--canonical", str(lf)]) == 1
    assert _lines(capsys.readouterr().out)[0]["error"] == "line 1: SDP must start with v=0"


def test_stdin_usage_and_dispatcher(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["sdp", "-"]) == 0
    assert _lines(capsys.readouterr().out)[0]["media"] == []
    assert run([]) == 2 and run(["--bogus", "x"]) == 2
    assert "usage" in capsys.readouterr().err
