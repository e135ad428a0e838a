#!/usr/bin/env bash
# Install wcs into ./.venv (first run only) and start the gateway on its defaults:
# WebSocket :8080, HTTP :8081, SIP :5070 (UDP), media ports 31000-32000, all on 0.0.0.0.
# Extra arguments go to server.py (see `python server.py --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import wcs, aiohttp, msgspec, OpenSSL, pylibsrtp" 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
exec .venv/bin/python server.py "$@"
