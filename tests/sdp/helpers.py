"""Shared fixtures for the SDP tests: files under tests/data/sdp/ (see SOURCES.md)."""

from __future__ import annotations

import pathlib

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sdp"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def corpus_files() -> list[pathlib.Path]:
    return sorted(DATA.glob("*.sdp"))
