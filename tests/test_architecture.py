"""Structural rules from docs/architecture.md, checked on every run.

* imports flow one way: errors/timers/entropy ← sip | sdp | rtp ← webrtc ← gateway ← aio;
* the protocol core (sip, sdp, rtp, webrtc, gateway) does no I/O and reads no clock;
* each third-party protocol library is imported by exactly one module.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "wcs"

LAYER = {"errors": 0, "timers": 0, "entropy": 0, "sip": 1, "sdp": 1, "rtp": 1, "webrtc": 2,
         "gateway": 3, "aio": 4, "inspect": 4}
# packages on the same layer that must not import each other
SIBLINGS_FORBIDDEN = {("sip", "sdp"), ("sdp", "sip"), ("rtp", "sip"), ("rtp", "sdp"),
                      ("sip", "rtp"), ("sdp", "rtp")}
CORE = {"sip", "sdp", "rtp", "webrtc", "gateway"}
NO_IO = {"asyncio", "socket", "time", "random", "aiohttp", "aioice", "selectors", "threading"}
SINGLE_SITE = {"OpenSSL": "wcs/webrtc/dtls.py", "pylibsrtp": "wcs/rtp/srtp.py",
               "msgspec": "wcs/gateway/protocol.py", "av": "wcs/rtp/ffmpeg.py",
               "opuslib": "wcs/rtp/codecs/opus.py", "dns": "wcs/aio/dns.py"}


def _modules() -> list[pathlib.Path]:
    return sorted(PKG.rglob("*.py"))


def _part(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else ""


def _imports(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = list(path.relative_to(ROOT).with_suffix("").parts[:-node.level])
                names.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.append(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_import_direction(path: pathlib.Path) -> None:
    me = _part(path)
    if me not in LAYER:
        return
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "wcs" or len(parts) < 2:
            continue
        other = parts[1]
        if other not in LAYER or other == me:
            continue
        assert LAYER[other] <= LAYER[me], f"{path}: {me} must not import {name}"
        assert (me, other) not in SIBLINGS_FORBIDDEN, f"{path}: {me} must not import {name}"


@pytest.mark.parametrize("path", [p for p in _modules() if _part(p) in CORE],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_core_does_no_io(path: pathlib.Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in NO_IO, f"{path} imports {name}: I/O belongs in wcs/aio"


def test_third_party_single_import_site() -> None:
    sites: dict[str, set[str]] = {lib: set() for lib in SINGLE_SITE}
    for path in _modules():
        for name in _imports(path):
            top = name.split(".")[0]
            if top in sites:
                sites[top].add(str(path.relative_to(ROOT)))
    for lib, files in sites.items():
        assert files <= {SINGLE_SITE[lib]}, f"{lib} imported from {sorted(files)}"
