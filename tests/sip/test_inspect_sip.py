"""``wcs-inspect sip``: in-process and through the console script."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from wcs.inspect import main
from wcs.inspect.sip import inspect_message, run

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sip"
INVITE = DATA / "rfc3665" / "3.1-F1-INVITE-Alice-Bob.sip"
RINGING = DATA / "rfc3665" / "3.1-F2-180-Ringing-Bob-Alice.sip"
CLERR = DATA / "rfc4475" / "clerr.dat"
SCRIPT = pathlib.Path(sys.executable).with_name("wcs-inspect")


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_request_report() -> None:
    assert inspect_message(INVITE.read_bytes()) == {
        "ok": True, "kind": "request", "method": "INVITE", "status": None,
        "request_uri": "sip:bob@biloxi.example.com", "call_id": "3848276298220188511@atlanta.example.com",
        "cseq": [1, "INVITE"], "vias": 1, "content_length": 151, "body_length": 151,
    }


def test_response_report() -> None:
    report = inspect_message(RINGING.read_bytes())
    assert (report["kind"], report["method"], report["status"], report["request_uri"]) == (
        "response", "INVITE", 180, None)


def test_error_reports() -> None:
    assert inspect_message(CLERR.read_bytes()) == {
        "ok": False, "status": 400, "error": "Content-Length 9999 exceeds body of 154 bytes"}
    assert inspect_message((DATA / "rfc4475" / "badvers.dat").read_bytes()) == {
        "ok": False, "status": 505, "error": "SIP version not supported"}
    assert inspect_message((DATA / "rfc4475" / "regbadct.dat").read_bytes()) == {
        "ok": False, "status": 400, "error": "Malformed Contact header"}
    assert inspect_message(b"\xff" * 70000)["status"] == 513


def test_in_process_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(INVITE), str(RINGING)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [line["file"] for line in lines] == [str(INVITE), str(RINGING)]
    assert main(["sip", str(INVITE), str(CLERR), "/nonexistent/file.sip"]) == 1
    lines = _lines(capsys.readouterr().out)
    assert [line["ok"] for line in lines] == [True, False, False]
    assert lines[2] == {"file": "/nonexistent/file.sip", "ok": False, "status": None,
                        "error": "cannot read file: No such file or directory"}


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    assert "usage: wcs-inspect sip" in capsys.readouterr().err


def test_console_script_with_files_and_stdin() -> None:
    done = subprocess.run([str(SCRIPT), "sip", str(INVITE), "-"], input=RINGING.read_bytes(),
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout.decode())
    assert lines[0]["method"] == "INVITE"
    assert lines[1]["file"] == "-" and lines[1]["status"] == 180
    failed = subprocess.run([str(SCRIPT), "sip", str(CLERR)], capture_output=True, check=False)
    assert failed.returncode == 1
    assert _lines(failed.stdout.decode()) == [{
        "file": str(CLERR), "ok": False, "status": 400,
        "error": "Content-Length 9999 exceeds body of 154 bytes"}]


def test_every_torture_message_gets_a_report(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (DATA / "rfc4475").glob("*.dat"))
    assert run(files) == 1
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 49
    assert sum(1 for line in lines if line["ok"]) == 28
