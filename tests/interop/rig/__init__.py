"""Helpers of the loopback interop rig (Kamailio, baresip, tones, Chromium + WebSDK, the gateway).

Used by tests/interop/conftest.py; see tests/data/interop/SOURCES.md for where they came from."""
