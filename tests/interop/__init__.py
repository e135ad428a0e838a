"""Interop tests against real peers on loopback (run them through ./scripts/test.sh)."""
