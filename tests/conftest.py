"""Suite-wide pytest configuration (kept small; interop fixtures live in tests/interop/conftest.py)."""

from __future__ import annotations

import socket


def pytest_report_header() -> str:
    names = [name for _, name in socket.if_nameindex()]
    where = "private (lo only)" if names == ["lo"] else f"shared, interfaces {names}"
    return f"network namespace: {where}"
